package supervisor

import (
	"math"
	"strconv"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/activator"
	"github.com/sockd/sockd/spawner"
	"github.com/sockd/sockd/units"
)

// ServiceState is the active state of a service, as systemctl shows it.
type ServiceState string

// Service states.
const (
	ServiceInactive     ServiceState = "inactive"
	ServiceActivating   ServiceState = "activating"
	ServiceActive       ServiceState = "active"
	ServiceDeactivating ServiceState = "deactivating"
	ServiceFailed       ServiceState = "failed"
)

type serviceUnit struct {
	u      *units.Service
	state  ServiceState
	result string
	since  time.Time

	mainPID  int
	cmdIndex int // oneshot: which ExecStart= runs
	triggers []*socketUnit

	// Accept=yes instances.
	instanceOf *socketUnit
	conn       *activator.Conn
	source     string
	released   bool

	startLimit   rateLimit
	restarts     int
	lastExit     string
	restartTimer *time.Timer
	stopTimer    *time.Timer
	stopping     bool // an explicit stop: no restart
	// restartAfterStop starts the service again once a stop requested
	// with RestartUnit is complete.
	restartAfterStop bool
}

func (sv *serviceUnit) active() bool {
	return sv.state == ServiceActive || sv.state == ServiceActivating || sv.state == ServiceDeactivating
}

type proc struct {
	pid     int
	sv      *serviceUnit
	started time.Time
}

func itoa(i int) string { return strconv.Itoa(i) }

func (s *Supervisor) setServiceState(sv *serviceUnit, st ServiceState, result string) {
	sv.state, sv.result, sv.since = st, result, time.Now()
}

// startService starts sv's main command. trigger is the socket that caused
// it (nil for a restart), why a short text for the log.
func (s *Supervisor) startService(sv *serviceUnit, trigger *socketUnit, why string) {
	if s.stopping {
		return
	}
	if sv.restartTimer != nil {
		sv.restartTimer.Stop()
		sv.restartTimer = nil
	}
	if sv.instanceOf == nil && !sv.startLimit.allow(time.Now()) {
		s.setServiceState(sv, ServiceFailed, ResultStartLimitHit)
		s.log.Error("start request repeated too quickly, refusing to start", zap.String("unit", sv.u.Name),
			zap.Duration("interval", sv.u.StartLimitInterval), zap.Int("burst", sv.u.StartLimitBurst))
		for _, su := range sv.triggers {
			if su.state == SocketRunning || su.state == SocketListening {
				s.failSocket(su, ResultServiceStartLimit, "service "+sv.u.Name+" hit its start limit")
			}
		}
		return
	}
	if len(sv.u.ExecStart) == 0 {
		s.setServiceState(sv, ServiceFailed, ResultResources)
		s.log.Error("service has no ExecStart=", zap.String("unit", sv.u.Name))
		s.serviceGone(sv)
		return
	}
	sv.stopping = false
	sv.cmdIndex = 0
	s.setServiceState(sv, ServiceActivating, "")
	s.exec(sv, trigger, why)
}

// exec runs sv.u.ExecStart[sv.cmdIndex].
func (s *Supervisor) exec(sv *serviceUnit, trigger *socketUnit, why string) {
	spec, err := s.spec(sv, &sv.u.ExecStart[sv.cmdIndex])
	var p *spawner.Process
	if err == nil {
		t0 := time.Now()
		p, err = s.sp.Start(spec)
		if s.opts.OnSpawn != nil && err == nil {
			s.opts.OnSpawn(sv.u.Name, time.Since(t0))
		}
	}
	if err != nil {
		s.log.Error("failed to start service", zap.String("unit", sv.u.Name), zap.Error(err))
		s.setServiceState(sv, ServiceFailed, ResultResources)
		sv.lastExit = err.Error()
		s.afterExit(sv, false, false)
		return
	}
	s.procs[p.Pid] = &proc{pid: p.Pid, sv: sv, started: time.Now()}
	sv.mainPID = p.Pid
	if sv.u.Type != units.TypeOneshot {
		s.setServiceState(sv, ServiceActive, "")
	}
	if trigger != nil {
		s.log.Info("activated", zap.String("unit", sv.u.Name), zap.String("socket", trigger.u.Name),
			zap.String("trigger", why), zap.Int("pid", p.Pid), zap.Int("fds", len(spec.Files)))
	} else {
		s.log.Info("started", zap.String("unit", sv.u.Name), zap.String("reason", why), zap.Int("pid", p.Pid))
	}
}

