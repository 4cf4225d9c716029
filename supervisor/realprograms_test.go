package supervisor

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Real socket-activatable programs from Debian run under sockd unchanged.
// CI installs them (.ci/run); elsewhere a missing one is skipped by name.

func need(t *testing.T, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		t.Skipf("%s is not installed (CI installs it with .ci/run)", prog)
	}
	return p
}

// lighttpd with server.systemd-socket-activation takes its listener from
// LISTEN_FDS, and curl gets a page.
func TestLighttpdActivated(t *testing.T) {
	lighttpd := need(t, "lighttpd")
	curl := need(t, "curl")
	port := freePort(t, "tcp")
	h := newHarness(t, map[string]string{
		"lighttpd.socket": fmt.Sprintf("[Socket]\nListenStream=127.0.0.1:%d\n", port),
		"lighttpd.service": fmt.Sprintf(`[Service]
ExecStart=%s -D -f @TMP@/lighttpd.conf
`, lighttpd),
	})
	os.WriteFile(filepath.Join(h.tmp, "index.html"), []byte("served by lighttpd under sockd\n"), 0o644)
	conf := fmt.Sprintf(`server.document-root = %q
server.port = %d
server.bind = "127.0.0.1"
server.systemd-socket-activation = "enable"
server.errorlog = %q
index-file.names = ("index.html")
`, h.tmp, port, filepath.Join(h.tmp, "lighttpd.err"))
	os.WriteFile(filepath.Join(h.tmp, "lighttpd.conf"), []byte(conf), 0o644)
	out, err := exec.Command(curl, "-sS", "--max-time", "10", fmt.Sprintf("http://127.0.0.1:%d/", port)).CombinedOutput()
	if err != nil || string(out) != "served by lighttpd under sockd\n" {
		b, _ := os.ReadFile(filepath.Join(h.tmp, "lighttpd.err"))
		t.Fatalf("curl: %v: %s\nlighttpd log: %s", err, out, b)
	}
	if st := h.socket("lighttpd.socket"); st.State != SocketRunning {
		t.Errorf("socket state %s", st.State)
	}
}

// dbus-daemon --address=systemd: takes the bus socket from LISTEN_FDS.
func TestDBusDaemonActivated(t *testing.T) {
	daemon := need(t, "dbus-daemon")
	send := need(t, "dbus-send")
	h := newHarness(t, map[string]string{
		"bus.socket": "[Socket]\nListenStream=@TMP@/bus\n",
		"bus.service": fmt.Sprintf(`[Service]
ExecStart=%s --session --nofork --nopidfile --address=systemd:
`, daemon),
	})
	out, err := exec.Command(send, "--bus=unix:path="+filepath.Join(h.tmp, "bus"), "--print-reply",
		"--reply-timeout=10000", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
		"org.freedesktop.DBus.ListNames").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "org.freedesktop.DBus") {
		t.Fatalf("dbus-send: %v: %s", err, out)
	}
}

// socat as an inetd service (Accept=yes, StandardInput=socket).
func TestSocatInetd(t *testing.T) {
	socat := need(t, "socat")
	h := newHarness(t, map[string]string{
		"up.socket":   "[Socket]\nListenStream=@TMP@/up.sock\nAccept=yes\n",
		"up@.service": fmt.Sprintf("[Service]\nExecStart=%s STDIO SYSTEM:'tr a-z A-Z'\nStandardInput=socket\n", socat),
	})
	// The client is socat too.
	cmd := exec.Command(socat, "-t", "5", "-", "UNIX-CONNECT:"+filepath.Join(h.tmp, "up.sock"))
	cmd.Stdin = strings.NewReader("shout\n")
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "SHOUT\n" {
		t.Fatalf("socat client: %v: %q", err, out)
	}
}

// A Python server using socket.fromfd(3, ...) as written for systemd.
func TestPythonFromFD(t *testing.T) {
	python := need(t, "python3")
	port := freePort(t, "tcp")
	h := newHarness(t, map[string]string{
		"py.socket":  fmt.Sprintf("[Socket]\nListenStream=127.0.0.1:%d\n", port),
		"py.service": fmt.Sprintf("[Service]\nExecStart=%s @TMP@/srv.py\n", python),
	})
	script := `import os, socket
assert int(os.environ["LISTEN_PID"]) == os.getpid(), "LISTEN_PID mismatch"
assert os.environ["LISTEN_FDS"] == "1"
s = socket.fromfd(3, socket.AF_INET, socket.SOCK_STREAM)
while True:
    c, _ = s.accept()
    c.sendall(b"python %d %s\n" % (os.getpid(), os.environ["LISTEN_FDNAMES"].encode()))
    c.close()
`
	os.WriteFile(filepath.Join(h.tmp, "srv.py"), []byte(script), 0o644)
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil || !strings.HasPrefix(string(b), "python ") || !strings.HasSuffix(string(b), " py.socket\n") {
		t.Fatalf("python server said %q, %v", b, err)
	}
}
