package supervisor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/testutil"
	"github.com/sockd/sockd/spawner"
)

// Accept=no: the first connection starts the service once, with every
// listener of the unit at fd 3, 4, … and LISTEN_PID equal to its own pid,
// as go-systemd's activation package checks. The child holds exactly
// stdio plus those fds.
func TestAcceptNoPassesAllListeners(t *testing.T) {
	port, uport := freePort(t, "tcp"), freePort(t, "udp")
	h := newHarness(t, map[string]string{
		"web.socket": fmt.Sprintf(`[Socket]
ListenStream=127.0.0.1:%d
ListenDatagram=127.0.0.1:%d
ListenStream=@TMP@/web.sock
FileDescriptorName=web
`, port, uport),
		"web.service": `[Service]
ExecStart=@HELPER@
Environment=SOCKD_TEST_HELPER=report
`,
	})
	if st := h.socket("web.socket"); st.State != SocketListening || len(st.Listen) != 3 {
		t.Fatalf("socket status = %+v", st)
	}
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	rep := readReport(t, c)
	c.Close()

	if got := rep.Env["LISTEN_PID"]; got != strconv.Itoa(rep.Pid) {
		t.Errorf("LISTEN_PID = %q, service pid %d", got, rep.Pid)
	}
	if rep.Env["LISTEN_FDS"] != "3" || rep.Env["LISTEN_FDNAMES"] != "web:web:web" {
		t.Errorf("LISTEN_FDS=%q LISTEN_FDNAMES=%q", rep.Env["LISTEN_FDS"], rep.Env["LISTEN_FDNAMES"])
	}
	if rep.Listeners != 2 || rep.Packets != 1 {
		t.Errorf("go-systemd saw %d listeners and %d packet conns, want 2 and 1", rep.Listeners, rep.Packets)
	}
	// Stdio and the three sockets, packed from 3 (the exact table is
	// TestChildFDsExact's: this helper's own Go runtime opens more).
	for i, fd := range rep.FDs[:6] {
		if !strings.HasPrefix(fd, strconv.Itoa(i)+":") {
			t.Errorf("fd %d: %s (fds not packed)", i, fd)
		}
		if i >= 3 && !strings.Contains(fd, "socket:") {
			t.Errorf("fd %s is not a socket", fd)
		}
	}
	if !strings.HasPrefix(rep.FDs[0], "0:/dev/null") {
		t.Errorf("stdin = %s, want /dev/null", rep.FDs[0])
	}
	// Systemd's environment, and nothing of sockd's own.
	if rep.Env["PATH"] != spawner.DefaultPath || len(rep.Env["INVOCATION_ID"]) != 32 || rep.Env["SOCKD_TEST_HELPER"] != "report" {
		t.Errorf("env = %v", rep.Env)
	}
	if rep.SigBlocked != "0000000000000000" {
		t.Errorf("blocked signals %s, want none", rep.SigBlocked)
	}
	if rep.Pgid != rep.Pid {
		t.Errorf("pgid %d, want its own group %d", rep.Pgid, rep.Pid)
	}
	// The service owns the socket now: sockd does not activate again.
	for i := 0; i < 5; i++ {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		if r := readReport(t, c); r.Pid != rep.Pid {
			t.Errorf("connection %d served by pid %d, want %d", i, r.Pid, rep.Pid)
		}
		c.Close()
	}
	st := h.socket("web.socket")
	if st.State != SocketRunning || st.Activations != 1 {
		t.Errorf("after activation: state %s, activations %d", st.State, st.Activations)
	}
}

// The exact fd table of a service, read from outside through /proc while
// it runs sleep(1), which opens nothing: stdio and the passed sockets,
// nothing else from sockd (which itself inherited extra fds from whoever
// started the test).
func TestChildFDsExact(t *testing.T) {
	h := newHarness(t, map[string]string{
		"x.socket":  "[Socket]\nListenStream=@TMP@/x.sock\nListenDatagram=@TMP@/x.dgram\nFileDescriptorName=x\n",
		"x.service": "[Service]\nExecStart=/bin/sleep 30\n",
	})
	c := h.dialUnix("x.sock")
	defer c.Close()
	pid := h.mainPID("x.service")
	var fds []string
	h.waitFor("sleep to run", func() bool {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		return strings.HasSuffix(exe, "/sleep")
	})
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		fds = append(fds, e.Name()+":"+target)
	}
	if len(fds) != 5 || !strings.HasPrefix(fds[3], "3:socket:") || !strings.HasPrefix(fds[4], "4:socket:") {
		t.Errorf("service fds = %q, want 0-2 and two sockets", fds)
	}
	env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	vars := strings.Split(string(env), "\x00")
	for _, want := range []string{"LISTEN_FDS=2", "LISTEN_PID=" + strconv.Itoa(pid), "LISTEN_FDNAMES=x:x"} {
		if !slices.Contains(vars, want) {
			t.Errorf("environment lacks %s: %q", want, vars)
		}
	}
	// NonBlocking=no (the default): the service gets blocking sockets.
	for _, fd := range []int{3, 4} {
		info, _ := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, fd))
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				fl, _ := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
				if fl&syscall.O_NONBLOCK != 0 {
					t.Errorf("fd %d is non-blocking (flags %s)", fd, v)
				}
			}
		}
	}
}

