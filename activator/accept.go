package activator

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn is a connection accepted on an Accept=yes listener. sockd does not
// read from it: it hands it to the service instance and closes its copy.
type Conn struct {
	FD     int
	Local  unix.Sockaddr
	Remote unix.Sockaddr
}

// EnsureNonblocking sets O_NONBLOCK on a listener again if something
// cleared it: the flag belongs to the open file description, which
// processes that were given the socket share. AcceptConn on a listener
// without it would block, in a raw system call the runtime cannot take
// back. Raw fcntl calls, as AcceptConn's.
func EnsureNonblocking(fd int) error {
	fl, _, e := syscall.RawSyscall(unix.SYS_FCNTL, uintptr(fd), unix.F_GETFL, 0)
	if e != 0 {
		return e
	}
	if fl&unix.O_NONBLOCK != 0 {
		return nil
	}
	if _, _, e := syscall.RawSyscall(unix.SYS_FCNTL, uintptr(fd), unix.F_SETFL, fl|unix.O_NONBLOCK); e != 0 {
		return e
	}
	return nil
}

// CloseConn closes sockd's copy of an accepted connection. It is a raw
// close (an ordinary one wakes the runtime's sysmon thread once per
// connection at inetd rates) unless SO_LINGER is on: then, if the service
// has exited already, this close is the last and may wait for unsent data,
// which must not happen in a raw call (it would hold up the whole
// runtime). A running service cannot make it the last close, and one that
// exited cannot change the option any more.
func CloseConn(fd int) {
	var l unix.Linger
	n := uint32(unsafe.Sizeof(l))
	_, _, e := syscall.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_LINGER, uintptr(unsafe.Pointer(&l)), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 || l.Onoff != 0 {
		unix.Close(fd)
		return
	}
	syscall.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

// AcceptConn accepts one pending connection from the listening fd. The
// connection is close-on-exec and blocking (services get blocking sockets
// unless NonBlocking=yes, which the spawner applies). It returns
// unix.EAGAIN when nothing is pending.
//
// The listener must be nonblocking (see EnsureNonblocking). accept4 and
// getsockname are made as raw system calls, and IP addresses are decoded
// here: x/sys/unix would add a getsockopt(SO_PROTOCOL) to each of them
// (to tell L2TP apart), and a blocking-call entry makes the runtime wake
// its sysmon thread after every idle spell, i.e. once per connection at
// inetd-style rates.
func AcceptConn(fd int) (Conn, error) {
	var rsa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	r, _, e := syscall.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n)), unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return Conn{FD: -1}, e
	}
	nfd := int(r)
	c := Conn{FD: nfd}
	if c.Remote = inetSockaddr(&rsa); c.Remote == nil {
		// Other families: x/sys decodes them (AF_UNIX names, vsock).
		if sa, err := unix.Getpeername(nfd); err == nil {
			c.Remote = sa
		}
	}
	n = uint32(unix.SizeofSockaddrAny)
	if _, _, e := syscall.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(nfd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n))); e == 0 {
		if c.Local = inetSockaddr(&rsa); c.Local == nil {
			if sa, err := unix.Getsockname(nfd); err == nil {
				c.Local = sa
			}
		}
	}
	return c, nil
}

// inetSockaddr decodes an AF_INET or AF_INET6 address as x/sys/unix does;
// nil for other families.
func inetSockaddr(rsa *unix.RawSockaddrAny) unix.Sockaddr {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		pp := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&pp.Port))
		return &unix.SockaddrInet4{Port: int(p[0])<<8 + int(p[1]), Addr: pp.Addr}
	case unix.AF_INET6:
		pp := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&pp.Port))
		return &unix.SockaddrInet6{Port: int(p[0])<<8 + int(p[1]), ZoneId: pp.Scope_id, Addr: pp.Addr}
	}
	return nil
}

// Source identifies a connection's source for MaxConnectionsPerSource=: the
// remote IP for IP sockets, the peer's uid for AF_UNIX (systemd v256+),
// the CID for vsock. ok is false when there is no usable source.
func (c Conn) Source() (key string, ok bool) {
	switch sa := c.Remote.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(sa.Addr).String(), true
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(sa.Addr).Unmap().String(), true
	case *unix.SockaddrVM:
		return "vsock:" + strconv.FormatUint(uint64(sa.CID), 10), true
	case *unix.SockaddrUnix, nil:
		cred, err := unix.GetsockoptUcred(c.FD, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			return "", false
		}
		return "uid:" + strconv.FormatUint(uint64(cred.Uid), 10), true
	}
	return "", false
}

