package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/control"
)

// ctlRun runs a client command of the test binary (as sockd) and returns
// its output and exit code.
func ctlRun(t *testing.T, sock string, args ...string) (string, string, int) {
	t.Helper()
	cmd := sockdCmd(t, append(args, "--control", sock)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

func ctlJSON(t *testing.T, sock string, v any, args ...string) {
	t.Helper()
	out, errOut, code := ctlRun(t, sock, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%v --json: exit %d, %v\nstdout: %s\nstderr: %s", args, code, err, out, errOut)
	}
}

// ctlUnit is `sockd status --json UNIT` for one unit.
func ctlUnit(t *testing.T, sock, name string) (control.Unit, int) {
	t.Helper()
	out, errOut, code := ctlRun(t, sock, "status", "--json", name)
	var us []control.Unit
	if err := json.Unmarshal([]byte(out), &us); err != nil || len(us) != 1 {
		t.Fatalf("status %s: exit %d, %v\n%s%s", name, code, err, out, errOut)
	}
	return us[0], code
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ctlFixture starts sockd on a small unit set and returns the daemon and
// its control socket, in a directory others may traverse (for the
// unprivileged-client test).
func ctlFixture(t *testing.T, config string) (*sockdProc, string, string, func() int) {
	t.Helper()
	dir, err := os.MkdirTemp("", "sockd-ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	units := filepath.Join(dir, "units")
	os.Mkdir(units, 0o755)
	files := map[string]string{
		"echo.socket":   "[Socket]\nListenStream=" + filepath.Join(dir, "echo.sock") + "\nAccept=yes\n",
		"echo@.service": "[Service]\nExecStart=/bin/cat\nStandardInput=socket\n",
		"svc.socket":    "[Socket]\nListenStream=" + filepath.Join(dir, "svc.sock") + "\n",
		"svc.service":   "[Service]\nExecStart=/bin/sh -c 'echo hello from svc; exec sleep 1000'\n",
		"bad.service":   "[Service]\nExecStart=/bin/sh -c 'echo going down; exit 7'\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(units, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "sockd.toml")
	os.WriteFile(cfg, []byte(config), 0o644)
	sock := filepath.Join(dir, "control.sock")
	d := startDaemon(t, units, "--config", cfg, "--control", sock)
	// Stop and reap the daemon before startDaemon's cleanup looks at it
	// (that cleanup reads ProcessState unsynchronised with Wait).
	var once sync.Once
	code := -1
	stop := func() int {
		once.Do(func() {
			d.cmd.Process.Signal(syscall.SIGTERM)
			code = d.wait()
		})
		return code
	}
	t.Cleanup(func() { stop() })
	return d, sock, dir, stop
}

func TestControlCommands(t *testing.T) {
	d, sock, dir, stop := ctlFixture(t, "metrics_address = \"127.0.0.1:0\"\n")

	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("control socket: %v %v, want a 0600 socket", err, fi)
	}

	// list: one row per listener, JSON with fds and states.
	var socks []control.Socket
	ctlJSON(t, sock, &socks, "list")
	if len(socks) != 2 || socks[0].Name != "echo.socket" || socks[1].Name != "svc.socket" {
		t.Fatalf("list --json = %+v", socks)
	}
	for _, s := range socks {
		if s.State != "listening" || len(s.Listen) != 1 || s.Listen[0].FD < 0 || !strings.HasSuffix(s.Listen[0].Address, ".sock") {
			t.Errorf("socket %+v", s)
		}
	}
	out, _, code := ctlRun(t, sock, "list")
	if code != 0 || !strings.HasPrefix(out, "LISTEN") || !strings.Contains(out, "CONNS") ||
		!strings.Contains(out, filepath.Join(dir, "echo.sock")) || !strings.Contains(out, "2 sockets listed.") {
		t.Errorf("list: exit %d\n%s", code, out)
	}

	// An Accept=yes connection shows in the counters.
	c, err := net.Dial("unix", filepath.Join(dir, "echo.sock"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(c, "ping")
	c.(*net.UnixConn).CloseWrite()
	b, _ := io.ReadAll(c)
	c.Close()
	if string(b) != "ping\n" {
		t.Fatalf("echo = %q", b)
	}
	eventually(t, "accepted=1", func() bool {
		u, _ := ctlUnit(t, sock, "echo.socket")
		return u.Socket != nil && u.Socket.Accepted == 1 && u.Socket.Connections == 0
	})

	// start, then status with log lines; stop; restart.
	if _, e, code := ctlRun(t, sock, "start", "svc"); code != 0 {
		t.Fatalf("start svc: exit %d %s", code, e)
	}
	var pid int
	eventually(t, "svc active with its output logged", func() bool {
		u, code := ctlUnit(t, sock, "svc.service")
		pid = u.Service.MainPID
		return code == 0 && u.Service.State == "active" && pid > 0 && logHas(u.Log, "hello from svc")
	})
	out, _, code = ctlRun(t, sock, "status", "svc.service", "svc.socket")
	if code != 0 || !strings.Contains(out, "● svc.service") || !strings.Contains(out, fmt.Sprintf("Main PID: %d", pid)) ||
		!strings.Contains(out, "active (running)") || !strings.Contains(out, fmt.Sprintf("svc.service[%d]: hello from svc", pid)) ||
		!strings.Contains(out, "active (running)") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	if _, _, code := ctlRun(t, sock, "restart", "svc.service"); code != 0 {
		t.Fatalf("restart: exit %d", code)
	}
	eventually(t, "svc restarted", func() bool {
		u, _ := ctlUnit(t, sock, "svc.service")
		return u.Service.State == "active" && u.Service.MainPID > 0 && u.Service.MainPID != pid
	})
	if _, _, code := ctlRun(t, sock, "stop", "svc.service"); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	eventually(t, "svc inactive, status exit 3", func() bool {
		u, code := ctlUnit(t, sock, "svc.service")
		return u.Service.State == "inactive" && code == exitInactive
	})

	// A failing service: failed, then reset-failed.
	ctlRun(t, sock, "start", "bad.service")
	eventually(t, "bad failed", func() bool {
		u, code := ctlUnit(t, sock, "bad.service")
		return u.Service.State == "failed" && code == exitInactive && u.Service.LastExit != ""
	})
	out, _, _ = ctlRun(t, sock, "status", "bad.service")
	if !strings.Contains(out, "× bad.service") || !strings.Contains(out, "failed (Result: exit-code)") {
		t.Errorf("status of a failed unit:\n%s", out)
	}
	if _, e, code := ctlRun(t, sock, "reset-failed", "bad.service"); code != 0 {
		t.Fatalf("reset-failed: exit %d %s", code, e)
	}
	if u, _ := ctlUnit(t, sock, "bad.service"); u.Service.State != "inactive" {
		t.Errorf("after reset-failed: %s", u.Service.State)
	}
	if _, _, code := ctlRun(t, sock, "reset-failed"); code != 0 {
		t.Errorf("reset-failed (all): exit %d", code)
	}
	// status without names shows every unit (some inactive) and exits 0.
	out, _, code = ctlRun(t, sock, "status")
	if code != 0 || !strings.Contains(out, "○ bad.service") || !strings.Contains(out, "● echo.socket") {
		t.Errorf("status: exit %d\n%s", code, out)
	}

	// Unknown units: status 4, start 5, both with systemctl's message.
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"status", "nope.service"}, exitUnknown, "Unit nope.service could not be found."},
		{[]string{"start", "nope"}, exitNotFound, "Unit nope.service not found."},
		{[]string{"stop", "nope.socket"}, exitNotFound, "Unit nope.socket not found."},
		{[]string{"restart", "nope.service"}, exitNotFound, "not found"},
		{[]string{"logs", "nope.service"}, exitUnknown, "could not be found"},
		{[]string{"reset-failed", "nope.service"}, exitFailure, "not loaded"},
		{[]string{"start"}, exitUsage, "no unit given"},
	}
	for _, tt := range tests {
		_, e, code := ctlRun(t, sock, tt.args...)
		if code != tt.code || !strings.Contains(e, tt.msg) {
			t.Errorf("%v: exit %d (want %d), stderr %q (want %q)", tt.args, code, tt.code, e, tt.msg)
		}
	}

	// logs: the bounded per-unit log, text and JSON, then -f.
	out, _, code = ctlRun(t, sock, "logs", "-n", "50", "bad.service")
	if code != 0 || !strings.Contains(out, "going down") {
		t.Errorf("logs bad.service: exit %d\n%s", code, out)
	}
	out, _, _ = ctlRun(t, sock, "logs", "--json", "echo@.service")
	var n int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e control.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("logs --json line %q: %v", line, err)
		}
		if !strings.HasPrefix(e.Unit, "echo@") {
			t.Errorf("entry of %s in echo@.service's log", e.Unit)
		}
		n++
	}
	if n == 0 {
		t.Errorf("no log entries for echo@.service's instances")
	}
	follow := sockdCmd(t, "logs", "-f", "--control", sock, "svc.service")
	pipe, _ := follow.StdoutPipe()
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer follow.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	time.Sleep(200 * time.Millisecond)
	ctlRun(t, sock, "start", "svc.service")
	timeout := time.After(15 * time.Second)
	for seen := 0; seen < 2; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("logs -f ended")
			}
			if strings.Contains(l, "hello from svc") {
				seen++
			}
		case <-timeout:
			t.Fatal("logs -f did not show the new output")
		}
	}
	follow.Process.Signal(syscall.SIGTERM)
	follow.Wait()

	// reload keeps the listeners and says so in the log.
	if _, _, code := ctlRun(t, sock, "reload"); code != 0 {
		t.Errorf("reload: exit %d", code)
	}
	d.waitLog("reloaded")

	// curl speaks to the same socket.
	if curl, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command(curl, "-sf", "--unix-socket", sock, "http://sockd/v1/units").Output()
		var u control.Units
		if err != nil || json.Unmarshal(out, &u) != nil || len(u.Sockets) != 2 {
			t.Errorf("curl --unix-socket: %v\n%s", err, out)
		}
	}

	// Metrics on the control socket and on metrics_address.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	text, err := control.NewClient(sock).Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`sockd_socket_accepted_total{unit="echo.socket"} 1`,
		`sockd_socket_state{state="listening",unit="echo.socket"} 1`,
		`sockd_socket_activations_total{unit="svc.socket"} 0`,
		`sockd_socket_refused_total{unit="echo.socket"} 0`,
		`sockd_socket_trigger_limit_hits_total{unit="echo.socket"} 0`,
		`sockd_socket_connections{unit="echo.socket"} 0`,
		`sockd_service_state{state="active",unit="svc.service"} 1`,
		`sockd_service_restarts_total{unit="svc.service"} 0`,
		`sockd_spawn_duration_seconds_count{unit="echo@.service"} 1`,
		`sockd_spawn_duration_seconds_bucket{unit="svc.service",le="+Inf"}`,
		`process_open_fds `,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	var addr string
	d.mu.Lock()
	for _, l := range d.lines {
		if l["msg"] == "metrics" {
			addr, _ = l["address"].(string)
		}
	}
	d.mu.Unlock()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("metrics_address %q: %v", addr, err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `sockd_socket_accepted_total{unit="echo.socket"} 1`) {
		t.Errorf("metrics on %s:\n%.500s", addr, b)
	}
	if resp, err := http.Get("http://" + addr + "/v1/units"); err == nil {
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("the metrics address serves the control API: %s", resp.Status)
		}
		resp.Body.Close()
	}

	// On exit the socket is removed and clients say the daemon is gone.
	if code := stop(); code != 0 {
		t.Errorf("sockd exit %d after SIGTERM", code)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("control socket left behind: %v", err)
	}
	_, e, code := ctlRun(t, sock, "list")
	if code != exitFailure || !strings.Contains(e, "sockd is not running") || strings.Count(e, "\n") != 1 {
		t.Errorf("list without a daemon: exit %d, %q", code, e)
	}
}

