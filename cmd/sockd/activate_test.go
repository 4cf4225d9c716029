package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// activateHelperEnv makes the test binary the command under test: it
// describes what it was given (pid, environment, socket fds) to the
// client that triggered it, then exits with $HELPER_EXIT.
const activateHelperEnv = "SOCKD_ACTIVATE_HELPER"

func init() {
	if mode := os.Getenv(activateHelperEnv); mode != "" {
		os.Exit(activateHelper(mode))
	}
}

type fdInfo struct {
	FD        int    `json:"fd"`
	Type      int    `json:"type"`
	Listening bool   `json:"listening"`
	Local     string `json:"local"`
}

type helperReport struct {
	PID  int               `json:"pid"`
	Env  map[string]string `json:"env"`
	FDs  []fdInfo          `json:"fds"`
	Args []string          `json:"args"`
}

func sockaddrString(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *unix.SockaddrInet6:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *unix.SockaddrUnix:
		return a.Name
	}
	return fmt.Sprintf("%T", sa)
}

func activateHelper(mode string) int {
	rep := helperReport{PID: os.Getpid(), Env: map[string]string{}, Args: os.Args[1:]}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		rep.Env[k] = v
	}
	for fd := 0; fd < 32; fd++ {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
			continue
		}
		typ, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		acc, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
		sa, _ := unix.Getsockname(fd)
		rep.FDs = append(rep.FDs, fdInfo{FD: fd, Type: typ, Listening: acc == 1, Local: sockaddrString(sa)})
	}
	b, _ := json.Marshal(rep)
	b = append(b, '\n')
	switch mode {
	case "listener": // fd 3 is a listening stream socket
		c, _, err := unix.Accept(3)
		if err != nil {
			return 100
		}
		unix.Write(c, b)
		unix.Close(c)
	case "datagram": // fd 3 is a datagram socket
		buf := make([]byte, 512)
		_, from, err := unix.Recvfrom(3, buf, 0)
		if err != nil {
			return 100
		}
		unix.Sendto(3, b, 0, from)
	case "conn": // fd 3 is the connection
		unix.Write(3, b)
	case "inetd": // stdin and stdout are the connection
		os.Stdout.Write(b)
	}
	code, _ := strconv.Atoi(os.Getenv("HELPER_EXIT"))
	return code
}

// activateProc is a running systemd-socket-activate or sockd activate.
type activateProc struct {
	cmd    *exec.Cmd
	stderr *strings.Builder
	mu     *sync.Mutex
	exit   chan int
}

func startActivator(t *testing.T, sockd bool, args []string) *activateProc {
	t.Helper()
	var cmd *exec.Cmd
	ready := "Listening on"
	if sockd {
		cmd = sockdCmd(t, append([]string{"activate"}, args...)...)
		ready = "sockd ready"
	} else {
		cmd = exec.Command("systemd-socket-activate", args...)
	}
	cmd.Env = append(cmd.Environ(), "PASSME=from-caller")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &activateProc{cmd: cmd, stderr: &strings.Builder{}, mu: &sync.Mutex{}, exit: make(chan int, 1)}
	readyc := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pipe)
		once := sync.Once{}
		for sc.Scan() {
			a.mu.Lock()
			a.stderr.WriteString(sc.Text() + "\n")
			a.mu.Unlock()
			if strings.Contains(sc.Text(), ready) {
				once.Do(func() { close(readyc) })
			}
		}
		cmd.Wait()
		a.exit <- cmd.ProcessState.ExitCode()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			a.mu.Lock()
			t.Logf("%v stderr:\n%s", cmd.Args, a.stderr.String())
			a.mu.Unlock()
		}
	})
	select {
	case <-readyc:
		time.Sleep(50 * time.Millisecond) // "Listening on" precedes the last bind
	case code := <-a.exit:
		a.exit <- code
	case <-time.After(15 * time.Second):
		t.Fatalf("%v: not ready", args)
	}
	return a
}

func (a *activateProc) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-a.exit:
		return code
	case <-time.After(15 * time.Second):
		t.Fatal("activator did not exit")
		return -1
	}
}

func (a *activateProc) stop() {
	a.cmd.Process.Signal(unix.SIGTERM)
	select {
	case <-a.exit:
	case <-time.After(10 * time.Second):
		a.cmd.Process.Kill()
	}
}

func readReport(t *testing.T, c net.Conn) helperReport {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil && err != io.EOF {
		t.Fatalf("reading the report: %v", err)
	}
	var rep helperReport
	if err := json.Unmarshal(line, &rep); err != nil {
		t.Fatalf("report %q: %v", line, err)
	}
	return rep
}

// normalise turns what may differ between two correct runs (pids) into
// what must not: LISTEN_PID equal to the command's own pid.
func normalise(t *testing.T, rep helperReport) helperReport {
	if p, ok := rep.Env["LISTEN_PID"]; ok {
		if p != strconv.Itoa(rep.PID) {
			t.Errorf("LISTEN_PID=%s, but the command's pid is %d", p, rep.PID)
		}
		rep.Env["LISTEN_PID"] = "<own pid>"
	}
	rep.PID = 0
	return rep
}

