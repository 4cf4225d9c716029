package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/internal/testutil"
	"github.com/sockd/sockd/spawner"
)

// The test binary doubles as the services sockd starts: a unit sets
// SOCKD_TEST_HELPER=name in Environment= and ExecStart= runs this binary.
// A helper that no test uses fails the run (see TestMain), so they cannot
// go stale.
var helpers = map[string]func(args []string){
	"report":       helperReport,
	"serve-n":      helperServeN,
	"dgram-report": helperDgramReport,
	"exit":         helperExit,
	"conn-report":  helperConnReport,
	"hold":         helperHold,
	"ignore-term":  helperIgnoreTerm,
	"notify":       helperNotify,
	"notify-child": helperNotifyChild,
	"fdstore":      helperFDStore,
}

var usedHelpers sync.Map

func TestMain(m *testing.M) {
	spawner.MaybeRunHelper()
	if name := os.Getenv("SOCKD_TEST_HELPER"); name != "" {
		f := helpers[name]
		if f == nil {
			fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
			os.Exit(99)
		}
		f(os.Args[1:])
		os.Exit(0)
	}
	code := m.Run()
	// Only a full run can tell that a helper went unused.
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && flag.Lookup("test.skip").Value.String() == "" {
		for name := range helpers {
			if _, ok := usedHelpers.Load(name); !ok {
				fmt.Fprintf(os.Stderr, "helper %q is registered but no test uses it\n", name)
				code = 1
			}
		}
	}
	os.Exit(code)
}

// Report is what helper services tell the tests about themselves.
type Report struct {
	Pid        int               `json:"pid"`
	Env        map[string]string `json:"env"`
	FDs        []string          `json:"fds"` // "N:target" for every open fd
	Listeners  int               `json:"listeners"`
	Packets    int               `json:"packets"`
	Names      []string          `json:"names"`
	Datagram   string            `json:"datagram,omitempty"`
	SigBlocked string            `json:"sig_blocked"`
	SigIgnored string            `json:"sig_ignored"`
	Pgid       int               `json:"pgid"`
}

func selfReport() Report {
	r := Report{Pid: os.Getpid(), Env: map[string]string{}}
	for _, kv := range os.Environ() {
		if i := strings.IndexByte(kv, '='); i > 0 {
			r.Env[kv[:i]] = kv[i+1:]
		}
	}
	dir, _ := os.Open("/proc/self/fd")
	names, _ := dir.Readdirnames(-1)
	for _, name := range names {
		n, _ := strconv.Atoi(name)
		target, _ := os.Readlink("/proc/self/fd/" + name)
		// Skip the fds this helper's own Go runtime opened (its cgroup CPU
		// limit files) and the directory being read; TestChildFDsExact
		// checks the exact list with a program that opens nothing.
		if strings.HasPrefix(target, "/sys/fs/cgroup/") || n == int(dir.Fd()) {
			continue
		}
		r.FDs = append(r.FDs, fmt.Sprintf("%d:%s", n, target))
	}
	dir.Close()
	sort.Slice(r.FDs, func(i, j int) bool {
		a, _ := strconv.Atoi(strings.SplitN(r.FDs[i], ":", 2)[0])
		b, _ := strconv.Atoi(strings.SplitN(r.FDs[j], ":", 2)[0])
		return a < b
	})
	if st, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(line, "SigBlk:"); ok {
				r.SigBlocked = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
				r.SigIgnored = strings.TrimSpace(v)
			}
		}
	}
	r.Pgid, _ = syscallGetpgid()
	return r
}

