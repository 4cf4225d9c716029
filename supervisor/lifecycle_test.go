package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// readLines returns the lines of a file the test's services append to.
func readLines(path string) []string {
	b, _ := os.ReadFile(path)
	return strings.Fields(strings.ReplaceAll(string(b), "\n", " "))
}

// ExecStartPre= → ExecStart= → ExecStartPost=, and on stop ExecStop= (with
// $MAINPID) → kill → ExecStopPost= (with $SERVICE_RESULT, $EXIT_CODE,
// $EXIT_STATUS), in systemd's order.
func TestExecSequence(t *testing.T) {
	h := newHarness(t, map[string]string{
		"seq.service": `[Service]
ExecCondition=/bin/sh -c 'echo condition >> @TMP@/log'
ExecStartPre=/bin/sh -c 'echo pre1 >> @TMP@/log'
ExecStartPre=-/bin/false
ExecStartPre=/bin/sh -c 'echo pre2 >> @TMP@/log'
ExecStart=/bin/sleep 60
ExecStartPost=/bin/sh -c 'echo post >> @TMP@/log'
ExecStop=/bin/sh -c 'echo stop-mainpid-$${MAINPID:+set} >> @TMP@/log; kill $$MAINPID'
ExecStopPost=/bin/sh -c 'echo stoppost-$$SERVICE_RESULT-$$EXIT_CODE-$$EXIT_STATUS >> @TMP@/log'
`,
	})
	log := filepath.Join(h.tmp, "log")
	if err := h.sup.StartUnit(t.Context(), "seq.service"); err != nil {
		t.Fatal(err)
	}
	// The line from ExecStartPost= comes before that process exits and
	// the service becomes active.
	h.waitFor("ExecStartPost", func() bool {
		return len(readLines(log)) >= 4 && serviceStatus(h, "seq.service").State != ServiceActivating
	})
	if sv := serviceStatus(h, "seq.service"); sv.State != ServiceActive || sv.MainPID == 0 {
		t.Errorf("after start: %+v", sv)
	}
	if err := h.sup.StopUnit(t.Context(), "seq.service"); err != nil {
		t.Fatal(err)
	}
	h.waitFor("stopped", func() bool { return serviceStatus(h, "seq.service").State == ServiceInactive })
	want := "condition pre1 pre2 post stop-mainpid-set stoppost-success-killed-TERM"
	if got := strings.Join(readLines(log), " "); got != want {
		t.Errorf("sequence:\n got %s\nwant %s", got, want)
	}
}

// A failing ExecStartPre= (without "-") fails the start: ExecStart= never
// runs, ExecStopPost= does, and the service is failed.
func TestExecStartPreFailure(t *testing.T) {
	h := newHarness(t, map[string]string{
		"pf.service": `[Service]
ExecStartPre=/bin/sh -c 'exit 3'
ExecStart=/bin/sh -c 'echo main >> @TMP@/log'
ExecStopPost=/bin/sh -c 'echo stoppost-$$SERVICE_RESULT >> @TMP@/log'
`,
	})
	if err := h.sup.StartUnit(t.Context(), "pf.service"); err != nil {
		t.Log(err)
	}
	h.waitFor("failed", func() bool { return serviceStatus(h, "pf.service").State == ServiceFailed })
	if got := strings.Join(readLines(filepath.Join(h.tmp, "log")), " "); got != "stoppost-exit-code" {
		t.Errorf("log = %q", got)
	}
	if sv := serviceStatus(h, "pf.service"); sv.Result != ResultExitCode {
		t.Errorf("result %q", sv.Result)
	}
}

// ExecCondition= exiting 1..254 skips the start without failing.
func TestExecConditionSkips(t *testing.T) {
	h := newHarness(t, map[string]string{
		"cs.service": `[Service]
ExecCondition=/bin/sh -c 'exit 1'
ExecStart=/bin/sh -c 'echo main >> @TMP@/log'
`,
	})
	h.sup.StartUnit(t.Context(), "cs.service")
	h.waitFor("inactive", func() bool {
		sv := serviceStatus(h, "cs.service")
		return sv.State == ServiceInactive && sv.Result == ResultSuccess
	})
	if _, err := os.Stat(filepath.Join(h.tmp, "log")); err == nil {
		t.Error("ExecStart= ran although ExecCondition= failed")
	}
}

// Type=oneshot runs every ExecStart= in order; with RemainAfterExit=yes it
// stays active afterwards.
func TestOneshotRemainAfterExit(t *testing.T) {
	h := newHarness(t, map[string]string{
		"o.service": `[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'echo one >> @TMP@/log'
ExecStart=/bin/sh -c 'echo two >> @TMP@/log'
`,
	})
	h.sup.StartUnit(t.Context(), "o.service")
	h.waitFor("active (exited)", func() bool { return serviceStatus(h, "o.service").State == ServiceActive })
	if got := strings.Join(readLines(filepath.Join(h.tmp, "log")), " "); got != "one two" {
		t.Errorf("log = %q", got)
	}
	h.sup.StopUnit(t.Context(), "o.service")
	h.waitFor("inactive", func() bool { return serviceStatus(h, "o.service").State == ServiceInactive })
}

