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