// The datagram that triggers activation is not consumed by sockd: the
// service receives it.
func TestDatagramTriggerIsDelivered(t *testing.T) {
	uport := freePort(t, "udp")
	newHarness(t, map[string]string{
		"dg.socket": fmt.Sprintf("[Socket]\nListenDatagram=127.0.0.1:%d\n", uport),
		"dg.service": `[Service]
ExecStart=@HELPER@
Environment=SOCKD_TEST_HELPER=dgram-report
`,
	})
	c, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(uport))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("first"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	rep := readReport(t, strings.NewReader(string(buf[:n])))
	if rep.Datagram != "first" {
		t.Errorf("service got %q, want the triggering datagram", rep.Datagram)
	}
}

// Connections that queue while the service is not running (between its
// exit and the next start) are all served: 100 clients, a service that
// takes 25 connections per start.
func TestQueuedConnectionsSurviveRestarts(t *testing.T) {
	h := newHarness(t, map[string]string{
		"q.socket": "[Socket]\nListenStream=@TMP@/q.sock\nBacklog=256\n",
		"q.service": `[Service]
ExecStart=@HELPER@
Environment=SOCKD_TEST_HELPER=serve-n HELPER_N=25
`,
	})
	path := filepath.Join(h.tmp, "q.sock")
	const clients = 100
	var wg sync.WaitGroup
	pids := make(chan string, clients)
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.Dial("unix", path)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprintf(c, "hello %d\n", i)
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
				return
			}
			f := strings.Fields(line)
			if len(f) != 3 || f[2] != strconv.Itoa(i) {
				errs <- fmt.Errorf("client %d: answer %q", i, line)
				return
			}
			pids <- f[0]
		}(i)
	}
	wg.Wait()
	close(errs)
	close(pids)
	for err := range errs {
		t.Error(err)
	}
	seen := map[string]int{}
	for p := range pids {
		seen[p]++
	}
	if len(seen) != 4 {
		t.Errorf("served by %d service starts, want 4: %v", len(seen), seen)
	}
	h.waitFor("socket listening again", func() bool { return h.socket("q.socket").State == SocketListening })
}

// Accept=yes, inetd style: /bin/cat gets the connection as stdin and
// stdout and echoes.
func TestAcceptYesInetd(t *testing.T) {
	port := freePort(t, "tcp")
	h := newHarness(t, map[string]string{
		"echo.socket":   fmt.Sprintf("[Socket]\nListenStream=127.0.0.1:%d\nAccept=yes\n", port),
		"echo@.service": "[Service]\nExecStart=/bin/cat\nStandardInput=socket\n",
	})
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "ping %d\n", i)
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(b) != fmt.Sprintf("ping %d\n", i) {
			t.Fatalf("echo %d = %q, %v", i, b, err)
		}
	}
	h.waitFor("instances gone", func() bool { return h.socket("echo.socket").Connections == 0 })
	if st := h.socket("echo.socket"); st.Accepted != 3 {
		t.Errorf("accepted = %d", st.Accepted)
	}
	// Instances are named as systemd names them.
	found := false
	for _, e := range h.logs.FilterMessage("activated").All() {
		if name, _ := e.ContextMap()["unit"].(string); strings.HasPrefix(name, "echo@0-127.0.0.1:"+strconv.Itoa(port)+"-127.0.0.1:") {
			found = true
		}
	}
	if !found {
		t.Errorf("no instance named echo@0-127.0.0.1:%d-127.0.0.1:PORT.service in %v", port, h.logs.FilterMessage("activated").All())
	}
}

// Accept=yes with the connection on fd 3: LISTEN_FDS=1, LISTEN_FDNAMES=
// connection, LISTEN_PID, REMOTE_ADDR and REMOTE_PORT; forked by sockd
// itself, and by the fork server it uses with many listeners (started
// while the units load).
func TestAcceptYesFD3(t *testing.T) {
	for _, tt := range []struct {
		name          string
		forkServerFDs int // 0: the default, forking directly here
		want          int // fork servers running
	}{
		{"direct", 0, 0},
		{"fork-server", 1, 1},
		// One unit file (a direct start guessed from the scan), two
		// listeners: the fork server is started once they are loaded.
		{"fork-server-after-load", 2, 1},
	} {
		t.Run(tt.name, func(t *testing.T) { testAcceptYesFD3(t, tt.forkServerFDs, tt.want) })
	}
}

