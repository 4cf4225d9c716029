//go:build linux

package notify

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"
)

// helperEnv selects a helper "command" when the test binary re-executes itself
// as a notification sender (the os/exec TestMain pattern).
const helperEnv = "SOCKD_NOTIFY_TEST_HELPER"

var helpers = map[string]func() int{
	// sdnotify sends $HELPER_PAYLOAD with go-systemd's daemon.SdNotify.
	"sdnotify": func() int {
		sent, err := daemon.SdNotify(false, os.Getenv("HELPER_PAYLOAD"))
		if err != nil || !sent {
			fmt.Fprintln(os.Stderr, "SdNotify:", sent, err)
			return 1
		}
		return 0
	},
	// spoof claims the parent's PID (then UID 0) in SCM_CREDENTIALS, prints
	// the outcome of each sendmsg, and finally sends X_REAL=1 honestly.
	"spoof": func() int {
		addr := &unix.SockaddrUnix{Name: os.Getenv("NOTIFY_SOCKET")}
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		uid, gid := int32(os.Getuid()), int32(os.Getgid())
		for _, c := range []struct {
			tag  string
			cred unix.Ucred
		}{
			{"X_SPOOF_PID=1", unix.Ucred{Pid: int32(os.Getppid()), Uid: uint32(uid), Gid: uint32(gid)}},
			{"X_SPOOF_UID=1", unix.Ucred{Pid: int32(os.Getpid()), Uid: 0, Gid: 0}},
		} {
			err := unix.Sendmsg(fd, []byte(c.tag), unix.UnixCredentials(&c.cred), addr, 0)
			fmt.Printf("%s %v\n", c.tag, err)
		}
		if err := unix.Sendmsg(fd, []byte("X_REAL=1"), nil, addr, 0); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	},
}

func TestMain(m *testing.M) {
	if name := os.Getenv(helperEnv); name != "" {
		os.Exit(helpers[name]())
	}
	os.Exit(m.Run())
}

// shortDir returns a short temporary directory (sun_path is 108 bytes).
func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// start opens a Listener and runs it; the returned channel is unbuffered.
func start(t *testing.T, path string) (*Listener, chan Message) {
	t.Helper()
	l, err := Listen(path, WithLogger(zaptest.NewLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan Message)
	done := make(chan struct{})
	go func() { l.Run(out); close(done) }()
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after Close")
		}
	})
	return l, out
}

func recv(t *testing.T, out <-chan Message) Message {
	t.Helper()
	select {
	case m := <-out:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no notification within 5s")
		return Message{}
	}
}

// send sends one raw datagram with optional fds from this process.
func send(t *testing.T, addr string, payload []byte, fds ...int) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(fd, payload, oob, &unix.SockaddrUnix{Name: addr}, 0); err != nil {
		t.Fatalf("sendmsg %q: %v", payload, err)
	}
}

// expectNext asserts that the next delivered message is exactly payload
// (used as a sentinel after a datagram that must be dropped).
func expectNext(t *testing.T, out <-chan Message, key, value string) Message {
	t.Helper()
	m := recv(t, out)
	if v, ok := m.Get(key); !ok || v != value || len(m.Fields) != 1 {
		t.Fatalf("got %+v, want only %s=%s (an earlier datagram was not dropped?)", m, key, value)
	}
	return m
}

func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents) - 1 // the directory's own fd
}

func pipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	return p[0], p[1]
}

