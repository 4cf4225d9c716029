package supervisor

import (
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/sockd/sockd/spawner"
	"github.com/sockd/sockd/units"
)

// Socket states while the socket unit's own helpers run (systemd's
// start-pre, start-post, stop-pre, stop-post).
const (
	SocketStartPre  SocketState = "start-pre"
	SocketStartPost SocketState = "start-post"
	SocketStopPre   SocketState = "stop-pre"
	SocketStopPost  SocketState = "stop-post"
)

// sockHelpers is a running sequence of a socket unit's Exec*= commands.
type sockHelpers struct {
	cmds  []units.Command
	index int
	pid   int
	fds   bool // PassFileDescriptorsToExec=: they get the listeners
	timer *time.Timer
	done  func(ok bool)
}

// startSocket runs ExecStartPre=, binds the listeners (all or none) and
// watches them, then runs ExecStartPost=. A failing helper fails the
// socket, as in systemd.
func (s *Supervisor) startSocket(su *socketUnit) {
	if len(su.u.ExecStartPre) == 0 {
		s.bindSocket(su)
		return
	}
	s.setSocketState(su, SocketStartPre, "", "")
	s.runSocketHelpers(su, su.u.ExecStartPre, false, func(ok bool) {
		if !ok {
			s.failSocket(su, ResultExitCode, "ExecStartPre= failed")
			return
		}
		s.bindSocket(su)
	})
}

// afterBind runs ExecStartPost= once the listeners are bound; the socket
// listens only when it succeeded.
func (s *Supervisor) afterBind(su *socketUnit) bool {
	if len(su.u.ExecStartPost) == 0 {
		return false
	}
	s.disarm(su)
	s.setSocketState(su, SocketStartPost, "", "")
	s.runSocketHelpers(su, su.u.ExecStartPost, su.u.PassFileDescriptorsToExec, func(ok bool) {
		if !ok {
			s.stopSocket(su, ResultExitCode, "ExecStartPost= failed")
			return
		}
		s.listening(su)
	})
	return true
}

// stopSocket runs ExecStopPre=, closes the listeners, then runs
// ExecStopPost=, ending in dead (or failed with result).
func (s *Supervisor) stopSocket(su *socketUnit, result, reason string) {
	finish := func() {
		if result == "" || result == ResultSuccess {
			s.setSocketState(su, SocketDead, ResultSuccess, reason)
			if su.restartAfterStop && !s.stopping {
				su.restartAfterStop = false
				s.startSocket(su)
			}
			return
		}
		s.setSocketState(su, SocketFailed, result, reason)
		s.log.Error("socket failed", zap.String("unit", su.u.Name), zap.String("result", result), zap.String("reason", reason))
	}
	post := func() {
		s.closeSocket(su)
		if len(su.u.ExecStopPost) == 0 {
			finish()
			return
		}
		s.setSocketState(su, SocketStopPost, su.result, su.reason)
		s.runSocketHelpers(su, su.u.ExecStopPost, false, func(bool) { finish() })
	}
	if su.helpers != nil {
		s.killSocketHelpers(su)
	}
	if len(su.u.ExecStopPre) == 0 || su.bound == nil {
		post()
		return
	}
	s.disarm(su)
	s.setSocketState(su, SocketStopPre, su.result, su.reason)
	s.runSocketHelpers(su, su.u.ExecStopPre, su.u.PassFileDescriptorsToExec, func(bool) { post() })
}

// runSocketHelpers runs cmds one after the other, then calls done.
func (s *Supervisor) runSocketHelpers(su *socketUnit, cmds []units.Command, fds bool, done func(ok bool)) {
	su.helpers = &sockHelpers{cmds: cmds, fds: fds, done: done}
	s.nextSocketHelper(su)
}

func (s *Supervisor) nextSocketHelper(su *socketUnit) {
	h := su.helpers
	for h.index < len(h.cmds) {
		cmd := &h.cmds[h.index]
		h.index++
		pid, err := s.spawnSocketHelper(su, cmd, h.fds)
		if err != nil {
			s.log.Error("socket helper failed to start", zap.String("unit", su.u.Name), zap.Error(err))
			if cmd.Flags&units.CmdIgnoreFailure != 0 {
				continue
			}
			s.endSocketHelpers(su, false)
			return
		}
		h.pid = pid
		if d := su.u.Timeout; d > 0 && d != units.Infinity {
			h.timer = s.after(d, func() {
				if su.helpers == h && h.pid == pid {
					s.log.Warn("socket helper timed out, killing", zap.String("unit", su.u.Name), zap.Int("pid", pid))
					spawner.Signal(pid, syscall.SIGKILL)
				}
			})
		}
		return
	}
	s.endSocketHelpers(su, true)
}

func (s *Supervisor) endSocketHelpers(su *socketUnit, ok bool) {
	h := su.helpers
	su.helpers = nil
	if h.timer != nil {
		h.timer.Stop()
	}
	h.done(ok)
}

// killSocketHelpers abandons a running helper sequence (the socket is
// being stopped).
func (s *Supervisor) killSocketHelpers(su *socketUnit) {
	h := su.helpers
	su.helpers = nil
	if h.timer != nil {
		h.timer.Stop()
	}
	if h.pid != 0 {
		spawner.Signal(h.pid, syscall.SIGKILL)
	}
}

// socketHelperExit handles the exit of a socket helper.
func (s *Supervisor) socketHelperExit(su *socketUnit, ex spawner.Exit, ignore bool) {
	h := su.helpers
	if h == nil || h.pid != ex.Pid {
		return
	}
	h.pid = 0
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
	if ex.Signal != 0 || ex.Code != 0 {
		s.log.Warn("socket helper failed", zap.String("unit", su.u.Name), zap.Int("pid", ex.Pid), zap.String("status", describeExit(ex)))
		if !ignore {
			s.endSocketHelpers(su, false)
			return
		}
	}
	s.nextSocketHelper(su)
}

// spawnSocketHelper starts one of a socket unit's Exec*= commands with
// the socket's [Socket] execution settings (User=, Environment=, …).
func (s *Supervisor) spawnSocketHelper(su *socketUnit, cmd *units.Command, fds bool) (int, error) {
	pseudo := &serviceUnit{u: &units.Service{Name: su.u.Name, ServiceSettings: &units.ServiceSettings{Exec: su.u.Exec, Type: units.TypeOneshot}}}
	spec, err := s.spec(pseudo, cmd, roleControl)
	if err != nil {
		return 0, err
	}
	if fds && su.bound != nil {
		for _, bl := range su.bound.Listeners {
			spec.Files = append(spec.Files, bl.FD)
			spec.Names = append(spec.Names, bl.Name)
			if su.u.Accept {
				// sockd accepts from it while the helper runs.
				spec.KeepFlags = append(spec.KeepFlags, bl.FD)
			}
		}
		spec.ListenEnv = true
	}
	p, err := s.sp.Start(spec)
	if err != nil {
		return 0, err
	}
	s.procs[p.Pid] = &proc{pid: p.Pid, p: p, sock: su, role: roleControl, ignore: cmd.Flags&units.CmdIgnoreFailure != 0}
	return p.Pid, nil
}