// Instance returns the instance string systemd (v252–v257) gives the
// service started for this connection: "N-LOCAL-REMOTE", e.g.
// "0-127.0.0.1:22-127.0.0.1:41234", IPv6 without brackets
// ("3-::1:22-::1:50000"), AF_UNIX "N-PEERPID-PEERUID" (or "N-unknown").
func (c Conn) Instance(n uint64) string {
	b := strconv.AppendUint(make([]byte, 0, 64), n, 10)
	switch r := c.Remote.(type) {
	case *unix.SockaddrInet4, *unix.SockaddrInet6:
		b = append(b, '-')
		b = appendIPPort(b, c.Local)
		b = append(b, '-')
		b = appendIPPort(b, r)
	case *unix.SockaddrVM:
		l, _ := c.Local.(*unix.SockaddrVM)
		if l == nil {
			l = &unix.SockaddrVM{}
		}
		b = fmt.Appendf(b, "-%d:%d-%d:%d", l.CID, l.Port, r.CID, r.Port)
	default:
		cred, err := unix.GetsockoptUcred(c.FD, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			b = append(b, "-unknown"...)
			break
		}
		b = fmt.Appendf(b, "-%d-%d", cred.Pid, cred.Uid)
	}
	return string(b)
}

func appendIPPort(b []byte, sa unix.Sockaddr) []byte {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		b = netip.AddrFrom4(a.Addr).AppendTo(b)
		b = append(b, ':')
		return strconv.AppendInt(b, int64(a.Port), 10)
	case *unix.SockaddrInet6:
		// systemd prints IPv4-mapped peers as IPv4.
		b = netip.AddrFrom16(a.Addr).Unmap().AppendTo(b)
		b = append(b, ':')
		return strconv.AppendInt(b, int64(a.Port), 10)
	}
	return append(b, "unknown"...)
}

// RemoteEnv returns REMOTE_ADDR and REMOTE_PORT as systemd sets them for
// Accept=yes instances: the address without brackets or port, IPv4-mapped
// shown as IPv4, an IPv6 scope as %ifname; for AF_UNIX the peer's path or
// @abstract name (nothing for unnamed peers); for vsock "vsock:CID".
func (c Conn) RemoteEnv() []string {
	switch r := c.Remote.(type) {
	case *unix.SockaddrInet4:
		return []string{"REMOTE_ADDR=" + netip.AddrFrom4(r.Addr).String(), "REMOTE_PORT=" + strconv.Itoa(r.Port)}
	case *unix.SockaddrInet6:
		a := netip.AddrFrom16(r.Addr).Unmap()
		if r.ZoneId != 0 && a.Is6() {
			a = a.WithZone(zoneName(r.ZoneId))
		}
		return []string{"REMOTE_ADDR=" + a.String(), "REMOTE_PORT=" + strconv.Itoa(r.Port)}
	case *unix.SockaddrVM:
		return []string{"REMOTE_ADDR=vsock:" + strconv.FormatUint(uint64(r.CID), 10), "REMOTE_PORT=" + strconv.FormatUint(uint64(r.Port), 10)}
	case *unix.SockaddrUnix:
		if r.Name == "" {
			return nil
		}
		return []string{"REMOTE_ADDR=" + r.Name}
	}
	return nil
}

func zoneName(id uint32) string {
	// The name comes from the kernel over netlink: nothing leaves the machine.
	if ifi, err := net.InterfaceByIndex(int(id)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(id), 10)
}

// Flush discards what is queued on a listener (FlushPending=): pending
// connections are accepted and closed, datagrams and FIFO data are read
// and dropped, until nothing is left. sockType is the BoundListener's
// (0 for FIFOs and special files). The fd may have been made blocking by
// the service it was passed to (O_NONBLOCK is shared), so readiness is
// checked with a zero-timeout poll before every read or accept.
func Flush(fd, sockType int) {
	ready := func() bool {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 0)
		return err == nil && n > 0 && pfd[0].Revents&unix.POLLIN != 0
	}
	if sockType == unix.SOCK_STREAM || sockType == unix.SOCK_SEQPACKET {
		for ready() {
			nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
			if err == unix.EINTR || err == unix.ECONNABORTED {
				continue
			}
			if err != nil {
				return
			}
			unix.Close(nfd)
		}
	}
	buf := make([]byte, 64<<10)
	for ready() {
		var n int
		var err error
		if sockType == 0 {
			n, err = unix.Read(fd, buf)
		} else {
			n, _, err = unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil || (n == 0 && sockType == 0) {
			return
		}
	}
}
