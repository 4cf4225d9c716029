//go:build linux

package activator

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/units"
)

// Test helpers: units are built as Go literals (the parser is written
// elsewhere), paths live in short os.MkdirTemp dirs because of sun_path.

func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func unit(name string, o units.SocketOptions, ls ...units.Listener) *units.Socket {
	return &units.Socket{Name: name, Listeners: ls, SocketSettings: &units.SocketSettings{Options: o}}
}

func inet4(kind units.ListenKind, ip string, port uint16) units.Listener {
	return units.Listener{Kind: kind, Text: ip, Addr: units.Address{Family: units.FamilyInet, IP: net.ParseIP(ip).To4(), Port: port}}
}

func inet6(kind units.ListenKind, ip, zone string, port uint16) units.Listener {
	return units.Listener{Kind: kind, Text: ip, Addr: units.Address{Family: units.FamilyInet6, IP: net.ParseIP(ip).To16(), Zone: zone, Port: port}}
}

func anyPort(kind units.ListenKind, port uint16) units.Listener {
	return units.Listener{Kind: kind, Text: "port", Addr: units.Address{Family: units.FamilyInet6Any, Port: port}}
}

func unixL(kind units.ListenKind, path string) units.Listener {
	return units.Listener{Kind: kind, Text: path, Addr: units.Address{Family: units.FamilyUnix, Path: path}}
}

func pathL(kind units.ListenKind, path string) units.Listener {
	return units.Listener{Kind: kind, Text: path, Addr: units.Address{Family: units.FamilyPath, Path: path}}
}

func mustBind(t testing.TB, s *units.Socket, opts BindOptions) *Bound {
	t.Helper()
	if opts.Logger == nil {
		if tt, ok := t.(*testing.T); ok {
			opts.Logger = zaptest.NewLogger(tt)
		}
	}
	b, err := Bind(s, opts)
	if err != nil {
		t.Fatalf("Bind: %v", err)
	}
	t.Cleanup(func() { b.Close(true) })
	return b
}

func hasIPv6Loopback() bool {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Bind(fd, &unix.SockaddrInet6{Addr: [16]byte{15: 1}}) == nil
}

func getInt(t testing.TB, fd, lvl, opt int) int {
	t.Helper()
	v, err := unix.GetsockoptInt(fd, lvl, opt)
	if err != nil {
		t.Fatalf("getsockopt(%d, %d): %v", lvl, opt, err)
	}
	return v
}

func checkFDFlags(t testing.TB, fd int) {
	t.Helper()
	fdfl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil || fdfl&unix.FD_CLOEXEC == 0 {
		t.Errorf("fd %d not close-on-exec (%#x, %v)", fd, fdfl, err)
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil || fl&unix.O_NONBLOCK == 0 {
		t.Errorf("fd %d not non-blocking (%#x, %v)", fd, fl, err)
	}
}

func sockPort(t testing.TB, fd int) int {
	t.Helper()
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return sa.Port
	case *unix.SockaddrInet6:
		return sa.Port
	}
	t.Fatalf("not an IP socket: %T", sa)
	return 0
}

func TestBindInet(t *testing.T) {
	// Each IP kind on loopback, port 0: type, listen state, fd flags.
	cases := []struct {
		name     string
		l        units.Listener
		domain   int
		typ      int
		v6       bool
		listener bool
	}{
		{"tcp4", inet4(units.ListenStream, "127.0.0.1", 0), unix.AF_INET, unix.SOCK_STREAM, false, true},
		{"udp4", inet4(units.ListenDatagram, "127.0.0.1", 0), unix.AF_INET, unix.SOCK_DGRAM, false, false},
		{"tcp6", inet6(units.ListenStream, "::1", "", 0), unix.AF_INET6, unix.SOCK_STREAM, true, true},
		{"udp6", inet6(units.ListenDatagram, "::1", "", 0), unix.AF_INET6, unix.SOCK_DGRAM, true, false},
		{"bare-port", anyPort(units.ListenStream, 0), unix.AF_INET6, unix.SOCK_STREAM, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.v6 && !hasIPv6Loopback() {
				t.Skip("no IPv6 loopback on this host")
			}
			b := mustBind(t, unit("web.socket", units.SocketOptions{}, c.l), BindOptions{})
			bl := b.Listeners[0]
			checkFDFlags(t, bl.FD)
			if bl.Domain != c.domain || bl.SockType != c.typ {
				t.Errorf("domain/type = %d/%d, want %d/%d", bl.Domain, bl.SockType, c.domain, c.typ)
			}
			if got := getInt(t, bl.FD, unix.SOL_SOCKET, unix.SO_TYPE); got != c.typ {
				t.Errorf("SO_TYPE = %d", got)
			}
			if got := getInt(t, bl.FD, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); (got == 1) != c.listener {
				t.Errorf("SO_ACCEPTCONN = %d", got)
			}
			if got := getInt(t, bl.FD, unix.SOL_SOCKET, unix.SO_REUSEADDR); got != 1 {
				t.Errorf("SO_REUSEADDR = %d, want 1 (always set)", got)
			}
			if sockPort(t, bl.FD) == 0 {
				t.Error("not bound")
			}
			if bl.Name != "web.socket" {
				t.Errorf("Name = %q, want the unit name", bl.Name)
			}
			if c.listener {
				conn, err := net.Dial("tcp", addrWithPort(bl))
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				conn.Close()
			}
		})
	}
}