func TestSdNotifyFromChild(t *testing.T) {
	for _, tc := range []struct{ name, path string }{
		{"abstract", ""},
		{"path", "sub/dir/notify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path != "" {
				path = filepath.Join(shortDir(t), path)
			}
			l, out := start(t, path)
			if path == "" && !strings.HasPrefix(l.Addr(), "@sockd/notify/"+strconv.Itoa(os.Getpid())+"/") {
				t.Errorf("Addr() = %q", l.Addr())
			}
			if path != "" && l.Addr() != path {
				t.Errorf("Addr() = %q, want %q", l.Addr(), path)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"=sdnotify", "NOTIFY_SOCKET="+l.Addr(),
				"HELPER_PAYLOAD=READY=1\nSTATUS=up and running\nMAINPID=77")
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			m := recv(t, out)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("sender: %v", err)
			}
			if m.PID != cmd.Process.Pid || m.PID == os.Getpid() {
				t.Errorf("PID = %d, want the child's %d (parent is %d)", m.PID, cmd.Process.Pid, os.Getpid())
			}
			if m.UID != os.Getuid() || m.GID != os.Getgid() {
				t.Errorf("UID/GID = %d/%d", m.UID, m.GID)
			}
			s, _ := m.Status()
			if p, _ := m.MainPID(); !m.Ready() || s != "up and running" || p != 77 || len(m.FDs) != 0 {
				t.Errorf("message = %+v", m)
			}
		})
	}
}

func TestPathSocket(t *testing.T) {
	dir := shortDir(t)
	path := filepath.Join(dir, "run", "notify")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// A stale socket from an earlier run is replaced.
	stale, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(stale, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	unix.Close(stale)

	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode = %v, want socket 0666", fi.Mode())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket still present after Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	// A new parent directory is created 0755.
	nested := filepath.Join(dir, "a", "b", "notify")
	l2, err := Listen(nested)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if fi, err := os.Stat(filepath.Dir(nested)); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("parent dir: %v %v", fi.Mode(), err)
	}

	// Anything but a socket at the path is refused and left alone.
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(file); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("Listen on a regular file: err = %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Error("regular file was touched")
	}
	if _, err := Listen(filepath.Join(dir, strings.Repeat("x", 120))); !errors.Is(err, unix.ENAMETOOLONG) {
		t.Errorf("overlong path: err = %v, want ENAMETOOLONG", err)
	}
}

