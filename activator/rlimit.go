//go:build linux

package activator

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/units"
)

// NoFileReserve is the number of descriptors CheckNoFileLimit keeps free
// beyond the listeners: stdio, logs, epoll, pipes of running services and
// the dups made while spawning.
const NoFileReserve = 256

// RaiseNoFileLimit raises the RLIMIT_NOFILE soft limit of sockd to the hard
// limit and returns the resulting soft (cur) and hard (max) limits. The Go
// runtime already does this at start on Linux; calling setrlimit ourselves
// would stop os/exec from restoring the original soft limit in children,
// so it is only called when the soft limit is still below the hard one.
func RaiseNoFileLimit() (cur, max uint64, err error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, fmt.Errorf("getrlimit RLIMIT_NOFILE: %w", err)
	}
	if rl.Cur < rl.Max {
		want := unix.Rlimit{Cur: rl.Max, Max: rl.Max}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &want); err != nil {
			return rl.Cur, rl.Max, fmt.Errorf("setrlimit RLIMIT_NOFILE %d: %w", rl.Max, err)
		}
		rl = want
	}
	return rl.Cur, rl.Max, nil
}

// CountFDs is the number of descriptors Bind will hold for socks (one per
// listener).
func CountFDs(socks []*units.Socket) int {
	n := 0
	for _, s := range socks {
		n += len(s.Listeners)
	}
	return n
}

// CheckNoFileLimit returns an error that says what to do when a soft limit
// of cur descriptors cannot hold need listeners plus NoFileReserve.
func CheckNoFileLimit(cur uint64, need int) error {
	if want := uint64(need) + NoFileReserve; cur < want {
		return fmt.Errorf("RLIMIT_NOFILE is %d, too low for %d listening sockets (need at least %d): raise LimitNOFILE= of sockd's service or `ulimit -Hn`", cur, need, want)
	}
	return nil
}

// GrowFDTable makes the kernel's descriptor table of sockd hold at least n
// descriptors (capped by RLIMIT_NOFILE) in one step. The table otherwise
// doubles as sockets are opened, and in a multi-threaded process (every
// Go program) each doubling waits for an RCU grace period, during which
// every thread opening a descriptor waits too: 8 doublings to hold 10,000
// listeners added about 60 ms to sockd's start here.
func GrowFDTable(n int) error {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("getrlimit RLIMIT_NOFILE: %w", err)
	}
	if uint64(n) > rl.Cur {
		n = int(rl.Cur)
	}
	if n <= 64 { // the table every process starts with
		return nil
	}
	fd, err := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /: %w", err)
	}
	defer unix.Close(fd)
	// F_DUPFD takes the lowest free descriptor >= n-1 and never replaces
	// one in use (dup2 would).
	hi, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, n-1)
	if err != nil {
		return fmt.Errorf("fcntl F_DUPFD %d: %w", n-1, err)
	}
	return unix.Close(hi)
}
