//go:build linux

package activator

import (
	"os"
	"slices"
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

// fdSize is FDSize: of /proc/self/status, the slots of the descriptor table.
func fdSize(t *testing.T) int {
	t.Helper()
	n := int(procStatusKB("FDSize"))
	if n == 0 {
		t.Fatal("no FDSize in /proc/self/status")
	}
	return n
}

func TestGrowFDTable(t *testing.T) {
	cur, _, err := RaiseNoFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	want := 3000
	if cur < 4*uint64(want) {
		t.Skipf("RLIMIT_NOFILE %d is below %d", cur, 4*want)
	}
	if n := fdSize(t); n >= want {
		t.Skipf("the table already holds %d descriptors", n)
	}
	before := openFDs()
	if err := GrowFDTable(want); err != nil {
		t.Fatal(err)
	}
	size := fdSize(t)
	if size < want {
		t.Errorf("FDSize %d after GrowFDTable(%d)", size, want)
	}
	if after := openFDs(); !slices.Equal(after, before) {
		t.Errorf("descriptors open before:\n%v\nafter:\n%v\nGrowFDTable leaked or closed one", before, after)
	}

	// A descriptor in the slot it would take survives: F_DUPFD picks the
	// next free one instead of replacing it (dup2 would).
	f, err := os.CreateTemp(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Dup3(int(f.Fd()), size-1, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(size - 1)
	if err := GrowFDTable(size); err != nil {
		t.Fatal(err)
	}
	var a, b unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &a); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fstat(size-1, &b); err != nil || a.Ino != b.Ino {
		t.Errorf("descriptor %d no longer the file dup'ed there (err %v)", size-1, err)
	}

	// Past RLIMIT_NOFILE it stops at the limit instead of failing (where
	// the limit is small enough for a table that size).
	if cur <= 1<<16 {
		if err := GrowFDTable(int(cur) + 1); err != nil {
			t.Errorf("GrowFDTable past the limit %d: %v", cur, err)
		}
	}
	if err := GrowFDTable(10); err != nil {
		t.Errorf("GrowFDTable(10): %v", err)
	}
}