func TestFDStore(t *testing.T) {
	l, out := start(t, "")
	r, w := pipe(t)
	defer unix.Close(r)
	memfd, err := unix.MemfdCreate("x", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	send(t, l.Addr(), []byte("FDSTORE=1\nFDNAME=db-conn\nFDPOLL=0\n"), w, memfd)
	unix.Close(w)
	unix.Close(memfd)

	m := recv(t, out)
	if len(m.FDs) != 2 {
		t.Fatalf("FDs = %v, want 2", m.FDs)
	}
	defer closeFDs(m.FDs)
	if name, ok := m.FDName(); !ok || name != "db-conn" || !m.FDStore() || m.FDPoll() {
		t.Errorf("message = %+v", m)
	}
	for _, fd := range m.FDs {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("fd %d: flags %#x, err %v; want FD_CLOEXEC", fd, flags, err)
		}
	}
	// The received fd is a usable duplicate of the pipe's write end.
	if _, err := unix.Write(m.FDs[0], []byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := unix.Read(r, buf); err != nil || string(buf[:n]) != "hello" {
		t.Errorf("read %q, %v", buf[:n], err)
	}
}

func TestFDStoreInvalidName(t *testing.T) {
	// systemd ignores an invalid FDNAME= but still stores the fds ("stored").
	l, out := start(t, "")
	r, w := pipe(t)
	defer unix.Close(r)
	send(t, l.Addr(), []byte("FDSTORE=1\nFDNAME=a:b"), w)
	unix.Close(w)
	m := recv(t, out)
	defer closeFDs(m.FDs)
	if _, ok := m.FDName(); ok || len(m.FDs) != 1 {
		t.Errorf("message = %+v", m)
	}
}

func TestUnwantedFDsAreClosed(t *testing.T) {
	l, out := start(t, "")
	before := countFDs(t)
	for _, payload := range []string{
		"READY=1",                   // no FDSTORE=1
		"FDSTORE=0",                 // not 1
		"FDSTOREREMOVE=1\nFDNAME=x", // removal wins and takes no fds
		"FDSTORE=1\nFDSTOREREMOVE=1\nFDNAME=x",
	} {
		r, w := pipe(t)
		send(t, l.Addr(), []byte(payload), r, w)
		unix.Close(r)
		unix.Close(w)
		m := recv(t, out)
		if len(m.FDs) != 0 {
			t.Errorf("%q delivered fds %v", payload, m.FDs)
			closeFDs(m.FDs)
		}
	}
	if after := countFDs(t); after != before {
		t.Errorf("open fds: %d before, %d after: the receiver leaked fds", before, after)
	}
}

func TestDroppedDatagrams(t *testing.T) {
	l, out := start(t, "")
	before := countFDs(t)

	// MSG_TRUNC: 4096 bytes is the limit, 4097 and more are dropped.
	big := append([]byte("STATUS="), bytes.Repeat([]byte("x"), 5000-7)...)
	r, w := pipe(t)
	send(t, l.Addr(), big, w)
	send(t, l.Addr(), []byte("X_SENTINEL=1"))
	expectNext(t, out, "X_SENTINEL", "1")
	send(t, l.Addr(), big[:MaxPayload+1])
	send(t, l.Addr(), []byte("X_SENTINEL=2"))
	expectNext(t, out, "X_SENTINEL", "2")
	send(t, l.Addr(), big[:MaxPayload])
	if m := recv(t, out); len(m.Fields) != 1 || len(m.Fields[0].Value) != MaxPayload-7 {
		t.Errorf("a %d-byte payload was not delivered whole", MaxPayload)
	}

	// Embedded NUL (with fds: they are closed too); a trailing NUL is fine.
	send(t, l.Addr(), []byte("FDSTORE=1\x00\nREADY=1"), w)
	send(t, l.Addr(), []byte("X_SENTINEL=3"))
	expectNext(t, out, "X_SENTINEL", "3")
	send(t, l.Addr(), []byte("X_SENTINEL=4\x00"))
	expectNext(t, out, "X_SENTINEL", "4")

	// A trailing backslash makes strv_split_newlines fail: dropped.
	send(t, l.Addr(), []byte(`STATUS=x\`))
	send(t, l.Addr(), []byte("X_SENTINEL=5"))
	expectNext(t, out, "X_SENTINEL", "5")

	unix.Close(r)
	unix.Close(w)
	if after := countFDs(t); after != before {
		t.Errorf("open fds: %d before, %d after", before, after)
	}
}

func TestBarrier(t *testing.T) {
	l, out := start(t, "")
	send(t, l.Addr(), []byte("READY=1"))
	r, w := pipe(t)
	defer unix.Close(r)
	send(t, l.Addr(), []byte("BARRIER=1\n"), w)
	unix.Close(w)
	send(t, l.Addr(), []byte("X_SENTINEL=1"))

	if m := recv(t, out); !m.Ready() {
		t.Fatalf("first message = %+v", m)
	}
	// The barrier is never delivered and its fd is closed: the sender sees
	// EOF/POLLHUP on its end (what sd_notify_barrier waits for).
	expectNext(t, out, "X_SENTINEL", "1")
	pfd := []unix.PollFd{{Fd: int32(r), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 5000); err != nil || n != 1 || pfd[0].Revents&unix.POLLHUP == 0 {
		t.Errorf("barrier fd not closed: poll = %d, %v, revents %#x", n, err, pfd[0].Revents)
	}

	// Malformed barriers (extra lines, two fds) are dropped and their fds closed.
	before := countFDs(t)
	r2, w2 := pipe(t)
	send(t, l.Addr(), []byte("BARRIER=1\nREADY=1"), w2)
	send(t, l.Addr(), []byte("BARRIER=1"), r2, w2)
	unix.Close(r2)
	unix.Close(w2)
	send(t, l.Addr(), []byte("X_SENTINEL=2"))
	expectNext(t, out, "X_SENTINEL", "2")
	if after := countFDs(t); after != before {
		t.Errorf("open fds: %d before, %d after", before, after)
	}
}

// TestDecodeTruncatedControl covers MSG_CTRUNC, which a sender cannot provoke
// (the kernel passes at most 253 fds per message, the buffer holds 768).
func TestDecodeTruncatedControl(t *testing.T) {
	l := &Listener{addr: "test", log: zaptest.NewLogger(t)}
	r, w := pipe(t)
	before := countFDs(t)
	oob := append(unix.UnixCredentials(&unix.Ucred{Pid: 1, Uid: 0, Gid: 0}), unix.UnixRights(r, w)...)

	if _, ok := l.decode([]byte("FDSTORE=1"), oob, unix.MSG_CTRUNC); ok {
		t.Error("message with truncated control data delivered")
	}
	if after := countFDs(t); after != before-2 {
		t.Errorf("open fds: %d before, %d after; want both fds closed", before, after)
	}
	// No credentials at all, or PID 0 (another PID namespace): dropped.
	for _, oob := range [][]byte{nil, unix.UnixCredentials(&unix.Ucred{Pid: 0})} {
		if _, ok := l.decode([]byte("READY=1"), oob, 0); ok {
			t.Errorf("message without valid credentials delivered (oob %x)", oob)
		}
	}
	m, ok := l.decode([]byte("READY=1"), unix.UnixCredentials(&unix.Ucred{Pid: 7, Uid: 8, Gid: 9}), 0)
	if !ok || m.PID != 7 || m.UID != 8 || m.GID != 9 || !m.Ready() {
		t.Errorf("decode = %+v, %v", m, ok)
	}
}

func TestCredentialsCannotBeSpoofed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the sender as uid 65534")
	}
	l, out := start(t, "") // abstract: no file permissions involved
	// The test binary may sit in a 0700 build directory: copy it.
	exe := filepath.Join(shortDir(t), "sender")
	src, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(exe), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=spoof", "NOTIFY_SOCKET="+l.Addr())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, NoSetGroups: true}}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	report, _ := io.ReadAll(stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sender: %v", err)
	}
	t.Logf("sender reported:\n%s", report)
	for {
		m := recv(t, out)
		if m.PID != cmd.Process.Pid || m.UID != 65534 || m.GID != 65534 {
			t.Errorf("message %q attributed to pid %d uid %d gid %d; the sender is pid %d uid 65534",
				m.Fields, m.PID, m.UID, m.GID, cmd.Process.Pid)
		}
		if _, ok := m.Get("X_REAL"); ok {
			break
		}
	}
	// The kernel refuses the forged credentials outright.
	for _, line := range strings.Split(strings.TrimSpace(string(report)), "\n") {
		if !strings.HasSuffix(line, unix.EPERM.Error()) {
			t.Errorf("forged credentials were not refused with EPERM: %q", line)
		}
	}
}

func TestCloseUnblocksRunWithoutLeaks(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	fds := countFDs(t)
	l, err := Listen("")
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan Message)
	done := make(chan struct{})
	go func() { l.Run(out); close(done) }()

	// Idle: Run is parked in the netpoller and burns no CPU.
	var ru0, ru1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	time.Sleep(500 * time.Millisecond)
	unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()) + time.Duration(ru1.Stime.Nano()-ru0.Stime.Nano())
	if cpu > 50*time.Millisecond {
		t.Errorf("%v of CPU used in 500ms of idling: Run is busy looping", cpu)
	}
	select {
	case <-done:
		t.Fatal("Run returned before Close")
	default:
	}

	// A message is pending (nobody reads out) while Close happens: Run must
	// still return, closing the pending message's fds.
	r, w := pipe(t)
	send(t, l.Addr(), []byte("FDSTORE=1"), r, w)
	unix.Close(r)
	unix.Close(w)
	time.Sleep(50 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("goroutines: %d before, %d after", goroutines, n)
	}
	if n := countFDs(t); n != fds {
		t.Errorf("open fds: %d before, %d after", fds, n)
	}
	// Run on a closed Listener returns at once.
	l.Run(out)
}