// Side by side: the same command line through systemd-socket-activate and
// sockd activate gives the command the same fds, environment and exit
// status, and the same errors for bad flag combinations.
func TestActivateMatchesSystemd(t *testing.T) {
	if _, err := exec.LookPath("systemd-socket-activate"); err != nil {
		t.Skip("systemd-socket-activate not installed")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "sa")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)

	type conn struct {
		network string
		addr    string
	}
	tests := []struct {
		name  string
		flags func(p1, p2 int) []string
		mode  string
		dial  func(p1, p2 int) conn
		conns int // connections (each gets a report); -a only
		exit  string
	}{
		{
			name: "two listeners, fdnames, setenv, passthrough, exit status",
			flags: func(p1, p2 int) []string {
				return []string{"-l", fmt.Sprintf("127.0.0.1:%d", p1), "-l", fmt.Sprint(p2), "--fdname=web:admin", "-E", "FOO=bar baz", "-E", "PASSME", "-E", "UNSET_HERE"}
			},
			mode: "listener", dial: func(p1, _ int) conn { return conn{"tcp", fmt.Sprintf("127.0.0.1:%d", p1)} },
			exit: "3",
		},
		{
			name:  "one listener, no fdname",
			flags: func(p1, _ int) []string { return []string{"-l", fmt.Sprintf("127.0.0.1:%d", p1)} },
			mode:  "listener", dial: func(p1, _ int) conn { return conn{"tcp", fmt.Sprintf("127.0.0.1:%d", p1)} },
		},
		{
			name: "one fdname for every fd",
			flags: func(p1, p2 int) []string {
				return []string{"-l", fmt.Sprintf("127.0.0.1:%d", p1), "-l", fmt.Sprintf("127.0.0.1:%d", p2), "--fdname", "same"}
			},
			mode: "listener", dial: func(p1, _ int) conn { return conn{"tcp", fmt.Sprintf("127.0.0.1:%d", p1)} },
		},
		{
			name:  "unix path listener",
			flags: func(int, int) []string { return []string{"-l", filepath.Join(dir, "s.sock")} },
			mode:  "listener", dial: func(int, int) conn { return conn{"unix", filepath.Join(dir, "s.sock")} },
		},
		{
			name:  "seqpacket",
			flags: func(int, int) []string { return []string{"--seqpacket", "-l", filepath.Join(dir, "s.sock")} },
			mode:  "listener", dial: func(int, int) conn { return conn{"unixpacket", filepath.Join(dir, "s.sock")} },
		},
		{
			name:  "datagram",
			flags: func(p1, _ int) []string { return []string{"-d", "-l", fmt.Sprintf("127.0.0.1:%d", p1)} },
			mode:  "datagram", dial: func(p1, _ int) conn { return conn{"udp", fmt.Sprintf("127.0.0.1:%d", p1)} },
		},
		{
			name: "accept, one instance per connection",
			flags: func(p1, _ int) []string {
				return []string{"-a", "-l", fmt.Sprintf("127.0.0.1:%d", p1), "--fdname", "conn"}
			},
			mode: "conn", dial: func(p1, _ int) conn { return conn{"tcp", fmt.Sprintf("127.0.0.1:%d", p1)} },
			conns: 2,
		},
		{
			name:  "accept, inetd",
			flags: func(p1, _ int) []string { return []string{"-a", "--inetd", "-l", fmt.Sprintf("127.0.0.1:%d", p1)} },
			mode:  "inetd", dial: func(p1, _ int) conn { return conn{"tcp", fmt.Sprintf("127.0.0.1:%d", p1)} },
			conns: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p1, p2 := freePort(t, "tcp"), freePort(t, "tcp")
			var reports [2][]helperReport
			var codes [2]int
			for i, sockd := range []bool{false, true} {
				os.Remove(filepath.Join(dir, "s.sock"))
				args := append(tt.flags(p1, p2), "-E", activateHelperEnv+"="+tt.mode, "-E", "HELPER_EXIT="+tt.exit, "--", exe, "arg one", "two")
				a := startActivator(t, sockd, args)
				n := max(tt.conns, 1)
				for range n {
					d := tt.dial(p1, p2)
					c, err := net.DialTimeout(d.network, d.addr, 5*time.Second)
					if err != nil {
						t.Fatalf("sockd=%v: %v", sockd, err)
					}
					if d.network == "udp" {
						c.Write([]byte("hi"))
					}
					reports[i] = append(reports[i], normalise(t, readReport(t, c)))
					c.Close()
				}
				if tt.conns == 0 {
					codes[i] = a.wait(t)
				} else {
					a.stop()
				}
			}
			if !reflect.DeepEqual(reports[0], reports[1]) {
				a, _ := json.MarshalIndent(reports[0], "", "  ")
				b, _ := json.MarshalIndent(reports[1], "", "  ")
				t.Errorf("systemd-socket-activate gave\n%s\nsockd activate gave\n%s", a, b)
			}
			if codes[0] != codes[1] {
				t.Errorf("exit status: systemd-socket-activate %d, sockd activate %d", codes[0], codes[1])
			}
		})
	}

	// Flag errors: both refuse, with exit status 1. (--inetd with several
	// listeners and no -a is refused only by systemd >= 253.)
	for _, args := range [][]string{
		{"-l", "127.0.0.1:1", "-d", "-a", "/bin/true"},
		{"-l", "127.0.0.1:1", "-d", "--seqpacket", "/bin/true"},
		{"-l", "127.0.0.1:1"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		sa := exec.CommandContext(ctx, "systemd-socket-activate", args...)
		sa.Run()
		cancel()
		sd := sockdCmd(t, append([]string{"activate"}, args...)...)
		out, _ := sd.CombinedOutput()
		if sa.ProcessState.ExitCode() != sd.ProcessState.ExitCode() {
			t.Errorf("%v: systemd-socket-activate exit %d, sockd activate exit %d (%s)", args, sa.ProcessState.ExitCode(), sd.ProcessState.ExitCode(), out)
		}
	}
}
