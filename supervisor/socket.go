package supervisor

import (
	"errors"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/activator"
	"github.com/sockd/sockd/units"
)

// SocketState is the state of a socket unit, named as systemd names it.
type SocketState string

// Socket states.
const (
	SocketDead      SocketState = "dead"      // not bound
	SocketListening SocketState = "listening" // bound and watched
	SocketRunning   SocketState = "running"   // Accept=no: the service owns the traffic
	SocketFailed    SocketState = "failed"    // see Result
)

// Socket results (systemd's Result= values).
const (
	ResultSuccess           = "success"
	ResultResources         = "resources"
	ResultTriggerLimitHit   = "trigger-limit-hit"
	ResultServiceStartLimit = "service-start-limit-hit"
	ResultStartLimitHit     = "start-limit-hit"
	ResultExitCode          = "exit-code"
	ResultSignal            = "signal"
	ResultCoreDump          = "core-dump"
	ResultTimeout           = "timeout"
	ResultProtocol          = "protocol"
	ResultWatchdog          = "watchdog"
)

type socketUnit struct {
	u      *units.Socket
	bound  *activator.Bound
	lis    []*listener
	state  SocketState
	result string
	reason string // human text for status and logs
	since  time.Time

	svc *serviceUnit // Accept=no: the service this socket triggers

	helpers *sockHelpers // the socket's own Exec*= commands, while they run
	// restartAfterStop starts the socket again once a restart's stop is
	// complete.
	restartAfterStop bool
	// nTriggerLimitHits counts the times the trigger limit failed it.
	nTriggerLimitHits uint64

	trigger rateLimit

	// Accept=yes accounting (systemd's NAccepted, NConnections, NRefused).
	nAccepted    uint64
	nConnections int
	nRefused     uint64
	nActivations uint64
	perSource    map[string]int
	refuseLog    *rateLimit // warnings about refused connections; made on the first
}

type listener struct {
	sock    *socketUnit
	fd      int
	domain  int // address family, for the per-connection options
	token   uint64
	poll    *rateLimit
	paused  bool // poll limit hit or accept error backoff: not armed
	pending bool // bound while loading, not listening yet (listenDeferred)
	armed   bool
	backoff time.Duration
}

func newSocketUnit(u *units.Socket) *socketUnit {
	return &socketUnit{
		u:       u,
		state:   SocketDead,
		trigger: rateLimit{interval: u.TriggerLimitInterval, burst: u.TriggerLimitBurst},
	}
}

func (s *Supervisor) startSockets() {
	for _, su := range s.sockets {
		if su.state == SocketDead {
			s.startSocket(su)
		}
	}
	for _, p := range s.prebound { // bound ahead but not started: none expected
		p.b.Close(false)
	}
	s.prebound = nil
}

// listenDeferred makes the sockets bound while the units loaded listen,
// and watches them: the last step of start-up, after the garbage of
// loading went back to the OS, so that nothing is allocated between the
// first client being able to connect and sockd being at its steady size.
func (s *Supervisor) listenDeferred() {
	bounds := s.deferredBounds
	for i, su := range s.deferred {
		if su.bound != bounds[i] { // failed or stopped meanwhile: not expected
			bounds = nil
			break
		}
	}
	sus := s.deferred
	if bounds == nil {
		sus = nil
		for _, su := range s.deferred {
			if su.bound != nil {
				bounds = append(bounds, su.bound)
				sus = append(sus, su)
			}
		}
	}
	var failed map[int]error
	if len(bounds) > 0 {
		failed = s.prebinder.ListenAll(bounds)
	}
	for i, su := range sus {
		if err := failed[i]; err != nil {
			s.failSocket(su, ResultResources, err.Error())
			continue
		}
		for _, l := range su.lis {
			l.pending = false
			if err := s.poller.Watch(l.fd, l.token); err != nil {
				s.failSocket(su, ResultResources, err.Error())
				break
			}
			l.armed = true
		}
		if su.state != SocketListening {
			s.disarm(su)
		}
	}
	s.deferred, s.deferredBounds = nil, nil
	if s.prebinder != nil {
		s.prebinder.Close()
		s.prebinder = nil
	}
}

