//go:build linux

package spawner

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/coreos/go-systemd/v22/activation"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/internal/testutil"
)

// description is what the describefds helper reports.
type description struct {
	Pid, Ppid, Pgid, Sid int
	FDs                  []fdInfo
	Env                  []string
	Status               map[string]string // selected /proc/self/status fields
	Cwd                  string
	Umask                int
	Nice                 int
	MsgqueueLimit        [2]uint64
	Uid, Gid             int
	Groups               []int
}

func init() {
	registerHelperCommand("describefds", func(...string) {
		d := description{FDs: describeFDs()}
		d.Pid, d.Ppid = os.Getpid(), os.Getppid()
		d.Pgid, _ = syscall.Getpgid(0)
		sid, _, _ := syscall.RawSyscall(syscall.SYS_GETSID, 0, 0, 0)
		d.Sid = int(sid)
		d.Env = os.Environ()
		d.Status = map[string]string{}
		data, _ := os.ReadFile("/proc/self/status")
		for line := range strings.SplitSeq(string(data), "\n") {
			k, v, _ := strings.Cut(line, ":")
			switch k {
			case "SigBlk", "SigIgn", "NoNewPrivs", "Umask":
				d.Status[k] = strings.TrimSpace(v)
			}
		}
		d.Cwd, _ = os.Getwd()
		u, _ := strconv.ParseInt(d.Status["Umask"], 8, 32)
		d.Umask = int(u)
		prio, _ := unix.Getpriority(unix.PRIO_PROCESS, 0)
		d.Nice = prio
		var rl unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_MSGQUEUE, &rl)
		d.MsgqueueLimit = [2]uint64{rl.Cur, rl.Max}
		d.Uid, d.Gid = os.Getuid(), os.Getgid()
		d.Groups, _ = os.Getgroups()
		writeJSON(d)
	})
	registerHelperCommand("activation", func(...string) {
		// go-systemd is the oracle: it only hands out fds when LISTEN_PID
		// is this process's pid.
		files := activation.Files(true)
		var r struct {
			Names    []string
			FDs      []int
			Greeting bool
			EnvLeft  []string
		}
		for _, f := range files {
			r.Names = append(r.Names, f.Name())
			r.FDs = append(r.FDs, int(f.Fd()))
		}
		for _, kv := range os.Environ() {
			if strings.HasPrefix(kv, "LISTEN_") {
				r.EnvLeft = append(r.EnvLeft, kv)
			}
		}
		if len(files) > 0 {
			if l, err := net.FileListener(files[0]); err == nil {
				if c, err := l.Accept(); err == nil {
					io.WriteString(c, "hello from activation\n")
					c.Close()
					r.Greeting = true
				}
			}
		}
		// Report on the last passed fd, which the test made a pipe.
		out := os.NewFile(uintptr(3+len(files)-1), "report")
		if len(files) > 0 {
			out = files[len(files)-1]
		}
		json.NewEncoder(out).Encode(r)
	})
	registerHelperCommand("echo", func(...string) {
		for _, kv := range os.Environ() {
			if strings.HasPrefix(kv, "LISTEN_") {
				os.Stderr.WriteString("unexpected " + kv + "\n")
			}
		}
		os.Stderr.WriteString("echo ready\n")
		io.Copy(os.Stdout, os.Stdin)
	})
	registerHelperCommand("exit", func(args ...string) {
		n, _ := strconv.Atoi(args[0])
		os.Exit(n)
	})
	registerHelperCommand("killself", func(args ...string) {
		n, _ := strconv.Atoi(args[0])
		signal.Reset()
		syscall.Kill(os.Getpid(), syscall.Signal(n))
		time.Sleep(10 * time.Second)
	})
	registerHelperCommand("sleep", func(args ...string) {
		d, _ := time.ParseDuration(args[0])
		time.Sleep(d)
	})
	registerHelperCommand("printlines", func(...string) {
		os.Stdout.WriteString("out one\nout two\n")
		os.Stderr.WriteString("err one\n")
		os.Stdout.WriteString(strings.Repeat("x", maxLine+10) + "\n")
		os.Stdout.WriteString(strings.Repeat("y", maxLine) + "\n")
		os.Stdout.WriteString("no newline at end")
	})
	registerHelperCommand("orphan", func(args ...string) {
		// Start a grandchild and exit without waiting: it is re-parented
		// to the subreaper (the test process) and must be reaped there.
		exe, _ := os.Executable()
		cmd := exec.Command(exe, "sleep", args[0])
		cmd.Env = []string{helperEnv}
		if err := cmd.Start(); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString(strconv.Itoa(cmd.Process.Pid) + "\n")
	})
}

func newSpawner(t *testing.T, opts Options) *Spawner {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// runCapture starts spec with stdout on a pipe and returns what it wrote and
// how it exited.
func runCapture(t *testing.T, s *Spawner, spec *Spec) ([]byte, Exit) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	spec.Stdout = FD(int(w.Fd()))
	p, err := s.Start(spec)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out, p.Wait()
}

func rawFD(t *testing.T, c syscall.Conn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	rc.Control(func(u uintptr) { fd = int(u) })
	return fd
}

func getenv(env []string, k string) (string, bool) {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, k+"="); ok {
			return v, true
		}
	}
	return "", false
}

// spawnModes are the ways a Spawner can fork; tests that check the child's
// state run in each: the fork server, and forking directly with and without
// CLONE_VM, each with clone3 (CLONE_CLEAR_SIGHAND) and with the plain clone
// used where clone3 is refused.
//
// direct-nowait sets Spec.NoWait: the child runs on a stack of its own and
// Start does not wait for its execve (amd64 with clone3).
var spawnModes = []struct {
	name          string
	direct, vfork bool
	noClone3      bool
	noWait        bool
}{
	{"forkserver", false, haveVfork, false, false},
	{"direct-vfork", true, true, false, false},
	{"direct-fork", true, false, false, false},
	{"direct-vfork-clone", true, true, true, false},
	{"direct-fork-clone", true, false, true, false},
	{"direct-nowait", true, true, false, true},
}