func logHas(log []control.Entry, s string) bool {
	for _, e := range log {
		if strings.Contains(e.Message, s) {
			return true
		}
	}
	return false
}

// nobodyClient returns a function that runs a client command of a copy of
// the test binary (readable by nobody) as uid and gid 65534.
func nobodyClient(t *testing.T, dir, sock string) func(args ...string) (string, int) {
	t.Helper()
	exe, _ := os.Executable()
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	nobodyExe := filepath.Join(dir, "sockd.test")
	if err := os.WriteFile(nobodyExe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return func(args ...string) (string, int) {
		cmd := exec.Command(nobodyExe, append(args, "--control", sock)...)
		cmd.Env = []string{"SOCKD_TEST_MAIN=1", "PATH=/usr/bin:/bin"}
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Run()
		return stderr.String(), cmd.ProcessState.ExitCode()
	}
}

// A client running as nobody is refused: by the socket's mode, and (with
// the mode opened up) by the daemon's SO_PEERCRED check, which logs it.
func TestControlUnauthorised(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another uid")
	}
	d, sock, dir, _ := ctlFixture(t, "")
	asNobody := nobodyClient(t, dir, sock)

	e, code := asNobody("list")
	if code != exitFailure || !strings.Contains(e, "access denied") || strings.Count(e, "\n") != 1 {
		t.Errorf("nobody, socket mode 0600: exit %d, %q", code, e)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"list"}, {"stop", "svc.socket"}, {"reload"}} {
		e, code := asNobody(args...)
		if code != exitFailure || !strings.Contains(e, "access denied for uid 65534") {
			t.Errorf("nobody %v: exit %d, %q", args, code, e)
		}
	}
	d.waitLog("control API access denied")
	// Nothing happened on nobody's behalf.
	if u, _ := ctlUnit(t, sock, "svc.socket"); u.Socket.State != "listening" {
		t.Errorf("svc.socket %s after nobody's stop", u.Socket.State)
	}
}

