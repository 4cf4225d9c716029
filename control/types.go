package control

import "github.com/sockd/sockd/supervisor"

// Units is GET /v1/units: every socket and service unit.
type Units struct {
	Sockets  []Socket  `json:"sockets"`
	Services []Service `json:"services"`
}

// Socket is a socket unit as the API shows it.
type Socket struct {
	supervisor.SocketStatus
	// State is the supervisor's state, except "paused" while every
	// listener is paused by a connection limit.
	State string `json:"state"`
}

// Service is a service unit (or a running Accept=yes instance).
type Service struct {
	supervisor.ServiceStatus
}

// Unit is GET /v1/units/{name}: the unit and its recent log.
type Unit struct {
	Socket  *Socket  `json:"socket,omitempty"`
	Service *Service `json:"service,omitempty"`
	Log     []Entry  `json:"log"`
}

// Name is the unit's name.
func (u Unit) Name() string {
	if u.Socket != nil {
		return u.Socket.Name
	}
	if u.Service != nil {
		return u.Service.Name
	}
	return ""
}

// Active reports whether the unit is active as systemctl is-active sees
// it: a bound socket, or a running (or starting, stopping) service.
func (u Unit) Active() bool {
	if u.Socket != nil {
		switch u.Socket.State {
		case "listening", "running", "paused":
			return true
		}
		return false
	}
	if u.Service != nil {
		switch u.Service.State {
		case supervisor.ServiceActive, supervisor.ServiceActivating, supervisor.ServiceDeactivating:
			return true
		}
	}
	return false
}

// ResetFailedRequest is the body of POST /v1/reset-failed.
type ResetFailedRequest struct {
	Units []string `json:"units"`
}

// errorBody is every error response.
type errorBody struct {
	Error string `json:"error"`
}

func view(st supervisor.Status) Units {
	u := Units{Sockets: make([]Socket, 0, len(st.Sockets)), Services: make([]Service, 0, len(st.Services))}
	for _, s := range st.Sockets {
		state := string(s.State)
		if s.State == supervisor.SocketListening && len(s.Listen) > 0 {
			paused := true
			for _, l := range s.Listen {
				paused = paused && l.Paused
			}
			if paused {
				state = "paused"
			}
		}
		u.Sockets = append(u.Sockets, Socket{SocketStatus: s, State: state})
	}
	for _, s := range st.Services {
		u.Services = append(u.Services, Service{ServiceStatus: s})
	}
	return u
}

// find returns the named unit of u, if there is one.
func (u Units) find(name string) (Unit, bool) {
	for i := range u.Sockets {
		if u.Sockets[i].Name == name {
			return Unit{Socket: &u.Sockets[i]}, true
		}
	}
	for i := range u.Services {
		if u.Services[i].Name == name {
			return Unit{Service: &u.Services[i]}, true
		}
	}
	return Unit{}, false
}