// checkNoWait fails a test of the direct-nowait mode whose starts waited
// after all (skipping where they cannot: not amd64, or no clone3).
func checkNoWait(t *testing.T, s *Spawner, noWait bool) {
	t.Helper()
	if !noWait {
		return
	}
	if !haveOwnStack || !ownStackKernel() || !s.ownStack.Load() {
		t.Skip("starts without waiting need amd64, Linux 5.16 and clone3")
	}
	s.stacks.mu.Lock()
	n := len(s.stacks.free) + len(s.stacks.busy)
	s.stacks.mu.Unlock()
	if !s.NoWaitStarts() || n == 0 {
		t.Errorf("NoWaitStarts %v, %d child stacks: the start waited", s.NoWaitStarts(), n)
	}
}

func newSpawnerMode(t *testing.T, opts Options, direct, vfork, noClone3 bool) *Spawner {
	t.Helper()
	if vfork && !haveVfork {
		t.Skip("no vfork on this architecture")
	}
	opts.DirectFork = direct
	s := newSpawner(t, opts)
	if !direct && s.fs == nil {
		t.Fatal("fork server did not start")
	}
	s.vfork = vfork
	s.fork.noClone3.Store(noClone3)
	return s
}

func TestDescribe(t *testing.T) {
	for _, m := range spawnModes {
		for _, nonblock := range []bool{false, true} {
			t.Run(m.name+"/nonblock="+strconv.FormatBool(nonblock), func(t *testing.T) {
				s := newSpawnerMode(t, Options{}, m.direct, m.vfork, m.noClone3)
				testDescribe(t, s, nonblock, m.noWait)
				checkNoWait(t, s, m.noWait)
			})
		}
	}
}

