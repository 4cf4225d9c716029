package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/sockd/sockd/supervisor"
)

// fakeSupervisor records actions and answers with a fixed status.
type fakeSupervisor struct {
	mu      sync.Mutex
	actions []string
	status  supervisor.Status
}

func (f *fakeSupervisor) record(a string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, a)
	words := strings.Fields(a)
	name := words[len(words)-1]
	if strings.HasPrefix(name, "missing") {
		return fmt.Errorf("%s: %w", name, supervisor.ErrNoSuchUnit)
	}
	if strings.Contains(a, "@") {
		return fmt.Errorf("%s: %w", name, supervisor.ErrNotAllowed)
	}
	return nil
}

func (f *fakeSupervisor) Status(context.Context) (supervisor.Status, error) { return f.status, nil }
func (f *fakeSupervisor) StartUnit(_ context.Context, n string) error       { return f.record("start " + n) }
func (f *fakeSupervisor) StopUnit(_ context.Context, n string) error        { return f.record("stop " + n) }
func (f *fakeSupervisor) RestartUnit(_ context.Context, n string) error {
	return f.record("restart " + n)
}
func (f *fakeSupervisor) ReloadUnit(_ context.Context, n string) error {
	return f.record("reload " + n)
}
func (f *fakeSupervisor) Reload(context.Context) error { return f.record("reload") }
func (f *fakeSupervisor) ResetFailed(_ context.Context, n ...string) error {
	return f.record("reset-failed " + strings.Join(n, " "))
}

