package supervisor

import (
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/sockd/sockd/spawner"
	"github.com/sockd/sockd/units"
)

// killService sends sig to sv's processes as KillMode= says: the whole
// process group (control-group, and mixed for the final SIGKILL), the main
// process only (process, mixed), or nobody (none).
func (s *Supervisor) killService(sv *serviceUnit, sig syscall.Signal, final bool) {
	for pid, p := range s.procs {
		if p.sv != sv {
			continue
		}
		mode := sv.u.KillMode
		if mode == units.KillMixed && final {
			mode = units.KillControlGroup
		}
		switch mode {
		case units.KillNone:
			continue
		case units.KillProcess, units.KillMixed:
			syscall.Kill(pid, sig)
			if sig != syscall.SIGKILL {
				syscall.Kill(pid, syscall.SIGCONT)
			}
		default:
			// Each service runs in its own process group (its pid).
			spawner.Signal(pid, sig)
			if sig != syscall.SIGKILL {
				spawner.Signal(pid, syscall.SIGCONT)
			}
			if sv.u.SendSIGHUP && sig != syscall.SIGKILL {
				spawner.Signal(pid, syscall.SIGHUP)
			}
		}
	}
}

func (s *Supervisor) stopTimeout(sv *serviceUnit) time.Duration {
	if sv.u.TimeoutStop > 0 {
		return sv.u.TimeoutStop
	}
	return s.cfg.Defaults.TimeoutStopSec.Duration
}

// shutdown stops every running service (KillSignal=, then FinalKillSignal=
// after its stop timeout), closes every listener and removes RemoveOnStop=
// paths.
func (s *Supervisor) shutdown(exits <-chan spawner.Exit) {
	s.stopping = true
	s.log.Info("stopping", zap.Int("processes", len(s.procs)))
	deadline := map[*serviceUnit]time.Time{}
	now := time.Now()
	for _, p := range s.procs {
		sv := p.sv
		if _, ok := deadline[sv]; ok {
			continue
		}
		sv.stopping = true
		s.setServiceState(sv, ServiceDeactivating, "")
		s.killService(sv, syscall.Signal(killSignal(sv.u)), false)
		deadline[sv] = now.Add(s.stopTimeout(sv))
	}
	for _, su := range s.sockets {
		s.closeSocket(su)
		s.setSocketState(su, SocketDead, ResultSuccess, "")
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	killed := map[*serviceUnit]bool{}
	for len(s.procs) > 0 {
		select {
		case ex := <-exits:
			s.onExit(ex)
		case f := <-s.calls:
			f()
		case now := <-tick.C:
			for sv, d := range deadline {
				if killed[sv] || now.Before(d) {
					continue
				}
				killed[sv] = true
				s.log.Warn("stop timed out, killing", zap.String("unit", sv.u.Name))
				s.killService(sv, syscall.Signal(finalKillSignal(sv.u)), true)
			}
			// After the final kill, give the kernel a moment; never hang.
			if len(killed) == len(deadline) && allPast(deadline, now.Add(-5*time.Second)) {
				s.log.Error("processes left after the final kill", zap.Int("processes", len(s.procs)))
				return
			}
		}
	}
	s.log.Info("stopped")
}

func allPast(m map[*serviceUnit]time.Time, t time.Time) bool {
	for _, d := range m {
		if d.After(t) {
			return false
		}
	}
	return true
}

func killSignal(u *units.Service) int {
	if u.KillSignal > 0 {
		return u.KillSignal
	}
	return int(syscall.SIGTERM)
}

func finalKillSignal(u *units.Service) int {
	if u.FinalKillSignal > 0 {
		return u.FinalKillSignal
	}
	return int(syscall.SIGKILL)
}