func testAcceptYesFD3(t *testing.T, forkServerFDs, servers int) {
	port, other := freePort(t, "tcp"), freePort(t, "tcp")
	newHarness(t, map[string]string{
		"c.socket": fmt.Sprintf("[Socket]\nListenStream=127.0.0.1:%d\nListenStream=127.0.0.1:%d\nAccept=yes\n", port, other),
		"c@.service": `[Service]
ExecStart=@HELPER@
Environment=SOCKD_TEST_HELPER=conn-report
`,
	}, func(o *Options) { o.forkServerFDs = forkServerFDs })
	if got := len(forkServers(t)); got != servers {
		t.Fatalf("%d fork servers running, want %d", got, servers)
	}
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	rep := readReport(t, c)
	lport := strconv.Itoa(c.LocalAddr().(*net.TCPAddr).Port)
	want := map[string]string{
		"LISTEN_FDS": "1", "LISTEN_FDNAMES": "connection", "LISTEN_PID": strconv.Itoa(rep.Pid),
		"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": lport,
	}
	for k, v := range want {
		if rep.Env[k] != v {
			t.Errorf("%s = %q, want %q", k, rep.Env[k], v)
		}
	}
	if len(rep.FDs) < 4 || !strings.HasPrefix(rep.FDs[3], "3:socket:") {
		t.Errorf("fds = %q, want stdio and the connection", rep.FDs)
	}
}

// An Accept=yes instance whose program is missing: the instance starts
// without waiting for execve, so the failure comes with its exit, as
// systemd's status=203/EXEC does. The client sees the connection end, the
// slot is given back and the socket keeps listening.
func TestAcceptYesMissingProgram(t *testing.T) {
	h := newHarness(t, map[string]string{
		"m.socket":   "[Socket]\nListenStream=@TMP@/m.sock\nAccept=yes\nMaxConnections=1\n",
		"m@.service": "[Service]\nExecStart=/nonexistent/program\nStandardInput=socket\n",
	})
	for i := range 3 {
		c := h.dialUnix("m.sock")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("connection %d: read %d, %v; want EOF", i, n, err)
		}
		c.Close()
		h.waitFor("slot given back", func() bool { return h.socket("m.socket").Connections == 0 })
	}
	if st := h.socket("m.socket"); st.State != SocketListening || st.Refused != 0 || st.Accepted != 3 {
		t.Errorf("socket status %+v", st)
	}
	h.waitFor("three failures logged", func() bool {
		return h.logs.FilterMessage("failed to start service").Len() == 3
	})
	for _, e := range h.logs.FilterMessage("failed to start service").All() {
		if msg := e.ContextMap()["error"]; !strings.Contains(fmt.Sprint(msg), "execve: no such file or directory") {
			t.Errorf("logged %v", e.ContextMap())
		}
	}
	if !h.sup.sp.NoWaitStarts() {
		t.Skip("starts wait for execve here (not amd64, Linux before 5.16, or no clone3): failures are start errors")
	}
	if st := h.logs.FilterMessage("exited").All(); len(st) != 3 || st[0].ContextMap()["status"] != "status=203 (execve: no such file or directory)" {
		for _, e := range st {
			t.Logf("exited %v", e.ContextMap())
		}
		t.Errorf("%d exits logged, want 3 with status=203 (execve: …)", len(st))
	}
}

// A Type=exec instance still waits for its execve, as under systemd: a
// missing program fails the start, and ExecStartPost= never runs.
func TestAcceptYesTypeExecMissingProgram(t *testing.T) {
	h := newHarness(t, map[string]string{
		"m.socket":   "[Socket]\nListenStream=@TMP@/m.sock\nAccept=yes\n",
		"m@.service": "[Service]\nType=exec\nExecStart=/nonexistent/program\nExecStartPost=/bin/touch @TMP@/post\nStandardInput=socket\n",
	})
	c := h.dialUnix("m.sock")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read %d, %v; want EOF", n, err)
	}
	c.Close()
	h.waitFor("failure logged", func() bool { return h.logs.FilterMessage("failed to start service").Len() == 1 })
	h.waitFor("slot given back", func() bool { return h.socket("m.socket").Connections == 0 })
	if _, err := os.Stat(filepath.Join(h.tmp, "post")); err == nil {
		t.Error("ExecStartPost= ran after a failed execve")
	}
	if n := h.logs.FilterMessage("exited").Len(); n != 0 {
		t.Errorf("%d exits logged; want the failure as a start error", n)
	}
}

