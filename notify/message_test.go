package notify

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		fields  []Field
		ignored []string
		err     error
	}{
		// Success cases.
		{"empty", "", nil, nil, nil},
		{"single", "READY=1", []Field{{"READY", "1"}}, nil, nil},
		{"trailing newline", "READY=1\n", []Field{{"READY", "1"}}, nil, nil},
		{"trailing NUL allowed", "READY=1\x00", []Field{{"READY", "1"}}, nil, nil},
		{"several in order", "STATUS=a b\nREADY=1\nX_Y=", []Field{{"STATUS", "a b"}, {"READY", "1"}, {"X_Y", ""}}, nil, nil},
		{"CR and empty lines coalesce", "\r\n\nA=1\r\r\nB=2\n\n", []Field{{"A", "1"}, {"B", "2"}}, nil, nil},
		{"value keeps later '='", "STATUS=a=b", []Field{{"STATUS", "a=b"}}, nil, nil},
		{"backslash escapes a byte", `STATUS=a\b\\c`, []Field{{"STATUS", `ab\c`}}, nil, nil},
		{"escaped newline stays in the value", "STATUS=a\\\nb", []Field{{"STATUS", "a\nb"}}, nil, nil},
		{"invalid UTF-8 kept raw", "STATUS=\xff", []Field{{"STATUS", "\xff"}}, nil, nil},
		// Lines that are not fields.
		{"no equals sign", "READY\nA=1", []Field{{"A", "1"}}, []string{"READY"}, nil},
		{"empty key", "=1", nil, []string{"=1"}, nil},
		{"key with digit first", "1A=1", nil, []string{"1A=1"}, nil},
		{"key with space", "READY =1", nil, []string{"READY =1"}, nil},
		{"key with dash", "X-A=1", nil, []string{"X-A=1"}, nil},
		// Failure cases.
		{"embedded NUL", "READY=1\x00\n", nil, nil, ErrEmbeddedNUL},
		{"embedded NUL first", "\x00A", nil, nil, ErrEmbeddedNUL},
		{"trailing backslash", `STATUS=a\`, nil, nil, ErrTrailingBackslash},
		{"trailing backslash before NUL", "STATUS=a\\\x00", nil, nil, ErrTrailingBackslash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields, ignored, err := Parse([]byte(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("Parse(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if !reflect.DeepEqual(fields, tt.fields) || !reflect.DeepEqual(ignored, tt.ignored) {
				t.Errorf("Parse(%q) = %q, %q; want %q, %q", tt.in, fields, ignored, tt.fields, tt.ignored)
			}
		})
	}
}

func TestValidFDName(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", true}, // allowed, as fdname_is_valid
		{"stored", true},
		{"a b~!", true},
		{strings.Repeat("x", 255), true},
		{strings.Repeat("x", 256), false},
		{"a:b", false},
		{"a\tb", false},
		{"a\x7f", false},
		{"é", false},
	}
	for _, tt := range tests {
		if got := ValidFDName(tt.in); got != tt.want {
			t.Errorf("ValidFDName(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func msgOf(t *testing.T, payload string) *Message {
	t.Helper()
	fields, ignored, err := Parse([]byte(payload))
	if err != nil {
		t.Fatalf("Parse(%q): %v", payload, err)
	}
	return &Message{PID: 1, Fields: fields, Ignored: ignored}
}

func TestMessageHelpers(t *testing.T) {
	m := msgOf(t, "READY=0\nREADY=1\nSTATUS=first\nSTATUS=second\nMAINPID=42\nWATCHDOG=trigger\nWATCHDOG=1\n"+
		"EXTEND_TIMEOUT_USEC=1500000\nWATCHDOG_USEC=18446744073709551615\nMONOTONIC_USEC=123\nERRNO=5\n"+
		"FDSTORE=1\nFDNAME=db\nFDPOLL=0")
	if !m.Ready() || m.Stopping() || m.Reloading() || m.Barrier() {
		t.Errorf("state flags wrong: ready=%v stopping=%v reloading=%v barrier=%v", m.Ready(), m.Stopping(), m.Reloading(), m.Barrier())
	}
	if s, ok := m.Status(); !ok || s != "first" {
		t.Errorf("Status() = %q, %v; want first (the first field wins)", s, ok)
	}
	if p, ok := m.MainPID(); !ok || p != 42 {
		t.Errorf("MainPID() = %d, %v", p, ok)
	}
	if m.Watchdog() || !m.WatchdogTrigger() {
		t.Errorf("Watchdog() = %v, WatchdogTrigger() = %v; only the first WATCHDOG= counts", m.Watchdog(), m.WatchdogTrigger())
	}
	if d, ok := m.ExtendTimeout(); !ok || d != 1500*time.Millisecond {
		t.Errorf("ExtendTimeout() = %v, %v", d, ok)
	}
	if d, ok := m.WatchdogUsec(); !ok || d != math.MaxInt64 {
		t.Errorf("WatchdogUsec() = %v, %v; want saturation", d, ok)
	}
	if u, ok := m.MonotonicUsec(); !ok || u != 123 {
		t.Errorf("MonotonicUsec() = %v, %v", u, ok)
	}
	if e, ok := m.Errno(); !ok || e != 5 {
		t.Errorf("Errno() = %v, %v", e, ok)
	}
	if !m.FDStore() || m.FDStoreRemove() || m.FDPoll() {
		t.Errorf("FDStore() = %v, FDStoreRemove() = %v, FDPoll() = %v", m.FDStore(), m.FDStoreRemove(), m.FDPoll())
	}
	if n, ok := m.FDName(); !ok || n != "db" {
		t.Errorf("FDName() = %q, %v", n, ok)
	}
}

func TestMessageHelpersInvalid(t *testing.T) {
	m := msgOf(t, "STATUS=\xff\xfe\nMAINPID=0\nERRNO=4096\nEXTEND_TIMEOUT_USEC=-1\nMONOTONIC_USEC=0x10\nFDNAME=a:b\nWATCHDOG=2")
	if s, ok := m.Status(); !ok || s != "" {
		t.Errorf("Status() = %q, %v; invalid UTF-8 must clear the status", s, ok)
	}
	if _, ok := m.MainPID(); ok {
		t.Error("MainPID() accepted 0")
	}
	if _, ok := m.Errno(); ok {
		t.Error("Errno() accepted 4096")
	}
	if _, ok := m.ExtendTimeout(); ok {
		t.Error("ExtendTimeout() accepted -1")
	}
	if _, ok := m.MonotonicUsec(); ok {
		t.Error("MonotonicUsec() accepted 0x10")
	}
	if _, ok := m.FDName(); ok {
		t.Error("FDName() accepted a name with ':'")
	}
	if m.Watchdog() || m.WatchdogTrigger() || !m.FDPoll() {
		t.Error("WATCHDOG=2 must be neither keep-alive nor trigger; FDPoll defaults to true")
	}
	if _, ok := (&Message{}).Status(); ok {
		t.Error("Status() reported a missing field")
	}
	if _, ok := msgOf(t, "MAINPID=99999999999").MainPID(); ok {
		t.Error("MainPID() accepted an out-of-range PID")
	}
}