// helperReport takes the fds with go-systemd's activation package (which
// checks LISTEN_PID), answers every connection on every stream listener
// with its report, and every datagram with the report plus the datagram.
// It takes the report before go-systemd runs, as fds are counted then.
func helperReport([]string) {
	rep := selfReport()
	files := activation.Files(false)
	var lns []net.Listener
	var pcs []net.PacketConn
	for _, f := range files {
		rep.Names = append(rep.Names, f.Name())
		if l, err := net.FileListener(f); err == nil {
			lns = append(lns, l)
		} else if pc, err := net.FilePacketConn(f); err == nil {
			pcs = append(pcs, pc)
		}
	}
	rep.Listeners, rep.Packets = len(lns), len(pcs)
	for _, l := range lns {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				json.NewEncoder(c).Encode(rep)
				c.Close()
			}
		}()
	}
	for _, pc := range pcs {
		go func() {
			buf := make([]byte, 65536)
			for {
				n, addr, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				r := rep
				r.Datagram = string(buf[:n])
				b, _ := json.Marshal(r)
				pc.WriteTo(b, addr)
			}
		}()
	}
	time.Sleep(time.Duration(envInt("HELPER_LIFETIME_MS", 30000)) * time.Millisecond)
}

// helperServeN accepts N connections on fd 3, answers each with its pid,
// then exits, leaving the rest queued for the next start.
func helperServeN([]string) {
	ls, err := activation.Listeners()
	if err != nil || len(ls) == 0 {
		fmt.Fprintln(os.Stderr, "serve-n: no listener:", err)
		os.Exit(3)
	}
	n := envInt("HELPER_N", 1)
	for i := 0; i < n; i++ {
		c, err := ls[0].Accept()
		if err != nil {
			os.Exit(4)
		}
		r := bufio.NewReader(c)
		line, _ := r.ReadString('\n')
		fmt.Fprintf(c, "%d %s", os.Getpid(), line)
		c.Close()
	}
}

// helperDgramReport reads one datagram from fd 3 and answers it.
func helperDgramReport([]string) { helperReport(nil) }

func helperExit(args []string) {
	fmt.Println("exiting with", os.Getenv("HELPER_CODE"))
	os.Exit(envInt("HELPER_CODE", 0))
}

// helperConnReport writes its report to the connection on fd 3 (Accept=yes
// without StandardInput=socket) and exits.
func helperConnReport([]string) {
	rep := selfReport()
	files := activation.Files(true)
	if len(files) != 1 {
		os.Exit(5)
	}
	rep.Names = []string{files[0].Name()}
	json.NewEncoder(files[0]).Encode(rep)
}

// helperHold keeps its connection (stdin) until the client closes it.
func helperHold([]string) {
	io.Copy(io.Discard, os.Stdin)
}

// helperIgnoreTerm ignores SIGTERM, so only SIGKILL ends it.
func helperIgnoreTerm([]string) {
	ignoreSIGTERM()
	fmt.Println("ignoring SIGTERM")
	time.Sleep(time.Minute)
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

// harness runs an in-process supervisor on a unit directory.
type harness struct {
	t      testing.TB
	dir    string // unit directory
	tmp    string // short scratch directory for sockets
	sup    *Supervisor
	logs   *observer.ObservedLogs
	cancel context.CancelFunc
	done   chan error
}

// newHarness writes units (name → text; "@HELPER@" is replaced by this
// test binary's path, "@TMP@" by a short scratch directory) and starts a
// supervisor on them.
func newHarness(t testing.TB, unitFiles map[string]string, opts ...func(*Options)) *harness {
	t.Helper()
	tmp, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	dir := filepath.Join(tmp, "units")
	os.Mkdir(dir, 0o755)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range unitFiles {
		text = strings.ReplaceAll(text, "@HELPER@", exe)
		text = strings.ReplaceAll(text, "@TMP@", tmp)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		for h := range helpers {
			if strings.Contains(text, "SOCKD_TEST_HELPER="+h) {
				usedHelpers.Store(h, true)
			}
		}
	}
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	if testing.Verbose() {
		log = zap.New(zapCoreTee(core))
	}
	cfg := config.Default(false)
	cfg.Defaults.TimeoutStopSec.Duration = 5 * time.Second
	o := Options{Config: cfg, UnitDirs: []string{dir}, Logger: log}
	for _, f := range opts {
		f(&o)
	}
	sup, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, dir: dir, tmp: tmp, sup: sup, logs: logs, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	sup.opts.OnReady = func() { close(ready) }
	go func() { h.done <- sup.Run(ctx) }()
	select {
	case <-ready:
	case err := <-h.done:
		t.Fatalf("supervisor exited: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("supervisor not ready")
	}
	t.Cleanup(h.stop)
	return h
}

// dialUnix connects to the AF_UNIX socket name in the harness's directory.
func (h *harness) dialUnix(name string) net.Conn {
	h.t.Helper()
	c, err := net.Dial("unix", filepath.Join(h.tmp, name))
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("supervisor: %v", err)
		}
	case <-time.After(20 * time.Second):
		h.t.Error("supervisor did not stop")
	}
}