// ExecStartPost= of an inetd-style instance gets the connection as its
// stdin too, as under systemd (sockd used to close its copy first, and
// the command failed with EBADF).
func TestAcceptYesExecStartPostGetsSocket(t *testing.T) {
	h := newHarness(t, map[string]string{
		"e.socket":   "[Socket]\nListenStream=@TMP@/e.sock\nAccept=yes\n",
		"e@.service": "[Service]\nExecStart=/bin/cat\nExecStartPost=/bin/sh -c 'test -S /dev/stdin && touch @TMP@/post'\nStandardInput=socket\n",
	})
	c := h.dialUnix("e.sock")
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(c).ReadString('\n'); line != "ping\n" {
		t.Fatalf("echo %q, %v", line, err)
	}
	h.waitFor("ExecStartPost= ran with the socket", func() bool {
		_, err := os.Stat(filepath.Join(h.tmp, "post"))
		return err == nil
	})
	c.(*net.UnixConn).CloseWrite()
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Errorf("after EOF: %q, %v; want the connection closed", b, err)
	}
	h.waitFor("slot given back", func() bool { return h.socket("e.socket").Connections == 0 })
	if n := h.logs.FilterMessage("control process failed").Len(); n != 0 {
		t.Errorf("%d control process failures", n)
	}
}

// Stopping sockd right after instances were started: an instance started
// without waiting for its execve may not have its process group yet, and
// the stop signal must reach it all the same (it used to be lost, and the
// instance ran until the stop timeout). A few rounds, since it is a race.
func TestStopRightAfterInstancesStart(t *testing.T) {
	for round := range 4 {
		h := newHarness(t, map[string]string{
			"z.socket":   "[Socket]\nListenStream=@TMP@/z.sock\nAccept=yes\n",
			"z@.service": "[Service]\nExecStart=/bin/sleep 60\nStandardInput=socket\nTimeoutStopSec=15\n",
		})
		var conns []net.Conn
		for range 16 {
			c := h.dialUnix("z.sock")
			conns = append(conns, c)
		}
		h.waitFor("16 accepted", func() bool { return h.socket("z.socket").Accepted == 16 })
		h.stop()
		for _, c := range conns {
			c.Close()
		}
		if n := h.logs.FilterMessage("stop timed out, killing").Len(); n != 0 {
			t.Fatalf("round %d: %d instances missed their stop signal", round, n)
		}
	}
}

// sockd hands an instance's connection over and closes its own copy as
// soon as the last process that gets it is started: an fd-3 instance's
// client sees the end of the connection when its main process exits, not
// when a slow ExecStartPost= (which does not get the connection) ends; and
// an inetd-style instance's ExecStopPost= starts with /dev/null instead of
// failing on the closed copy.
func TestAcceptYesConnectionHandOver(t *testing.T) {
	h := newHarness(t, map[string]string{
		"f.socket":   "[Socket]\nListenStream=@TMP@/f.sock\nAccept=yes\n",
		"f@.service": "[Service]\nExecStart=/bin/sh -c 'echo hi >&3'\nExecStartPost=/bin/sh -c 'sleep 3; touch @TMP@/post'\n",
		"i.socket":   "[Socket]\nListenStream=@TMP@/i.sock\nAccept=yes\n",
		"i@.service": "[Service]\nExecStart=/bin/cat\nExecStopPost=/bin/sh -c 'test -c /dev/stdin && touch @TMP@/stoppost'\nStandardInput=socket\n",
	})
	c := h.dialUnix("f.sock")
	c.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	c.Close()
	if err != nil || string(b) != "hi\n" {
		t.Fatalf("fd-3 instance: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(h.tmp, "post")); err == nil {
		t.Error("the connection ended only after ExecStartPost=, which does not have it")
	}
	h.waitFor("ExecStartPost= done", func() bool {
		_, err := os.Stat(filepath.Join(h.tmp, "post"))
		return err == nil
	})

	c = h.dialUnix("i.sock")
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("x\n"))
	c.(*net.UnixConn).CloseWrite()
	if b, err := io.ReadAll(c); err != nil || string(b) != "x\n" {
		t.Errorf("inetd instance: %q, %v", b, err)
	}
	c.Close()
	h.waitFor("ExecStopPost= ran with /dev/null", func() bool {
		_, err := os.Stat(filepath.Join(h.tmp, "stoppost"))
		return err == nil
	})
	if n := h.logs.FilterMessage("control process failed").Len(); n != 0 {
		t.Errorf("%d control process failures", n)
	}
}

// A Type=oneshot instance with several ExecStart= lines: every one gets
// the connection, as under systemd (sockd once handed it over after the
// first).
func TestAcceptYesOneshotCommandsAllGetConnection(t *testing.T) {
	h := newHarness(t, map[string]string{
		"f.socket":   "[Socket]\nListenStream=@TMP@/f.sock\nAccept=yes\n",
		"f@.service": "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo one >&3'\nExecStart=/bin/sh -c 'echo two >&3'\n",
		"i.socket":   "[Socket]\nListenStream=@TMP@/i.sock\nAccept=yes\n",
		"i@.service": "[Service]\nType=oneshot\nExecStart=/bin/echo one\nExecStart=/bin/echo two\nStandardInput=socket\n",
	})
	for _, sock := range []string{"f.sock", "i.sock"} {
		c := h.dialUnix(sock)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(b) != "one\ntwo\n" {
			t.Errorf("%s: %q, %v; want both commands' output", sock, b, err)
		}
	}
}