// addrWithPort is the dialable address of an IP listener.
func addrWithPort(bl BoundListener) string {
	sa, _ := unix.Getsockname(bl.FD)
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return net.JoinHostPort(net.IP(sa.Addr[:]).String(), itoaT(sa.Port))
	case *unix.SockaddrInet6:
		ip := net.IP(sa.Addr[:])
		if ip.IsUnspecified() {
			ip = net.IPv6loopback
		}
		return net.JoinHostPort(ip.String(), itoaT(sa.Port))
	}
	return ""
}

func itoaT(i int) string { return strconv.Itoa(i) }

func TestBindIPv6Only(t *testing.T) {
	if !hasIPv6Loopback() {
		t.Skip("no IPv6 on this host")
	}
	// BindIPv6Only=default leaves the kernel's bindv6only; both/ipv6-only force it.
	def, _ := os.ReadFile("/proc/sys/net/ipv6/bindv6only")
	cases := []struct {
		mode units.IPv6Only
		want int
	}{
		{units.IPv6OnlyDefault, int(strings.TrimSpace(string(def))[0] - '0')},
		{units.IPv6OnlyBoth, 0},
		{units.IPv6OnlyIPv6Only, 1},
	}
	for _, c := range cases {
		b := mustBind(t, unit("v6.socket", units.SocketOptions{BindIPv6Only: c.mode}, anyPort(units.ListenStream, 0)), BindOptions{})
		if got := getInt(t, b.Listeners[0].FD, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY); got != c.want {
			t.Errorf("BindIPv6Only=%d: IPV6_V6ONLY = %d, want %d", c.mode, got, c.want)
		}
		if c.want == 0 {
			// Dual-stack: IPv4 clients reach the [::] listener.
			conn, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", itoaT(sockPort(t, b.Listeners[0].FD))))
			if err != nil {
				t.Errorf("dual-stack dial over IPv4: %v", err)
			} else {
				conn.Close()
			}
		}
	}
}

func TestBindBarePortWithoutIPv6(t *testing.T) {
	// A host without IPv6 binds 0.0.0.0, as systemd does.
	b := mustBind(t, unit("v4.socket", units.SocketOptions{}, anyPort(units.ListenStream, 0)), BindOptions{NoIPv6: true})
	bl := b.Listeners[0]
	if bl.Domain != unix.AF_INET || !strings.HasPrefix(bl.Addr, "0.0.0.0:") {
		t.Errorf("domain %d addr %q, want AF_INET 0.0.0.0", bl.Domain, bl.Addr)
	}
}

func TestBindIPv6Zone(t *testing.T) {
	if !hasIPv6Loopback() {
		t.Skip("no IPv6 on this host")
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skip("no lo interface")
	}
	// [fe80::1]:0%lo: the zone becomes the scope id. FreeBind lets us bind
	// an address lo does not carry.
	b := mustBind(t, unit("ll.socket", units.SocketOptions{FreeBind: true}, inet6(units.ListenStream, "fe80::1", "lo", 0)), BindOptions{})
	sa, err := unix.Getsockname(b.Listeners[0].FD)
	if err != nil {
		t.Fatal(err)
	}
	if got := sa.(*unix.SockaddrInet6).ZoneId; got != uint32(lo.Index) {
		t.Errorf("scope id = %d, want %d (lo)", got, lo.Index)
	}
	// An unknown interface is ENODEV, as in systemd.
	_, err = Bind(unit("ll.socket", units.SocketOptions{}, inet6(units.ListenStream, "fe80::1", "nosuchif0", 0)), BindOptions{})
	if !errors.Is(err, unix.ENODEV) {
		t.Errorf("unknown zone: err = %v, want ENODEV", err)
	}
}

