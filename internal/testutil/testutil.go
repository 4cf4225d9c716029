// Package testutil holds helpers shared by sockd's tests.
package testutil

import (
	"net"
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