// Restarting an Accept=yes instance is refused with a reason (sockd keeps
// no copy of the connection to start it with), and the instance runs on;
// stopping it by name works.
func TestAcceptYesInstanceRestartRefused(t *testing.T) {
	h := newHarness(t, map[string]string{
		"r.socket":   "[Socket]\nListenStream=@TMP@/r.sock\nAccept=yes\n",
		"r@.service": "[Service]\nExecStart=/bin/cat\nStandardInput=socket\n",
	})
	c := h.dialUnix("r.sock")
	defer c.Close()
	h.waitFor("activated", func() bool { return h.logs.FilterMessage("activated").Len() == 1 })
	name := fmt.Sprint(h.logs.FilterMessage("activated").All()[0].ContextMap()["unit"])
	if err := h.sup.RestartUnit(t.Context(), name); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("restart %s: %v, want ErrNotAllowed", name, err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("still\n"))
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); line != "still\n" {
		t.Errorf("instance after the refused restart: %q, %v", line, err)
	}
	// Stopping it by name reaches the running instance (the lookup once
	// made a new, inactive unit of that name from the template instead).
	if err := h.sup.StopUnit(t.Context(), name); err != nil {
		t.Fatalf("stop %s: %v", name, err)
	}
	if b, err := io.ReadAll(r); err != nil || len(b) != 0 {
		t.Errorf("after stopping %s: %q, %v; want EOF", name, b, err)
	}
}

// MaxConnections=: past the limit a connection is accepted and closed at
// once (the client sees EOF), and counted as refused; the socket stays up.
func TestMaxConnections(t *testing.T) {
	h := newHarness(t, map[string]string{
		"m.socket": "[Socket]\nListenStream=@TMP@/m.sock\nAccept=yes\nMaxConnections=2\n",
		"m@.service": `[Service]
ExecStart=@HELPER@
Environment=SOCKD_TEST_HELPER=hold
StandardInput=socket
`,
	})
	path := filepath.Join(h.tmp, "m.sock")
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	h.waitFor("two instances", func() bool { return h.socket("m.socket").Connections == 2 })
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("third connection: read %d, %v; want EOF", n, err)
	}
	c.Close()
	if st := h.socket("m.socket"); st.Refused != 1 || st.State != SocketListening {
		t.Errorf("status = %+v", st)
	}
	// Closing one frees a slot.
	held[0].Close()
	h.waitFor("slot released", func() bool { return h.socket("m.socket").Connections == 1 })
	c, err = net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	h.waitFor("slot reused", func() bool { return h.socket("m.socket").Connections == 2 })
	c.Close()
	held[1].Close()
}

// A service that exits without draining its socket re-triggers at once;
// the trigger limit stops the loop and the socket says why.
func TestTriggerLimitStopsCrashLoop(t *testing.T) {
	h := newHarness(t, map[string]string{
		"crash.socket": "[Socket]\nListenStream=@TMP@/crash.sock\nTriggerLimitIntervalSec=10s\nTriggerLimitBurst=5\nPollLimitIntervalSec=0\n",
		"crash.service": `[Service]
ExecStart=@HELPER@
Environment=SOCKD_TEST_HELPER=exit HELPER_CODE=1
StartLimitBurst=100
`,
	})
	var before syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	c := h.dialUnix("crash.sock")
	defer c.Close()
	h.waitFor("trigger limit", func() bool { return h.socket("crash.socket").State == SocketFailed })
	st := h.socket("crash.socket")
	if st.Result != ResultTriggerLimitHit || st.Activations != 5 {
		t.Errorf("status = %+v", st)
	}
	var mid syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &mid)
	// Nothing spins afterwards: the socket is closed, no more activations,
	// and sockd's CPU (this process, from the kernel's accounting) stays
	// flat. The bound is loose on purpose: a spinning loop burns the whole
	// second, an idle one a few milliseconds at most.
	time.Sleep(time.Second)
	if st := h.socket("crash.socket"); st.Activations != 5 {
		t.Errorf("activations grew to %d after the limit", st.Activations)
	}
	var after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := func(a, b syscall.Rusage) time.Duration {
		return time.Duration(b.Utime.Nano() + b.Stime.Nano() - a.Utime.Nano() - a.Stime.Nano())
	}
	t.Logf("sockd CPU: %v during the crash loop, %v in the second after it", cpu(before, mid), cpu(mid, after))
	if idle := cpu(mid, after); idle > 300*time.Millisecond {
		t.Errorf("sockd used %v of CPU in the second after the trigger limit: spinning", idle)
	}
}