func TestBindUnixKinds(t *testing.T) {
	d := shortDir(t)
	cases := []struct {
		name string
		kind units.ListenKind
		typ  int
	}{
		{"stream", units.ListenStream, unix.SOCK_STREAM},
		{"dgram", units.ListenDatagram, unix.SOCK_DGRAM},
		{"seqpacket", units.ListenSequentialPacket, unix.SOCK_SEQPACKET},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(d, "sub", c.name+".sock")
			b := mustBind(t, unit("u.socket", units.SocketOptions{DirectoryMode: 0o750, SocketMode: 0o620}, unixL(c.kind, p)), BindOptions{})
			bl := b.Listeners[0]
			checkFDFlags(t, bl.FD)
			if got := getInt(t, bl.FD, unix.SOL_SOCKET, unix.SO_TYPE); got != c.typ {
				t.Errorf("SO_TYPE = %d", got)
			}
			sa, _ := unix.Getsockname(bl.FD)
			if got := sa.(*unix.SockaddrUnix).Name; got != p {
				t.Errorf("getsockname = %q, want %q", got, p)
			}
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				t.Fatal(err)
			}
			if st.Mode&unix.S_IFMT != unix.S_IFSOCK || st.Mode&0o7777 != 0o620 {
				t.Errorf("mode = %o, want socket 0620", st.Mode)
			}
			if err := unix.Lstat(filepath.Dir(p), &st); err != nil || st.Mode&0o7777 != 0o750 {
				t.Errorf("parent dir mode = %o (%v), want 0750", st.Mode&0o7777, err)
			}
			cfd, _ := unix.Socket(unix.AF_UNIX, c.typ|unix.SOCK_CLOEXEC, 0)
			defer unix.Close(cfd)
			if err := unix.Connect(cfd, &unix.SockaddrUnix{Name: p}); err != nil {
				t.Errorf("connect: %v", err)
			}
		})
	}
	t.Run("default-mode", func(t *testing.T) {
		p := filepath.Join(d, "def.sock")
		mustBind(t, unit("u.socket", units.SocketOptions{}, unixL(units.ListenStream, p)), BindOptions{})
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil || st.Mode&0o7777 != 0o666 {
			t.Errorf("mode = %o (%v), want 0666 whatever the umask", st.Mode&0o7777, err)
		}
	})
}