func testServer(t *testing.T) (*Server, *fakeSupervisor, *Client) {
	t.Helper()
	f := &fakeSupervisor{status: supervisor.Status{
		Sockets: []supervisor.SocketStatus{
			{Name: "a.socket", State: supervisor.SocketListening, Service: "a.service", Accepted: 3,
				Listen: []supervisor.ListenStatus{{Address: "127.0.0.1:1", FD: 3, Paused: true}}},
			{Name: "e.socket", State: supervisor.SocketListening, Accept: true, Service: "e@.service"},
		},
		Services: []supervisor.ServiceStatus{{Name: "a.service", State: supervisor.ServiceActive, MainPID: 7}},
	}}
	path := filepath.Join(t.TempDir(), "ctl.sock")
	s, err := Listen(Options{Path: path, Supervisor: f, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, f, NewClient(path)
}

func TestServerEndpoints(t *testing.T) {
	s, f, c := testServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	u, err := c.Units(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Sockets) != 2 || u.Sockets[0].State != "paused" || u.Sockets[0].Accepted != 3 || u.Services[0].MainPID != 7 {
		t.Errorf("units = %+v", u)
	}
	s.opts.Ring.Add(Entry{Unit: "a.service", Message: "line"})
	one, err := c.Unit(ctx, "a.service", 10)
	if err != nil || one.Service == nil || !one.Active() || len(one.Log) != 1 {
		t.Errorf("unit = %+v, %v", one, err)
	}
	if _, err := c.Unit(ctx, "missing.service", 10); !errors.Is(err, supervisor.ErrNoSuchUnit) {
		t.Errorf("unknown unit: %v", err)
	}
	// Every unit with its log in one request; an instance's lines count
	// for its template's socket's service too.
	s.opts.Ring.Add(Entry{Unit: "a.service", Message: "line 2"})
	s.opts.Ring.Add(Entry{Unit: "a.socket", Message: "listening"})
	all, err := c.Status(ctx, 1)
	if err != nil || len(all) != 3 {
		t.Fatalf("status = %+v, %v", all, err)
	}
	var got []string
	for _, u := range all {
		got = append(got, fmt.Sprintf("%s%q", u.Name(), messages(u.Log)))
	}
	if want := `a.socket["listening"] e.socket[] a.service["line 2"]`; strings.Join(got, " ") != want {
		t.Errorf("status = %s, want %s", strings.Join(got, " "), want)
	}

	tests := []struct {
		do   func() error
		want error
	}{
		{func() error { return c.Action(ctx, "start", "a.service") }, nil},
		{func() error { return c.Action(ctx, "stop", "a.socket") }, nil},
		{func() error { return c.Action(ctx, "restart", "a.service") }, nil},
		{func() error { return c.Action(ctx, "reload", "a.service") }, nil},
		{func() error { return c.Action(ctx, "start", "missing.service") }, supervisor.ErrNoSuchUnit},
		{func() error { return c.Action(ctx, "start", "e@.service") }, supervisor.ErrNotAllowed},
		{func() error { return c.Action(ctx, "frob", "a.service") }, supervisor.ErrNoSuchUnit}, // 404
		{func() error { return c.Reload(ctx) }, nil},
		{func() error { return c.ResetFailed(ctx) }, nil},
		{func() error { return c.ResetFailed(ctx, "a.service", "e.socket") }, nil},
	}
	for i, tt := range tests {
		if err := tt.do(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("case %d: %v, want %v", i, err, tt.want)
		}
	}
	want := "[start a.service stop a.socket restart a.service reload a.service start missing.service start e@.service reload reset-failed  reset-failed a.service e.socket]"
	if got := fmt.Sprint(f.actions); got != want {
		t.Errorf("actions:\n got %s\nwant %s", got, want)
	}

	var lines []string
	err = c.Log(ctx, "a.service", -1, false, func(e Entry) error { lines = append(lines, e.Message); return nil })
	if err != nil || fmt.Sprint(lines) != "[line line 2]" {
		t.Errorf("log: %v %v", lines, err)
	}
	if err := c.Log(ctx, "nothing.service", -1, false, func(Entry) error { return nil }); !errors.Is(err, supervisor.ErrNoSuchUnit) {
		t.Errorf("log of an unknown unit: %v", err)
	}
	if err := c.Log(ctx, "e@.service", -1, false, func(Entry) error { return nil }); err != nil {
		t.Errorf("log of a template with no instance yet: %v", err)
	}
	text, err := c.Metrics(ctx)
	if err != nil || !strings.Contains(text, `sockd_socket_state{state="paused",unit="a.socket"} 1`) ||
		!strings.Contains(text, `sockd_service_running_instances{unit="a.service"} 1`) {
		t.Errorf("metrics: %v\n%s", err, text)
	}
}

func TestServerFollow(t *testing.T) {
	s, _, c := testServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 10)
	done := make(chan error, 1)
	go func() {
		done <- c.Log(ctx, "a.service", 10, true, func(e Entry) error { got <- e.Message; return nil })
	}()
	// Entries logged after the follow started arrive; wait for the
	// subscription by logging until one does.
	deadline := time.After(10 * time.Second)
	for i := 0; ; i++ {
		s.opts.Ring.Add(Entry{Unit: "a.service", Message: fmt.Sprint("m", i)})
		select {
		case <-got:
			cancel()
			if err := <-done; err != nil {
				t.Errorf("follow ended with %v", err)
			}
			return
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatal("follow delivered nothing")
		}
	}
}

func TestListenSocketLifecycle(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "ctl.sock")
	f := &fakeSupervisor{}
	s, err := Listen(Options{Path: path, Supervisor: f})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode: %v %v", fi, err)
	}
	if _, err := Listen(Options{Path: path, Supervisor: f}); err == nil || !strings.Contains(err.Error(), "another sockd") {
		t.Errorf("second Listen on a live socket: %v", err)
	}
	s.Close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("Close left the socket: %v", err)
	}
	// A stale socket (crashed daemon) is replaced.
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	s, err = Listen(Options{Path: path, Supervisor: f})
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	s.Close()
	// Not a socket: refused, left alone.
	os.WriteFile(path, []byte("x"), 0o644)
	if _, err := Listen(Options{Path: path, Supervisor: f}); err == nil {
		t.Error("Listen replaced a regular file")
	}
	if _, err := NewClient(filepath.Join(dir, "none.sock")).Units(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("no daemon: %v", err)
	}
}

func messages(es []Entry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.Message)
	}
	return out
}
