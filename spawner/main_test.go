//go:build linux

package spawner

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The test binary doubles as the services it starts (the os/exec TestMain
// pattern): with helperEnv set it runs the helper named by argv[1].
const helperEnv = "SPAWNER_TEST_HELPER=1"

var (
	helpersMu   sync.Mutex
	helpers     = map[string]func(args ...string){}
	helpersUsed = map[string]bool{}
)

// registerHelperCommand registers a helper the test binary can impersonate.
// If all tests run and pass, every registered helper must have been used.
func registerHelperCommand(name string, f func(args ...string)) {
	if helpers[name] != nil {
		panic("duplicate helper " + name)
	}
	helpers[name] = f
}

// helperSpec returns a Spec that runs the test binary as helper name.
func helperSpec(t testing.TB, name string, args ...string) *Spec {
	t.Helper()
	helpersMu.Lock()
	if helpers[name] == nil {
		helpersMu.Unlock()
		t.Fatalf("unknown helper %q", name)
	}
	helpersUsed[name] = true
	helpersMu.Unlock()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &Spec{
		Unit: name + ".service",
		Path: exe,
		Argv: append([]string{exe, name}, args...),
		Env:  BaseEnv(nil, []string{helperEnv}),
	}
}

func TestMain(m *testing.M) {
	MaybeRunHelper()
	if os.Getenv(strings.Split(helperEnv, "=")[0]) != "" {
		if len(os.Args) < 2 || helpers[os.Args[1]] == nil {
			fmt.Fprintf(os.Stderr, "unknown helper %q\n", os.Args[1:])
			os.Exit(2)
		}
		helpers[os.Args[1]](os.Args[2:]...)
		os.Exit(0)
	}

	before := openFDs()
	code := m.Run()
	if code == 0 {
		if after := openFDs(); len(after) > len(before) {
			fmt.Fprintf(os.Stderr, "fd leak: before %v after %v\n", before, after)
			code = 1
		}
		if leaked := leakedGoroutines(); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
		if testing.Short() == false && flagRunAll() {
			var unused []string
			for name := range helpers {
				if !helpersUsed[name] {
					unused = append(unused, name)
				}
			}
			if len(unused) > 0 {
				sort.Strings(unused)
				fmt.Fprintf(os.Stderr, "unused helper commands: %v\n", unused)
				code = 1
			}
		}
	}
	os.Exit(code)
}

// flagRunAll reports whether the whole test suite ran (no -run filter and
// no benchmark-only run), so that unused helpers are a real finding.
func flagRunAll() bool {
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.run=") || strings.HasPrefix(a, "-test.bench=") ||
			strings.HasPrefix(a, "-test.skip=") {
			return false
		}
	}
	return true
}

// leakedGoroutines returns the stacks of goroutines still running spawner
// code (watchers, log captures, the orphan reaper) once every test is done,
// giving exits in flight a few seconds to finish.
func leakedGoroutines() string {
	var leaked []string
	for range 100 {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		leaked = leaked[:0]
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "spawner.(*Spawner).") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		time.Sleep(50 * time.Millisecond)
	}
	return strings.Join(leaked, "\n\n")
}

// openFDs lists this process's descriptors, except the netpoller's epoll
// and eventfd/pipe (created lazily and kept for the process's life).
func openFDs() []string {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		panic(err)
	}
	var fds []string
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // the directory fd itself, closed by now
		}
		if strings.HasPrefix(target, "anon_inode:[eventpoll]") || strings.HasPrefix(target, "anon_inode:[eventfd]") {
			continue
		}
		fds = append(fds, e.Name()+"="+target)
	}
	return fds
}

// fdInfo is one descriptor as seen by a helper.
type fdInfo struct {
	FD       int
	Target   string
	Flags    int64 // open flags from /proc/self/fdinfo (octal there)
	CloExec  bool
	Nonblock bool
}

// describeFDs lists /proc/self/fd with types and flags.
func describeFDs() []fdInfo {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		panic(err)
	}
	var out []fdInfo
	for _, e := range ents {
		fd, _ := strconv.Atoi(e.Name())
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // the fd of the directory being read
		}
		info := fdInfo{FD: fd, Target: target}
		if data, err := os.ReadFile("/proc/self/fdinfo/" + e.Name()); err == nil {
			for line := range strings.SplitSeq(string(data), "\n") {
				if v, ok := strings.CutPrefix(line, "flags:"); ok {
					info.Flags, _ = strconv.ParseInt(strings.TrimSpace(v), 8, 64)
				}
			}
		}
		info.CloExec = info.Flags&0o2000000 != 0
		info.Nonblock = info.Flags&0o4000 != 0
		if info.CloExec {
			// Opened by this process's own runtime after execve (netpoller,
			// cgroup CPU limit files): anything sockd passed had FD_CLOEXEC
			// cleared, and anything else was closed by execve.
			continue
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FD < out[j].FD })
	return out
}

func writeJSON(v any) {
	if err := json.NewEncoder(os.Stdout).Encode(v); err != nil {
		panic(err)
	}
}
