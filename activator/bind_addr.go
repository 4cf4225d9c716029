//go:build linux

package activator

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/units"
)

// sockSpec is everything needed to create and bind one socket.
type sockSpec struct {
	domain, typ, proto int
	sa                 unix.Sockaddr
	addr               string // formatSockaddr(sa)
	path               string // file-system AF_UNIX path, "" otherwise
	// ephemeral is an IP port 0: the kernel picks the port. SO_REUSEADDR is
	// then set after bind, because with it set the kernel's free-port search
	// scans its whole bind table on every bind (10k listeners: 2 s instead
	// of 0.1 s), and it only matters for rebinding a known port anyway.
	ephemeral bool
}

// key identifies a bound socket for matching inherited fds: the same string
// is computed from getsockname/SO_DOMAIN/SO_TYPE (see inherit.go).
func (sp sockSpec) key() string {
	return sockKey(sp.domain, sp.typ, sp.proto, sp.addr)
}

func sockKey(domain, typ, proto int, addr string) string {
	if domain != unix.AF_NETLINK {
		proto = 0 // only netlink has the address's meaning depend on the protocol
	}
	b := make([]byte, 0, 16+len(addr))
	b = strconv.AppendInt(b, int64(domain), 10)
	b = strconv.AppendInt(append(b, '/'), int64(typ), 10)
	b = strconv.AppendInt(append(b, '/'), int64(proto), 10)
	return string(append(append(b, '/'), addr...))
}

// sunPathMax is sizeof(sun_path): the path plus its NUL must fit.
const sunPathMax = 108

func sockType(k units.ListenKind) int {
	switch k {
	case units.ListenStream:
		return unix.SOCK_STREAM
	case units.ListenDatagram:
		return unix.SOCK_DGRAM
	case units.ListenSequentialPacket:
		return unix.SOCK_SEQPACKET
	case units.ListenNetlink:
		return unix.SOCK_RAW
	}
	return 0
}

// ipProto maps SocketProtocol= to socket()'s third argument for an IP
// socket of type typ. As in systemd, a protocol that does not fit the socket
// type leaves the kernel default.
func ipProto(p units.SocketProtocol, typ int) int {
	switch {
	case p == units.ProtocolUDPLite && typ == unix.SOCK_DGRAM:
		return unix.IPPROTO_UDPLITE
	case p == units.ProtocolSCTP && (typ == unix.SOCK_STREAM || typ == unix.SOCK_SEQPACKET):
		return unix.IPPROTO_SCTP
	case p == units.ProtocolMPTCP && typ == unix.SOCK_STREAM:
		return unix.IPPROTO_MPTCP
	}
	return 0
}

// hasIPv6 mirrors systemd's socket_ipv6_is_supported: IPv6 is usable when
// the kernel has it and it is not disabled by sysctl. Probed once per binder.
func (bd *binder) hasIPv6() bool {
	if bd.opts.NoIPv6 {
		return false
	}
	if bd.ipv6 == 0 {
		bd.ipv6 = -1
		if _, err := os.Stat("/proc/net/if_inet6"); err == nil {
			b, err := os.ReadFile("/proc/sys/net/ipv6/conf/all/disable_ipv6")
			if err != nil || len(b) == 0 || b[0] != '1' {
				bd.ipv6 = 1
			}
		}
	}
	return bd.ipv6 > 0
}

