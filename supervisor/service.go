package supervisor

import (
	"math"
	"os"
	"strconv"
	"strings"
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

// phase is a service's sub-state, as systemd's service states
// (systemd.service(5), src/core/service.c) less those sockd has no use for.
type phase int

const (
	phDead        phase = iota
	phCondition         // ExecCondition=
	phStartPre          // ExecStartPre=
	phStart             // ExecStart=: waiting for readiness (notify, forking, oneshot)
	phStartPost         // ExecStartPost=
	phRunning           // started
	phExited            // Type=oneshot, RemainAfterExit=yes: done, still active
	phReload            // ExecReload=
	phStop              // ExecStop=
	phStopSigterm       // KillSignal= sent, waiting
	phStopSigkill       // FinalKillSignal= sent, waiting
	phStopPost          // ExecStopPost=
	phAutoRestart       // waiting RestartSec= before starting again
	phFailed
)

var phaseNames = [...]string{"dead", "condition", "start-pre", "start", "start-post", "running", "exited",
	"reload", "stop", "stop-sigterm", "stop-sigkill", "stop-post", "auto-restart", "failed"}

func (p phase) String() string { return phaseNames[p] }

func (p phase) activeState() ServiceState {
	switch p {
	case phCondition, phStartPre, phStart, phStartPost, phAutoRestart:
		return ServiceActivating
	case phRunning, phExited, phReload:
		return ServiceActive
	case phStop, phStopSigterm, phStopSigkill, phStopPost:
		return ServiceDeactivating
	case phFailed:
		return ServiceFailed
	}
	return ServiceInactive
}

type procRole int

const (
	roleMain procRole = iota
	roleControl
)

type serviceUnit struct {
	u      *units.Service
	phase  phase
	state  ServiceState // phase.activeState(), kept for status
	result string       // the first failure wins, as in systemd
	since  time.Time

	mainPID    int
	pgid       int // the main process's group: KillMode=control-group acts on it
	controlPID int
	cmdIndex   int // oneshot: which ExecStart= runs
	ctl        []units.Command
	ctlIndex   int
	started    bool // reached running: ExecStop= applies
	// groupSignalled: KillMode=mixed has signalled the rest of the group.
	groupSignalled bool

	mainExit    spawner.Exit
	hasMainExit bool
	statusText  string
	// trigger says what started this run ("socket web.socket fd 3"), for
	// the activation log line; empty for start requests and restarts.
	trigger string

	triggers []*socketUnit

	// Accept=yes instances.
	instanceOf *socketUnit
	conn       *activator.Conn
	source     string
	released   bool

	startLimit   rateLimit
	restarts     int
	lastExit     string
	timer        *time.Timer // the current phase's timeout
	restartTimer *time.Timer
	gen          uint64 // bumped on every phase change; stale timers check it
	runGen       uint64 // bumped on every start; stale watchdog timers check it

	watchdogTimeout time.Duration // WatchdogSec=, or WATCHDOG_USEC= from the service
	watchdogTimer   *time.Timer
	fdStore         []*storedFD
	stopping        bool // an explicit stop: no restart
	// restartAfterStop starts the service again once a stop requested
	// with RestartUnit is complete.
	restartAfterStop bool
}

func (sv *serviceUnit) active() bool {
	return sv.phase != phDead && sv.phase != phFailed
}

type proc struct {
	pid    int
	p      *spawner.Process
	sv     *serviceUnit // nil for a socket unit's helper
	sock   *socketUnit  // the socket unit of a helper (ExecStartPre= …)
	role   procRole
	ignore bool // "-" prefix: failure does not count
}

func itoa(i int) string { return strconv.Itoa(i) }

// setPhase moves sv to p and cancels the previous phase's timeout.
func (s *Supervisor) setPhase(sv *serviceUnit, p phase) {
	if sv.timer != nil {
		sv.timer.Stop()
		sv.timer = nil
	}
	sv.gen++
	old := sv.state
	sv.phase = p
	sv.state = p.activeState()
	if old != sv.state {
		sv.since = time.Now()
		if sv.instanceOf == nil {
			s.log.Debug("service state", zap.String("unit", sv.u.Name), zap.String("from", string(old)),
				zap.String("to", string(sv.state)), zap.String("sub", p.String()))
		}
	}
}

// armTimeout runs f after d unless sv changes phase first. A zero or
// infinite d arms nothing.
func (s *Supervisor) armTimeout(sv *serviceUnit, d time.Duration, f func()) {
	if d <= 0 || d == units.Infinity {
		return
	}
	gen := sv.gen
	sv.timer = s.after(d, func() {
		if sv.gen == gen {
			sv.timer = nil
			f()
		}
	})
}

func (s *Supervisor) startTimeout(sv *serviceUnit) time.Duration {
	if sv.u.TimeoutStart > 0 {
		return sv.u.TimeoutStart
	}
	if sv.u.Type == units.TypeOneshot {
		return units.Infinity
	}
	return s.cfg.Defaults.TimeoutStartSec.Duration
}

func (s *Supervisor) stopTimeout(sv *serviceUnit) time.Duration {
	if sv.u.TimeoutStop > 0 {
		return sv.u.TimeoutStop
	}
	return s.cfg.Defaults.TimeoutStopSec.Duration
}

// fail records the first failure result.
func (sv *serviceUnit) fail(result string) {
	if sv.result == "" || sv.result == ResultSuccess {
		sv.result = result
	}
}

// startService starts sv: ExecCondition=, ExecStartPre=, ExecStart=,
// ExecStartPost=. trigger is the socket that caused it (nil otherwise),
// why a short text for the log.
func (s *Supervisor) startService(sv *serviceUnit, trigger *socketUnit, why string) {
	if s.stopping {
		return
	}
	if sv.restartTimer != nil {
		sv.restartTimer.Stop()
		sv.restartTimer = nil
	}
	if sv.instanceOf == nil && !sv.startLimit.allow(time.Now()) {
		s.setPhase(sv, phFailed)
		sv.result = ResultStartLimitHit
		s.log.Error("start request repeated too quickly, refusing to start", zap.String("unit", sv.u.Name),
			zap.Duration("interval", sv.u.StartLimitInterval), zap.Int("burst", sv.u.StartLimitBurst))
		for _, su := range sv.triggers {
			if su.state == SocketRunning || su.state == SocketListening {
				s.failSocket(su, ResultServiceStartLimit, "service "+sv.u.Name+" hit its start limit")
			}
		}
		return
	}
	if len(sv.u.ExecStart) == 0 && sv.u.Type != units.TypeOneshot {
		s.setPhase(sv, phFailed)
		sv.result = ResultResources
		s.log.Error("service has no ExecStart=", zap.String("unit", sv.u.Name))
		s.serviceGone(sv)
		return
	}
	sv.stopping, sv.started, sv.hasMainExit = false, false, false
	sv.runGen++
	sv.watchdogTimeout = sv.u.WatchdogSec
	sv.result, sv.cmdIndex, sv.statusText = ResultSuccess, 0, ""
	sv.trigger = ""
	if trigger != nil {
		sv.trigger = trigger.u.Name + " " + why
	} else {
		s.log.Info("starting", zap.String("unit", sv.u.Name), zap.String("reason", why))
	}
	s.runControl(sv, phCondition, sv.u.ExecCondition)
}

// runControl runs cmds one after the other as sv's control process in
// phase p, then moves on to the phase after p.
func (s *Supervisor) runControl(sv *serviceUnit, p phase, cmds []units.Command) {
	s.setPhase(sv, p)
	sv.ctl, sv.ctlIndex = cmds, 0
	s.nextControl(sv)
}

// nextControl starts sv.ctl[sv.ctlIndex], or leaves the phase when done.
func (s *Supervisor) nextControl(sv *serviceUnit) {
	for sv.ctlIndex < len(sv.ctl) {
		cmd := &sv.ctl[sv.ctlIndex]
		sv.ctlIndex++
		pid, err := s.spawn(sv, cmd, roleControl)
		if err != nil {
			if cmd.Flags&units.CmdIgnoreFailure != 0 {
				continue
			}
			sv.lastExit = err.Error()
			s.controlFailed(sv, ResultExitCode, false)
			return
		}
		sv.controlPID = pid
		if sv.phase == phStartPost && sv.ctlIndex == len(sv.ctl) {
			// The last command that gets an inetd-style instance's
			// connection has its copy.
			s.releaseConnFD(sv)
		}
		d := s.startTimeout(sv)
		if sv.phase >= phStop {
			d = s.stopTimeout(sv)
		}
		s.armTimeout(sv, d, func() { s.controlTimeout(sv) })
		return
	}
	s.phaseDone(sv)
}

// phaseDone moves on once a phase's control commands have all succeeded.
func (s *Supervisor) phaseDone(sv *serviceUnit) {
	switch sv.phase {
	case phCondition:
		s.runControl(sv, phStartPre, sv.u.ExecStartPre)
	case phStartPre:
		s.enterStart(sv)
	case phStartPost:
		s.setPhase(sv, phRunning)
		sv.started = true
		// Normally done already (mainStarted, nextControl): the client
		// sees the connection end when the instance's processes do.
		s.releaseConnFD(sv)
		if sv.mainPID == 0 && sv.u.Type != units.TypeForking {
			// The main process already exited during ExecStartPost=.
			s.mainGone(sv)
		}
	case phReload:
		s.reloaded(sv)
	case phStop:
		s.enterStopSignal(sv, phStopSigterm)
	case phStopPost:
		s.enterDead(sv)
	}
}

// controlFailed handles a control command that failed (not "-").
func (s *Supervisor) controlFailed(sv *serviceUnit, result string, conditionSkip bool) {
	switch sv.phase {
	case phCondition:
		if conditionSkip {
			// ExecCondition= exiting 1..254 skips the unit: not a failure.
			s.log.Info("condition failed, skipping", zap.String("unit", sv.u.Name), zap.String("status", sv.lastExit))
			sv.result = ResultSuccess
			s.enterDead(sv)
			return
		}
		sv.fail(result)
		s.enterStopPost(sv)
	case phStartPre:
		sv.fail(result)
		s.enterStopPost(sv)
	case phStartPost:
		sv.fail(result)
		s.enterStop(sv)
	case phReload:
		// A failed reload leaves the service running, as in systemd.
		s.log.Warn("reload failed", zap.String("unit", sv.u.Name), zap.String("status", sv.lastExit))
		s.reloaded(sv)
	case phStop:
		// A failing ExecStop= still ends in killing what is left.
		s.enterStopSignal(sv, phStopSigterm)
	case phStopPost:
		s.enterDead(sv)
	}
}

func (s *Supervisor) controlTimeout(sv *serviceUnit) {
	s.log.Warn("control process timed out", zap.String("unit", sv.u.Name), zap.Int("pid", sv.controlPID), zap.String("phase", sv.phase.String()))
	if sv.controlPID != 0 {
		syscall.Kill(sv.controlPID, syscall.SIGKILL)
	}
	sv.fail(ResultTimeout)
	// The kill is reported as an exit; treat the command as failed now and
	// ignore that exit.
	if p := s.procs[sv.controlPID]; p != nil {
		p.ignore = true
	}
	sv.controlPID = 0
	s.controlFailed(sv, ResultTimeout, false)
}

// enterStart runs the main process.
func (s *Supervisor) enterStart(sv *serviceUnit) {
	s.setPhase(sv, phStart)
	if len(sv.u.ExecStart) == 0 { // oneshot without ExecStart=
		s.runControl(sv, phStartPost, sv.u.ExecStartPost)
		return
	}
	cmd := &sv.u.ExecStart[sv.cmdIndex]
	if sv.instanceOf != nil && s.spawnq != nil {
		spec, err := s.spec(sv, cmd, roleMain)
		if err != nil {
			s.startFailed(sv, err)
			return
		}
		if spec.NoWait && s.sp.NoWaitStarts() {
			// The spawner does not wait for the execve: start right here.
			s.startMain(sv, cmd, spec)
			return
		}
		// Accept=yes instances whose start waits for the execve (Type=exec,
		// the fork server) start asynchronously, so that accepting and
		// starting the next ones overlaps with this one's execve.
		gen := sv.gen
		s.spawnAsync(spec, func(p *spawner.Process, err error, took time.Duration) {
			if err != nil {
				s.startFailed(sv, err)
				return
			}
			s.spawned(sv, cmd, roleMain, spec, p, took)
			if sv.gen != gen || sv.phase != phStart || s.stopping {
				// Stopped meanwhile (sockd is shutting down): end it.
				p.SignalGroup(syscall.Signal(killSignal(sv.u)))
			} else {
				s.mainStarted(sv, p.Pid)
			}
			if ex, ok := s.early[p.Pid]; ok {
				// It was reaped before this start was reported back.
				delete(s.early, p.Pid)
				s.onExit(ex)
			}
		})
		return
	}
	spec, err := s.spec(sv, cmd, roleMain)
	if err != nil {
		s.startFailed(sv, err)
		return
	}
	s.startMain(sv, cmd, spec)
}

// startMain starts sv's main process from spec and waits for nothing
// more than Start does.
func (s *Supervisor) startMain(sv *serviceUnit, cmd *units.Command, spec *spawner.Spec) {
	pid, err := s.start(sv, cmd, roleMain, spec)
	if err != nil {
		s.startFailed(sv, err)
		return
	}
	s.mainStarted(sv, pid)
}

// startFailed handles a main process that could not be started.
func (s *Supervisor) startFailed(sv *serviceUnit, err error) {
	s.log.Error("failed to start service", zap.String("unit", sv.u.Name), zap.Error(err))
	sv.lastExit = err.Error()
	sv.fail(ResultExitCode)
	s.releaseConnFD(sv)
	s.enterStopPost(sv)
}

// mainStarted moves on once the main process runs: at once for simple and
// exec, on READY=1, on the parent's exit, or on exit for the others.
func (s *Supervisor) mainStarted(sv *serviceUnit, pid int) {
	sv.mainPID, sv.pgid = pid, pid
	lastMain := sv.u.Type != units.TypeOneshot || sv.cmdIndex+1 >= len(sv.u.ExecStart)
	if lastMain && (!socketStdio(sv) || len(sv.u.ExecStartPost) == 0) {
		// The (last) main process has its copy of the connection (clone
		// copied the descriptor table); nothing else of the instance
		// gets one.
		s.releaseConnFD(sv)
	}
	s.armWatchdog(sv)
	switch sv.u.Type {
	case units.TypeNotify, units.TypeNotifyReload, units.TypeForking, units.TypeOneshot:
		// Started on READY=1, on the parent's exit, or on exit.
		s.armTimeout(sv, s.startTimeout(sv), func() {
			s.log.Warn("start timed out", zap.String("unit", sv.u.Name), zap.Duration("timeout", s.startTimeout(sv)))
			sv.fail(ResultTimeout)
			s.enterStopSignal(sv, phStopSigterm)
		})
	default:
		s.runControl(sv, phStartPost, sv.u.ExecStartPost)
	}
}

// socketStdio reports whether sv is an Accept=yes instance whose commands
// get the connection as stdin, stdout or stderr (inetd style): then
// ExecStartPost= gets it too, as under systemd.
func socketStdio(sv *serviceUnit) bool {
	x := &sv.u.Exec
	return sv.conn != nil && (x.StandardInput.Kind == units.StdioSocket ||
		x.StandardOutput.Kind == units.StdioSocket || x.StandardError.Kind == units.StdioSocket)
}

// releaseConnFD closes sockd's copy of an Accept=yes instance's connection.
func (s *Supervisor) releaseConnFD(sv *serviceUnit) {
	if sv.conn != nil && sv.conn.FD >= 0 {
		activator.CloseConn(sv.conn.FD)
		sv.conn.FD = -1
	}
}

// notifyReady handles READY=1 (Type=notify).
func (s *Supervisor) notifyReady(sv *serviceUnit) {
	if sv.phase == phStart && (sv.u.Type == units.TypeNotify || sv.u.Type == units.TypeNotifyReload) {
		s.log.Info("ready", zap.String("unit", sv.u.Name), zap.Int("pid", sv.mainPID))
		s.runControl(sv, phStartPost, sv.u.ExecStartPost)
	}
}

// spawn starts one command of sv and records its process.
func (s *Supervisor) spawn(sv *serviceUnit, cmd *units.Command, role procRole) (int, error) {
	spec, err := s.spec(sv, cmd, role)
	if err != nil {
		return 0, err
	}
	return s.start(sv, cmd, role, spec)
}

// start starts spec for cmd of sv and records the process.
func (s *Supervisor) start(sv *serviceUnit, cmd *units.Command, role procRole, spec *spawner.Spec) (int, error) {
	t0 := time.Now()
	p, err := s.sp.Start(spec)
	if err != nil {
		return 0, err
	}
	s.spawned(sv, cmd, role, spec, p, time.Since(t0))
	return p.Pid, nil
}

// spawned records a started process (and logs the activation line).
func (s *Supervisor) spawned(sv *serviceUnit, cmd *units.Command, role procRole, spec *spawner.Spec, p *spawner.Process, took time.Duration) {
	if s.opts.OnSpawn != nil {
		s.opts.OnSpawn(sv.u.Name, took)
	}
	s.procs[p.Pid] = &proc{pid: p.Pid, p: p, sv: sv, role: role, ignore: cmd.Flags&units.CmdIgnoreFailure != 0}
	if role == roleMain {
		// One line per activation: unit, trigger, pid, fds.
		msg := "started"
		if sv.trigger != "" {
			msg = "activated"
		}
		fds := len(spec.Files)
		if spec.Stdin.Kind == spawner.StdioFD {
			fds++ // inetd style: the connection is stdin/stdout
		}
		s.log.Info(msg, zap.String("unit", sv.u.Name), zap.String("trigger", sv.trigger), zap.Int("pid", p.Pid), zap.Int("fds", fds))
	}
}

// onExit handles the end of a process the spawner reaped.
func (s *Supervisor) onExit(ex spawner.Exit) {
	p := s.procs[ex.Pid]
	if p == nil {
		if ex.Unit != "" && s.pending > 0 {
			// Reaped before the asynchronous start that made it reported
			// back: keep it for spawned.
			s.early[ex.Pid] = ex
			return
		}
		s.onOrphanExit(ex)
		return
	}
	delete(s.procs, ex.Pid)
	if p.sock != nil {
		s.socketHelperExit(p.sock, ex, p.ignore)
		return
	}
	sv := p.sv
	if p.role == roleControl {
		if sv.controlPID != ex.Pid {
			return // timed out and already handled
		}
		sv.controlPID = 0
		clean, result := exitClean(sv.u.ServiceSettings, ex, true)
		if !clean && !p.ignore {
			sv.lastExit = describeExit(ex)
			s.log.Warn("control process failed", zap.String("unit", sv.u.Name), zap.Int("pid", ex.Pid),
				zap.String("phase", sv.phase.String()), zap.String("status", sv.lastExit))
			skip := sv.phase == phCondition && ex.Signal == 0 && ex.Code >= 1 && ex.Code <= 254
			s.controlFailed(sv, result, skip)
			return
		}
		s.nextControl(sv)
		return
	}
	if sv.mainPID == ex.Pid {
		sv.mainPID = 0
	}
	sv.mainExit, sv.hasMainExit = ex, true
	sv.lastExit = describeExit(ex)
	if ex.StartErr != nil {
		// A start that did not wait for execve (an Accept=yes instance)
		// learns of a failure with the exit, as systemd does
		// (status=203/EXEC).
		s.log.Error("failed to start service", zap.String("unit", sv.u.Name), zap.Int("pid", ex.Pid), zap.Error(ex.StartErr))
		sv.lastExit += " (" + ex.StartErr.Op + ": " + ex.StartErr.Err.Error() + ")"
	}
	clean, result := exitClean(sv.u.ServiceSettings, ex, sv.u.Type == units.TypeOneshot)
	fields := []zap.Field{zap.String("unit", sv.u.Name), zap.Int("pid", ex.Pid), zap.String("status", sv.lastExit)}
	if clean || sv.phase >= phStop {
		// Exits after a stop request are what was asked for.
		s.log.Info("exited", fields...)
	} else {
		s.log.Warn("exited", append(fields, zap.String("result", result))...)
	}
	switch sv.phase {
	case phStart:
		switch {
		case !clean:
			sv.fail(result)
			s.enterStopSignal(sv, phStopSigterm)
		case sv.u.Type == units.TypeOneshot && sv.cmdIndex+1 < len(sv.u.ExecStart):
			sv.cmdIndex++
			s.enterStart(sv)
		case sv.u.Type == units.TypeOneshot:
			s.runControl(sv, phStartPost, sv.u.ExecStartPost)
		case sv.u.Type == units.TypeForking:
			// The parent exited: the daemon it left behind is the main
			// process, named by PIDFile=.
			sv.mainPID = s.readPIDFile(sv)
			s.runControl(sv, phStartPost, sv.u.ExecStartPost)
		default: // notify: exited before READY=1
			sv.fail(ResultProtocol)
			if clean {
				sv.fail(ResultExitCode)
			}
			s.enterStopSignal(sv, phStopSigterm)
		}
	case phStartPost:
		if !clean {
			sv.fail(result)
		}
		// Handled when ExecStartPost= is done.
	case phRunning, phReload:
		if !clean {
			sv.fail(result)
		}
		if sv.phase == phReload && sv.controlPID != 0 {
			syscall.Kill(sv.controlPID, syscall.SIGTERM)
		}
		s.mainGone(sv)
	case phStop, phStopSigterm, phStopSigkill:
		if sv.phase != phStop && s.groupGone(sv) && sv.controlPID == 0 {
			s.enterStopPost(sv)
		}
	}
}

// onOrphanExit handles exits of processes sockd did not start itself
// (orphans re-parented to sockd as subreaper and reported by the spawner,
// e.g. the daemon of a Type=forking service named by PIDFile=).
func (s *Supervisor) onOrphanExit(ex spawner.Exit) {
	for _, sv := range s.services {
		if sv.u.Type == units.TypeForking && sv.mainPID == ex.Pid && sv.phase == phRunning {
			sv.mainPID = 0
			sv.lastExit = describeExit(ex)
			if clean, result := exitClean(sv.u.ServiceSettings, ex, false); !clean {
				sv.fail(result)
			}
			s.log.Info("main process exited", zap.String("unit", sv.u.Name), zap.Int("pid", ex.Pid), zap.String("status", sv.lastExit))
			s.mainGone(sv)
			return
		}
	}
}

// readPIDFile reads PIDFile= after a forking service's parent exited.
func (s *Supervisor) readPIDFile(sv *serviceUnit) int {
	if sv.u.PIDFile == "" {
		return 0
	}
	b, err := os.ReadFile(sv.u.PIDFile)
	if err != nil {
		s.log.Warn("PIDFile= not readable", zap.String("unit", sv.u.Name), zap.Error(err))
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 || syscall.Kill(pid, 0) != nil {
		s.log.Warn("PIDFile= names no live process", zap.String("unit", sv.u.Name), zap.String("content", strings.TrimSpace(string(b))))
		return 0
	}
	return pid
}

// mainGone handles the main process ending on its own while running.
func (s *Supervisor) mainGone(sv *serviceUnit) {
	if sv.u.RemainAfterExit && (sv.result == ResultSuccess || sv.result == "") {
		s.setPhase(sv, phExited)
		return
	}
	s.enterStop(sv)
}

// enterStop runs ExecStop= (only for a service that started), then stops
// what is left.
func (s *Supervisor) enterStop(sv *serviceUnit) {
	if sv.started && len(sv.u.ExecStop) > 0 {
		s.runControl(sv, phStop, sv.u.ExecStop)
		return
	}
	s.enterStopSignal(sv, phStopSigterm)
}

// enterStopSignal sends KillSignal= (phStopSigterm) or FinalKillSignal=
// (phStopSigkill) per KillMode=, or moves on when nothing is left.
func (s *Supervisor) enterStopSignal(sv *serviceUnit, p phase) {
	s.setPhase(sv, p)
	if p == phStopSigterm {
		sv.groupSignalled = false
	}
	if s.groupGone(sv) && sv.controlPID == 0 {
		s.enterStopPost(sv)
		return
	}
	final := p == phStopSigkill
	sig := killSignal(sv.u)
	if final {
		sig = finalKillSignal(sv.u)
	} else if sv.restartAfterStop && sv.u.RestartKillSignal > 0 {
		sig = sv.u.RestartKillSignal
	}
	s.killService(sv, syscall.Signal(sig), final)
	if sv.controlPID != 0 {
		syscall.Kill(sv.controlPID, syscall.Signal(sig))
	}
	if sv.u.KillMode == units.KillNone && sv.mainPID == 0 {
		s.enterStopPost(sv)
		return
	}
	timeout := s.stopTimeout(sv)
	s.armTimeout(sv, timeout, func() {
		if !final {
			sv.fail(ResultTimeout)
			if !sv.u.SendSIGKILL {
				// SendSIGKILL=no: leave what remains running.
				s.log.Warn("stop timed out, SendSIGKILL=no: leaving processes", zap.String("unit", sv.u.Name))
				s.enterStopPost(sv)
				return
			}
			s.log.Warn("stop timed out, killing", zap.String("unit", sv.u.Name), zap.Duration("timeout", timeout))
			s.enterStopSignal(sv, phStopSigkill)
			return
		}
		s.log.Error("processes remain after the final kill", zap.String("unit", sv.u.Name))
		s.enterStopPost(sv)
	})
	// Group members other than the main process are not sockd's children
	// until orphaned, so their end is watched by polling the group while
	// stopping (and only then).
	s.watchGroup(sv)
}

// watchGroup checks every 50 ms, while sv stops, whether its process group
// is empty.
func (s *Supervisor) watchGroup(sv *serviceUnit) {
	gen := sv.gen
	s.after(50*time.Millisecond, func() {
		if sv.gen != gen || (sv.phase != phStopSigterm && sv.phase != phStopSigkill) {
			return
		}
		if s.groupGone(sv) && sv.controlPID == 0 {
			s.enterStopPost(sv)
			return
		}
		if sv.u.KillMode == units.KillMixed && sv.phase == phStopSigterm && sv.mainPID == 0 && !sv.groupSignalled {
			// KillMode=mixed: the main process is gone; what it left in
			// its group now gets KillSignal= too (systemd's final-sigterm).
			sv.groupSignalled = true
			s.killService(sv, syscall.Signal(killSignal(sv.u)), true)
		}
		s.watchGroup(sv)
	})
}

// groupGone reports whether sv has no main process and nothing left in its
// process group (KillMode=control-group and mixed), or no main process
// (process, none).
func (s *Supervisor) groupGone(sv *serviceUnit) bool {
	if sv.mainPID != 0 && s.procs[sv.mainPID] == nil && syscall.Kill(sv.mainPID, 0) == syscall.ESRCH {
		// A forking service's daemon that is not sockd's child (no
		// subreaper, or reaped as an orphan) ended.
		sv.mainPID = 0
	}
	if sv.mainPID != 0 {
		return false
	}
	if sv.pgid == 0 || sv.u.KillMode == units.KillProcess || sv.u.KillMode == units.KillNone {
		return true
	}
	return syscall.Kill(-sv.pgid, 0) == syscall.ESRCH
}

// enterStopPost runs ExecStopPost= with $SERVICE_RESULT, $EXIT_CODE and
// $EXIT_STATUS.
func (s *Supervisor) enterStopPost(sv *serviceUnit) {
	if len(sv.u.ExecStopPost) > 0 {
		s.runControl(sv, phStopPost, sv.u.ExecStopPost)
		return
	}
	s.enterDead(sv)
}

// enterDead ends a run: inactive or failed, then Restart=, then the
// sockets go back to listening.
func (s *Supervisor) enterDead(sv *serviceUnit) {
	if sv.result == "" {
		sv.result = ResultSuccess
	}
	if sv.result == ResultSuccess || sv.stopping {
		s.setPhase(sv, phDead)
	} else {
		s.setPhase(sv, phFailed)
	}
	sv.pgid = 0
	s.releaseConnFD(sv)
	if sv.watchdogTimer != nil {
		sv.watchdogTimer.Stop()
		sv.watchdogTimer = nil
	}
	if !(sv.restartAfterStop && !s.stopping) && (sv.stopping || s.stopping || !s.shouldRestart(sv)) {
		// No restart pending: the fd store goes (FileDescriptorStorePreserve=).
		s.fdStoreRelease(sv, s.stopping)
	}
	if sv.restartAfterStop && !s.stopping {
		sv.restartAfterStop = false
		s.serviceGone(sv)
		s.startService(sv, nil, "restart request")
		s.takeSockets(sv)
		return
	}
	if !sv.stopping && !s.stopping && sv.instanceOf == nil && s.shouldRestart(sv) {
		d := restartDelay(sv.u.ServiceSettings, sv.restarts)
		sv.restarts++
		s.setPhase(sv, phAutoRestart)
		s.log.Info("scheduling restart", zap.String("unit", sv.u.Name), zap.Duration("in", d), zap.Int("restarts", sv.restarts))
		sv.restartTimer = s.after(d, func() {
			sv.restartTimer = nil
			if sv.phase == phAutoRestart {
				s.startService(sv, nil, "restart")
				s.takeSockets(sv)
			}
		})
	}
	s.serviceGone(sv)
}

// takeSockets marks the listening sockets of a service started without a
// trigger (start request, restart) as owned by it.
func (s *Supervisor) takeSockets(sv *serviceUnit) {
	if !sv.active() {
		return
	}
	for _, su := range sv.triggers {
		if su.state == SocketListening {
			s.disarm(su)
			su.state = SocketRunning
		}
	}
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
			if su.u.FlushPending && su.bound != nil {
				// FlushPending=yes: what the service left queued is dropped
				// instead of triggering it again.
				for _, bl := range su.bound.Listeners {
					activator.Flush(bl.FD, bl.SockType)
				}
			}
			s.setSocketState(su, SocketListening, ResultSuccess, "")
			s.arm(su)
		}
	}
}