func TestBindAbstract(t *testing.T) {
	name := "sockd-test-" + itoaT(os.Getpid())
	l := units.Listener{Kind: units.ListenStream, Text: "@" + name, Addr: units.Address{Family: units.FamilyAbstract, Path: name}}
	b := mustBind(t, unit("abs.socket", units.SocketOptions{}, l), BindOptions{})
	sa, _ := unix.Getsockname(b.Listeners[0].FD)
	if got := sa.(*unix.SockaddrUnix).Name; got != "@"+name {
		t.Errorf("getsockname = %q", got)
	}
	conn, err := net.Dial("unix", "@"+name)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

func TestBindFIFO(t *testing.T) {
	d := shortDir(t)
	p := filepath.Join(d, "q", "fifo")
	b := mustBind(t, unit("f.socket", units.SocketOptions{SocketMode: 0o640, PipeSize: 1 << 20}, pathL(units.ListenFIFO, p)), BindOptions{})
	fd := b.Listeners[0].FD
	checkFDFlags(t, fd)
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO || st.Mode&0o7777 != 0o640 {
		t.Fatalf("FIFO mode %o (%v), want fifo 0640", st.Mode, err)
	}
	fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if fl&unix.O_ACCMODE != unix.O_RDWR {
		t.Errorf("FIFO not opened O_RDWR")
	}
	if sz, err := unix.FcntlInt(uintptr(fd), unix.F_GETPIPE_SZ, 0); err != nil || sz != 1<<20 {
		t.Errorf("pipe size = %d (%v), want 1 MiB", sz, err)
	}
	// An existing FIFO is reused, not replaced.
	b.Close(false)
	b2 := mustBind(t, unit("f.socket", units.SocketOptions{SocketMode: 0o640}, pathL(units.ListenFIFO, p)), BindOptions{})
	var st2 unix.Stat_t
	unix.Lstat(p, &st2)
	if st2.Ino != st.Ino {
		t.Error("existing FIFO was replaced")
	}
	b2.Close(true)
	if err := unix.Lstat(p, &st2); err != unix.ENOENT {
		t.Errorf("RemoveOnStop left the FIFO: %v", err)
	}
}

func TestBindSpecial(t *testing.T) {
	// A /proc file read-only, a character device writable, a directory refused.
	b := mustBind(t, unit("s.socket", units.SocketOptions{}, pathL(units.ListenSpecial, "/proc/version")), BindOptions{})
	fl, _ := unix.FcntlInt(uintptr(b.Listeners[0].FD), unix.F_GETFL, 0)
	if fl&unix.O_ACCMODE != unix.O_RDONLY {
		t.Error("special file not read-only")
	}
	checkFDFlags(t, b.Listeners[0].FD)
	b = mustBind(t, unit("s.socket", units.SocketOptions{Writable: true}, pathL(units.ListenSpecial, "/dev/null")), BindOptions{})
	fl, _ = unix.FcntlInt(uintptr(b.Listeners[0].FD), unix.F_GETFL, 0)
	if fl&unix.O_ACCMODE != unix.O_RDWR {
		t.Error("Writable=yes special file not O_RDWR")
	}
	if _, err := Bind(unit("s.socket", units.SocketOptions{}, pathL(units.ListenSpecial, "/proc")), BindOptions{}); err == nil {
		t.Error("a directory was accepted as special file")
	}
}

func TestBindNetlink(t *testing.T) {
	l := units.Listener{Kind: units.ListenNetlink, Text: "route 1", Addr: units.Address{Family: units.FamilyNetlink, NetlinkFamily: unix.NETLINK_ROUTE, NetlinkGroup: unix.RTMGRP_LINK}}
	b := mustBind(t, unit("nl.socket", units.SocketOptions{PassPacketInfo: true}, l), BindOptions{})
	fd := b.Listeners[0].FD
	if got := getInt(t, fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); got != unix.NETLINK_ROUTE {
		t.Errorf("SO_PROTOCOL = %d", got)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	if g := sa.(*unix.SockaddrNetlink).Groups; g != unix.RTMGRP_LINK {
		t.Errorf("groups = %#x", g)
	}
	if got := getInt(t, fd, unix.SOL_NETLINK, unix.NETLINK_PKTINFO); got != 1 {
		t.Errorf("NETLINK_PKTINFO = %d", got)
	}
}

func TestBindVsock(t *testing.T) {
	l := units.Listener{Kind: units.ListenStream, Text: "vsock::any", Addr: units.Address{Family: units.FamilyVsock, VsockCID: units.VsockAnyCID, VsockPort: unix.VMADDR_PORT_ANY}}
	b, err := Bind(unit("vs.socket", units.SocketOptions{}, l), BindOptions{})
	if errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EADDRNOTAVAIL) {
		t.Skipf("no usable vsock in this kernel: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(true)
	sa, err := unix.Getsockname(b.Listeners[0].FD)
	if err != nil {
		t.Fatal(err)
	}
	if vm := sa.(*unix.SockaddrVM); vm.Port == unix.VMADDR_PORT_ANY {
		t.Errorf("vsock not bound: %+v", vm)
	}
}

func TestBindMessageQueue(t *testing.T) {
	name := "/sockd-test-" + itoaT(os.Getpid())
	l := units.Listener{Kind: units.ListenMessageQueue, Text: name, Addr: units.Address{Family: units.FamilyMQueue, Path: name}}
	o := units.SocketOptions{SocketMode: 0o640, MessageQueueMaxMessages: 3, MessageQueueMessageSize: 64}
	b, err := Bind(unit("mq.socket", o, l), BindOptions{})
	if errors.Is(err, unix.ENOSYS) {
		t.Skip("no POSIX message queues in this kernel")
	}
	if err != nil {
		t.Fatal(err)
	}
	fd := b.Listeners[0].FD
	checkFDFlags(t, fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&0o7777 != 0o640 {
		t.Errorf("queue mode = %o (%v), want 0640", st.Mode&0o7777, err)
	}
	var attr mqAttr
	if _, _, e := unix.Syscall(unix.SYS_MQ_GETSETATTR, uintptr(fd), 0, uintptr(unsafe.Pointer(&attr))); e != 0 {
		t.Fatal(e)
	}
	if attr.maxmsg != 3 || attr.msgsize != 64 {
		t.Errorf("attr = %+v, want maxmsg 3 msgsize 64", attr)
	}
	if err := b.Close(true); err != nil {
		t.Fatal(err)
	}
	if _, err := mqOpen(name[1:], unix.O_RDONLY|unix.O_CLOEXEC, 0, nil); err != unix.ENOENT {
		t.Errorf("RemoveOnStop left the queue: %v", err)
	}
}

func TestSocketProtocol(t *testing.T) {
	cases := []struct {
		name  string
		proto units.SocketProtocol
		kind  units.ListenKind
		want  int
	}{
		{"udplite", units.ProtocolUDPLite, units.ListenDatagram, unix.IPPROTO_UDPLITE},
		{"mptcp", units.ProtocolMPTCP, units.ListenStream, unix.IPPROTO_MPTCP},
		{"sctp", units.ProtocolSCTP, units.ListenStream, unix.IPPROTO_SCTP},
		{"sctp-seqpacket", units.ProtocolSCTP, units.ListenSequentialPacket, unix.IPPROTO_SCTP},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := Bind(unit("p.socket", units.SocketOptions{SocketProtocol: c.proto, NoDelay: true}, inet4(c.kind, "127.0.0.1", 0)), BindOptions{})
			if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.ESOCKTNOSUPPORT) {
				t.Skipf("kernel lacks %s: %v", c.name, err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close(true)
			if got := getInt(t, b.Listeners[0].FD, unix.SOL_SOCKET, unix.SO_PROTOCOL); got != c.want {
				t.Errorf("SO_PROTOCOL = %d, want %d", got, c.want)
			}
		})
	}
}

func TestFDNames(t *testing.T) {
	cases := []struct {
		s    units.Socket
		want string
	}{
		{units.Socket{Name: "a.socket", SocketSettings: &units.SocketSettings{}}, "a.socket"},
		{units.Socket{Name: "a.socket", SocketSettings: &units.SocketSettings{Accept: true}}, "connection"},
		{units.Socket{Name: "a.socket", FileDescriptorName: "http", SocketSettings: &units.SocketSettings{Accept: true}}, "http"},
	}
	for _, c := range cases {
		c.s.Listeners = []units.Listener{inet4(units.ListenStream, "127.0.0.1", 0), inet4(units.ListenDatagram, "127.0.0.1", 0)}
		b := mustBind(t, &c.s, BindOptions{})
		for _, bl := range b.Listeners {
			if bl.Name != c.want {
				t.Errorf("%+v: name %q, want %q", c.s.Name, bl.Name, c.want)
			}
		}
		if b.Listeners[0].SockType != unix.SOCK_STREAM || b.Listeners[1].SockType != unix.SOCK_DGRAM {
			t.Error("listeners not in unit order")
		}
	}
}

func TestListenError(t *testing.T) {
	busy := mustBind(t, unit("busy.socket", units.SocketOptions{}, inet4(units.ListenStream, "127.0.0.1", 0)), BindOptions{})
	port := uint16(sockPort(t, busy.Listeners[0].FD))
	_, err := Bind(unit("web.socket", units.SocketOptions{}, inet4(units.ListenStream, "127.0.0.1", port)), BindOptions{})
	var le *ListenError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v (%T), want *ListenError", err, err)
	}
	if !errors.Is(err, unix.EADDRINUSE) {
		t.Errorf("errors.Is(EADDRINUSE) false for %v", err)
	}
	want := "web.socket: bind 127.0.0.1:" + itoaT(int(port)) + ": address already in use"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestRollback(t *testing.T) {
	// The last listener fails: everything before it is undone.
	d := shortDir(t)
	busy := mustBind(t, unit("busy.socket", units.SocketOptions{}, inet4(units.ListenStream, "127.0.0.1", 0)), BindOptions{})
	port := uint16(sockPort(t, busy.Listeners[0].FD))
	n := countFDs(t)
	s := unit("r.socket", units.SocketOptions{},
		inet4(units.ListenStream, "127.0.0.1", 0),
		unixL(units.ListenStream, filepath.Join(d, "a", "b", "s.sock")),
		pathL(units.ListenFIFO, filepath.Join(d, "c", "fifo")),
		inet4(units.ListenStream, "127.0.0.1", port))
	s.Symlinks = []string{filepath.Join(d, "l", "link")}
	if _, err := Bind(s, BindOptions{}); !errors.Is(err, unix.EADDRINUSE) {
		t.Fatalf("err = %v, want EADDRINUSE", err)
	}
	if got := countFDs(t); got != n {
		t.Errorf("fds: %d before, %d after rollback", n, got)
	}
	if ents, _ := os.ReadDir(d); len(ents) != 0 {
		t.Errorf("rollback left %v in %s", ents, d)
	}
}

func TestRollbackKeepsForeignNodes(t *testing.T) {
	// A pre-existing FIFO and directory are not removed by the rollback.
	d := shortDir(t)
	fifo := filepath.Join(d, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	s := unit("r.socket", units.SocketOptions{SocketMode: 0o600}, pathL(units.ListenFIFO, fifo), pathL(units.ListenSpecial, filepath.Join(d, "missing")))
	if _, err := Bind(s, BindOptions{}); err == nil {
		t.Fatal("Bind succeeded")
	}
	if _, err := os.Lstat(fifo); err != nil {
		t.Errorf("pre-existing FIFO removed: %v", err)
	}
}

func TestBindAll(t *testing.T) {
	// One failing unit does not stop the others.
	d := shortDir(t)
	reg := filepath.Join(d, "file")
	os.WriteFile(reg, []byte("x"), 0o644)
	socks := []*units.Socket{
		unit("a.socket", units.SocketOptions{}, inet4(units.ListenStream, "127.0.0.1", 0)),
		unit("b.socket", units.SocketOptions{}, unixL(units.ListenStream, reg)),
		unit("c.socket", units.SocketOptions{}, unixL(units.ListenStream, filepath.Join(d, "c.sock"))),
	}
	bound, errs := BindAll(socks, BindOptions{Logger: zaptest.NewLogger(t)})
	defer func() {
		for _, b := range bound {
			b.Close(true)
		}
	}()
	if errs[0] != nil || errs[2] != nil || bound[0] == nil || bound[2] == nil {
		t.Errorf("good units failed: %v", errs)
	}
	if errs[1] == nil || bound[1] != nil {
		t.Errorf("bad unit: bound %v err %v", bound[1], errs[1])
	}
}

// freePort returns a TCP port that was free a moment ago on 127.0.0.1.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestBindParsedAddresses binds what the unit parser produces for each
// address form, so the two stay in step. Fixed ports are needed here (the
// grammar has no port 0): pick a free one and retry if it got taken.
func TestBindParsedAddresses(t *testing.T) {
	d := shortDir(t)
	forms := []struct {
		kind units.ListenKind
		text func(port int) string
		v6   bool
	}{
		{units.ListenStream, func(p int) string { return "127.0.0.1:" + itoaT(p) }, false},
		{units.ListenDatagram, func(p int) string { return "127.0.0.1:" + itoaT(p) }, false},
		{units.ListenStream, func(p int) string { return itoaT(p) }, true},
		{units.ListenStream, func(p int) string { return "[::1]:" + itoaT(p) }, true},
		{units.ListenStream, func(int) string { return d + "/p/s.sock" }, false},
		{units.ListenSequentialPacket, func(int) string { return "@sockd-parsed-" + itoaT(os.Getpid()) }, false},
		{units.ListenFIFO, func(int) string { return d + "/fifo" }, false},
		{units.ListenNetlink, func(int) string { return "kobject-uevent 1" }, false},
	}
	for _, f := range forms {
		if f.v6 && !hasIPv6Loopback() {
			continue
		}
		var err error
		for try := 0; try < 5; try++ {
			text := f.text(freePort(t))
			var a units.Address
			if a, err = units.ParseAddress(f.kind, text); err != nil {
				t.Fatalf("ParseAddress(%q): %v", text, err)
			}
			var b *Bound
			b, err = Bind(unit("parsed.socket", units.SocketOptions{}, units.Listener{Kind: f.kind, Addr: a, Text: text}), BindOptions{})
			if errors.Is(err, unix.EADDRINUSE) {
				continue // the free port was taken meanwhile
			}
			if err == nil {
				b.Close(true)
			}
			break
		}
		if err != nil {
			t.Errorf("kind %d: %v", f.kind, err)
		}
	}
}
