package supervisor

import (
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/spawner"
	"github.com/sockd/sockd/units"
)

// The table of systemd.service(5), "Exit causes and the effect of the
// Restart= settings", plus SuccessExitStatus=, RestartPreventExitStatus=
// and RestartForceExitStatus=.
func TestRestartTable(t *testing.T) {
	code := func(c int) spawner.Exit { return spawner.Exit{Code: c} }
	sig := func(s syscall.Signal, core bool) spawner.Exit {
		return spawner.Exit{Code: -1, Signal: s, CoreDumped: core}
	}
	policies := []units.RestartPolicy{units.RestartNo, units.RestartAlways, units.RestartOnSuccess,
		units.RestartOnFailure, units.RestartOnAbnormal, units.RestartOnAbort, units.RestartOnWatchdog}
	tests := []struct {
		name   string
		exit   spawner.Exit
		result string // overrides the result derived from exit (timeout, watchdog)
		want   [7]bool
	}{
		//                                             no     always on-success on-failure on-abnormal on-abort on-watchdog
		{"clean exit", code(0), "", [7]bool{false, true, true, false, false, false, false}},
		{"unclean exit code", code(1), "", [7]bool{false, true, false, true, false, false, false}},
		{"clean signal", sig(syscall.SIGTERM, false), "", [7]bool{false, true, true, false, false, false, false}},
		{"unclean signal", sig(syscall.SIGKILL, false), "", [7]bool{false, true, false, true, true, true, false}},
		{"core dump", sig(syscall.SIGSEGV, true), "", [7]bool{false, true, false, true, true, true, false}},
		{"timeout", code(0), ResultTimeout, [7]bool{false, true, false, true, true, false, false}},
		{"watchdog", sig(syscall.SIGABRT, true), ResultWatchdog, [7]bool{false, true, false, true, true, false, true}},
	}
	for _, tt := range tests {
		for i, p := range policies {
			u := &units.ServiceSettings{Restart: p}
			clean, result := exitClean(u, tt.exit, false)
			if tt.result != "" {
				clean, result = false, tt.result
			}
			c := -1
			if tt.exit.Signal == 0 {
				c = tt.exit.Code
			}
			if got := shouldRestart(u, clean, result, c); got != tt.want[i] {
				t.Errorf("%s, Restart=%d: restart = %v, want %v", tt.name, p, got, tt.want[i])
			}
		}
	}

	u := &units.ServiceSettings{Restart: units.RestartOnFailure,
		SuccessExitStatus:        units.ExitStatusSet{Codes: []int{75}, Signals: []int{int(syscall.SIGUSR1)}},
		RestartPreventExitStatus: units.ExitStatusSet{Codes: []int{3}},
		RestartForceExitStatus:   units.ExitStatusSet{Codes: []int{0}},
	}
	if clean, _ := exitClean(u, code(75), false); !clean {
		t.Error("SuccessExitStatus=75 not clean")
	}
	if clean, _ := exitClean(u, sig(syscall.SIGUSR1, false), false); !clean {
		t.Error("SuccessExitStatus=SIGUSR1 not clean")
	}
	if shouldRestart(u, false, ResultExitCode, 3) {
		t.Error("RestartPreventExitStatus=3 restarted")
	}
	if !shouldRestart(u, true, ResultSuccess, 0) {
		t.Error("RestartForceExitStatus=0 did not restart")
	}
	// Type=oneshot: SIGTERM is not a clean exit.
	if clean, _ := exitClean(u, sig(syscall.SIGTERM, false), true); clean {
		t.Error("SIGTERM clean for a oneshot")
	}
}

func TestRestartDelay(t *testing.T) {
	u := &units.ServiceSettings{RestartSec: 100 * time.Millisecond, RestartSteps: 4, RestartMaxDelay: 1600 * time.Millisecond}
	want := []time.Duration{100, 200, 400, 800, 1600, 1600}
	for n, w := range want {
		got := restartDelay(u, n).Round(time.Millisecond)
		if got != w*time.Millisecond {
			t.Errorf("restart %d: delay %v, want %v", n, got, w*time.Millisecond)
		}
	}
	if d := restartDelay(&units.ServiceSettings{RestartSec: time.Second}, 7); d != time.Second {
		t.Errorf("without steps: %v", d)
	}
}

// Resolved credentials are reused (a start per connection must not read
// the user database each time), failures too, for credTTL.
func TestCredentialCache(t *testing.T) {
	s := &Supervisor{}
	uid := strconv.Itoa(os.Getuid())
	a, err := s.credential(uid, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := s.credential(uid, "", nil); b != a {
		t.Error("second lookup of the same user not reused")
	}
	if c, _ := s.credential(uid, "", []string{uid}); c == a {
		t.Error("different SupplementaryGroups= got the same credential")
	}
	_, err1 := s.credential("no-such-user-sockd", "", nil)
	_, err2 := s.credential("no-such-user-sockd", "", nil)
	if err1 == nil || err2 != err1 {
		t.Errorf("unknown user: %v, then %v", err1, err2)
	}
	s.creds[credKey{uid, "", ""}] = credEntry{a, nil, time.Now().Add(-credTTL)}
	if d, _ := s.credential(uid, "", nil); d == a {
		t.Error("expired entry reused")
	}
}
