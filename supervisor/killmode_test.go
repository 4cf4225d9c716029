package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// KillMode= (systemd.kill(5)): control-group signals the whole process
// group, process only the main process (its children survive the stop),
// mixed sends KillSignal= to the main process and the final SIGKILL to the
// group, none signals nobody (ExecStop= must do the work).
func TestKillModes(t *testing.T) {
	tests := []struct {
		mode          string
		childSurvives bool
	}{
		{"control-group", false},
		{"process", true},
		{"mixed", false}, // the child ignores SIGTERM's absence: it gets the final SIGKILL
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			h := newHarness(t, map[string]string{
				"k.service": `[Service]
KillMode=` + tt.mode + `
TimeoutStopSec=500ms
ExecStart=/bin/sh -c 'sleep 60 & echo $$! > @TMP@/child; exec sleep 60'
`,
			})
			h.sup.StartUnit(t.Context(), "k.service")
			child := readPID(t, h, filepath.Join(h.tmp, "child"))
			defer killPID(child)
			h.sup.StopUnit(t.Context(), "k.service")
			h.waitFor("inactive", func() bool { return serviceStatus(h, "k.service").State == ServiceInactive })
			if alive := processAlive(child); alive != tt.childSurvives {
				t.Errorf("KillMode=%s: child alive after stop = %v, want %v", tt.mode, alive, tt.childSurvives)
			}
		})
	}
}

// KillMode=none: the stop signals nothing; ExecStop= is the only way down.
func TestKillModeNone(t *testing.T) {
	h := newHarness(t, map[string]string{
		"kn.service": `[Service]
KillMode=none
ExecStart=/bin/sleep 60
ExecStop=/bin/sh -c 'echo stop >> @TMP@/log; kill $$MAINPID'
`,
	})
	h.sup.StartUnit(t.Context(), "kn.service")
	h.mainPID("kn.service")
	h.sup.StopUnit(t.Context(), "kn.service")
	h.waitFor("inactive", func() bool { return serviceStatus(h, "kn.service").State == ServiceInactive })
	if got := strings.Join(readLines(filepath.Join(h.tmp, "log")), " "); got != "stop" {
		t.Errorf("log %q", got)
	}
}

// Type=exec: a missing binary is a start failure, reported at once.
func TestTypeExecMissingBinary(t *testing.T) {
	h := newHarness(t, map[string]string{
		"x.service": "[Service]\nType=exec\nExecStart=/nonexistent/program\n",
	})
	if err := h.sup.StartUnit(t.Context(), "x.service"); err == nil {
		t.Error("starting a missing binary succeeded")
	}
	if sv := serviceStatus(h, "x.service"); sv.State != ServiceFailed || !strings.Contains(sv.LastExit, "no such file") {
		t.Errorf("status %+v", sv)
	}
}

func readPID(t *testing.T, h *harness, path string) int {
	t.Helper()
	var pid int
	h.waitFor(path, func() bool {
		b, err := os.ReadFile(path)
		pid = atoiOr(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	return pid
}

func killPID(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
	}
}
