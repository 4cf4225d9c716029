package supervisor

import (
	"errors"
	"net"
	"path/filepath"
	"testing"
)

func serviceStatus(h *harness, name string) ServiceStatus {
	for _, sv := range h.status().Services {
		if sv.Name == name {
			return sv
		}
	}
	return ServiceStatus{}
}

// start/stop/restart/reset-failed on sockets and services, as systemctl.
func TestUnitActions(t *testing.T) {
	h := newHarness(t, map[string]string{
		"w.socket":  "[Socket]\nListenStream=@TMP@/w.sock\n",
		"w.service": "[Service]\nExecStart=/bin/sleep 60\n",
	})
	ctx := t.Context()
	if err := h.sup.StartUnit(ctx, "nope.service"); !errors.Is(err, ErrNoSuchUnit) {
		t.Errorf("start unknown: %v", err)
	}
	// Starting the service directly gives it the socket's fds and hands the
	// socket to it.
	if err := h.sup.StartUnit(ctx, "w.service"); err != nil {
		t.Fatal(err)
	}
	pid := h.mainPID("w.service")
	if st := h.socket("w.socket"); st.State != SocketRunning {
		t.Errorf("socket after service start: %s", st.State)
	}
	if err := h.sup.RestartUnit(ctx, "w.service"); err != nil {
		t.Fatal(err)
	}
	h.waitFor("new main pid", func() bool {
		p := serviceStatus(h, "w.service").MainPID
		return p != 0 && p != pid
	})
	if err := h.sup.StopUnit(ctx, "w.service"); err != nil {
		t.Fatal(err)
	}
	h.waitFor("service inactive", func() bool { return serviceStatus(h, "w.service").State == ServiceInactive })
	h.waitFor("socket listening", func() bool { return h.socket("w.socket").State == SocketListening })
	if sv := serviceStatus(h, "w.service"); sv.Result != ResultSuccess {
		t.Errorf("stopped service result %q, want success", sv.Result)
	}
	// Stopping a socket closes it; starting binds it again.
	if err := h.sup.StopUnit(ctx, "w.socket"); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("unix", filepath.Join(h.tmp, "w.sock")); err == nil {
		t.Error("stopped socket still accepts connections")
	}
	if st := h.socket("w.socket"); st.State != SocketDead {
		t.Errorf("stopped socket state %s", st.State)
	}
	if err := h.sup.StartUnit(ctx, "w.socket"); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", filepath.Join(h.tmp, "w.sock"))
	if err != nil {
		t.Fatalf("restarted socket: %v", err)
	}
	c.Close()
	h.mainPID("w.service")
}

func TestResetFailed(t *testing.T) {
	h := newHarness(t, map[string]string{
		"f.socket": "[Socket]\nListenStream=@TMP@/f.sock\nTriggerLimitIntervalSec=10s\nTriggerLimitBurst=2\nPollLimitIntervalSec=0\n",
		"f.service": `[Service]
ExecStart=@HELPER@
Environment=SOCKD_TEST_HELPER=exit HELPER_CODE=2
`,
	})
	c, err := net.Dial("unix", filepath.Join(h.tmp, "f.sock"))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	h.waitFor("socket failed", func() bool { return h.socket("f.socket").State == SocketFailed })
	if err := h.sup.ResetFailed(t.Context(), "f.socket"); err != nil {
		t.Fatal(err)
	}
	if st := h.socket("f.socket"); st.State != SocketDead || st.Result != "" {
		t.Errorf("after reset-failed: %+v", st)
	}
	if err := h.sup.ResetFailed(t.Context(), "missing.socket"); !errors.Is(err, ErrNoSuchUnit) {
		t.Errorf("reset-failed unknown unit: %v", err)
	}
	if err := h.sup.StartUnit(t.Context(), "f.socket"); err != nil {
		t.Fatal(err)
	}
	if st := h.socket("f.socket"); st.State != SocketListening {
		t.Errorf("after start: %+v", st)
	}
}
