package supervisor

import (
	"context"
	"sort"
	"time"
)

// Status is a snapshot of every unit, for `sockd status` and tests.
type Status struct {
	Sockets  []SocketStatus  `json:"sockets"`
	Services []ServiceStatus `json:"services"`
}

// SocketStatus describes one socket unit.
type SocketStatus struct {
	Name        string         `json:"name"`
	State       SocketState    `json:"state"`
	Result      string         `json:"result"`
	Reason      string         `json:"reason,omitempty"`
	Since       time.Time      `json:"since"`
	Accept      bool           `json:"accept"`
	Service     string         `json:"service"`
	Listen      []ListenStatus `json:"listen"`
	Accepted    uint64         `json:"accepted"`
	Connections int            `json:"connections"`
	Refused     uint64         `json:"refused"`
	Activations uint64         `json:"activations"`
	// TriggerLimitHits counts the times the trigger limit failed it.
	TriggerLimitHits uint64 `json:"trigger_limit_hits"`
}

// ListenStatus is one bound listener.
type ListenStatus struct {
	Address string `json:"address"`
	FD      int    `json:"fd"`
	Paused  bool   `json:"paused,omitempty"`
}

// ServiceStatus describes one service (Accept=yes instances are listed
// while they run).
type ServiceStatus struct {
	Name     string       `json:"name"`
	State    ServiceState `json:"state"`
	Result   string       `json:"result,omitempty"`
	Since    time.Time    `json:"since"`
	MainPID  int          `json:"main_pid,omitempty"`
	Restarts int          `json:"restarts"`
	LastExit string       `json:"last_exit,omitempty"`
	// StatusText is the service's last STATUS= message (sd_notify).
	StatusText string `json:"status_text,omitempty"`
}

// Status returns a snapshot of every unit's state.
func (s *Supervisor) Status(ctx context.Context) (Status, error) {
	var st Status
	err := s.call(ctx, func() { st = s.status() })
	return st, err
}

func (s *Supervisor) status() Status {
	var st Status
	for _, su := range s.sockets {
		ss := SocketStatus{
			Name: su.u.Name, State: su.state, Result: su.result, Reason: su.reason, Since: su.since,
			Accept: su.u.Accept, Service: su.u.Service,
			Accepted: su.nAccepted, Connections: su.nConnections, Refused: su.nRefused, Activations: su.nActivations,
			TriggerLimitHits: su.nTriggerLimitHits,
		}
		if su.bound != nil {
			for i, bl := range su.bound.Listeners {
				ls := ListenStatus{Address: bl.Listener.Text, FD: bl.FD}
				if i < len(su.lis) {
					ls.Paused = su.lis[i].paused
				}
				ss.Listen = append(ss.Listen, ls)
			}
		} else {
			for _, l := range su.u.Listeners {
				ss.Listen = append(ss.Listen, ListenStatus{Address: l.Text, FD: -1})
			}
		}
		st.Sockets = append(st.Sockets, ss)
	}
	seen := map[*serviceUnit]bool{}
	add := func(sv *serviceUnit) {
		if seen[sv] {
			return
		}
		seen[sv] = true
		st.Services = append(st.Services, ServiceStatus{
			Name: sv.u.Name, State: sv.state, Result: sv.result, Since: sv.since,
			MainPID: sv.mainPID, Restarts: sv.restarts, LastExit: sv.lastExit, StatusText: sv.statusText,
		})
	}
	for _, sv := range s.services {
		add(sv)
	}
	for _, p := range s.procs {
		if p.sv != nil {
			add(p.sv)
		}
	}
	sort.Slice(st.Services, func(i, j int) bool { return st.Services[i].Name < st.Services[j].Name })
	return st
}
