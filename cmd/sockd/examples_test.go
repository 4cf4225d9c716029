package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testutil"
)

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB, network string) int { return testutil.FreePort(t, network) }

// The example units behind `make run`, driven with the clients the README
// shows (curl, socat) — on free ports and a private directory instead of
// the fixed ones, so the test can run beside a `make run`.
func TestExampleUnits(t *testing.T) {
	for _, p := range []string{"curl", "socat"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed (CI installs it with .ci/run)", p)
		}
	}
	root, err := os.MkdirTemp("", "ex")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	build := exec.Command("go", "build", "-o", filepath.Join(root, "bin", "sockd-demo"), "../../examples/demo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building sockd-demo: %v\n%s", err, out)
	}
	units := filepath.Join(root, "examples", "units")
	os.MkdirAll(units, 0o755)
	demoDir := filepath.Join(root, "demo")
	tcpEcho, httpPort, udpPort := freePort(t, "tcp"), freePort(t, "tcp"), freePort(t, "udp")
	abstract := fmt.Sprintf("sockd-demo-test-%d", os.Getpid())
	r := strings.NewReplacer(
		"127.0.0.1:7007", "127.0.0.1:"+strconv.Itoa(tcpEcho),
		"127.0.0.1:8080", "127.0.0.1:"+strconv.Itoa(httpPort),
		"[::1]:8080", "[::1]:"+strconv.Itoa(httpPort),
		"127.0.0.1:7008", "127.0.0.1:"+strconv.Itoa(udpPort),
		"/tmp/sockd-demo", demoDir,
		"@sockd-demo", "@"+abstract,
	)
	files, _ := filepath.Glob("../../examples/units/*")
	if len(files) < 6 {
		t.Fatalf("example units: %v", files)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(units, filepath.Base(f)), []byte(r.Replace(string(b))), 0o644)
	}
	d := startDaemon(t, units)

	run := func(name string, stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}

	if out := run("socat", "ping\n", "-t", "5", "-", "TCP:127.0.0.1:"+strconv.Itoa(tcpEcho)); out != "ping\n" {
		t.Errorf("tcp echo: %q", out)
	}
	out := run("curl", "", "-sS", "--max-time", "10", "http://127.0.0.1:"+strconv.Itoa(httpPort)+"/")
	if !strings.Contains(out, "socket-activated by sockd") || !strings.Contains(out, "LISTEN_FDNAMES=http:http") {
		t.Errorf("http v4: %q", out)
	}
	if hasIPv6() {
		if out := run("curl", "", "-sS", "--max-time", "10", "http://[::1]:"+strconv.Itoa(httpPort)+"/"); !strings.Contains(out, "hello from pid") {
			t.Errorf("http v6: %q", out)
		}
	}
	if out := run("socat", "hi\n", "-t", "5", "-", "UDP:127.0.0.1:"+strconv.Itoa(udpPort)); out != "echo: hi\n" {
		t.Errorf("udp echo: %q", out)
	}
	if out := run("socat", "unix\n", "-t", "5", "-", "UNIX-CONNECT:"+filepath.Join(demoDir, "echo.sock")); out != "unix\n" {
		t.Errorf("unix echo: %q", out)
	}
	if st, err := os.Stat(filepath.Join(demoDir, "echo.sock")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("echo.sock mode: %v %v", st, err)
	}
	if out := run("socat", "abstract\n", "-t", "5", "-", "ABSTRACT-CONNECT:"+abstract); out != "abstract\n" {
		t.Errorf("abstract echo: %q", out)
	}
	f, err := os.OpenFile(filepath.Join(demoDir, "fifo"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "through the fifo")
	f.Close()
	deadline := time.Now().Add(15 * time.Second)
	for !d.logged("fifo: through the fifo") {
		if time.Now().After(deadline) {
			t.Fatal("the FIFO consumer's output did not reach sockd's log")
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.cmd.Process.Signal(os.Interrupt)
	if code := d.wait(); code != 0 {
		t.Errorf("exit code %d after SIGINT", code)
	}
	if _, err := os.Lstat(filepath.Join(demoDir, "fifo")); !os.IsNotExist(err) {
		t.Errorf("RemoveOnStop: fifo remains")
	}
}

// logged reports whether any log line carries text in its message.
func (d *sockdProc) logged(text string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.raw {
		if strings.Contains(l, text) {
			return true
		}
	}
	return false
}

func hasIPv6() bool {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}
