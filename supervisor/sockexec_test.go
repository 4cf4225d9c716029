package supervisor

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The socket unit's own helpers: ExecStartPre= before the listeners exist,
// ExecStartPost= after (with the fds and LISTEN_* when
// PassFileDescriptorsToExec=yes), ExecStopPre= and ExecStopPost= around
// closing them.
func TestSocketExecHelpers(t *testing.T) {
	h := newHarness(t, map[string]string{
		"sx.socket": `[Socket]
ListenStream=@TMP@/sx.sock
PassFileDescriptorsToExec=yes
ExecStartPre=/bin/sh -c 'test -e @TMP@/sx.sock && echo pre-exists >> @TMP@/log || echo pre >> @TMP@/log'
ExecStartPost=/bin/sh -c 'echo post-$$LISTEN_FDS-$$LISTEN_FDNAMES >> @TMP@/log'
ExecStopPre=/bin/sh -c 'test -S @TMP@/sx.sock && echo stoppre-bound >> @TMP@/log'
ExecStopPost=/bin/sh -c 'echo stoppost >> @TMP@/log'
`,
		"sx.service": "[Service]\nExecStart=/bin/true\n",
	})
	log := filepath.Join(h.tmp, "log")
	h.waitFor("listening", func() bool { return h.socket("sx.socket").State == SocketListening })
	if got := strings.Join(readLines(log), " "); got != "pre post-1-sx.socket" {
		t.Errorf("start helpers: %q", got)
	}
	c, err := net.Dial("unix", filepath.Join(h.tmp, "sx.sock"))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := h.sup.StopUnit(t.Context(), "sx.socket"); err != nil {
		t.Fatal(err)
	}
	h.waitFor("dead", func() bool { return h.socket("sx.socket").State == SocketDead })
	if got := strings.Join(readLines(log), " "); got != "pre post-1-sx.socket stoppre-bound stoppost" {
		t.Errorf("helpers: %q", got)
	}
}

// A failing ExecStartPre= fails the socket; nothing is bound.
func TestSocketExecStartPreFails(t *testing.T) {
	h := newHarness(t, map[string]string{
		"sf.socket":  "[Socket]\nListenStream=@TMP@/sf.sock\nExecStartPre=/bin/false\n",
		"sf.service": "[Service]\nExecStart=/bin/true\n",
	})
	h.waitFor("failed", func() bool { return h.socket("sf.socket").State == SocketFailed })
	if st := h.socket("sf.socket"); st.Result != ResultExitCode {
		t.Errorf("result %q", st.Result)
	}
	if _, err := net.Dial("unix", filepath.Join(h.tmp, "sf.sock")); err == nil {
		t.Error("socket bound although ExecStartPre= failed")
	}
}

// ExecStartPost= runs once the socket listens, also for a unit started
// with the others at sockd's start (where sockets otherwise listen only
// once every unit is loaded): a helper that connects must succeed.
func TestSocketExecStartPostListening(t *testing.T) {
	h := newHarness(t, map[string]string{
		"sp.socket":  "[Socket]\nListenStream=@TMP@/sp.sock\nExecStartPost=/usr/bin/socat -u OPEN:/dev/null UNIX-CONNECT:@TMP@/sp.sock\n",
		"sp.service": "[Service]\nExecStart=/bin/sleep 30\n", // the helper's connection starts it
	})
	h.waitFor("running or failed", func() bool {
		st := h.socket("sp.socket").State
		return st == SocketRunning || st == SocketFailed
	})
	if st := h.socket("sp.socket"); st.State != SocketRunning {
		t.Fatalf("socket %s (%s): ExecStartPost= could not connect", st.State, st.Reason)
	}
}

