//go:build linux

package activator

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/units"
)

func TestRaiseNoFileLimit(t *testing.T) {
	cur, max, err := RaiseNoFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	var rl unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	if cur != max || rl.Cur != cur || rl.Max != max {
		t.Errorf("cur=%d max=%d, getrlimit %+v: soft limit not raised to the hard one", cur, max, rl)
	}
}

func TestCheckNoFileLimit(t *testing.T) {
	socks := []*units.Socket{
		unit("a.socket", units.SocketOptions{}, anyPort(units.ListenStream, 80), anyPort(units.ListenDatagram, 80)),
		unit("b.socket", units.SocketOptions{}, anyPort(units.ListenStream, 81)),
	}
	need := CountFDs(socks)
	if need != 3 {
		t.Fatalf("CountFDs = %d, want 3", need)
	}
	if err := CheckNoFileLimit(1024, need); err != nil {
		t.Errorf("1024 too low for 3 sockets: %v", err)
	}
	err := CheckNoFileLimit(1024, 5000)
	if err == nil || !strings.Contains(err.Error(), "LimitNOFILE") || !strings.Contains(err.Error(), "5000") {
		t.Errorf("err = %v, want a message naming the count and LimitNOFILE=", err)
	}
}
