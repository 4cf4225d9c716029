package supervisor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/sockd/sockd/units"
)

// Errors of the unit actions, for callers that map them to exit codes.
var (
	ErrNoSuchUnit = errors.New("unit not loaded")
	ErrNotAllowed = errors.New("operation not allowed for this unit")
)

// StartUnit starts a socket (binds it and watches it) or a service (with
// the fds of its sockets), as `systemctl start` does. Starting what is
// already active does nothing.
func (s *Supervisor) StartUnit(ctx context.Context, name string) error {
	var err error
	if cerr := s.call(ctx, func() { err = s.startUnit(name) }); cerr != nil {
		return cerr
	}
	return err
}

// StopUnit stops a socket (closes its listeners; a running service keeps
// its copies) or a service (KillSignal=, then FinalKillSignal= after
// TimeoutStopSec=). It returns once the stop has begun.
func (s *Supervisor) StopUnit(ctx context.Context, name string) error {
	var err error
	if cerr := s.call(ctx, func() { err = s.stopUnit(name, false) }); cerr != nil {
		return cerr
	}
	return err
}

// RestartUnit stops a unit and starts it again once it has stopped.
func (s *Supervisor) RestartUnit(ctx context.Context, name string) error {
	var err error
	if cerr := s.call(ctx, func() { err = s.stopUnit(name, true) }); cerr != nil {
		return cerr
	}
	return err
}

// ReloadUnit runs a service's ExecReload= (with $MAINPID), as
// `systemctl reload UNIT` does; the service stays active meanwhile. A
// service without ExecReload= cannot be reloaded.
func (s *Supervisor) ReloadUnit(ctx context.Context, name string) error {
	var err error
	if cerr := s.call(ctx, func() { err = s.reloadUnit(name) }); cerr != nil {
		return cerr
	}
	return err
}

func (s *Supervisor) reloadUnit(name string) error {
	sv := s.findService(name)
	if sv == nil {
		return fmt.Errorf("%s: %w", name, ErrNoSuchUnit)
	}
	if len(sv.u.ExecReload) == 0 {
		return fmt.Errorf("%s: %w: no ExecReload=", name, ErrNotAllowed)
	}
	if sv.phase != phRunning {
		return fmt.Errorf("%s: %w: not running (%s)", name, ErrNotAllowed, sv.phase)
	}
	s.log.Info("reloading", zap.String("unit", sv.u.Name), zap.Int("pid", sv.mainPID))
	s.runControl(sv, phReload, sv.u.ExecReload)
	return nil
}

// reloaded ends a reload: back to running, or on to stopping if the main
// process went away meanwhile.
func (s *Supervisor) reloaded(sv *serviceUnit) {
	if sv.mainPID == 0 && sv.u.Type != units.TypeForking {
		s.setPhase(sv, phRunning)
		s.mainGone(sv)
		return
	}
	s.setPhase(sv, phRunning)
}

// ResetFailed clears the failed state, result and start-limit counters of
// the named units, or of every unit when names is empty, as `systemctl
// reset-failed` does. It starts nothing.
func (s *Supervisor) ResetFailed(ctx context.Context, names ...string) error {
	var err error
	if cerr := s.call(ctx, func() { err = s.resetFailed(names) }); cerr != nil {
		return cerr
	}
	return err
}

func isSocketName(name string) bool { return strings.HasSuffix(name, ".socket") }

func (s *Supervisor) startUnit(name string) error {
	if s.stopping {
		return errStopping
	}
	if isSocketName(name) {
		su := s.byName[name]
		if su == nil {
			return fmt.Errorf("%s: %w", name, ErrNoSuchUnit)
		}
		if su.bound != nil {
			return nil
		}
		s.startSocket(su)
		if su.state == SocketFailed {
			return fmt.Errorf("%s: %s", name, su.reason)
		}
		return nil
	}
	sv := s.findService(name)
	if sv == nil {
		return fmt.Errorf("%s: %w", name, ErrNoSuchUnit)
	}
	if sv.instanceOf != nil || strings.HasSuffix(name, "@.service") {
		return fmt.Errorf("%s: %w: instances are started by their socket", name, ErrNotAllowed)
	}
	if sv.active() {
		return nil
	}
	s.startService(sv, nil, "start request")
	s.takeSockets(sv)
	if sv.state == ServiceFailed {
		return fmt.Errorf("%s: start failed (%s): %s", name, sv.result, sv.lastExit)
	}
	return nil
}