func (s *Supervisor) shouldRestart(sv *serviceUnit) bool {
	code := -1
	if sv.hasMainExit && sv.mainExit.Signal == 0 {
		code = sv.mainExit.Code
	}
	clean := sv.result == ResultSuccess
	return shouldRestart(sv.u.ServiceSettings, clean, sv.result, code)
}

// exitClean classifies an exit as systemd does: exit code 0, or SIGHUP,
// SIGINT, SIGTERM or SIGPIPE (except for Type=oneshot and control
// processes), or an entry of SuccessExitStatus= is a clean exit.
func exitClean(u *units.ServiceSettings, ex spawner.Exit, strict bool) (bool, string) {
	if ex.Signal != 0 {
		sig := int(ex.Signal)
		if contains(u.SuccessExitStatus.Signals, sig) {
			return true, ResultSuccess
		}
		switch ex.Signal {
		case syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGPIPE:
			if !strict {
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
// and the effect of the Restart= settings"). result is the service's
// result; code the main process's exit code, or -1.
func shouldRestart(u *units.ServiceSettings, clean bool, result string, code int) bool {
	if code >= 0 && contains(u.RestartPreventExitStatus.Codes, code) {
		return false
	}
	if code >= 0 && contains(u.RestartForceExitStatus.Codes, code) {
		return true
	}
	abnormal := result == ResultSignal || result == ResultCoreDump || result == ResultTimeout || result == ResultWatchdog
	switch u.Restart {
	case units.RestartAlways:
		return true
	case units.RestartOnSuccess:
		return clean
	case units.RestartOnFailure:
		return !clean
	case units.RestartOnAbnormal:
		return abnormal
	case units.RestartOnAbort:
		return result == ResultSignal || result == ResultCoreDump
	case units.RestartOnWatchdog:
		return result == ResultWatchdog
	}
	return false
}

// restartDelay is RestartSec=, growing exponentially over RestartSteps=
// up to RestartMaxDelaySec= when both are set.
func restartDelay(u *units.ServiceSettings, n int) time.Duration {
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