func testDescribe(t *testing.T, s *Spawner, nonblock, noWait bool) {
	// Two listeners (created O_NONBLOCK by Go) and a stray inheritable fd
	// that must not reach the child.
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	dir, err := os.MkdirTemp("", "")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	l2, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	stray, err := syscall.Dup(0) // no FD_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(stray)

	// Ignore a signal and block one in this process: the child must still
	// start with default dispositions and an empty mask.
	signal.Ignore(syscall.SIGUSR2)
	defer signal.Reset(syscall.SIGUSR2)

	workdir := t.TempDir()
	umask := os.FileMode(0o027)
	nice := 5
	spec := helperSpec(t, "describefds")
	spec.Env = BaseEnv(nil, spec.Env, []string{"FOO=bar", "LISTEN_PID=1"})
	spec.Files = []int{rawFD(t, l1.(*net.TCPListener)), rawFD(t, l2.(*net.UnixListener))}
	spec.Names = []string{"web.socket", "admin"}
	spec.ListenEnv = true
	spec.NonBlocking = nonblock
	spec.NoWait = noWait
	spec.Dir = workdir
	spec.Umask = &umask
	spec.Nice = &nice
	spec.NoNewPrivs = true
	spec.Rlimits = map[int]Rlimit{unix.RLIMIT_MSGQUEUE: {Soft: 4096, Hard: 8192}}

	out, exit := runCapture(t, s, spec)
	if !exit.Success() {
		t.Fatalf("helper: %v; output %s", exit, out)
	}
	var d description
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("%v: %s", err, out)
	}

	var got []int
	for _, f := range d.FDs {
		got = append(got, f.FD)
	}
	if want := []int{0, 1, 2, 3, 4}; !equalInts(got, want) {
		t.Fatalf("fds = %v, want %v (%+v)", got, want, d.FDs)
	}
	if !strings.HasPrefix(d.FDs[3].Target, "socket:") || !strings.HasPrefix(d.FDs[4].Target, "socket:") {
		t.Errorf("fds 3, 4 = %s, %s, want sockets", d.FDs[3].Target, d.FDs[4].Target)
	}
	if d.FDs[0].Target != "/dev/null" || d.FDs[2].Target != "/dev/null" {
		t.Errorf("stdin, stderr = %s, %s, want /dev/null", d.FDs[0].Target, d.FDs[2].Target)
	}
	for _, fd := range d.FDs[3:] {
		if fd.Nonblock != nonblock {
			t.Errorf("fd %d O_NONBLOCK = %v, want %v", fd.FD, fd.Nonblock, nonblock)
		}
	}
	if v, _ := getenv(d.Env, "LISTEN_PID"); v != strconv.Itoa(d.Pid) {
		t.Errorf("LISTEN_PID = %q, want %d", v, d.Pid)
	}
	if v, _ := getenv(d.Env, "LISTEN_FDS"); v != "2" {
		t.Errorf("LISTEN_FDS = %q", v)
	}
	if v, _ := getenv(d.Env, "LISTEN_FDNAMES"); v != "web.socket:admin" {
		t.Errorf("LISTEN_FDNAMES = %q", v)
	}
	if !strings.HasPrefix(d.Env[0], "LISTEN_PID=") {
		t.Errorf("env does not start with LISTEN_PID: %q", d.Env)
	}
	n := 0
	for _, kv := range d.Env {
		if strings.HasPrefix(kv, "LISTEN_PID=") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d LISTEN_PID entries", n)
	}
	if v, _ := getenv(d.Env, "FOO"); v != "bar" {
		t.Errorf("FOO = %q", v)
	}
	if v, _ := getenv(d.Env, "PATH"); v != DefaultPath {
		t.Errorf("PATH = %q", v)
	}
	if v, _ := getenv(d.Env, "INVOCATION_ID"); len(v) != 32 {
		t.Errorf("INVOCATION_ID = %q", v)
	}
	if d.Pgid != d.Pid || d.Sid != d.Pid {
		t.Errorf("pid %d pgid %d sid %d: want own session and group", d.Pid, d.Pgid, d.Sid)
	}
	if d.Ppid != os.Getpid() {
		t.Errorf("ppid = %d, want %d", d.Ppid, os.Getpid())
	}
	if d.Status["SigBlk"] != "0000000000000000" || d.Status["SigIgn"] != "0000000000000000" {
		t.Errorf("SigBlk %s SigIgn %s, want all zero", d.Status["SigBlk"], d.Status["SigIgn"])
	}
	if s.fork.noClone3.Load() {
		t.Log("started with clone (clone3 refused or turned off)")
	}
	if d.Status["NoNewPrivs"] != "1" {
		t.Errorf("NoNewPrivs = %s", d.Status["NoNewPrivs"])
	}
	if d.Umask != 0o027 {
		t.Errorf("umask = %#o", d.Umask)
	}
	if d.Cwd != workdir {
		t.Errorf("cwd = %q, want %q", d.Cwd, workdir)
	}
	if d.Nice != 20-5 { // getpriority returns 20-nice
		t.Errorf("getpriority = %d, want nice 5", d.Nice)
	}
	if d.MsgqueueLimit != [2]uint64{4096, 8192} {
		t.Errorf("RLIMIT_MSGQUEUE = %v", d.MsgqueueLimit)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestActivation uses go-systemd's activation package in the child as the
// conformance oracle for LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES.
func TestActivation(t *testing.T) {
	s := newSpawner(t, Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	spec := helperSpec(t, "activation")
	spec.Files = []int{rawFD(t, l.(*net.TCPListener)), int(w.Fd())}
	spec.Names = []string{"web", "report"}
	spec.ListenEnv = true
	p, err := s.Start(spec)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	greeting, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	out, _ := io.ReadAll(r)
	if e := p.Wait(); !e.Success() {
		t.Fatalf("helper: %v", e)
	}
	var got struct {
		Names    []string
		FDs      []int
		Greeting bool
		EnvLeft  []string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if strings.Join(got.Names, ",") != "web,report" || !equalInts(got.FDs, []int{3, 4}) {
		t.Errorf("activation.Files: names %q fds %v, want [web report] [3 4]", got.Names, got.FDs)
	}
	if !got.Greeting || greeting != "hello from activation\n" {
		t.Errorf("greeting %q (sent %v)", greeting, got.Greeting)
	}
	if len(got.EnvLeft) != 0 {
		t.Errorf("activation.Files(true) left %q", got.EnvLeft)
	}
}

// TestInetd is StandardInput=socket: the connection on 0 and 1, no LISTEN_*.
func TestInetd(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	s := newSpawner(t, Options{Logger: zap.New(core)})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	fd := rawFD(t, conn.(*net.TCPConn))

	spec := helperSpec(t, "echo")
	spec.Env = append(spec.Env, "LISTEN_FDS=1", "LISTEN_PID=1")
	spec.Stdin, spec.Stdout, spec.Stderr = FD(fd), FD(fd), Log
	p, err := s.Start(spec)
	// sockd's copy is closed once the service has its own (as the
	// supervisor does); O_NONBLOCK was cleared on the shared description,
	// so don't use conn for I/O any more.
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(client, "ping\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(client).ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("echo = %q, %v", line, err)
	}
	client.(*net.TCPConn).CloseWrite()
	if e := p.Wait(); !e.Success() {
		t.Fatalf("echo: %v", e)
	}
	waitLogs(t, logs, 1)
	for _, e := range logs.All() {
		if e.Message != "echo ready" {
			t.Errorf("echo logged %q", e.Message)
		}
	}
}

func waitLogs(t *testing.T, logs *observer.ObservedLogs, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for logs.Len() < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d log entries, want %d: %v", logs.Len(), n, logs.All())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLogCapture(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	s := newSpawner(t, Options{Logger: zap.New(core)})
	spec := helperSpec(t, "printlines")
	spec.Stdout, spec.Stderr = Log, Log
	p, err := s.Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	if e := p.Wait(); !e.Success() {
		t.Fatal(e)
	}
	waitLogs(t, logs, 7)
	var out, errs []string
	for _, e := range logs.All() {
		f := e.ContextMap()
		if f["unit"] != "printlines.service" || f["pid"] != int64(p.Pid) {
			t.Errorf("entry %q has fields %v", e.Message, f)
		}
		switch f["stream"] {
		case "stdout":
			out = append(out, e.Message)
		case "stderr":
			errs = append(errs, e.Message)
		default:
			t.Errorf("stream %v", f["stream"])
		}
	}
	long := strings.Repeat("x", maxLine+10)
	want := []string{"out one", "out two", long[:maxLine], long[maxLine:], strings.Repeat("y", maxLine), "no newline at end"}
	if strings.Join(out, "|") != strings.Join(want, "|") {
		t.Errorf("stdout lines (%d) differ: %.80q", len(out), out)
	}
	if strings.Join(errs, "|") != "err one" {
		t.Errorf("stderr lines %q", errs)
	}
}

func TestExitStatus(t *testing.T) {
	var mu sync.Mutex
	events := map[int]Exit{}
	s := newSpawner(t, Options{OnExit: func(e Exit) {
		mu.Lock()
		events[e.Pid] = e
		mu.Unlock()
	}})
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		signal syscall.Signal
	}{
		{"exit", []string{"0"}, 0, 0},
		{"exit", []string{"7"}, 7, 0},
		{"killself", []string{"9"}, -1, syscall.SIGKILL},
		{"killself", []string{"15"}, -1, syscall.SIGTERM},
	} {
		p, err := s.Start(helperSpec(t, tt.name, tt.args...))
		if err != nil {
			t.Fatal(err)
		}
		e := p.Wait()
		if e.Code != tt.code || e.Signal != tt.signal || e.Pid != p.Pid || e.Unit != tt.name+".service" {
			t.Errorf("%s %v: got %+v, want code %d signal %v", tt.name, tt.args, e, tt.code, tt.signal)
		}
		mu.Lock()
		if events[p.Pid] != e {
			t.Errorf("OnExit got %+v, Wait %+v", events[p.Pid], e)
		}
		mu.Unlock()
	}
}

func TestSignal(t *testing.T) {
	s := newSpawner(t, Options{})
	for _, group := range []bool{false, true} {
		p, err := s.Start(helperSpec(t, "sleep", "1h"))
		if err != nil {
			t.Fatal(err)
		}
		if group {
			err = Signal(p.Pgid, syscall.SIGTERM)
		} else {
			err = p.Signal(syscall.SIGTERM)
		}
		if err != nil {
			t.Fatal(err)
		}
		if e := p.Wait(); e.Signal != syscall.SIGTERM {
			t.Errorf("group=%v: %v, want SIGTERM", group, e)
		}
		if err := p.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("Signal after exit = %v", err)
		}
	}
}

func TestStartErrors(t *testing.T) {
	s := newSpawner(t, Options{})
	_, err := s.Start(&Spec{Unit: "missing.service", Path: "/nonexistent/program"})
	var se *StartError
	if !errors.As(err, &se) || se.Op != "execve" || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("missing binary: %v", err)
	}
	_, err = s.Start(&Spec{Path: "/bin/true", Dir: "/nonexistent"})
	if !errors.Is(err, syscall.ENOENT) || !errors.As(err, &se) || se.Op != "chdir" {
		t.Errorf("missing dir: %v", err)
	}
	p, err := s.Start(&Spec{Path: "/bin/true", Dir: "/nonexistent", DirOptional: true})
	if err != nil {
		t.Errorf("optional missing dir: %v", err)
	} else {
		p.Wait()
	}
	_, err = s.Start(&Spec{Path: "/bin/true", Files: []int{0}, Names: []string{"a", "b"}})
	if err == nil {
		t.Error("names/files mismatch accepted")
	}
	_, err = s.Start(&Spec{Path: "true"})
	if err == nil {
		t.Error("relative path accepted")
	}
}