func (bd *binder) sockSpec(l *units.Listener, o *units.SocketOptions) (sockSpec, *ListenError) {
	a := &l.Addr
	sp := sockSpec{typ: sockType(l.Kind)}
	bad := func(err error) (sockSpec, *ListenError) {
		return sockSpec{}, &ListenError{Addr: l.Text, Op: "parse address", Err: err}
	}
	switch a.Family {
	case units.FamilyInet6Any:
		if bd.hasIPv6() {
			sp.domain, sp.sa = unix.AF_INET6, &unix.SockaddrInet6{Port: int(a.Port)}
		} else {
			sp.domain, sp.sa = unix.AF_INET, &unix.SockaddrInet4{Port: int(a.Port)}
		}
	case units.FamilyInet:
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || !ip.Unmap().Is4() {
			return bad(fmt.Errorf("not an IPv4 address: %v", a.IP))
		}
		sp.domain, sp.sa = unix.AF_INET, &unix.SockaddrInet4{Port: int(a.Port), Addr: ip.Unmap().As4()}
	case units.FamilyInet6:
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || !ip.Is6() {
			return bad(fmt.Errorf("not an IPv6 address: %v", a.IP))
		}
		sa := &unix.SockaddrInet6{Port: int(a.Port), Addr: ip.As16()}
		if a.Zone != "" {
			idx, err := zoneIndex(a.Zone)
			if err != nil {
				return sockSpec{}, &ListenError{Addr: l.Text, Op: "resolve interface " + a.Zone, Err: err}
			}
			sa.ZoneId = uint32(idx)
		}
		sp.domain, sp.sa = unix.AF_INET6, sa
	case units.FamilyUnix:
		p := filepath.Clean(a.Path)
		if !filepath.IsAbs(p) || p == "/" || len(p)+1 > sunPathMax {
			return bad(fmt.Errorf("invalid AF_UNIX path %q (absolute, at most %d bytes)", a.Path, sunPathMax-1))
		}
		sp.domain, sp.sa, sp.path = unix.AF_UNIX, &unix.SockaddrUnix{Name: p}, p
	case units.FamilyAbstract:
		if len(a.Path)+1 > sunPathMax {
			return bad(fmt.Errorf("abstract name %q too long", a.Path))
		}
		sp.domain, sp.sa = unix.AF_UNIX, &unix.SockaddrUnix{Name: "@" + a.Path}
	case units.FamilyVsock:
		sp.domain, sp.sa = unix.AF_VSOCK, &unix.SockaddrVM{CID: a.VsockCID, Port: a.VsockPort}
	case units.FamilyNetlink:
		sp.domain, sp.proto = unix.AF_NETLINK, a.NetlinkFamily
		sp.sa = &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: a.NetlinkGroup}
	default:
		return bad(fmt.Errorf("address family %d for a socket: %w", a.Family, ErrUnsupported))
	}
	if sp.typ == 0 {
		return bad(fmt.Errorf("listener kind %d: %w", l.Kind, ErrUnsupported))
	}
	if sp.domain == unix.AF_INET || sp.domain == unix.AF_INET6 {
		sp.proto = ipProto(o.SocketProtocol, sp.typ)
		sp.ephemeral = a.Port == 0
	}
	sp.addr = formatSockaddr(sp.sa, sp.proto)
	return sp, nil
}

func zoneIndex(zone string) (int, error) {
	if n, err := strconv.Atoi(zone); err == nil && n > 0 {
		return n, nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, fmt.Errorf("%w (%v)", unix.ENODEV, err)
	}
	return ifi.Index, nil
}

// formatSockaddr prints an address the way systemd's logs and the issue
// text do: "[::]:80", "0.0.0.0:80", "[fe80::1%2]:80", "/run/x", "@x",
// "vsock:CID:PORT", "netlink:FAMILY:GROUPS".
func formatSockaddr(sa unix.Sockaddr, proto int) string {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			ip = ip.WithZone(strconv.Itoa(int(sa.ZoneId)))
		}
		return netip.AddrPortFrom(ip, uint16(sa.Port)).String()
	case *unix.SockaddrUnix:
		return sa.Name
	case *unix.SockaddrVM:
		return fmt.Sprintf("vsock:%d:%d", sa.CID, sa.Port)
	case *unix.SockaddrNetlink:
		return fmt.Sprintf("netlink:%d:%d", proto, sa.Groups)
	}
	return fmt.Sprintf("%T", sa)
}