// findService finds a loaded service or a running instance by name.
func (s *Supervisor) findService(name string) *serviceUnit {
	if sv, ok := s.services[name]; ok {
		return sv
	}
	// A running Accept=yes instance is known by its processes only; look
	// there before s.service, which would make a new unit of that name
	// from the template.
	for _, p := range s.procs {
		if p.sv != nil && p.sv.u.Name == name {
			return p.sv
		}
	}
	return s.service(name)
}

func (s *Supervisor) stopUnit(name string, restart bool) error {
	if s.stopping {
		return errStopping
	}
	if isSocketName(name) {
		su := s.byName[name]
		if su == nil {
			return fmt.Errorf("%s: %w", name, ErrNoSuchUnit)
		}
		su.restartAfterStop = restart
		s.stopSocket(su, "", "stopped")
		return nil
	}
	sv := s.findService(name)
	if sv == nil {
		return fmt.Errorf("%s: %w", name, ErrNoSuchUnit)
	}
	if restart && sv.instanceOf != nil {
		// sockd hands the connection over to the instance's processes
		// and keeps no copy to start it with again.
		return fmt.Errorf("%s: %w: an Accept=yes instance cannot be restarted", name, ErrNotAllowed)
	}
	s.stopService(sv, restart)
	return nil
}

// stopService stops sv (ExecStop=, KillSignal=, FinalKillSignal=,
// ExecStopPost=) and, with restart, starts it again once stopped.
func (s *Supervisor) stopService(sv *serviceUnit, restart bool) {
	if sv.restartTimer != nil {
		sv.restartTimer.Stop()
		sv.restartTimer = nil
	}
	switch sv.phase {
	case phDead, phFailed, phAutoRestart:
		if sv.phase == phAutoRestart {
			s.setPhase(sv, phDead)
		}
		if restart {
			s.startService(sv, nil, "restart request")
			s.takeSockets(sv)
		}
		return
	case phStop, phStopSigterm, phStopSigkill, phStopPost:
		sv.restartAfterStop = sv.restartAfterStop || restart
		return
	}
	sv.stopping = true
	sv.restartAfterStop = restart
	s.log.Info("stopping", zap.String("unit", sv.u.Name), zap.Int("pid", sv.mainPID))
	if sv.phase == phExited {
		s.enterStop(sv)
		return
	}
	if sv.controlPID != 0 && sv.phase < phRunning {
		// Stopping during start: end the start command first.
		syscall.Kill(sv.controlPID, syscall.SIGTERM)
	}
	s.enterStop(sv)
}

func (s *Supervisor) resetFailed(names []string) error {
	match := func(n string) bool {
		if len(names) == 0 {
			return true
		}
		return contains(names, n)
	}
	found := 0
	for _, su := range s.sockets {
		if !match(su.u.Name) {
			continue
		}
		found++
		su.trigger.reset()
		if su.state == SocketFailed {
			s.setSocketState(su, SocketDead, "", "")
		}
	}
	for _, sv := range s.services {
		if !match(sv.u.Name) {
			continue
		}
		found++
		sv.startLimit.reset()
		sv.restarts = 0
		if sv.phase == phFailed {
			s.setPhase(sv, phDead)
			sv.result = ""
		}
	}
	if len(names) > 0 && found < len(names) {
		for _, n := range names {
			if s.byName[n] == nil && s.service(n) == nil {
				return fmt.Errorf("%s: %w", n, ErrNoSuchUnit)
			}
		}
	}
	return nil
}

// SpawnObserver receives the time each process start took, for metrics.
type SpawnObserver func(unit string, d time.Duration)
