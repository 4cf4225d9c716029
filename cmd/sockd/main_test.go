package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/spawner"
)

// The test binary runs as sockd itself when SOCKD_TEST_MAIN=1, so these
// tests drive the real command line, signals and exit codes.
func TestMain(m *testing.M) {
	// sockd re-executes itself as its fork server; the test binary must
	// become that too, as the real binary does in main.
	spawner.MaybeRunHelper()
	if os.Getenv("SOCKD_TEST_MAIN") == "1" {
		os.Args = append([]string{"sockd"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func sockdCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "SOCKD_TEST_MAIN=1")
	return cmd
}

// sockdProc is a running `sockd run` whose JSON log lines are collected.
type sockdProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []map[string]any
	raw   []string
	// exited is closed once cmd.Wait returned; only then may cmd's
	// ProcessState be read.
	exited chan struct{}
}

func startDaemon(t *testing.T, unitDir string, extra ...string) *sockdProc {
	t.Helper()
	// An explicitly named config must exist: an empty one means defaults,
	// and keeps the machine's /etc/sockd/sockd.toml out of the test.
	cfg := filepath.Join(t.TempDir(), "sockd.toml")
	os.WriteFile(cfg, nil, 0o644)
	args := append([]string{"run", "--units", unitDir, "--log-format", "json", "--log-level", "debug",
		"--config", cfg, "--control", filepath.Join(t.TempDir(), "control.sock")}, extra...)
	cmd := sockdCmd(t, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &sockdProc{t: t, cmd: cmd, exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			json.Unmarshal(sc.Bytes(), &m)
			d.mu.Lock()
			d.lines = append(d.lines, m)
			d.raw = append(d.raw, sc.Text())
			d.mu.Unlock()
		}
		cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-d.exited
		}
		if t.Failed() {
			d.mu.Lock()
			t.Logf("sockd log:\n%s", strings.Join(d.raw, "\n"))
			d.mu.Unlock()
		}
	})
	d.waitLog("sockd ready")
	return d
}

func (d *sockdProc) count(msg string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, l := range d.lines {
		if l["msg"] == msg {
			n++
		}
	}
	return n
}

func (d *sockdProc) waitLog(msg string) {
	d.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for d.count(msg) == 0 {
		if time.Now().After(deadline) {
			d.t.Fatalf("no %q in the log", msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (d *sockdProc) wait() int {
	d.t.Helper()
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		d.t.Fatal("sockd did not exit")
	}
	return d.cmd.ProcessState.ExitCode()
}

func TestHelpAndVersion(t *testing.T) {
	out, err := sockdCmd(t, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "run") || !strings.Contains(string(out), "verify") {
		t.Errorf("--help: %v\n%s", err, out)
	}
	out, err = sockdCmd(t, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "sockd ") {
		t.Errorf("version: %v %s", err, out)
	}
	cmd := sockdCmd(t, "frobnicate")
	out, _ = cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %s", cmd.ProcessState.ExitCode(), out)
	}
}

// SIGHUP re-reads units and keeps unchanged listeners; SIGTERM stops the
// services, removes RemoveOnStop= paths and exits 0.
func TestRunSignals(t *testing.T) {
	dir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "echo.sock")
	units := filepath.Join(dir, "units")
	os.Mkdir(units, 0o755)
	os.WriteFile(filepath.Join(units, "echo.socket"), []byte("[Socket]\nListenStream="+sock+"\nAccept=yes\nRemoveOnStop=yes\n"), 0o644)
	os.WriteFile(filepath.Join(units, "echo@.service"), []byte("[Service]\nExecStart=/bin/cat\nStandardInput=socket\n"), 0o644)
	// sockd under systemd (Type=notify): READY=1 once bound, RELOADING=1
	// around a reload, STOPPING=1 at the end.
	notifyPath := filepath.Join(dir, "notify")
	nl, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	t.Setenv("NOTIFY_SOCKET", notifyPath)
	d := startDaemon(t, units)
	notes := func(n int) []string {
		t.Helper()
		var got []string
		buf := make([]byte, 4096)
		for len(got) < n {
			nl.SetReadDeadline(time.Now().Add(10 * time.Second))
			k, err := nl.Read(buf)
			if err != nil {
				t.Fatalf("notifications %q: %v", got, err)
			}
			got = append(got, string(buf[:k]))
		}
		return got
	}
	if got := notes(1); got[0] != "READY=1" {
		t.Errorf("first notification %q, want READY=1", got[0])
	}

	echo := func() {
		t.Helper()
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintln(c, "hi")
		c.(*net.UnixConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		if string(b) != "hi\n" {
			t.Fatalf("echo = %q", b)
		}
	}
	echo()
	before, _ := os.Stat(sock)
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog("reloaded")
	if got := strings.Join(notes(2), ","); !strings.HasPrefix(got, "RELOADING=1") || !strings.HasSuffix(got, "READY=1") {
		t.Errorf("notifications around the reload: %s", got)
	}
	after, err := os.Stat(sock)
	if err != nil || !os.SameFile(before, after) {
		t.Errorf("socket node replaced by a reload of an unchanged unit")
	}
	echo()
	d.cmd.Process.Signal(syscall.SIGTERM)
	if code := d.wait(); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
	if got := notes(1); got[0] != "STOPPING=1" {
		t.Errorf("last notification %q, want STOPPING=1", got[0])
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("RemoveOnStop: %s remains", sock)
	}
}