// bindSocket binds a socket unit (all listeners or none) and watches it;
// a unit bound while loading is only recorded here and listens in
// listenDeferred.
func (s *Supervisor) bindSocket(su *socketUnit) {
	var b *activator.Bound
	var err error
	deferred := false
	if p, ok := s.prebound[su.u]; ok {
		delete(s.prebound, su.u)
		b, err = p.b, p.err
		deferred = err == nil
	} else {
		b, err = activator.Bind(su.u, activator.BindOptions{Logger: s.log, Inherited: s.opts.Inherited})
	}
	if err != nil {
		s.failSocket(su, ResultResources, err.Error())
		return
	}
	su.bound = b
	su.lis = su.lis[:0]
	for _, bl := range b.Listeners {
		s.nextToken++
		l := &listener{sock: su, fd: bl.FD, domain: bl.Domain, token: s.nextToken,
			poll: newRateLimit(su.u.PollLimitInterval, su.u.PollLimitBurst)}
		s.listeners[l.token] = l
		su.lis = append(su.lis, l)
		if deferred {
			l.pending = true
			continue
		}
		if err := s.poller.Watch(l.fd, l.token); err != nil {
			s.closeSocket(su)
			s.failSocket(su, ResultResources, err.Error())
			return
		}
		l.armed = true
	}
	if deferred {
		s.deferred = append(s.deferred, su)
		s.deferredBounds = append(s.deferredBounds, b)
	}
	su.trigger.reset()
	for _, l := range su.lis {
		s.log.Info("listening", zap.String("unit", su.u.Name), zap.String("listen", l.describe()), zap.Int("fd", l.fd))
	}
	if s.afterBind(su) {
		return
	}
	s.listening(su)
}

// listening enters the listening state (or running, when the service
// already owns the traffic).
func (s *Supervisor) listening(su *socketUnit) {
	s.setSocketState(su, SocketListening, ResultSuccess, "")
	s.arm(su)
	// A service already running for this socket owns its traffic.
	if su.svc != nil && su.svc.active() {
		s.disarm(su)
		su.state = SocketRunning
	}
}

func (l *listener) describe() string {
	for _, bl := range l.sock.bound.Listeners {
		if bl.FD == l.fd {
			return bl.Listener.Text
		}
	}
	return ""
}

// closeSocket unwatches and closes a socket unit's listeners.
func (s *Supervisor) closeSocket(su *socketUnit) {
	for _, l := range su.lis {
		s.poller.Unwatch(l.fd)
		delete(s.listeners, l.token)
	}
	su.lis = nil
	if su.bound != nil {
		if err := su.bound.Close(su.u.RemoveOnStop); err != nil {
			s.log.Warn("closing listeners", zap.String("unit", su.u.Name), zap.Error(err))
		}
		su.bound = nil
	}
}

// failSocket puts a socket unit in the failed state with systemd's result
// code and a reason for the log and for status.
func (s *Supervisor) failSocket(su *socketUnit, result, reason string) {
	if su.helpers != nil || len(su.u.ExecStopPre) > 0 || len(su.u.ExecStopPost) > 0 {
		su.result, su.reason = result, reason
		s.stopSocket(su, result, reason)
		return
	}
	s.closeSocket(su)
	s.setSocketState(su, SocketFailed, result, reason)
	s.log.Error("socket failed", zap.String("unit", su.u.Name), zap.String("result", result), zap.String("reason", reason))
}

func (s *Supervisor) setSocketState(su *socketUnit, st SocketState, result, reason string) {
	if su.state == st && su.result == result {
		return
	}
	s.log.Debug("socket state", zap.String("unit", su.u.Name), zap.String("from", string(su.state)), zap.String("to", string(st)))
	su.state, su.result, su.reason, su.since = st, result, reason, time.Now()
}

// arm watches every listener of su again (Accept=no after the service
// went away), except those paused by the poll limit.
func (s *Supervisor) arm(su *socketUnit) {
	for _, l := range su.lis {
		if !l.paused && !l.armed && !l.pending {
			s.rearm(l)
		}
	}
}

