package activator

import (
	"errors"
	"net"
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