// TestNoWaitStartErrors: a start that does not wait for execve reports a
// failure in the child with its exit: systemd's status for the step, and
// the error Start would have returned.
func TestNoWaitStartErrors(t *testing.T) {
	s := newSpawner(t, Options{DirectFork: true})
	for _, tt := range []struct {
		name string
		spec Spec
		op   string
		code int
	}{
		{"missing program", Spec{Path: "/nonexistent/program"}, "execve", 203},
		{"missing dir", Spec{Path: "/bin/true", Dir: "/nonexistent"}, "chdir", 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			spec.Unit = "x.service"
			spec.NoWait = true
			p, err := s.Start(&spec)
			checkNoWait(t, s, true)
			if err != nil {
				t.Fatalf("Start: %v, want the failure with the exit", err)
			}
			e := p.Wait()
			if e.Code != tt.code || e.StartErr == nil || e.StartErr.Op != tt.op || !errors.Is(e.StartErr, syscall.ENOENT) ||
				e.StartErr.Unit != "x.service" || e.StartErr.Path != spec.Path {
				t.Errorf("exit %v, start error %#v; want status %d, %s: ENOENT", e, e.StartErr, tt.code, tt.op)
			}
		})
	}
	// A program that exits 203 by itself is not a failed start.
	p, err := s.Start(&Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", "exit 203"}, NoWait: true})
	if err != nil {
		t.Fatal(err)
	}
	if e := p.Wait(); e.Code != 203 || e.StartErr != nil {
		t.Errorf("exit %v, start error %v; want status 203 and none", e, e.StartErr)
	}
}

// TestNoWaitSignalAtOnce: a process started without waiting for its
// execve has no process group of its own yet when Start returns; a signal
// sent to its group right away (SignalGroup) must still reach it.
func TestNoWaitSignalAtOnce(t *testing.T) {
	s := newSpawner(t, Options{DirectFork: true})
	for i := range 100 {
		p, err := s.Start(&Spec{Path: "/bin/sleep", Argv: []string{"sleep", "30"}, NoWait: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.SignalGroup(syscall.SIGTERM); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		select {
		case <-p.Done():
			if e := p.Wait(); e.Signal != syscall.SIGTERM {
				t.Fatalf("start %d: %v, want SIGTERM", i, e)
			}
		case <-time.After(20 * time.Second):
			p.Signal(syscall.SIGKILL)
			t.Fatalf("start %d: the signal sent right after Start was lost", i)
		}
	}
	checkNoWait(t, s, true)
}

// TestChildMainCallsOnlySyscalls: the child code runs without the runtime
// (after a no-wait clone, beside the parent's live goroutine), so it may
// call nothing but the raw system-call wrappers: no bounds-check panic, no
// race-detector hook, no stack growth. The disassembly of sockd, built like
// this test (with -race or not), says what it calls. (go test strips the
// test binary's symbols, so sockd is built for this.)
func TestChildMainCallsOnlySyscalls(t *testing.T) {
	if testing.Short() {
		t.Skip("builds sockd")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build and disassemble with")
	}
	bin := filepath.Join(t.TempDir(), "sockd")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command(goTool, append(args, "github.com/sockd/sockd/cmd/sockd")...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	out, err := exec.Command(goTool, "tool", "objdump", "-s", `spawner\.childMain$`, bin).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump: %v: %s", err, out)
	}
	calls := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		for i, w := range f {
			if w != "CALL" || i+1 >= len(f) {
				continue
			}
			calls++
			if target := f[i+1]; target != "syscall.RawSyscall(SB)" && target != "syscall.RawSyscall6(SB)" {
				t.Errorf("childMain calls %s: %s", target, line)
			}
		}
	}
	if calls == 0 {
		t.Fatalf("no calls found in the disassembly of childMain:\n%s", out)
	}
}

// TestNoWaitStacksReused: a child's stack goes back to the pool once the
// child has exec'd, so sequential starts keep using one or two.
func TestNoWaitStacksReused(t *testing.T) {
	s := newSpawner(t, Options{DirectFork: true})
	for range 50 {
		p, err := s.Start(&Spec{Path: "/bin/true", NoWait: true})
		if err != nil {
			t.Fatal(err)
		}
		p.Wait()
	}
	checkNoWait(t, s, true)
	s.stacks.mu.Lock()
	n := len(s.stacks.free) + len(s.stacks.busy)
	s.stacks.mu.Unlock()
	if n > 2 {
		t.Errorf("%d child stacks for 50 sequential starts, want 1 or 2", n)
	}
}

// TestNoZombies starts 2,000 processes through the fork server, and 500
// forked directly in subreaper mode, 8 at a time, and checks that none is
// left as a zombie child.
func TestNoZombies(t *testing.T) {
	for _, tt := range []struct {
		name string
		n    int
		opts Options
	}{
		{"forkserver", 2000, Options{}},
		{"direct-subreaper", 500, Options{DirectFork: true, Subreaper: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.n
			if testing.Short() {
				n /= 10
			}
			s := newSpawner(t, tt.opts)
			var wg sync.WaitGroup
			sem := make(chan struct{}, 8)
			for range n {
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					p, err := s.Start(&Spec{Path: "/bin/true"})
					if err != nil {
						t.Error(err)
						return
					}
					p.Wait()
				}()
			}
			wg.Wait()
			if z := zombieChildren(t); len(z) > 0 {
				t.Fatalf("zombie children: %v", z)
			}
		})
	}
}