// Type=forking: the parent exits, PIDFile= names the daemon, which becomes
// the main process; stopping kills it.
func TestForkingPIDFile(t *testing.T) {
	h := newHarness(t, map[string]string{
		"fk.service": `[Service]
Type=forking
PIDFile=@TMP@/fk.pid
ExecStart=/bin/sh -c 'sleep 60 & echo $$! > @TMP@/fk.pid'
`,
	})
	h.sup.StartUnit(t.Context(), "fk.service")
	h.waitFor("active", func() bool {
		sv := serviceStatus(h, "fk.service")
		return sv.State == ServiceActive && sv.MainPID != 0
	})
	pid := serviceStatus(h, "fk.service").MainPID
	h.sup.StopUnit(t.Context(), "fk.service")
	h.waitFor("inactive", func() bool { return serviceStatus(h, "fk.service").State == ServiceInactive })
	if processAlive(pid) {
		t.Errorf("forked daemon %d survived the stop", pid)
	}
}

// KillMode=control-group: no process of the service's group survives a
// stop, including children it forked.
func TestStopKillsWholeGroup(t *testing.T) {
	h := newHarness(t, map[string]string{
		"g.service": `[Service]
ExecStart=/bin/sh -c 'sleep 60 & echo $$! > @TMP@/child; exec sleep 60'
`,
	})
	h.sup.StartUnit(t.Context(), "g.service")
	var child string
	h.waitFor("child pid", func() bool {
		b, err := os.ReadFile(filepath.Join(h.tmp, "child"))
		child = strings.TrimSpace(string(b))
		return err == nil && child != ""
	})
	h.sup.StopUnit(t.Context(), "g.service")
	h.waitFor("inactive", func() bool { return serviceStatus(h, "g.service").State == ServiceInactive })
	if processAlive(atoiOr(child)) {
		t.Errorf("child %s of the service survived the stop", child)
	}
}

// ExecReload= runs with $MAINPID while the service stays active; a service
// without ExecReload= cannot be reloaded.
func TestExecReload(t *testing.T) {
	h := newHarness(t, map[string]string{
		"rl.service": `[Service]
ExecStart=/bin/sleep 60
ExecReload=/bin/sh -c 'echo reload-$$MAINPID >> @TMP@/log'
`,
		"norl.service": "[Service]\nExecStart=/bin/sleep 60\n",
	})
	h.sup.StartUnit(t.Context(), "rl.service")
	pid := h.mainPID("rl.service")
	if err := h.sup.ReloadUnit(t.Context(), "rl.service"); err != nil {
		t.Fatal(err)
	}
	want := "reload-" + strconv.Itoa(pid)
	h.waitFor("ExecReload", func() bool { return strings.Join(readLines(filepath.Join(h.tmp, "log")), " ") == want })
	h.waitFor("running again", func() bool {
		sv := serviceStatus(h, "rl.service")
		return sv.State == ServiceActive && sv.MainPID == pid
	})
	h.sup.StartUnit(t.Context(), "norl.service")
	h.mainPID("norl.service")
	if err := h.sup.ReloadUnit(t.Context(), "norl.service"); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("reload without ExecReload=: %v", err)
	}
}

// Type=forking under sockd as subreaper (as the daemon runs): the daemon
// named by PIDFile= is re-parented to sockd, and its death while running
// is noticed and ends the service, as systemd notices it.
func TestForkingDaemonDiesWhileRunning(t *testing.T) {
	// Registered first, so it runs after the harness stopped: later tests
	// must not inherit the subreaper role (they use os/exec).
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
	h := newHarness(t, map[string]string{
		"fd.service": `[Service]
Type=forking
PIDFile=@TMP@/fd.pid
ExecStart=/bin/sh -c 'sleep 60 & echo $$! > @TMP@/fd.pid'
`,
	}, func(o *Options) { o.Subreaper = true })
	h.sup.StartUnit(t.Context(), "fd.service")
	var pid int
	h.waitFor("active with the daemon as main pid", func() bool {
		sv := serviceStatus(h, "fd.service")
		pid = sv.MainPID
		return sv.State == ServiceActive && pid != 0
	})
	unix.Kill(pid, unix.SIGKILL)
	h.waitFor("failed", func() bool { return serviceStatus(h, "fd.service").State == ServiceFailed })
	if sv := serviceStatus(h, "fd.service"); sv.Result != ResultSignal || sv.LastExit != "signal=SIGKILL" {
		t.Errorf("status %+v", sv)
	}
}