// onExit handles the end of a process the spawner reaped.
func (s *Supervisor) onExit(ex spawner.Exit) {
	p := s.procs[ex.Pid]
	if p == nil {
		return
	}
	delete(s.procs, ex.Pid)
	sv := p.sv
	if sv.mainPID == ex.Pid {
		sv.mainPID = 0
	}
	if sv.stopping && !s.stopping {
		// An explicit stop: done when the last process is gone.
		sv.lastExit = describeExit(ex)
		s.log.Info("exited", zap.String("unit", sv.u.Name), zap.Int("pid", ex.Pid), zap.String("status", sv.lastExit))
		if !s.hasProcs(sv) {
			s.stopped(sv)
		}
		return
	}
	clean, result := exitClean(sv.u, ex)
	sv.lastExit = describeExit(ex)
	fields := []zap.Field{zap.String("unit", sv.u.Name), zap.Int("pid", ex.Pid), zap.String("status", sv.lastExit)}
	if clean {
		s.log.Info("exited", fields...)
	} else {
		s.log.Warn("exited", append(fields, zap.String("result", result))...)
	}
	// Type=oneshot runs its ExecStart= lines one after the other.
	if clean && sv.u.Type == units.TypeOneshot && sv.cmdIndex+1 < len(sv.u.ExecStart) && !sv.stopping && !s.stopping {
		sv.cmdIndex++
		s.exec(sv, nil, "next ExecStart=")
		return
	}
	if clean {
		if sv.u.Type == units.TypeOneshot && sv.u.RemainAfterExit {
			s.setServiceState(sv, ServiceActive, ResultSuccess)
			return
		}
		s.setServiceState(sv, ServiceInactive, ResultSuccess)
	} else {
		s.setServiceState(sv, ServiceFailed, result)
	}
	s.afterExit(sv, clean, result == ResultSignal || result == ResultCoreDump)
}

// afterExit applies Restart= and hands an Accept=no socket back to sockd.
func (s *Supervisor) afterExit(sv *serviceUnit, clean, abnormal bool) {
	if !sv.stopping && !s.stopping && sv.instanceOf == nil && shouldRestart(sv.u, clean, abnormal, sv.lastExitCode()) {
		d := restartDelay(sv.u, sv.restarts)
		sv.restarts++
		s.setServiceState(sv, ServiceActivating, "auto-restart")
		s.log.Info("scheduling restart", zap.String("unit", sv.u.Name), zap.Duration("in", d), zap.Int("restarts", sv.restarts))
		sv.restartTimer = s.after(d, func() {
			sv.restartTimer = nil
			if sv.state == ServiceActivating && sv.result == "auto-restart" {
				s.startService(sv, nil, "restart")
			}
		})
	}
	s.serviceGone(sv)
}

// serviceGone returns the sockets of a stopped service to listening, and
// releases an instance's connection slot.
func (s *Supervisor) serviceGone(sv *serviceUnit) {
	if sv.instanceOf != nil {
		s.releaseConn(sv)
		return
	}
	for _, su := range sv.triggers {
		if su.state == SocketRunning {
			s.setSocketState(su, SocketListening, ResultSuccess, "")
			s.arm(su)
		}
	}
}

func (sv *serviceUnit) lastExitCode() int {
	if i := len("status="); len(sv.lastExit) > i && sv.lastExit[:i] == "status=" {
		n, _ := strconv.Atoi(sv.lastExit[i:])
		return n
	}
	return -1
}

// exitClean classifies an exit as systemd does: exit code 0, or SIGHUP,
// SIGINT, SIGTERM or SIGPIPE (except for Type=oneshot), or an entry of
// SuccessExitStatus= is a clean exit.
func exitClean(u *units.Service, ex spawner.Exit) (bool, string) {
	if ex.Signal != 0 {
		sig := int(ex.Signal)
		if contains(u.SuccessExitStatus.Signals, sig) {
			return true, ResultSuccess
		}
		switch ex.Signal {
		case syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGPIPE:
			if u.Type != units.TypeOneshot {
				return true, ResultSuccess
			}
		}
		if ex.CoreDumped {
			return false, ResultCoreDump
		}
		return false, ResultSignal
	}
	if ex.Code == 0 || contains(u.SuccessExitStatus.Codes, ex.Code) {
		return true, ResultSuccess
	}
	return false, ResultExitCode
}

func describeExit(ex spawner.Exit) string {
	if ex.Signal != 0 {
		s := "signal=" + signalName(ex.Signal)
		if ex.CoreDumped {
			s += " (core dumped)"
		}
		return s
	}
	return "status=" + strconv.Itoa(ex.Code)
}

func signalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return strconv.Itoa(int(sig))
}

// shouldRestart applies Restart= (systemd.service(5), table "Exit causes
// and the effect of the Restart= settings").
func shouldRestart(u *units.Service, clean, abnormal bool, code int) bool {
	if code >= 0 && contains(u.RestartPreventExitStatus.Codes, code) {
		return false
	}
	if code >= 0 && contains(u.RestartForceExitStatus.Codes, code) {
		return true
	}
	switch u.Restart {
	case units.RestartAlways:
		return true
	case units.RestartOnSuccess:
		return clean
	case units.RestartOnFailure:
		return !clean
	case units.RestartOnAbnormal, units.RestartOnAbort:
		return abnormal
	}
	return false
}

// restartDelay is RestartSec=, growing exponentially over RestartSteps=
// up to RestartMaxDelaySec= when both are set.
func restartDelay(u *units.Service, n int) time.Duration {
	d := u.RestartSec
	if u.RestartSteps <= 0 || u.RestartMaxDelay <= d || d <= 0 {
		return d
	}
	if n >= u.RestartSteps {
		return u.RestartMaxDelay
	}
	// d * (max/d)^(n/steps), as systemd's service_restart_usec.
	f := float64(d) * math.Pow(float64(u.RestartMaxDelay)/float64(d), float64(n)/float64(u.RestartSteps))
	return time.Duration(f)
}