func (s *Supervisor) rearm(l *listener) {
	if err := s.poller.Rearm(l.fd, l.token); err != nil {
		s.failSocket(l.sock, ResultResources, err.Error())
		return
	}
	l.armed = true
}

// disarm stops watching su's listeners; they stay bound and queue traffic.
func (s *Supervisor) disarm(su *socketUnit) {
	for _, l := range su.lis {
		if l.armed {
			// A one-shot fd that already fired is disarmed by the kernel;
			// one that did not is switched off here.
			s.poller.Disarm(l.fd, l.token)
			l.armed = false
		}
	}
}

// onEvent handles readiness of a listener.
func (s *Supervisor) onEvent(ev activator.Event) {
	if ref, ok := s.stored[ev.Token]; ok {
		s.storedHangup(ref)
		return
	}
	l := s.listeners[ev.Token]
	if l == nil || s.stopping {
		return
	}
	l.armed = false
	su := l.sock
	if su.state != SocketListening {
		return
	}
	if ev.Events&(unix.EPOLLHUP|unix.EPOLLERR) != 0 && ev.Events&unix.EPOLLIN == 0 {
		s.failSocket(su, ResultResources, "got POLLHUP on a listening socket")
		return
	}
	now := time.Now()
	if !l.poll.allow(now) {
		// PollLimit: stop polling this fd until the window ends; no failure.
		l.paused = true
		s.log.Warn("poll limit hit, pausing", zap.String("unit", su.u.Name), zap.Int("fd", l.fd),
			zap.Duration("for", time.Until(l.poll.windowEnd())))
		s.after(time.Until(l.poll.windowEnd()), func() { s.unpause(l) })
		return
	}
	if su.u.Accept {
		s.acceptReady(l)
		return
	}
	s.triggerService(su, l)
}

func (s *Supervisor) unpause(l *listener) {
	if s.listeners[l.token] != l || !l.paused {
		return
	}
	l.paused = false
	if l.sock.state == SocketListening {
		s.rearm(l)
	}
}

// acceptReady accepts what is pending on an Accept=yes listener and starts
// one service instance per connection.
func (s *Supervisor) acceptReady(l *listener) {
	su := l.sock
	// Services and helpers given this listener (Sockets=,
	// PassFileDescriptorsToExec=) share its O_NONBLOCK; the spawner leaves
	// it alone, but a process may clear it, and the loop below must not
	// block.
	if err := activator.EnsureNonblocking(l.fd); err != nil {
		s.failSocket(su, ResultResources, "fcntl: "+err.Error())
		return
	}
	// A bounded batch keeps one busy listener from starving the others;
	// whatever is left makes the fd readable again at once.
	for i := 0; i < 32; i++ {
		c, err := activator.AcceptConn(l.fd)
		if err != nil {
			switch {
			case errors.Is(err, unix.EAGAIN):
			case errors.Is(err, unix.EINTR), errors.Is(err, unix.ECONNABORTED), errors.Is(err, unix.EPROTO):
				continue
			case errors.Is(err, unix.EMFILE), errors.Is(err, unix.ENFILE), errors.Is(err, unix.ENOBUFS), errors.Is(err, unix.ENOMEM):
				// Out of resources: back off (5 ms doubling to 1 s, as
				// net/http does) instead of spinning on a readable fd.
				if l.backoff == 0 {
					l.backoff = 5 * time.Millisecond
				} else if l.backoff *= 2; l.backoff > time.Second {
					l.backoff = time.Second
				}
				s.log.Warn("accept", zap.String("unit", su.u.Name), zap.Int("fd", l.fd), zap.Error(err), zap.Duration("retry", l.backoff))
				l.paused = true
				s.after(l.backoff, func() { s.unpause(l) })
				return
			default:
				s.failSocket(su, ResultResources, "accept: "+err.Error())
				return
			}
			break
		}
		l.backoff = 0
		if err := activator.ApplyConnOptions(c.FD, l.domain, &su.u.Options); err != nil {
			s.log.Debug("connection options", zap.String("unit", su.u.Name), zap.Error(err))
		}
		s.handleConn(su, c)
		if su.state != SocketListening {
			return
		}
	}
	s.rearm(l)
}

