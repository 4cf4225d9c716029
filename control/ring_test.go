package control

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestRingKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http.service", "http.service"},
		{"echo.socket", "echo.socket"},
		{"echo@.service", "echo@.service"},
		{"echo@3-127.0.0.1:7007-127.0.0.1:4242.service", "echo@.service"},
		{"getty@tty1.service", "getty@.service"},
	}
	for _, tt := range tests {
		if got := ringKey(tt.in); got != tt.want {
			t.Errorf("ringKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// The bound is global: the last entries of all units are kept.
func TestRingBoundedAndTemplates(t *testing.T) {
	r := NewRing(5)
	for i := range 5 {
		r.Add(Entry{Unit: "a.service", Message: fmt.Sprint(i)})
	}
	r.Add(Entry{Unit: "e@1.service", Message: "one"})
	r.Add(Entry{Unit: "e@2.service", Message: "two"})

	msgs := func(es []Entry) (out []string) {
		for _, e := range es {
			out = append(out, e.Message)
		}
		return out
	}
	tests := []struct {
		unit string
		n    int
		want string
	}{
		{"a.service", -1, "[2 3 4]"},
		{"a.service", 2, "[3 4]"},
		{"a.service", 1, "[4]"},
		{"a.service", 0, "[]"},
		{"e@.service", -1, "[one two]"},
		{"e@2.service", -1, "[two]"},
		{"none.service", -1, "[]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(msgs(r.Lines(tt.unit, tt.n))); got != tt.want {
			t.Errorf("Lines(%s, %d) = %s, want %s", tt.unit, tt.n, got, tt.want)
		}
	}
}

func TestRingFollow(t *testing.T) {
	r := NewRing(10)
	r.Add(Entry{Unit: "a.service", Message: "old"})
	backlog, ch, cancel := r.Follow("a.service", 5)
	defer cancel()
	r.Add(Entry{Unit: "b.service", Message: "other"})
	r.Add(Entry{Unit: "a.service", Message: "new"})
	if len(backlog) != 1 || backlog[0].Message != "old" {
		t.Errorf("backlog = %v", backlog)
	}
	select {
	case e := <-ch:
		if e.Message != "new" {
			t.Errorf("followed %q", e.Message)
		}
	case <-time.After(time.Second):
		t.Fatal("nothing followed")
	}
	cancel()
	r.Add(Entry{Unit: "a.service", Message: "after"})
	select {
	case e := <-ch:
		t.Errorf("entry after cancel: %v", e)
	default:
	}
}

// The tee keeps entries with a unit field, from With or from the call,
// splits out pid and stream, and counts trigger-limit hits.
func TestRingTee(t *testing.T) {
	r := NewRing(10)
	log := r.Tee(zap.NewNop(), zapcore.InfoLevel)
	log.Info("no unit")
	log.Debug("too low", zap.String("unit", "a.service"))
	log.With(zap.String("unit", "a.service"), zap.Int("pid", 42), zap.String("stream", "stdout")).Info("hello")
	log.Warn("socket failed", zap.String("unit", "s.socket"), zap.String("result", "trigger-limit-hit"), zap.Duration("after", 1500*time.Millisecond))

	got := r.Lines("a.service", -1)
	if len(got) != 1 || got[0].Message != "hello" || got[0].PID != 42 || got[0].Stream != "stdout" || got[0].Fields != nil {
		t.Errorf("a.service log = %+v", got)
	}
	s := r.Lines("s.socket", -1)
	if len(s) != 1 || s[0].Level != "warn" || s[0].Fields["after"] != "1.5s" {
		t.Errorf("s.socket log = %+v", s)
	}
	if units := r.Units(); fmt.Sprint(units) != "[a.service s.socket]" {
		t.Errorf("units with logs: %v", units)
	}
}

func TestAuthorizer(t *testing.T) {
	a := authorizer{uid: 1000, gid: 50}
	none := authorizer{uid: 1000, gid: -1}
	tests := []struct {
		name string
		a    authorizer
		p    Peer
		want bool
	}{
		{"root", a, Peer{UID: 0, GID: 0}, true},
		{"own uid", a, Peer{UID: 1000, GID: 1000}, true},
		{"group as primary", a, Peer{UID: 2000, GID: 50}, true},
		{"group as supplementary", a, Peer{UID: 2000, GID: 2000, Groups: []int{7, 50}}, true},
		{"stranger", a, Peer{UID: 65534, GID: 65534}, false},
		{"no group configured", none, Peer{UID: 2000, GID: -1, Groups: []int{-1}}, false},
		{"unknown peer", a, Peer{UID: -1, GID: -1}, false},
	}
	for _, tt := range tests {
		if got := tt.a.allowed(tt.p); got != tt.want {
			t.Errorf("%s: allowed = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// LinesEach is Lines for many units in one pass.
func TestRingLinesEach(t *testing.T) {
	r := NewRing(10)
	for _, e := range []Entry{
		{Unit: "a.service", Message: "a1"}, {Unit: "e@1.service", Message: "one"},
		{Unit: "a.service", Message: "a2"}, {Unit: "e@2.service", Message: "two"},
		{Unit: "a.service", Message: "a3"}, {Unit: "b.socket", Message: "b"},
	} {
		r.Add(e)
	}
	units := []string{"a.service", "e@.service", "e@2.service", "b.socket", "none.service"}
	for _, n := range []int{0, 1, 2, 5} {
		got := r.LinesEach(units, n)
		for _, u := range units {
			if want := fmt.Sprint(msgs(r.Lines(u, n))); fmt.Sprint(msgs(got[u])) != want {
				t.Errorf("n=%d %s: LinesEach %v, Lines %s", n, u, msgs(got[u]), want)
			}
		}
	}
}

func msgs(es []Entry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.Message)
	}
	return out
}
