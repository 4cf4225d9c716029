package supervisor

import (
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/sockd/sockd/spawner"
	"github.com/sockd/sockd/units"
)

// killService sends sig to sv as KillMode= says: the main process's whole
// process group (control-group; mixed for the final kill), the main
// process only (process; mixed), or nobody (none). Every signal but
// SIGKILL is followed by SIGCONT, and by SIGHUP with SendSIGHUP=yes.
func (s *Supervisor) killService(sv *serviceUnit, sig syscall.Signal, final bool) {
	mode := sv.u.KillMode
	if mode == units.KillMixed && final {
		mode = units.KillControlGroup
	}
	send := func(kill func(syscall.Signal) error) {
		kill(sig)
		if sig != syscall.SIGKILL {
			kill(syscall.SIGCONT)
			if sv.u.SendSIGHUP && mode == units.KillControlGroup {
				kill(syscall.SIGHUP)
			}
		}
	}
	switch mode {
	case units.KillNone:
	case units.KillProcess, units.KillMixed:
		if sv.mainPID != 0 {
			send(func(g syscall.Signal) error { return syscall.Kill(sv.mainPID, g) })
		}
	default:
		if sv.pgid != 0 {
			// A main process started without waiting for its execve
			// may not have made its group yet: SignalGroup then signals
			// it through its pidfd.
			main := s.procs[sv.mainPID]
			send(func(g syscall.Signal) error {
				if main != nil && main.p != nil && sv.mainPID == sv.pgid {
					return main.p.SignalGroup(g)
				}
				return spawner.Signal(sv.pgid, g)
			})
		}
		// A forking service's daemon may have left the group (setsid).
		if sv.mainPID != 0 && sv.mainPID != sv.pgid {
			send(func(g syscall.Signal) error { return syscall.Kill(sv.mainPID, g) })
		}
	}
}

// shutdown stops every running service the way a stop request does
// (ExecStop=, KillSignal=, FinalKillSignal= after the stop timeout,
// ExecStopPost=), closes every listener and removes RemoveOnStop= paths.
func (s *Supervisor) shutdown(exits <-chan spawner.Exit) {
	s.stopping = true
	s.log.Info("stopping", zap.Int("processes", len(s.procs)))
	running := map[*serviceUnit]bool{}
	for _, p := range s.procs {
		if p.sv != nil {
			running[p.sv] = true
		}
	}
	for _, sv := range s.services {
		if sv.phase == phExited || sv.phase == phRunning {
			running[sv] = true
		}
	}
	var longest time.Duration
	for sv := range running {
		if sv.restartTimer != nil {
			sv.restartTimer.Stop()
		}
		sv.stopping = true
		if sv.phase < phStop || sv.phase == phExited {
			s.enterStop(sv)
		}
		longest = max(longest, 2*s.stopTimeout(sv))
	}
	for _, su := range s.sockets {
		// ExecStopPre=/ExecStopPost= run as processes the loop below
		// waits for.
		s.stopSocket(su, "", "")
	}
	// Each service bounds its own stop (two stop timeouts, plus its
	// ExecStop=/ExecStopPost= commands); this is the backstop so that
	// sockd always exits.
	backstop := time.NewTimer(longest + 5*time.Second)
	defer backstop.Stop()
	for s.stillStopping(running) {
		select {
		case ex := <-exits:
			s.onExit(ex)
		case f := <-s.calls:
			f()
		case <-backstop.C:
			s.log.Error("services still running at the end of the stop timeout, killing them", zap.Int("processes", len(s.procs)))
			for _, p := range s.procs {
				// Through the pidfd: an exit still queued on exits
				// leaves its entry here, and its pid may be reused.
				p.p.SignalGroup(syscall.SIGKILL)
				p.p.Signal(syscall.SIGKILL)
			}
			return
		}
	}
	s.log.Info("stopped")
}

func (s *Supervisor) stillStopping(running map[*serviceUnit]bool) bool {
	if len(s.procs) > 0 || s.pending > 0 {
		return true
	}
	for sv := range running {
		if sv.active() {
			return true
		}
	}
	return false
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
