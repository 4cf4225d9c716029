//go:build linux

package activator

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/units"
)

func dupFD(t testing.TB, fd int) int {
	t.Helper()
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestInheritFDs(t *testing.T) {
	d := shortDir(t)
	sock, fifo := filepath.Join(d, "s.sock"), filepath.Join(d, "fifo")
	first := mustBind(t, unit("i.socket", units.SocketOptions{},
		inet4(units.ListenStream, "127.0.0.1", 0),
		inet4(units.ListenDatagram, "127.0.0.1", 0),
		unixL(units.ListenStream, sock),
		pathL(units.ListenFIFO, fifo)), BindOptions{})
	tcpPort, udpPort := sockPort(t, first.Listeners[0].FD), sockPort(t, first.Listeners[1].FD)
	var passed []int
	for _, bl := range first.Listeners {
		passed = append(passed, dupFD(t, bl.FD))
	}
	first.Close(false) // the dups keep the sockets open, as after a re-exec
	extra, _ := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	in, err := InheritFDs(append(passed, extra))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()

	second := mustBind(t, unit("i.socket", units.SocketOptions{},
		inet4(units.ListenStream, "127.0.0.1", uint16(tcpPort)),
		inet4(units.ListenDatagram, "127.0.0.1", uint16(udpPort)),
		unixL(units.ListenStream, sock),
		pathL(units.ListenFIFO, fifo)), BindOptions{Inherited: in})
	for i, bl := range second.Listeners {
		if !bl.Inherited || bl.FD != passed[i] {
			t.Errorf("listener %d (%s): inherited=%v fd=%d, want fd %d adopted", i, bl.Addr, bl.Inherited, bl.FD, passed[i])
		}
		checkFDFlags(t, bl.FD)
	}
	if in.Len() != 1 {
		t.Errorf("unused fds = %d, want 1", in.Len())
	}
	// A unit that does not match binds anew and leaves the rest alone.
	third := mustBind(t, unit("j.socket", units.SocketOptions{}, inet4(units.ListenStream, "127.0.0.1", 0)), BindOptions{Inherited: in})
	if third.Listeners[0].Inherited {
		t.Error("unrelated listener adopted an fd")
	}
	// RemoveOnStop removes adopted nodes too.
	second.Close(true)
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("adopted socket node left after RemoveOnStop: %v", err)
	}
}

// TestInherit passes a bound listener to a child through LISTEN_FDS, as a
// service manager would, and lets it adopt the fd with Inherit and Bind.
func TestInherit(t *testing.T) {
	b := mustBind(t, unit("p.socket", units.SocketOptions{}, inet4(units.ListenStream, "127.0.0.1", 0)), BindOptions{})
	port := sockPort(t, b.Listeners[0].FD)
	f := os.NewFile(uintptr(dupFD(t, b.Listeners[0].FD)), "listener")
	defer f.Close()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=inherit", "LISTEN_FDS=1", "LISTEN_FDNAMES=p.socket", "SOCKD_TEST_PORT="+strconv.Itoa(port))
	cmd.ExtraFiles = []*os.File{f}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("inherit helper: %v\n%s", err, out.String())
	}
}

// inheritHelper runs in the child of TestInherit. LISTEN_PID can only be
// known in the child, so it sets it itself (sockd's spawner does the same
// in its exec trampoline).
func inheritHelper() int {
	os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	port, _ := strconv.Atoi(os.Getenv("SOCKD_TEST_PORT"))
	in, err := Inherit()
	if err != nil {
		fmt.Println("Inherit:", err)
		return 1
	}
	defer in.Close()
	if os.Getenv("LISTEN_FDS") != "" {
		fmt.Println("LISTEN_FDS still set")
		return 1
	}
	b, err := Bind(unit("p.socket", units.SocketOptions{}, inet4(units.ListenStream, "127.0.0.1", uint16(port))), BindOptions{Inherited: in})
	if err != nil {
		fmt.Println("Bind:", err)
		return 1
	}
	defer b.Close(false)
	bl := b.Listeners[0]
	if !bl.Inherited {
		fmt.Println("listener was bound again instead of adopted")
		return 1
	}
	if fl, _ := unix.FcntlInt(uintptr(bl.FD), unix.F_GETFL, 0); fl&unix.O_NONBLOCK == 0 {
		fmt.Println("adopted fd is blocking")
		return 1
	}
	return 0
}