// Members of control_group may use the API: the socket is 0660 and owned
// by the group, and the daemon accepts the peer's group.
func TestControlGroup(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another uid")
	}
	g, err := user.LookupGroupId("65534")
	if err != nil {
		t.Skip("no group 65534")
	}
	_, sock, dir, _ := ctlFixture(t, "control_group = \""+g.Name+"\"\n")
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Sys().(*syscall.Stat_t).Gid != 65534 {
		t.Fatalf("control socket with control_group: %v %v", fi.Mode(), err)
	}
	asNobody := nobodyClient(t, dir, sock)
	if e, code := asNobody("stop", "svc.socket"); code != 0 {
		t.Fatalf("group member: exit %d, %s", code, e)
	}
	if u, _ := ctlUnit(t, sock, "svc.socket"); u.Socket.State != "dead" {
		t.Errorf("svc.socket %s after the group member's stop", u.Socket.State)
	}
}

// A second daemon on the same control socket refuses to start instead of
// stealing it.
func TestControlSocketInUse(t *testing.T) {
	_, sock, dir, _ := ctlFixture(t, "")
	empty := filepath.Join(dir, "none")
	os.Mkdir(empty, 0o755)
	cmd := sockdCmd(t, "run", "--units", empty, "--config", filepath.Join(dir, "sockd.toml"), "--control", sock)
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "another sockd is serving it") {
		t.Errorf("second daemon: exit %d\n%s", cmd.ProcessState.ExitCode(), out)
	}
	if _, _, code := ctlRun(t, sock, "list"); code != 0 {
		t.Errorf("the first daemon lost its socket")
	}
}