// The start limit of the service stops a crash loop too, and the Accept=no
// socket then fails with service-start-limit-hit.
func TestServiceStartLimit(t *testing.T) {
	h := newHarness(t, map[string]string{
		"sl.socket": "[Socket]\nListenStream=@TMP@/sl.sock\nTriggerLimitBurst=1000\n",
		"sl.service": `[Unit]
StartLimitIntervalSec=10s
StartLimitBurst=3
[Service]
ExecStart=@HELPER@
Environment=SOCKD_TEST_HELPER=exit HELPER_CODE=1
`,
	})
	c := h.dialUnix("sl.sock")
	defer c.Close()
	h.waitFor("socket failed", func() bool { return h.socket("sl.socket").State == SocketFailed })
	if st := h.socket("sl.socket"); st.Result != ResultServiceStartLimit {
		t.Errorf("socket = %+v", st)
	}
	for _, sv := range h.status().Services {
		if sv.Name == "sl.service" && (sv.State != ServiceFailed || sv.Result != ResultStartLimitHit) {
			t.Errorf("service = %+v", sv)
		}
	}
}

// Restart=on-failure restarts a failed service after RestartSec=.
func TestRestartOnFailure(t *testing.T) {
	h := newHarness(t, map[string]string{
		"r.socket": "[Socket]\nListenStream=@TMP@/r.sock\n",
		"r.service": `[Service]
ExecStart=@HELPER@
Environment=SOCKD_TEST_HELPER=exit HELPER_CODE=3
Restart=on-failure
RestartSec=50ms
StartLimitBurst=3
`,
	})
	c := h.dialUnix("r.sock")
	c.Close()
	h.waitFor("restarts", func() bool {
		for _, sv := range h.status().Services {
			if sv.Name == "r.service" && sv.Restarts >= 2 {
				return true
			}
		}
		return false
	})
}

// No zombie is left after many per-connection spawns.
func TestNoZombies(t *testing.T) {
	h := newHarness(t, map[string]string{
		"z.socket":   "[Socket]\nListenStream=@TMP@/z.sock\nAccept=yes\nMaxConnections=1000\nTriggerLimitIntervalSec=0\nPollLimitIntervalSec=0\n",
		"z@.service": "[Service]\nExecStart=/bin/true\nStandardInput=socket\n",
	})
	path := filepath.Join(h.tmp, "z.sock")
	n := 2000
	if testing.Short() {
		n = 200
	}
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Error(err)
				return
			}
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			io.Copy(io.Discard, c)
			c.Close()
		}()
	}
	wg.Wait()
	h.waitFor("all instances reaped", func() bool { return h.socket("z.socket").Connections == 0 })
	if z := zombies(t); len(z) > 0 {
		t.Errorf("zombies: %v", z)
	}
	if st := h.socket("z.socket"); st.Accepted != uint64(n) {
		t.Errorf("accepted %d, want %d", st.Accepted, n)
	}
}

// zombies lists this process's zombie children.
func zombies(t *testing.T) []int {
	t.Helper()
	var z []int
	for _, c := range testutil.Children(t) {
		if c.State == 'Z' {
			z = append(z, c.Pid)
		}
	}
	return z
}

// SIGTERM-like shutdown: services that ignore SIGTERM are killed after
// their TimeoutStopSec=, and RemoveOnStop= paths are removed.
func TestShutdownStopsServices(t *testing.T) {
	h := newHarness(t, map[string]string{
		"s.socket": "[Socket]\nListenStream=@TMP@/s.sock\nRemoveOnStop=yes\n",
		"s.service": `[Service]
ExecStart=@HELPER@
Environment=SOCKD_TEST_HELPER=ignore-term
TimeoutStopSec=300ms
`,
	})
	path := filepath.Join(h.tmp, "s.sock")
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var pid int
	h.waitFor("service running", func() bool {
		for _, sv := range h.status().Services {
			if sv.Name == "s.service" && sv.MainPID != 0 {
				pid = sv.MainPID
				return true
			}
		}
		return false
	})
	time.Sleep(100 * time.Millisecond) // let it install its SIGTERM handler
	h.stop()
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("service pid %d still alive after shutdown", pid)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("RemoveOnStop: %s still exists (%v)", path, err)
	}
	if h.logs.FilterMessage("stop timed out, killing").Len() != 1 {
		t.Errorf("no SIGKILL escalation logged")
	}
}