// refuse closes a connection over a limit, as systemd does (accept and
// close: the client sees EOF, and the listener does not stay readable).
func (s *Supervisor) refuse(su *socketUnit, c activator.Conn, msg string, fields ...zap.Field) {
	unix.Close(c.FD)
	su.nRefused++
	if su.refuseLog == nil {
		su.refuseLog = &rateLimit{interval: 10 * time.Second, burst: 5}
	}
	if su.refuseLog.allow(time.Now()) {
		s.log.Warn(msg, append(fields, zap.String("unit", su.u.Name))...)
	}
}

func (s *Supervisor) handleConn(su *socketUnit, c activator.Conn) {
	if !su.trigger.allow(time.Now()) {
		unix.Close(c.FD)
		s.triggerLimitHit(su)
		return
	}
	if su.nConnections >= su.u.MaxConnections {
		s.refuse(su, c, "too many incoming connections, dropping connection", zap.Int("connections", su.nConnections))
		return
	}
	var src string
	if su.u.MaxConnectionsPerSource > 0 {
		if k, ok := c.Source(); ok {
			src = k
			if su.perSource[src] >= su.u.MaxConnectionsPerSource {
				s.refuse(su, c, "too many incoming connections from source, dropping connection",
					zap.String("source", src), zap.Int("connections", su.perSource[src]))
				return
			}
		}
	}
	n := su.nAccepted
	su.nAccepted++
	name := templatePrefix(su.u.Service) + "@" + c.Instance(n) + ".service"
	inst, err := s.set.Instance(su.u.Service, name)
	if err != nil {
		unix.Close(c.FD)
		// systemd fails the whole socket when the instance cannot be loaded.
		s.failSocket(su, ResultResources, "cannot load "+name+": "+err.Error())
		return
	}
	sv := &serviceUnit{u: inst, state: ServiceInactive, instanceOf: su, conn: &c, source: src}
	su.nConnections++
	if src != "" {
		if su.perSource == nil {
			su.perSource = map[string]int{}
		}
		su.perSource[src]++
	}
	su.nActivations++
	// sockd's copy of the connection is closed once the last process that
	// gets it has been started (or the instance failed): see mainStarted
	// and nextControl.
	s.startService(sv, su, "connection")
	if !sv.active() {
		s.releaseConnFD(sv)
	}
}

// releaseConn gives back an Accept=yes instance's connection slot.
func (s *Supervisor) releaseConn(sv *serviceUnit) {
	su := sv.instanceOf
	if su == nil || sv.released {
		return
	}
	sv.released = true
	su.nConnections--
	if sv.source != "" {
		if su.perSource[sv.source]--; su.perSource[sv.source] <= 0 {
			delete(su.perSource, sv.source)
		}
	}
}

// templatePrefix turns "echo@.service" into "echo".
func templatePrefix(template string) string {
	for i := 0; i < len(template); i++ {
		if template[i] == '@' {
			return template[:i]
		}
	}
	return template
}

// triggerService handles the first readiness of an Accept=no socket.
func (s *Supervisor) triggerService(su *socketUnit, l *listener) {
	if !su.trigger.allow(time.Now()) {
		s.triggerLimitHit(su)
		return
	}
	sv := su.svc
	if sv == nil {
		s.failSocket(su, ResultResources, "service "+su.u.Service+" not loaded, refusing")
		return
	}
	s.disarm(su)
	su.state = SocketRunning
	if sv.active() {
		return
	}
	su.nActivations++
	s.startService(sv, su, "fd "+itoa(l.fd))
	// The service got the fds of every socket that triggers it: none of
	// them is watched while it runs.
	s.takeSockets(sv)
}

// triggerLimitHit fails a socket whose trigger limit was exceeded.
func (s *Supervisor) triggerLimitHit(su *socketUnit) {
	su.nTriggerLimitHits++
	s.failSocket(su, ResultTriggerLimitHit, "trigger limit hit, refusing further activation")
}
