package activator

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

func TestConnInstanceAndEnv(t *testing.T) {
	tests := []struct {
		name         string
		local, peer  unix.Sockaddr
		n            uint64
		wantInstance string
		wantEnv      []string
	}{
		{"ipv4", &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: 22}, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 2}, Port: 41234}, 0,
			"0-127.0.0.1:22-127.0.0.2:41234", []string{"REMOTE_ADDR=127.0.0.2", "REMOTE_PORT=41234"}},
		{"ipv6", &unix.SockaddrInet6{Addr: [16]byte{15: 1}, Port: 22}, &unix.SockaddrInet6{Addr: [16]byte{15: 1}, Port: 50000}, 3,
			"3-::1:22-::1:50000", []string{"REMOTE_ADDR=::1", "REMOTE_PORT=50000"}},
		{"ipv4-mapped shown as ipv4", &unix.SockaddrInet6{Addr: [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}, Port: 80},
			&unix.SockaddrInet6{Addr: [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 9}, Port: 1234}, 12,
			"12-127.0.0.1:80-127.0.0.9:1234", []string{"REMOTE_ADDR=127.0.0.9", "REMOTE_PORT=1234"}},
		{"vsock", &unix.SockaddrVM{CID: 2, Port: 1234}, &unix.SockaddrVM{CID: 3, Port: 999}, 1,
			"1-2:1234-3:999", []string{"REMOTE_ADDR=vsock:3", "REMOTE_PORT=999"}},
		{"unix named peer", nil, &unix.SockaddrUnix{Name: "/run/peer.sock"}, 0, "0-unknown", []string{"REMOTE_ADDR=/run/peer.sock"}},
		{"unix unnamed peer", nil, &unix.SockaddrUnix{}, 0, "0-unknown", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Conn{FD: -1, Local: tt.local, Remote: tt.peer}
			if got := c.Instance(tt.n); got != tt.wantInstance {
				t.Errorf("Instance = %q, want %q", got, tt.wantInstance)
			}
			if got := c.RemoteEnv(); !slices.Equal(got, tt.wantEnv) {
				t.Errorf("RemoteEnv = %q, want %q", got, tt.wantEnv)
			}
		})
	}
}

// An AF_UNIX peer is named by its pid and uid (SO_PEERCRED), and its uid is
// the source for MaxConnectionsPerSource=.
func TestConnUnixPeer(t *testing.T) {
	dir, err := os.MkdirTemp("", "")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	unix.Listen(fd, 8)
	cl, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c, err := AcceptConn(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(c.FD)
	want := "5-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(os.Getuid())
	if got := c.Instance(5); got != want {
		t.Errorf("Instance = %q, want %q", got, want)
	}
	if src, ok := c.Source(); !ok || src != "uid:"+strconv.Itoa(os.Getuid()) {
		t.Errorf("Source = %q, %v", src, ok)
	}
	// The accepted fd is close-on-exec and blocking.
	fl, _ := unix.FcntlInt(uintptr(c.FD), unix.F_GETFL, 0)
	fdfl, _ := unix.FcntlInt(uintptr(c.FD), unix.F_GETFD, 0)
	if fl&unix.O_NONBLOCK != 0 || fdfl&unix.FD_CLOEXEC == 0 {
		t.Errorf("flags: O_NONBLOCK=%v FD_CLOEXEC=%v", fl&unix.O_NONBLOCK != 0, fdfl&unix.FD_CLOEXEC != 0)
	}
}
