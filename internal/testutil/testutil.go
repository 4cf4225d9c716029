// Package testutil holds helpers shared by sockd's tests.
package testutil

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// FreePort returns a port on 127.0.0.1 that was free a moment ago, for
// "tcp" or "udp". Tests that can bind port 0 should do that instead.
func FreePort(t testing.TB, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Child is a child process of the test binary, from /proc/PID/stat.
type Child struct {
	Pid   int
	State byte // R, S, D, Z...
}

// Children lists the test binary's child processes.
func Children(t testing.TB) []Child {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	me := strconv.Itoa(os.Getpid())
	var kids []Child
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == me && len(f[0]) == 1 {
			kids = append(kids, Child{Pid: pid, State: f[0][0]})
		}
	}
	return kids
}
