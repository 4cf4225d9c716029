//go:build linux

package activator

import (
	"fmt"
	"os"
	"slices"
	"testing"
)

// helperEnv selects a helper mode when the test binary is re-executed (in a
// network namespace, or with LISTEN_FDS); see helpers below.
const helperEnv = "SOCKD_ACTIVATOR_HELPER"

// helper returns the function of a helper mode; each returns the process
// exit status.
func helper(name string) func() int {
	switch name {
	case "netns":
		return netnsHelper
	case "inherit":
		return inheritHelper
	}
	return nil
}

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		f := helper(h)
		if f == nil {
			fmt.Fprintf(os.Stderr, "unknown helper %q\n", h)
			os.Exit(2)
		}
		os.Exit(f())
	}
	// Make the runtime open its netpoller fds now, so they are in the
	// "before" list.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	before := openFDs()
	code := m.Run()
	if code == 0 {
		if leaked := newFDs(before, openFDs()); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "fd leak: %d descriptors opened by the tests are still open: %v\n", len(leaked), leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// openFDs lists this process's fds as "N -> target".
func openFDs() []string {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	self := fmt.Sprintf("/proc/%d/fd", os.Getpid()) // the directory being read
	var out []string
	for _, n := range names {
		t, _ := os.Readlink("/proc/self/fd/" + n)
		if t == self {
			continue
		}
		out = append(out, n+" -> "+t)
	}
	return out
}

func newFDs(before, after []string) []string {
	var leaked []string
	for _, a := range after {
		if !slices.Contains(before, a) {
			leaked = append(leaked, a)
		}
	}
	return leaked
}

// countFDs is the number of open fds, for per-test leak checks.
func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents) - 1
}
