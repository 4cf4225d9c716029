package supervisor

import (
	"bufio"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Type=notify: activating until READY=1, then active; STATUS= is kept.
func TestNotifyReady(t *testing.T) {
	h := newHarness(t, map[string]string{
		"n.service": `[Service]
Type=notify
ExecStart=@HELPER@
Environment=SOCKD_TEST_HELPER=notify HELPER_DELAY_MS=300
`,
	})
	h.sup.StartUnit(t.Context(), "n.service")
	if sv := serviceStatus(h, "n.service"); sv.State != ServiceActivating {
		t.Errorf("before READY=1: %s", sv.State)
	}
	h.waitFor("ready", func() bool { return serviceStatus(h, "n.service").State == ServiceActive })
	h.waitFor("status text", func() bool { return h.statusText("n.service") == "serving" })
}

// NotifyAccess=main (the default for Type=notify): READY=1 from another
// process of the service is refused, so the start times out.
func TestNotifyAccessMainRefusesChild(t *testing.T) {
	h := newHarness(t, map[string]string{
		"nc.service": `[Service]
Type=notify
ExecStart=@HELPER@
Environment=SOCKD_TEST_HELPER=notify-child
TimeoutStartSec=1s
`,
	})
	h.sup.StartUnit(t.Context(), "nc.service")
	h.waitFor("start timeout", func() bool { return serviceStatus(h, "nc.service").State == ServiceFailed })
	if sv := serviceStatus(h, "nc.service"); sv.Result != ResultTimeout {
		t.Errorf("result %q, want timeout", sv.Result)
	}
	if h.logs.FilterMessage("notification refused by NotifyAccess=").Len() == 0 {
		t.Error("the child's READY=1 was not refused")
	}
}

// NotifyAccess=all accepts the child's READY=1.
func TestNotifyAccessAll(t *testing.T) {
	h := newHarness(t, map[string]string{
		"na.service": `[Service]
Type=notify
NotifyAccess=all
ExecStart=@HELPER@
Environment=SOCKD_TEST_HELPER=notify-child
TimeoutStartSec=10s
`,
	})
	h.sup.StartUnit(t.Context(), "na.service")
	h.waitFor("ready", func() bool { return serviceStatus(h, "na.service").State == ServiceActive })
}

// WatchdogSec=: a service that stops pinging is killed and restarted
// (Restart=on-watchdog).
func TestWatchdog(t *testing.T) {
	h := newHarness(t, map[string]string{
		"wd.service": `[Service]
Type=notify
ExecStart=@HELPER@
Environment=SOCKD_TEST_HELPER=notify HELPER_PINGS=4
WatchdogSec=300ms
Restart=on-watchdog
RestartSec=10ms
`,
	})
	h.sup.StartUnit(t.Context(), "wd.service")
	h.waitFor("watchdog restart", func() bool { return serviceStatus(h, "wd.service").Restarts >= 1 })
	if h.logs.FilterMessage("watchdog timeout, killing").Len() == 0 {
		t.Error("no watchdog timeout logged")
	}
}

// The fd store keeps an accepted connection across the service's restart
// and hands it back by name.
func TestFDStoreSurvivesRestart(t *testing.T) {
	h := newHarness(t, map[string]string{
		"st.socket": "[Socket]\nListenStream=@TMP@/st.sock\n",
		"st.service": `[Service]
ExecStart=@HELPER@
Environment=SOCKD_TEST_HELPER=fdstore
FileDescriptorStoreMax=4
Restart=on-failure
RestartSec=10ms
`,
	})
	c, err := net.Dial("unix", filepath.Join(h.tmp, "st.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "survived restart") {
		t.Fatalf("client got %q, %v", line, err)
	}
	if sv := serviceStatus(h, "st.service"); sv.Restarts != 1 {
		t.Errorf("restarts = %d", sv.Restarts)
	}
}
