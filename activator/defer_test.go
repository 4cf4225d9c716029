package activator

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/units"
)

// With DeferListen a unit is bound (its address taken, its socket file
// made with the right mode) but refuses connections until Binder.Listen.
func TestBinderDeferListen(t *testing.T) {
	d := shortDir(t)
	path := filepath.Join(d, "s.sock")
	u := unit("d.socket", units.SocketOptions{SocketMode: 0o600, DirectoryMode: 0o755},
		inet4(units.ListenStream, "127.0.0.1", 0), unixL(units.ListenStream, path))
	bd := NewBinder(BindOptions{DeferListen: true})
	defer bd.Close()
	b, err := bd.Bind(u)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(true)
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sockPort(t, b.Listeners[0].FD)}
	if c, err := net.DialTCP("tcp", nil, addr); err == nil || !errors.Is(err, unix.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial before Listen: %v, want connection refused", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil || st.Mode&0o777 != 0o600 {
		t.Fatalf("socket file before Listen: mode %o, %v", st.Mode&0o777, err)
	}
	if err := bd.Listen(b); err != nil {
		t.Fatal(err)
	}
	for _, dial := range []func() (net.Conn, error){
		func() (net.Conn, error) { return net.DialTCP("tcp", nil, addr) },
		func() (net.Conn, error) { return net.Dial("unix", path) },
	} {
		c, err := dial()
		if err != nil {
			t.Fatalf("dial after Listen: %v", err)
		}
		c.Close()
	}
	if n, err := unix.GetsockoptInt(b.Listeners[0].FD, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || n != 1 {
		t.Errorf("SO_ACCEPTCONN = %d, %v", n, err)
	}
}

// CloseConn closes the fd with SO_LINGER off (raw close) and on.
func TestCloseConn(t *testing.T) {
	for _, linger := range []bool{false, true} {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if linger {
			if err := unix.SetsockoptLinger(fds[0], unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 1}); err != nil {
				t.Fatal(err)
			}
		}
		CloseConn(fds[0])
		if _, err := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFD, 0); err != unix.EBADF {
			t.Errorf("linger %v: fd still open (%v)", linger, err)
		}
		unix.Close(fds[1])
	}
}

// ListenAll listens every unit, on several goroutines for the units that
// cannot conflict, and fails (and undoes) only the unit whose listen()
// fails. Units on one port (SO_REUSEADDR lets both bind) are settled in
// the order given, as if started one after the other: wherever they are
// (far apart, either side of a chunk boundary) and even when the later one
// has a socket file (listened on the calling goroutine).
func TestBinderListenAll(t *testing.T) {
	const n = 3*listenChunk + 7 // several chunks, a partial last one
	cur, _, err := RaiseNoFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	if CheckNoFileLimit(cur, n+10) != nil {
		t.Skipf("RLIMIT_NOFILE %d is too low for %d sockets", cur, n)
	}
	// Three free ports below the ephemeral range, where the port-0 units
	// (and anything else) cannot be given them meanwhile.
	var ports [3]uint16
	found := 0
	for p := 20000 + os.Getpid()%8000; found < len(ports) && p < 32768; p++ {
		if l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			l.Close()
			ports[found] = uint16(p)
			found++
		}
	}
	if found < len(ports) {
		t.Skip("no three free ports below 32768")
	}
	d := shortDir(t)
	var socks []*units.Socket
	for i := range n {
		socks = append(socks, unit(fmt.Sprintf("u%d.socket", i), units.SocketOptions{}, inet4(units.ListenStream, "127.0.0.1", 0)))
	}
	same := func(name string, port uint16) *units.Socket {
		return unit(name, units.SocketOptions{}, inet4(units.ListenStream, "127.0.0.1", port))
	}
	// winner index -> loser index
	pairs := map[int]int{1: n - 2, listenChunk - 1: listenChunk, 5: n}
	socks[1], socks[n-2] = same("far-a.socket", ports[0]), same("far-b.socket", ports[0])
	socks[listenChunk-1], socks[listenChunk] = same("edge-a.socket", ports[1]), same("edge-b.socket", ports[1])
	socks[5] = same("ip-a.socket", ports[2])
	socks = append(socks, unit("fs-b.socket", units.SocketOptions{SocketMode: 0o666, DirectoryMode: 0o755},
		unixL(units.ListenDatagram, filepath.Join(d, "dgram")), inet4(units.ListenStream, "127.0.0.1", ports[2])))
	bd := NewBinder(BindOptions{DeferListen: true})
	defer bd.Close()
	bounds := make([]*Bound, len(socks))
	for i, s := range socks {
		if bounds[i], err = bd.Bind(s); err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		defer bounds[i].Close(true)
	}
	errs := bd.ListenAll(bounds)
	if len(errs) != len(pairs) {
		t.Errorf("%d units failed, want %d", len(errs), len(pairs))
	}
	losers := map[int]bool{}
	for _, l := range pairs {
		losers[l] = true
	}
	for i, b := range bounds {
		name := socks[i].Name
		if losers[i] {
			if !errors.Is(errs[i], unix.EADDRINUSE) {
				t.Errorf("%s: %v, want address already in use (an earlier unit has its port)", name, errs[i])
			}
			if b.Listeners != nil {
				t.Errorf("%s failed but keeps %d listeners", name, len(b.Listeners))
			}
			continue
		}
		if errs[i] != nil {
			t.Errorf("%s: %v", name, errs[i])
			continue
		}
		for _, l := range b.Listeners {
			if l.SockType != unix.SOCK_STREAM {
				continue
			}
			if v, err := unix.GetsockoptInt(l.FD, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || v != 1 {
				t.Errorf("%s fd %d: SO_ACCEPTCONN = %d, %v", name, l.FD, v, err)
			}
		}
	}
	if _, err := os.Lstat(filepath.Join(d, "dgram")); !os.IsNotExist(err) {
		t.Errorf("fs-b.socket failed but its socket file is still there (%v)", err)
	}
}