func (h *harness) status() Status {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := h.sup.Status(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

// mainPID waits for a service to run and returns its main pid.
func (h *harness) mainPID(name string) int {
	h.t.Helper()
	var pid int
	h.waitFor(name+" running", func() bool {
		for _, sv := range h.status().Services {
			if sv.Name == name && sv.MainPID != 0 {
				pid = sv.MainPID
				return true
			}
		}
		return false
	})
	return pid
}

// statusText returns a service's STATUS= text.
func (h *harness) statusText(name string) string {
	var text string
	h.sup.call(h.t.Context(), func() {
		if sv := h.sup.services[name]; sv != nil {
			text = sv.statusText
		}
	})
	return text
}

func (h *harness) socket(name string) SocketStatus {
	h.t.Helper()
	for _, s := range h.status().Sockets {
		if s.Name == name {
			return s
		}
	}
	h.t.Fatalf("no socket %s", name)
	return SocketStatus{}
}

// waitFor polls cond (an event-driven wait would need hooks into the
// supervisor; polling status is cheap and bounded).
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB, network string) int { return testutil.FreePort(t, network) }

func readReport(t *testing.T, r io.Reader) Report {
	t.Helper()
	var rep Report
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		t.Fatalf("reading report: %v", err)
	}
	return rep
}

// helperNotify waits HELPER_DELAY_MS, then sends STATUS= and READY=1 with
// go-systemd's daemon package; with HELPER_WATCHDOG=1 it then pings the
// watchdog HELPER_PINGS times and stops pinging.
func helperNotify([]string) {
	time.Sleep(time.Duration(envInt("HELPER_DELAY_MS", 0)) * time.Millisecond)
	daemon.SdNotify(false, "STATUS=warming up")
	daemon.SdNotify(false, daemon.SdNotifyReady+"\nSTATUS=serving")
	for i := 0; i < envInt("HELPER_PINGS", 0); i++ {
		time.Sleep(50 * time.Millisecond)
		daemon.SdNotify(false, daemon.SdNotifyWatchdog)
	}
	time.Sleep(time.Minute)
}

// helperNotifyChild has a child process (not the main one) send READY=1.
func helperNotifyChild([]string) {
	exe, _ := os.Executable()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "SOCKD_TEST_HELPER=notify", "HELPER_DELAY_MS=0")
	cmd.Start()
	time.Sleep(time.Minute)
}

// helperFDStore: with no stored fd it accepts one connection on its
// listener, parks it in sockd's fd store (FDSTORE=1, FDNAME=conn) and
// exits 1; started again, it finds the connection among its fds by name
// and answers on it.
func helperFDStore([]string) {
	files := activation.Files(true)
	for _, f := range files {
		if f.Name() == "conn" {
			fmt.Fprintf(f, "survived restart, pid %d\n", os.Getpid())
			f.Close()
			time.Sleep(time.Minute)
			return
		}
	}
	l, err := net.FileListener(files[0])
	if err != nil {
		os.Exit(6)
	}
	c, err := l.Accept()
	if err != nil {
		os.Exit(7)
	}
	raw, _ := c.(*net.UnixConn).File()
	// sd_pid_notify_with_fds, by hand: one datagram with SCM_RIGHTS.
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		os.Exit(8)
	}
	name := os.Getenv("NOTIFY_SOCKET")
	if strings.HasPrefix(name, "@") {
		name = "\x00" + name[1:]
	}
	rights := syscall.UnixRights(int(raw.Fd()))
	if err := syscall.Sendmsg(fd, []byte("FDSTORE=1\nFDNAME=conn"), rights, &syscall.SockaddrUnix{Name: name}, 0); err != nil {
		fmt.Fprintln(os.Stderr, "fdstore send:", err)
		os.Exit(9)
	}
	os.Exit(1)
}
