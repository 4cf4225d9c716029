//go:build linux

package activator

import (
	"errors"
	"os"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/units"
)

// sctpNodelay is SCTP_NODELAY (linux/sctp.h); x/sys/unix lacks it.
const sctpNodelay = 3

// preBind applies the options that only work before bind(), in systemd's
// order (socket_address_listen). IPV6_V6ONLY, SO_BINDTODEVICE and
// SO_REUSEADDR are fatal; SO_REUSEPORT, FREEBIND and TRANSPARENT only warn.
func (bd *binder) preBind(fd int, unit string, sp sockSpec, o *units.SocketOptions) *ListenError {
	fatal := func(op string, err error) *ListenError { return &ListenError{Addr: sp.addr, Op: op, Err: err} }
	warn := func(op string, err error) {
		bd.log.Warn("socket option not applied", zap.String("unit", unit), zap.String("addr", sp.addr),
			zap.String("op", op), zap.Error(err))
	}
	ip := sp.domain == unix.AF_INET || sp.domain == unix.AF_INET6
	if sp.domain == unix.AF_INET6 && o.BindIPv6Only != units.IPv6OnlyDefault {
		v := boolInt(o.BindIPv6Only == units.IPv6OnlyIPv6Only)
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v); err != nil {
			return fatal("setsockopt IPV6_V6ONLY", err)
		}
	}
	if ip && o.BindToDevice != "" {
		if err := unix.BindToDevice(fd, o.BindToDevice); err != nil {
			return fatal("setsockopt SO_BINDTODEVICE "+o.BindToDevice, err)
		}
	}
	if ip && o.ReusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			warn("setsockopt SO_REUSEPORT", err)
		}
	}
	if ip && o.FreeBind {
		lvl, opt := unix.IPPROTO_IP, unix.IP_FREEBIND
		if sp.domain == unix.AF_INET6 {
			lvl, opt = unix.IPPROTO_IPV6, unix.IPV6_FREEBIND
		}
		if err := unix.SetsockoptInt(fd, lvl, opt, 1); err != nil {
			warn("setsockopt FREEBIND", err)
		}
	}
	if ip && o.Transparent {
		lvl, opt := unix.IPPROTO_IP, unix.IP_TRANSPARENT
		if sp.domain == unix.AF_INET6 {
			lvl, opt = unix.IPPROTO_IPV6, unix.IPV6_TRANSPARENT
		}
		if err := unix.SetsockoptInt(fd, lvl, opt, 1); err != nil {
			warn("setsockopt TRANSPARENT", err)
		}
	}
	if !sp.ephemeral { // see sockSpec.ephemeral
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fatal("setsockopt SO_REUSEADDR", err)
		}
	}
	return nil
}

// ApplyConnOptions applies the per-connection options of o to an accepted
// fd, as systemd does for every connection of an Accept=yes socket. domain
// is the listener's BoundListener.Domain. Only options that are set cost a
// syscall, since this runs on the accept path. Failures are returned joined
// (each an *os.SyscallError); systemd only logs them, and so should callers.
func ApplyConnOptions(fd, domain int, o *units.SocketOptions) error {
	var errs []error
	applyOptions(fd, domain, unix.SOCK_STREAM, o, false, func(op string, err error) {
		errs = append(errs, os.NewSyscallError(op, err))
	})
	return errors.Join(errs...)
}

