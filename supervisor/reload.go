package supervisor

import (
	"reflect"

	"go.uber.org/zap"

	"github.com/sockd/sockd/units"
)

// bindingKey is what decides whether a socket unit must be bound again
// after a reload: its listeners and everything applied to them.
type bindingKey struct {
	Listeners []units.Listener
	Options   units.SocketOptions
	Symlinks  []string
	Accept    bool
	FDName    string
}

func keyOf(u *units.Socket) bindingKey {
	ls := make([]units.Listener, len(u.Listeners))
	copy(ls, u.Listeners)
	for i := range ls {
		ls[i].Pos = units.Pos{} // moving a line does not change the socket
	}
	return bindingKey{ls, u.Options, u.Symlinks, u.Accept, u.FileDescriptorName}
}

// reload re-reads the unit files (SIGHUP). Sockets whose listeners and
// options did not change keep their fds and queues; changed sockets are
// closed and bound again; removed ones are closed; new ones are bound.
// Running services keep running with the fds they have. Failed sockets
// are retried, which is how an administrator recovers one after fixing
// the cause (sockd behaviour; systemd needs "systemctl restart").
func (s *Supervisor) reload() {
	set, diags := units.Load(s.unitDirs(), s.loadOptions(nil))
	s.logDiagnostics(diags)
	old := s.byName
	s.set = set
	s.creds = nil // users may have changed too
	s.sockets = s.sockets[:0]
	s.byName = map[string]*socketUnit{}
	kept, rebound, added := 0, 0, 0
	for _, u := range set.Sockets {
		if su, ok := old[u.Name]; ok {
			delete(old, u.Name)
			if su.state != SocketFailed && su.bound != nil && reflect.DeepEqual(keyOf(su.u), keyOf(u)) {
				// Same listeners: keep the fds, take the new limits.
				su.u = u
				su.trigger.interval, su.trigger.burst = u.TriggerLimitInterval, u.TriggerLimitBurst
				for _, l := range su.lis {
					if l.poll == nil || l.poll.interval != u.PollLimitInterval || l.poll.burst != u.PollLimitBurst {
						l.poll = newRateLimit(u.PollLimitInterval, u.PollLimitBurst)
					}
				}
				s.sockets = append(s.sockets, su)
				s.byName[u.Name] = su
				kept++
				continue
			}
			s.closeSocket(su)
			rebound++
		} else {
			added++
		}
		su := newSocketUnit(u)
		s.sockets = append(s.sockets, su)
		s.byName[u.Name] = su
	}
	for name, su := range old {
		s.closeSocket(su)
		s.log.Info("socket removed", zap.String("unit", name))
	}
	// Services: keep the state of running ones, take the new definitions.
	for name, sv := range s.services {
		if u := set.Service(name); u != nil {
			sv.u = u
			sv.startLimit.interval, sv.startLimit.burst = u.StartLimitInterval, u.StartLimitBurst
			sv.triggers = nil
		} else if !sv.active() {
			delete(s.services, name)
		} else {
			sv.triggers = nil
		}
	}
	s.linkServices()
	for _, su := range s.sockets {
		if su.bound == nil {
			s.startSocket(su)
		}
	}
	s.log.Info("reloaded", zap.Int("kept", kept), zap.Int("rebound", rebound), zap.Int("added", added), zap.Int("removed", len(old)))
}