// An Accept=yes socket whose listener went to a helper
// (PassFileDescriptorsToExec=yes): NonBlocking=no must not make sockd's
// own copy blocking (the flag is shared), or the accept loop would block
// in a raw system call and stop the whole runtime at the next collection.
func TestAcceptListenerStaysNonblocking(t *testing.T) {
	h := newHarness(t, map[string]string{
		"ab.socket":   "[Socket]\nListenStream=@TMP@/ab.sock\nAccept=yes\nPassFileDescriptorsToExec=yes\nExecStartPost=/bin/true\n",
		"ab@.service": "[Service]\nExecStart=/bin/echo hi\nStandardInput=socket\nStandardOutput=socket\n",
	})
	h.waitFor("listening", func() bool { return h.socket("ab.socket").State == SocketListening })
	for i := range 3 {
		c, err := net.Dial("unix", filepath.Join(h.tmp, "ab.sock"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(b) != "hi\n" {
			t.Fatalf("connection %d: %q, %v", i, b, err)
		}
		done := make(chan struct{})
		go func() { runtime.GC(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("runtime.GC did not complete: the accept loop is blocked")
		}
	}
}

// Two units asking for one AF_UNIX path: the second is refused (the first
// answers on it), also when both are bound at start-up while loading.
func TestDuplicateUnixPathRefused(t *testing.T) {
	h := newHarness(t, map[string]string{
		"a.socket":  "[Socket]\nListenStream=@TMP@/dup.sock\n",
		"a.service": "[Service]\nExecStart=/bin/sleep 30\n",
		"b.socket":  "[Socket]\nListenStream=@TMP@/dup.sock\n",
		"b.service": "[Service]\nExecStart=/bin/sleep 30\n",
	})
	h.waitFor("both settled", func() bool {
		return h.socket("a.socket").State != SocketDead && h.socket("b.socket").State != SocketDead
	})
	a, b := h.socket("a.socket"), h.socket("b.socket")
	// b's probe of the path is traffic for a: a may be running already.
	if (a.State != SocketListening && a.State != SocketRunning) || b.State != SocketFailed || !strings.Contains(b.Reason, "in use") {
		t.Errorf("a.socket %s (%s), b.socket %s (%s); want a listening or running, b failed: in use", a.State, a.Reason, b.State, b.Reason)
	}
	c, err := net.Dial("unix", filepath.Join(h.tmp, "dup.sock"))
	if err != nil {
		t.Fatalf("the path does not answer: %v", err)
	}
	c.Close()
}

// A socket whose service does not load is never bound: it says why in the
// log, one with ExecStartPre= never runs it (systemd checks the service
// first), and an address it shares with another unit goes to that unit.
func TestSocketOfBrokenServiceNotBound(t *testing.T) {
	h := newHarness(t, map[string]string{
		"bad.socket":     "[Socket]\nListenStream=@TMP@/bad.sock\n",
		"bad.service":    "[Service]\nType=simple\n", // no ExecStart=
		"badpre.socket":  "[Socket]\nListenStream=@TMP@/badpre.sock\nExecStartPre=/bin/sh -c 'echo pre >> @TMP@/log'\n",
		"badpre.service": "[Service]\nType=simple\n",
		"good.socket":    "[Socket]\nListenStream=@TMP@/good.sock\nAccept=yes\n",
		"good@.service":  "[Service]\nExecStart=/bin/echo hi\nStandardInput=socket\n",
		// pa.socket comes first by name, and its service does not load.
		"pa.socket":  "[Socket]\nListenStream=@TMP@/p.sock\nSymlinks=@TMP@/pa-link\n",
		"pa.service": "[Service]\nType=simple\n",
		"pb.socket":  "[Socket]\nListenStream=@TMP@/p.sock\n",
		"pb.service": "[Service]\nExecStart=/bin/sleep 30\n",
	})
	for _, s := range h.status().Sockets {
		if s.Name != "good.socket" && s.Name != "pb.socket" {
			t.Errorf("socket %s (%s) in status; only good.socket and pb.socket load", s.Name, s.State)
		}
	}
	if st := h.socket("pb.socket"); st.State != SocketListening {
		t.Errorf("pb.socket %s (%s): the path of pa.socket, whose service does not load, should be free", st.State, st.Reason)
	}
	if _, err := os.Lstat(filepath.Join(h.tmp, "pa-link")); err == nil {
		t.Error("pa.socket's Symlinks= created")
	}
	if _, err := net.Dial("unix", filepath.Join(h.tmp, "bad.sock")); err == nil {
		t.Error("bad.sock still accepts connections")
	}
	if b, err := os.ReadFile(filepath.Join(h.tmp, "log")); err == nil {
		t.Errorf("ExecStartPre= of badpre.socket ran: %q", b)
	}
	for _, u := range []string{"bad", "badpre"} {
		want := "service " + u + ".service not loaded, socket cannot be started"
		if h.logs.FilterMessageSnippet(want).Len() == 0 {
			t.Errorf("no log line %q", want)
		}
	}
	c, err := net.Dial("unix", filepath.Join(h.tmp, "good.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(c); err != nil || string(b) != "hi\n" {
		t.Errorf("good.socket: %q, %v", b, err)
	}
}

// Templates are read at the first connection (as systemd loads the
// instance then): a broken template does not keep its socket from
// listening, and the first connection fails the socket with the file:line
// reason in status, as systemd fails it with result "resources".
func TestBrokenTemplateFailsAtFirstConnection(t *testing.T) {
	h := newHarness(t, map[string]string{
		"bt.socket":   "[Socket]\nListenStream=@TMP@/bt.sock\nAccept=yes\n",
		"bt@.service": "[Service]\nType=simple\n", // no ExecStart=
	})
	if st := h.socket("bt.socket"); st.State != SocketListening {
		t.Fatalf("bt.socket %s (%s) before any connection", st.State, st.Reason)
	}
	c, err := net.Dial("unix", filepath.Join(h.tmp, "bt.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h.waitFor("failed", func() bool { return h.socket("bt.socket").State == SocketFailed })
	st := h.socket("bt.socket")
	if st.Result != ResultResources || !strings.Contains(st.Reason, "bt@.service:1: ExecStart=") {
		t.Errorf("result %s, reason %q", st.Result, st.Reason)
	}
}