// Reload keeps the fds of unchanged sockets and binds changed ones again.
func TestReloadKeepsUnchangedListeners(t *testing.T) {
	h := newHarness(t, map[string]string{
		"a.socket":  "[Socket]\nListenStream=@TMP@/a.sock\n",
		"a.service": "[Service]\nExecStart=/bin/true\n",
		"b.socket":  "[Socket]\nListenStream=@TMP@/b.sock\n",
		"b.service": "[Service]\nExecStart=/bin/true\n",
	})
	before := map[string]int{}
	for _, s := range h.status().Sockets {
		before[s.Name] = s.Listen[0].FD
	}
	os.WriteFile(filepath.Join(h.dir, "b.socket"), []byte("[Socket]\nListenStream="+h.tmp+"/b2.sock\n"), 0o644)
	os.WriteFile(filepath.Join(h.dir, "c.socket"), []byte("[Socket]\nListenStream="+h.tmp+"/c.sock\n"), 0o644)
	os.WriteFile(filepath.Join(h.dir, "c.service"), []byte("[Service]\nExecStart=/bin/true\n"), 0o644)
	if err := h.sup.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	after := map[string]SocketStatus{}
	for _, s := range h.status().Sockets {
		after[s.Name] = s
	}
	if after["a.socket"].Listen[0].FD != before["a.socket"] {
		t.Errorf("a.socket fd changed %d → %d", before["a.socket"], after["a.socket"].Listen[0].FD)
	}
	if got := after["b.socket"].Listen[0].Address; !strings.HasSuffix(got, "/b2.sock") {
		t.Errorf("b.socket listens on %s after reload", got)
	}
	if after["c.socket"].State != SocketListening {
		t.Errorf("c.socket = %+v", after["c.socket"])
	}
}

// A broken unit is reported and the others keep working.
func TestBrokenUnitDoesNotStopOthers(t *testing.T) {
	port := freePort(t, "tcp")
	h := newHarness(t, map[string]string{
		"bad.socket":    "[Socket]\nAccept=yes\n",
		"taken.socket":  fmt.Sprintf("[Socket]\nListenStream=127.0.0.1:%d\nListenStream=127.0.0.1:%d\n", port, port),
		"taken.service": "[Service]\nExecStart=/bin/true\n",
		"ok.socket":     "[Socket]\nListenStream=@TMP@/ok.sock\n",
		"ok.service":    "[Service]\nExecStart=/bin/true\n",
	})
	st := map[string]SocketStatus{}
	for _, s := range h.status().Sockets {
		st[s.Name] = s
	}
	if st["ok.socket"].State != SocketListening {
		t.Errorf("ok.socket = %+v", st["ok.socket"])
	}
	if s := st["taken.socket"]; s.State != SocketFailed || !strings.Contains(s.Reason, "address already in use") {
		t.Errorf("taken.socket = %+v", s)
	}
	if _, ok := st["bad.socket"]; ok {
		t.Errorf("bad.socket (no Listen*=) was loaded")
	}
}

// DeferAcceptSec= works end to end: a client that connects and sends
// nothing starts no process; once it sends, the instance starts.
func TestDeferAccept(t *testing.T) {
	port := freePort(t, "tcp")
	h := newHarness(t, map[string]string{
		"d.socket":   fmt.Sprintf("[Socket]\nListenStream=127.0.0.1:%d\nAccept=yes\nDeferAcceptSec=30\n", port),
		"d@.service": "[Service]\nExecStart=/bin/cat\nStandardInput=socket\n",
	})
	idle, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	talk, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer talk.Close()
	fmt.Fprintln(talk, "data")
	talk.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := bufio.NewReader(talk).ReadString('\n'); err != nil || line != "data\n" {
		t.Fatalf("talking client: %q %v", line, err)
	}
	// The silent client was never accepted: exactly one instance ran.
	if st := h.socket("d.socket"); st.Accepted != 1 {
		t.Errorf("accepted %d connections, want 1 (the silent one must wait)", st.Accepted)
	}
}

// MaxConnectionsPerSource= counts per peer uid for AF_UNIX (systemd v256+):
// past the limit a connection from the same source is closed at once.
func TestMaxConnectionsPerSource(t *testing.T) {
	h := newHarness(t, map[string]string{
		"ps.socket": "[Socket]\nListenStream=@TMP@/ps.sock\nAccept=yes\nMaxConnectionsPerSource=1\n",
		"ps@.service": `[Service]
ExecStart=@HELPER@
Environment=SOCKD_TEST_HELPER=hold
StandardInput=socket
`,
	})
	path := filepath.Join(h.tmp, "ps.sock")
	first, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	h.waitFor("first instance", func() bool { return h.socket("ps.socket").Connections == 1 })
	second, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	second.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := second.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("second connection from the same uid: %v, want EOF", err)
	}
	second.Close()
	if st := h.socket("ps.socket"); st.Refused != 1 {
		t.Errorf("refused = %d", st.Refused)
	}
}