// zombieChildren lists this process's children in state Z.
func zombieChildren(t *testing.T) []int {
	t.Helper()
	var z []int
	for _, c := range testutil.Children(t) {
		if c.State == 'Z' {
			z = append(z, c.Pid)
		}
	}
	return z
}

// TestSubreaper: a service leaves a grandchild behind; it is re-parented to
// us and reaped.
func TestSubreaper(t *testing.T) {
	s := newSpawner(t, Options{Subreaper: true})
	spec := helperSpec(t, "orphan", "200ms")
	out, e := runCapture(t, s, spec)
	if !e.Success() {
		t.Fatalf("orphan: %v", e)
	}
	gpid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("output %q", out)
	}
	// The grandchild lives ~200ms as our child, then must vanish entirely.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat("/proc/" + strconv.Itoa(gpid)); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			data, _ := os.ReadFile("/proc/" + strconv.Itoa(gpid) + "/stat")
			t.Fatalf("grandchild %d still there: %s", gpid, data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSubreaperWhileBusy: while tracked processes keep exiting, SIGCHLD is
// not relayed (see reapOrphans); an orphan that dies meanwhile is reaped
// all the same, and so is one that dies once the churn has stopped.
func TestSubreaperWhileBusy(t *testing.T) {
	s := newSpawner(t, Options{Subreaper: true})
	orphan := func(life string) string {
		out, e := runCapture(t, s, helperSpec(t, "orphan", life))
		if !e.Success() {
			t.Fatalf("orphan: %v", e)
		}
		return "/proc/" + strings.TrimSpace(string(out))
	}
	gone := func(proc string) bool {
		_, err := os.Stat(proc)
		return os.IsNotExist(err)
	}
	busy := orphan("300ms")
	deadline := time.Now().Add(10 * time.Second)
	for n := 0; !gone(busy); n++ {
		if time.Now().After(deadline) {
			t.Fatalf("orphan %s not reaped while %d processes exited", busy, n)
		}
		p, err := s.Start(&Spec{Path: "/bin/true"})
		if err != nil {
			t.Fatal(err)
		}
		p.Wait()
	}
	quiet := orphan("500ms")
	for !gone(quiet) {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			data, _ := os.ReadFile(quiet + "/stat")
			t.Fatalf("orphan %s not reaped once quiet: %s", quiet, data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCredentials(t *testing.T) {
	if _, err := LookupCredential("no-such-user-sockd", "", nil); !errors.As(err, new(user.UnknownUserError)) {
		t.Errorf("unknown user: %v", err)
	}
	if os.Geteuid() != 0 {
		// A non-root sockd may only run services as itself.
		s := newSpawner(t, Options{})
		_, err := s.Start(&Spec{Path: "/bin/true", Cred: &Credential{Uid: 0, Gid: 0}})
		if !errors.Is(err, syscall.EPERM) {
			t.Errorf("switching user as non-root: %v", err)
		}
		t.Skip("the rest needs root")
	}
	// uid/gid -1 would make setresuid/setresgid keep root: refused in
	// the child, never run.
	s0 := newSpawner(t, Options{})
	for _, c := range []*Credential{{Uid: ^uint32(0), Gid: 65534}, {Uid: 65534, Gid: ^uint32(0)}} {
		var se *StartError
		_, err := s0.Start(&Spec{Path: "/bin/true", Cred: c})
		if !errors.As(err, &se) || !errors.Is(err, syscall.EPERM) {
			t.Errorf("Cred %+v: %v", c, err)
		}
	}

	cred, err := LookupCredential("nobody", "", []string{"0"})
	if err != nil {
		t.Skip(err)
	}
	if cred.Uid == 0 {
		t.Fatal("nobody is root")
	}
	s := newSpawner(t, Options{})
	spec := helperSpec(t, "describefds")
	// The test binary lives in a 0700 build directory; nobody needs a copy.
	dir, err := os.MkdirTemp("", "")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	exe, err := os.ReadFile(spec.Path)
	if err != nil {
		t.Fatal(err)
	}
	spec.Path = filepath.Join(dir, "helper")
	if err := os.WriteFile(spec.Path, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	spec.Argv[0] = spec.Path
	spec.Cred = cred
	spec.Env = BaseEnv(cred, spec.Env)
	spec.Dir = "~"
	spec.DirOptional = true // nobody's home usually does not exist
	out, e := runCapture(t, s, spec)
	if !e.Success() {
		t.Fatalf("helper: %v (%s)", e, out)
	}
	var d description
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	if d.Uid != int(cred.Uid) || d.Gid != int(cred.Gid) {
		t.Errorf("uid %d gid %d, want %d %d", d.Uid, d.Gid, cred.Uid, cred.Gid)
	}
	var want []int
	for _, g := range cred.Groups {
		want = append(want, int(g))
	}
	sort.Ints(want) // the kernel keeps groups sorted
	if !equalInts(d.Groups, want) {
		t.Errorf("groups %v, want %v", d.Groups, want)
	}
	if v, _ := getenv(d.Env, "USER"); v != "nobody" {
		t.Errorf("USER = %q", v)
	}
	if home, _ := getenv(d.Env, "HOME"); home != cred.Home {
		t.Errorf("HOME = %q, want %q", home, cred.Home)
	}
	// An unusable home for "~" is a start error, never a root fallback.
	if _, err := os.Stat(cred.Home); err == nil && d.Cwd != cred.Home {
		t.Errorf("cwd %q, want %q", d.Cwd, cred.Home)
	}
}

func TestBaseEnv(t *testing.T) {
	t.Setenv("LANG", "C.UTF-8")
	env := BaseEnv(&Credential{User: "u", Home: "/h", Shell: "/bin/sh"}, []string{"A=1", "PATH=/x"}, []string{"A=2", "bad"})
	want := []string{"PATH=/x", "LANG=C.UTF-8", "USER=u", "LOGNAME=u", "HOME=/h", "SHELL=/bin/sh", "INVOCATION_ID=", "A=2"}
	if len(env) != len(want) {
		t.Fatalf("env = %q", env)
	}
	for i := range want {
		if !strings.HasPrefix(env[i], want[i]) {
			t.Errorf("env[%d] = %q, want %q", i, env[i], want[i])
		}
	}
	if a, b := BaseEnv(nil), BaseEnv(nil); a[len(a)-1] == b[len(b)-1] {
		t.Error("INVOCATION_ID repeats")
	}
}

func TestStdioFiles(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.WriteFile(in, []byte("from file\n"), 0o644)
	out := filepath.Join(dir, "out")
	os.WriteFile(out, []byte("0123456789\n"), 0o644)
	errf := filepath.Join(dir, "err")
	os.WriteFile(errf, []byte("old\n"), 0o644)

	s := newSpawner(t, Options{})
	run := func(stdout, stderr Stdio) {
		t.Helper()
		spec := helperSpec(t, "echo")
		spec.Stdin = Stdio{Kind: StdioFile, Path: in}
		spec.Stdout, spec.Stderr = stdout, stderr
		p, err := s.Start(spec)
		if err != nil {
			t.Fatal(err)
		}
		if e := p.Wait(); !e.Success() {
			t.Fatal(e)
		}
	}
	// file: writes from the start without truncating; truncate: empties;
	// append: appends.
	run(Stdio{Kind: StdioFile, Path: out}, Stdio{Kind: StdioTruncate, Path: errf})
	run(Stdio{Kind: StdioAppend, Path: out}, Stdio{Kind: StdioAppend, Path: errf})
	// "from file\n" overwrote the first 10 of 11 bytes.
	if b, _ := os.ReadFile(out); string(b) != "from file\n\nfrom file\n" {
		t.Errorf("out = %q", b)
	}
	if b, _ := os.ReadFile(errf); string(b) != "echo ready\necho ready\n" {
		t.Errorf("err = %q", b)
	}
	_, err := s.Start(&Spec{Path: "/bin/true", Stdin: Stdio{Kind: StdioFile, Path: filepath.Join(dir, "missing")}})
	if !errors.Is(err, syscall.ENOENT) {
		t.Errorf("missing stdin file: %v", err)
	}
}

// TestSameSession: setpgid instead of setsid.
func TestSameSession(t *testing.T) {
	s := newSpawner(t, Options{})
	spec := helperSpec(t, "describefds")
	spec.SameSession = true
	out, e := runCapture(t, s, spec)
	if !e.Success() {
		t.Fatal(e)
	}
	var d description
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	mysid, _, _ := syscall.RawSyscall(syscall.SYS_GETSID, 0, 0, 0)
	if d.Pgid != d.Pid || d.Sid != int(mysid) {
		t.Errorf("pid %d pgid %d sid %d, want own group in session %d", d.Pid, d.Pgid, d.Sid, mysid)
	}
}

// TestForkServerFallback: requests the fork server cannot carry (more fds
// than SCM_RIGHTS takes, oversized environments) are forked directly, and a
// dead fork server is replaced by direct forking.
func TestForkServerFallback(t *testing.T) {
	s := newSpawnerMode(t, Options{}, false, haveVfork, false)

	// 300 distinct descriptors > SCM_MAX_FD.
	var files []int
	for range 300 {
		fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		files = append(files, fd)
	}
	spec := helperSpec(t, "describefds")
	spec.Files = files
	spec.ListenEnv = true
	out, e := runCapture(t, s, spec)
	if !e.Success() {
		t.Fatal(e)
	}
	var d description
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.FDs) != 303 || d.FDs[302].FD != 302 {
		t.Errorf("got %d fds", len(d.FDs))
	}
	if v, _ := getenv(d.Env, "LISTEN_PID"); v != strconv.Itoa(d.Pid) {
		t.Errorf("LISTEN_PID = %q, pid %d", v, d.Pid)
	}

	// An environment larger than the fork server's message limit.
	spec = &Spec{Path: "/bin/true", Env: []string{"BIG=" + strings.Repeat("x", maxRequest)}}
	if p, err := s.Start(spec); err != nil {
		// execve itself may refuse it (E2BIG), but not the transport.
		if !errors.Is(err, syscall.E2BIG) {
			t.Errorf("big env: %v", err)
		}
	} else {
		p.Wait()
	}
	if s.fs.broken.Load() {
		t.Fatal("fork server marked broken by a big request")
	}

	// Kill the fork server: the next start still works.
	s.fs.proc.Signal(syscall.SIGKILL)
	s.fs.proc.Wait()
	p, err := s.Start(&Spec{Path: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	if e := p.Wait(); !e.Success() {
		t.Fatal(e)
	}
	if !s.fs.broken.Load() {
		t.Error("dead fork server not noticed")
	}
	s.Close()
	if _, err := s.Start(&Spec{Path: "/bin/true"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
}

func TestRequestRoundTrip(t *testing.T) {
	r := &request{
		path: "/bin/x", argv: []string{"x", "", "a b"}, env: []string{listenPIDPlaceholder, "A=1"},
		listenPID: true, dir: "/tmp", dirOpt: true, src: []int{5, 5, 9}, nonblock: []int8{0, -1, 1},
		setCred: true, uid: 65534, gid: 65533, groups: []uint32{1, 2},
		rlimits:  []rlimitEntry{{unix.RLIMIT_NOFILE, unix.Rlimit{Cur: 1024, Max: RlimInfinity}}},
		sameSess: true, setNice: true, nice: -5, umask: -1, nnp: true,
	}
	b := encodeRequest(nil, r, []uint32{0, 0, 1})
	got, idx, err := decodeRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	got.src = r.src
	if !equalInts([]int{int(idx[0]), int(idx[1]), int(idx[2])}, []int{0, 0, 1}) {
		t.Errorf("idx %v", idx)
	}
	if a, b := fmt.Sprintf("%+v", *r), fmt.Sprintf("%+v", *got); a != b {
		t.Errorf("round trip:\n%s\n%s", a, b)
	}
	for i := range b {
		if _, _, err := decodeRequest(b[:i]); err == nil {
			t.Fatalf("truncated request (%d of %d bytes) accepted", i, len(b))
		}
	}
}

func TestLookupCredentialGroupOnly(t *testing.T) {
	c, err := LookupCredential("", "0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if int(c.Uid) != os.Getuid() || c.Gid != 0 || c.User != "" {
		t.Errorf("got %+v", c)
	}
	if _, err := LookupCredential("root", "no-such-group-sockd", nil); !errors.As(err, new(user.UnknownGroupError)) {
		t.Errorf("unknown group: %v", err)
	}
}

func TestCoreDumped(t *testing.T) {
	s := newSpawner(t, Options{})
	dir := t.TempDir()
	p, err := s.Start(&Spec{
		Path:    "/bin/sh",
		Argv:    []string{"sh", "-c", "kill -QUIT $$"},
		Dir:     dir,
		Rlimits: map[int]Rlimit{unix.RLIMIT_CORE: {Soft: RlimInfinity, Hard: RlimInfinity}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := p.Wait()
	if e.Signal != syscall.SIGQUIT || e.Code != -1 {
		t.Fatalf("got %v", e)
	}
	if !e.CoreDumped {
		t.Skipf("no core dump (core_pattern or limits of this machine): %v", e)
	}
	if e.String() != "signal: quit (core dumped)" {
		t.Errorf("String() = %q", e.String())
	}
}

// The fork server waits for the next request with a raw poll for hotWait,
// then in the netpoller: once sockd is idle it must not wake at all (a
// goroutine blocked in a raw call would be signalled by the runtime every
// 10 ms).
func TestForkServerIdle(t *testing.T) {
	s := newSpawnerMode(t, Options{}, false, haveVfork, false)
	for range 3 {
		p, err := s.Start(&Spec{Path: "/bin/true", Argv: []string{"true"}})
		if err != nil {
			t.Fatal(err)
		}
		p.Wait()
	}
	switches := func() int {
		n := 0
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", s.fs.proc.Pid))
		if len(tasks) == 0 || s.fs.broken.Load() {
			t.Fatal("the fork server is gone")
		}
		for _, f := range tasks {
			b, _ := os.ReadFile(f)
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
					k, _ := strconv.Atoi(strings.TrimSpace(v))
					n += k
				}
			}
		}
		return n
	}
	time.Sleep(4 * hotWait * time.Millisecond) // past the hot wait
	before := switches()
	time.Sleep(300 * time.Millisecond)
	if woke := switches() - before; woke > 0 {
		t.Errorf("idle fork server woke %d times in 300 ms", woke)
	}
	// And it still answers, from the netpoller.
	p, err := s.Start(&Spec{Path: "/bin/true", Argv: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if e := p.Wait(); e.Code != 0 || s.fs.broken.Load() {
		t.Errorf("start after the idle spell: %+v, fork server broken: %v", e, s.fs.broken.Load())
	}
}

// A fork server that is slow to answer (here: stopped) must not stop the
// rest of sockd, even with one P: sockd waits for the reply holding its P
// for replyWait only, then with an ordinary call that hands the P on.
func TestForkServerSlowReplyYields(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s := newSpawnerMode(t, Options{}, false, haveVfork, false)
	pid := s.fs.proc.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Resumed from outside: if this process were stuck, nothing in it
	// could do it.
	cont := exec.Command("/bin/sh", "-c", fmt.Sprintf("sleep 0.5; kill -CONT %d", pid))
	if err := cont.Start(); err != nil {
		syscall.Kill(pid, syscall.SIGCONT)
		t.Fatal(err)
	}
	defer cont.Wait()
	started := make(chan time.Time, 1)
	go func() {
		p, err := s.Start(&Spec{Path: "/bin/true", Argv: []string{"true"}})
		if err == nil {
			p.Wait()
		}
		started <- time.Now()
	}()
	time.Sleep(50 * time.Millisecond)
	ran := time.Now() // this goroutine got the P while the start waited
	end := <-started
	if end.Sub(ran) < 200*time.Millisecond {
		t.Errorf("the test goroutine ran only %v before the start returned: the wait for the reply held the P", end.Sub(ran))
	}
}

// TestSpawnStress starts processes from six goroutines at once while
// another allocates and collects garbage, in every direct mode: a child
// sharing the address space (vfork) that wrote outside its plan shows up
// here as a failed start, a wrong exit or a crash of the test binary.
func TestSpawnStress(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 40
	}
	for _, m := range spawnModes {
		if !m.direct {
			continue
		}
		t.Run(m.name, func(t *testing.T) {
			s := newSpawnerMode(t, Options{}, m.direct, m.vfork, m.noClone3)
			stop := make(chan struct{})
			var churn sync.WaitGroup
			churn.Add(1)
			go func() {
				defer churn.Done()
				var keep [][]byte
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					keep = append(keep, make([]byte, 1<<(i%14)))
					if len(keep) > 512 {
						keep = keep[:0]
						runtime.GC()
					}
				}
			}()
			var wg sync.WaitGroup
			for g := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range n / 6 {
						spec := &Spec{Path: "/bin/true"}
						switch (g + i) % 3 {
						case 1:
							spec = helperSpec(t, "exit", "7")
						case 2:
							spec = &Spec{Path: "/nonexistent/program"}
						}
						spec.NoWait = m.noWait
						p, err := s.Start(spec)
						if (g+i)%3 == 2 {
							if err == nil && m.noWait {
								e := p.Wait()
								if e.Code != 203 || e.StartErr == nil {
									t.Errorf("missing program: %v, start error %v; want status 203 and the error", e, e.StartErr)
									continue
								}
								err = e.StartErr
							}
							if !errors.Is(err, syscall.ENOENT) {
								t.Errorf("missing program: %v", err)
							}
							continue
						}
						if err != nil {
							t.Error(err)
							continue
						}
						e := p.Wait()
						if want := map[bool]int{true: 7, false: 0}[(g+i)%3 == 1]; e.Code != want {
							t.Errorf("exit %v, want code %d", e, want)
						}
					}
				}()
			}
			wg.Wait()
			close(stop)
			churn.Wait()
			checkNoWait(t, s, m.noWait)
		})
	}
}

// TestIgnoredSignalsReset: signals ignored in this process before the
// Spawner is made reach no service, also those the Go runtime leaves alone
// and does not record as ignored (SIGTTOU, SIGCONT): with clone3's
// CLONE_CLEAR_SIGHAND the kernel keeps SIG_IGN, so the child must reset
// them itself. Where the kernel has clone3, the direct modes use it.
func TestIgnoredSignalsReset(t *testing.T) {
	ign := [4]uint64{1} // struct sigaction with SIG_IGN
	for _, sig := range []syscall.Signal{syscall.SIGTTOU, syscall.SIGCONT} {
		var old [4]uint64
		if _, _, e := syscall.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&ign)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
			t.Fatal(e)
		}
		t.Cleanup(func() {
			syscall.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
		})
	}
	// CLONE_CLEAR_SIGHAND is in Linux 5.5 and later (a seccomp filter
	// could still refuse clone3; then this test says so).
	newKernel := kernelAtLeast(t, 5, 5)
	for _, m := range spawnModes {
		t.Run(m.name, func(t *testing.T) {
			s := newSpawnerMode(t, Options{}, m.direct, m.vfork, m.noClone3)
			spec := helperSpec(t, "describefds")
			spec.NoWait = m.noWait
			out, exit := runCapture(t, s, spec)
			checkNoWait(t, s, m.noWait)
			if !exit.Success() {
				t.Fatalf("helper: %v; output %s", exit, out)
			}
			var d description
			if err := json.Unmarshal(out, &d); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if d.Status["SigIgn"] != "0000000000000000" {
				t.Errorf("SigIgn %s, want none", d.Status["SigIgn"])
			}
			fellBack := s.fork.noClone3.Load()
			if !m.direct {
				fellBack = s.fs.noClone3.Load()
			}
			if !m.noClone3 && newKernel && fellBack {
				t.Error("the kernel has clone3 with CLONE_CLEAR_SIGHAND, but the Spawner fell back to clone")
			}
		})
	}
}

// kernelAtLeast reports whether the running kernel is major.minor or later.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		t.Fatalf("kernel release %q: %v", u.Release[:], err)
	}
	return ma > major || ma == major && mi >= minor
}

// SetDirectFork starts a fork server a Spawner made with DirectFork lacks,
// and stops it again; services start either way, and the fork server's
// exit is not reported as a service's.
func TestSetDirectFork(t *testing.T) {
	var mu sync.Mutex
	var exits []Exit
	s := newSpawner(t, Options{DirectFork: true, OnExit: func(e Exit) {
		mu.Lock()
		exits = append(exits, e)
		mu.Unlock()
	}})
	start := func() {
		t.Helper()
		p, err := s.Start(&Spec{Unit: "t.service", Path: "/bin/true"})
		if err != nil {
			t.Fatal(err)
		}
		if e := p.Wait(); !e.Success() {
			t.Fatal(e)
		}
	}
	if s.fs != nil {
		t.Fatal("fork server with DirectFork")
	}
	s.SetDirectFork(false)
	if s.fs == nil {
		t.Fatal("no fork server after SetDirectFork(false)")
	}
	server := s.fs.proc
	start()
	s.SetDirectFork(true)
	if s.fs != nil {
		t.Fatal("fork server kept after SetDirectFork(true)")
	}
	select {
	case <-server.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("fork server still running")
	}
	s.SetDirectFork(true) // no-op
	start()
	mu.Lock()
	for _, e := range exits {
		if e.Unit != "t.service" {
			t.Errorf("exit reported for %q (pid %d)", e.Unit, e.Pid)
		}
	}
	if len(exits) != 2 {
		t.Errorf("%d exits reported, want 2", len(exits))
	}
	mu.Unlock()
	s.Close()
	s.SetDirectFork(false)
	if s.fs != nil {
		t.Error("fork server started after Close")
	}
}