// applyOptions applies the options systemd sets after bind
// (socket_apply_socket_options). listening adds TCP_DEFER_ACCEPT, which
// means nothing on an accepted connection. TCP-level options are applied
// to IP stream sockets only, pktinfo only where the family has it.
func applyOptions(fd, domain, typ int, o *units.SocketOptions, listening bool, warn func(op string, err error)) {
	ip := domain == unix.AF_INET || domain == unix.AF_INET6
	tcp := ip && typ == unix.SOCK_STREAM
	set := func(op string, lvl, opt, v int) {
		if err := unix.SetsockoptInt(fd, lvl, opt, v); err != nil {
			warn("setsockopt "+op, err)
		}
	}
	if o.KeepAlive {
		set("SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	}
	if tcp {
		if o.KeepAliveTime > 0 {
			set("TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, ceilSec(o.KeepAliveTime))
		}
		if o.KeepAliveInterval > 0 {
			set("TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, ceilSec(o.KeepAliveInterval))
		}
		if o.KeepAliveProbes > 0 {
			set("TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, o.KeepAliveProbes)
		}
		if listening && o.DeferAccept > 0 {
			set("TCP_DEFER_ACCEPT", unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, ceilSec(o.DeferAccept))
		}
	}
	if o.NoDelay {
		switch {
		case ip && o.SocketProtocol == units.ProtocolSCTP:
			set("SCTP_NODELAY", unix.IPPROTO_SCTP, sctpNodelay, 1)
		case tcp:
			set("TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		}
	}
	if o.Broadcast {
		set("SO_BROADCAST", unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
	}
	if o.PassCredentials {
		set("SO_PASSCRED", unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}
	if o.PassSecurity {
		set("SO_PASSSEC", unix.SOL_SOCKET, unix.SO_PASSSEC, 1)
	}
	if o.PassPacketInfo {
		switch domain {
		case unix.AF_INET:
			set("IP_PKTINFO", unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		case unix.AF_INET6:
			set("IPV6_RECVPKTINFO", unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
		case unix.AF_NETLINK:
			set("NETLINK_PKTINFO", unix.SOL_NETLINK, unix.NETLINK_PKTINFO, 1)
		case unix.AF_PACKET:
			set("PACKET_AUXDATA", unix.SOL_PACKET, unix.PACKET_AUXDATA, 1)
		}
	}
	if o.AcceptFileDescriptors != nil && !*o.AcceptFileDescriptors {
		set("SO_PASSRIGHTS", unix.SOL_SOCKET, unix.SO_PASSRIGHTS, 0)
	}
	switch o.Timestamping {
	case units.TimestampingUsec:
		set("SO_TIMESTAMP", unix.SOL_SOCKET, unix.SO_TIMESTAMP, 1)
	case units.TimestampingNsec:
		set("SO_TIMESTAMPNS", unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}
	if ip && o.IPTOS != nil {
		// systemd sets IP_TOS on IPv6 sockets too; it applies to their
		// IPv4-mapped traffic. It goes before SO_PRIORITY because the kernel
		// derives sk_priority from the TOS and would override Priority=.
		set("IP_TOS", unix.IPPROTO_IP, unix.IP_TOS, *o.IPTOS)
	}
	if o.Priority != nil {
		set("SO_PRIORITY", unix.SOL_SOCKET, unix.SO_PRIORITY, *o.Priority)
	}
	if o.ReceiveBuffer > 0 {
		if err := setBuffer(fd, unix.SO_RCVBUF, unix.SO_RCVBUFFORCE, o.ReceiveBuffer); err != nil {
			warn("setsockopt SO_RCVBUF", err)
		}
	}
	if o.SendBuffer > 0 {
		if err := setBuffer(fd, unix.SO_SNDBUF, unix.SO_SNDBUFFORCE, o.SendBuffer); err != nil {
			warn("setsockopt SO_SNDBUF", err)
		}
	}
	if o.Mark != nil {
		set("SO_MARK", unix.SOL_SOCKET, unix.SO_MARK, *o.Mark)
	}
	if o.IPTTL != nil {
		switch domain {
		case unix.AF_INET:
			set("IP_TTL", unix.IPPROTO_IP, unix.IP_TTL, *o.IPTTL)
		case unix.AF_INET6:
			set("IPV6_UNICAST_HOPS", unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, *o.IPTTL)
		}
	}
	if tcp && o.TCPCongestion != "" {
		if err := unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, o.TCPCongestion); err != nil {
			warn("setsockopt TCP_CONGESTION "+o.TCPCongestion, err)
		}
	}
}

// setBuffer is systemd's fd_set_rcvbuf/fd_set_sndbuf: the kernel doubles the
// value and caps it at net.core.[rw]mem_max; if it ended up smaller than
// asked, retry with the FORCE variant, which ignores the cap when we have
// CAP_NET_ADMIN. EPERM from FORCE is reported, the capped size stays.
func setBuffer(fd, opt, force int, n uint64) error {
	if n > 1<<31-1 {
		return unix.ERANGE
	}
	v := int(n)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, v); err != nil {
		return err
	}
	if got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, opt); err == nil && got >= 2*v {
		return nil
	}
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, v)
}

// ceilSec converts a time span to whole seconds, rounding up so that a
// sub-second setting never turns into 0 (= off or invalid).
func ceilSec(d time.Duration) int {
	s := d / time.Second
	if d%time.Second != 0 {
		s++
	}
	if s > 1<<31-1 {
		return 1<<31 - 1
	}
	return int(s)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