// PollLimit*=: past the burst, polling the fd pauses until the window
// ends, without failing the socket.
func TestPollLimitPauses(t *testing.T) {
	h := newHarness(t, map[string]string{
		"pl.socket":   "[Socket]\nListenStream=@TMP@/pl.sock\nAccept=yes\nPollLimitIntervalSec=1s\nPollLimitBurst=3\nTriggerLimitIntervalSec=0\n",
		"pl@.service": "[Service]\nExecStart=/bin/true\nStandardInput=socket\n",
	})
	path := filepath.Join(h.tmp, "pl.sock")
	for i := 0; i < 5; i++ {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil { // served, one poll event each
			t.Errorf("connection %d: %v", i, err)
		}
		c.Close()
	}
	// The 4th event was over the burst: polling paused for the rest of the
	// window, then resumed, and every connection was served.
	if n := h.logs.FilterMessage("poll limit hit, pausing").Len(); n != 1 {
		t.Errorf("%d poll limit pauses logged, want 1", n)
	}
	if st := h.socket("pl.socket"); st.Accepted != 5 || st.State != SocketListening || st.Listen[0].Paused {
		t.Errorf("after the window: %+v", st)
	}
}

// FlushPending=yes: what the service leaves queued is dropped when it
// exits, instead of starting it again.
func TestFlushPending(t *testing.T) {
	h := newHarness(t, map[string]string{
		"fp.socket": "[Socket]\nListenStream=@TMP@/fp.sock\nFlushPending=yes\n",
		"fp.service": `[Service]
ExecStart=@HELPER@
Environment=SOCKD_TEST_HELPER=exit HELPER_CODE=0
`,
	})
	var conns []net.Conn
	for i := 0; i < 3; i++ {
		c := h.dialUnix("fp.sock")
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("queued connection: %v, want EOF (flushed)", err)
		}
		c.Close()
	}
	if st := h.socket("fp.socket"); st.Activations != 1 || st.State != SocketListening {
		t.Errorf("status %+v, want one activation and listening", st)
	}
}

// EnvironmentFile= (read at every start; "-" optional) and Environment=;
// the file wins; Sockets= passes another socket's fds too.
func TestEnvironmentFileAndSockets(t *testing.T) {
	h := newHarness(t, map[string]string{
		"e.socket":      "[Socket]\nListenStream=@TMP@/e.sock\nFileDescriptorName=main\n",
		"extra.socket":  "[Socket]\nListenStream=@TMP@/extra.sock\nFileDescriptorName=extra\nService=other.service\n",
		"other.service": "[Service]\nExecStart=/bin/true\n",
		"e.service": `[Service]
ExecStart=@HELPER@
Sockets=extra.socket
Environment=SOCKD_TEST_HELPER=report A=from-unit B=from-unit
EnvironmentFile=@TMP@/env
EnvironmentFile=-@TMP@/missing
`,
	})
	os.WriteFile(filepath.Join(h.tmp, "env"), []byte("# comment\nB=from-file\nC=\"quoted value\"\n"), 0o644)
	c := h.dialUnix("e.sock")
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	rep := readReport(t, c)
	if rep.Env["A"] != "from-unit" || rep.Env["B"] != "from-file" || rep.Env["C"] != "quoted value" {
		t.Errorf("env A=%q B=%q C=%q", rep.Env["A"], rep.Env["B"], rep.Env["C"])
	}
	if rep.Env["LISTEN_FDNAMES"] != "main:extra" || rep.Listeners != 2 {
		t.Errorf("LISTEN_FDNAMES=%q listeners=%d", rep.Env["LISTEN_FDNAMES"], rep.Listeners)
	}
}

// Two socket units activating one service: the service gets both sockets'
// fds, and neither socket is watched while it runs.
func TestTwoSocketsOneService(t *testing.T) {
	h := newHarness(t, map[string]string{
		"one.socket": "[Socket]\nListenStream=@TMP@/one.sock\nService=both.service\n",
		"two.socket": "[Socket]\nListenStream=@TMP@/two.sock\nService=both.service\n",
		"both.service": `[Service]
ExecStart=@HELPER@
Environment=SOCKD_TEST_HELPER=report
`,
	})
	c := h.dialUnix("one.sock")
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	rep := readReport(t, c)
	if rep.Env["LISTEN_FDNAMES"] != "one.socket:two.socket" {
		t.Errorf("LISTEN_FDNAMES=%q", rep.Env["LISTEN_FDNAMES"])
	}
	for _, name := range []string{"one.socket", "two.socket"} {
		if st := h.socket(name); st.State != SocketRunning {
			t.Errorf("%s: %s while its service runs", name, st.State)
		}
	}
	// The second socket is served by the same process.
	c2 := h.dialUnix("two.sock")
	defer c2.Close()
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if r := readReport(t, c2); r.Pid != rep.Pid {
		t.Errorf("second socket served by pid %d, want %d", r.Pid, rep.Pid)
	}
}

// forkServers lists the pids of this process's children that run as the
// spawner's fork server.
func forkServers(t *testing.T) []int {
	t.Helper()
	var pids []int
	for _, c := range testutil.Children(t) {
		cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(c.Pid) + "/cmdline")
		if bytes.HasPrefix(cmd, []byte("sockd-fork-server\x00")) {
			pids = append(pids, c.Pid)
		}
	}
	return pids
}
