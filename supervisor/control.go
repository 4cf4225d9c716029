package supervisor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
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
	for _, su := range sv.triggers {
		if su.state == SocketListening {
			s.disarm(su)
			su.state = SocketRunning
		}
	}
	if sv.state == ServiceFailed {
		return fmt.Errorf("%s: start failed (%s): %s", name, sv.result, sv.lastExit)
	}
	return nil
}

// findService finds a loaded service or a running instance by name.
func (s *Supervisor) findService(name string) *serviceUnit {
	if sv := s.service(name); sv != nil {
		return sv
	}
	for _, p := range s.procs {
		if p.sv.u.Name == name {
			return p.sv
		}
	}
	return nil
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
		s.closeSocket(su)
		s.setSocketState(su, SocketDead, ResultSuccess, "stopped")
		if restart {
			s.startSocket(su)
		}
		return nil
	}
	sv := s.findService(name)
	if sv == nil {
		return fmt.Errorf("%s: %w", name, ErrNoSuchUnit)
	}
	if sv.restartTimer != nil {
		sv.restartTimer.Stop()
		sv.restartTimer = nil
	}
	if sv.mainPID == 0 && !s.hasProcs(sv) {
		if sv.state == ServiceActivating || sv.state == ServiceActive {
			s.setServiceState(sv, ServiceInactive, ResultSuccess)
		}
		if restart {
			s.startService(sv, nil, "restart request")
		}
		return nil
	}
	sv.stopping = true
	sv.restartAfterStop = restart
	s.setServiceState(sv, ServiceDeactivating, "")
	sig := killSignal(sv.u)
	if restart && sv.u.RestartKillSignal > 0 {
		sig = sv.u.RestartKillSignal
	}
	s.killService(sv, syscall.Signal(sig), false)
	s.log.Info("stopping", zap.String("unit", sv.u.Name), zap.Int("pid", sv.mainPID))
	timeout := s.stopTimeout(sv)
	sv.stopTimer = s.after(timeout, func() {
		sv.stopTimer = nil
		if sv.state == ServiceDeactivating && s.hasProcs(sv) {
			s.log.Warn("stop timed out, killing", zap.String("unit", sv.u.Name), zap.Duration("timeout", timeout))
			s.killService(sv, syscall.Signal(finalKillSignal(sv.u)), true)
		}
	})
	return nil
}

func (s *Supervisor) hasProcs(sv *serviceUnit) bool {
	for _, p := range s.procs {
		if p.sv == sv {
			return true
		}
	}
	return false
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
		if sv.state == ServiceFailed {
			s.setServiceState(sv, ServiceInactive, "")
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

// stopped finishes an explicit stop once the service's last process is
// gone: inactive (a stop is a success whatever the exit), and started
// again for a restart.
func (s *Supervisor) stopped(sv *serviceUnit) {
	if sv.stopTimer != nil {
		sv.stopTimer.Stop()
		sv.stopTimer = nil
	}
	s.setServiceState(sv, ServiceInactive, ResultSuccess)
	restart := sv.restartAfterStop
	sv.restartAfterStop = false
	s.serviceGone(sv)
	if restart && !s.stopping {
		sv.stopping = false
		s.startService(sv, nil, "restart request")
		for _, su := range sv.triggers {
			if su.state == SocketListening {
				s.disarm(su)
				su.state = SocketRunning
			}
		}
	}
}

// SpawnObserver receives the time each process start took, for metrics.
type SpawnObserver func(unit string, d time.Duration)
