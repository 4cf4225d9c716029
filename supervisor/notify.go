package supervisor

import (
	"strconv"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/notify"
	"github.com/sockd/sockd/units"
)

// notifyAccess is NotifyAccess= as in effect: when unset it is "main" for
// Type=notify/notify-reload, WatchdogSec= or FileDescriptorStoreMax=, else
// "none" (systemd's service_get_notify_access).
func notifyAccess(u *units.Service) units.NotifyAccess {
	if u.NotifyAccess != units.NotifyUnset {
		return u.NotifyAccess
	}
	if u.Type == units.TypeNotify || u.Type == units.TypeNotifyReload || u.WatchdogSec > 0 || u.FileDescriptorStoreMax > 0 {
		return units.NotifyMain
	}
	return units.NotifyNone
}

// notifyEnv is the NOTIFY_SOCKET a process of sv gets: the main process
// when NotifyAccess= is not none, control processes with exec or all.
func (s *Supervisor) notifyEnv(sv *serviceUnit, role procRole) []string {
	if s.notifyAddr == "" {
		return nil
	}
	na := notifyAccess(sv.u)
	if na == units.NotifyNone || (role == roleControl && na != units.NotifyExec && na != units.NotifyAll) {
		return nil
	}
	env := []string{"NOTIFY_SOCKET=" + s.notifyAddr}
	if role == roleMain && sv.u.WatchdogSec > 0 {
		env = append(env, "WATCHDOG_USEC="+strconv.FormatInt(sv.u.WatchdogSec.Microseconds(), 10))
	}
	if role == roleMain && sv.u.FileDescriptorStoreMax > 0 {
		env = append(env, "FDSTORE="+strconv.Itoa(sv.u.FileDescriptorStoreMax))
	}
	return env
}

// senderOf finds the service a notification comes from and whether the
// sender may speak for it under NotifyAccess=. The kernel vouches for the
// sender's pid (SO_PASSCRED), so one service cannot speak for another.
func (s *Supervisor) senderOf(pid int) (*serviceUnit, bool) {
	var sv *serviceUnit
	role := roleMain
	if p := s.procs[pid]; p != nil && p.sv != nil {
		sv, role = p.sv, p.role
	} else {
		for _, x := range s.services {
			if x.mainPID == pid {
				sv = x
				break
			}
		}
		if sv == nil {
			// Any other process of a service's group (NotifyAccess=all).
			pgid, err := syscall.Getpgid(pid)
			if err != nil {
				return nil, false
			}
			for _, x := range s.services {
				if x.pgid == pgid && x.active() {
					sv = x
					break
				}
			}
			if sv == nil {
				for _, p := range s.procs {
					if p.sv != nil && p.sv.pgid == pgid {
						sv = p.sv
						break
					}
				}
			}
			if sv == nil {
				return nil, false
			}
			role = -1
		}
	}
	switch notifyAccess(sv.u) {
	case units.NotifyMain:
		return sv, pid == sv.mainPID
	case units.NotifyExec:
		return sv, pid == sv.mainPID || role == roleControl
	case units.NotifyAll:
		return sv, true
	}
	return sv, false
}

// onNotify handles one sd_notify message.
func (s *Supervisor) onNotify(m notify.Message) {
	sv, ok := s.senderOf(m.PID)
	if !ok {
		for _, fd := range m.FDs {
			unix.Close(fd)
		}
		if sv != nil {
			s.log.Warn("notification refused by NotifyAccess=", zap.String("unit", sv.u.Name), zap.Int("pid", m.PID))
		} else {
			s.log.Debug("notification from an unknown process", zap.Int("pid", m.PID))
		}
		return
	}
	if text, ok := m.Status(); ok {
		sv.statusText = text
	}
	if n, ok := m.Errno(); ok {
		sv.lastExit = "errno=" + strconv.Itoa(n)
	}
	if pid, ok := m.MainPID(); ok {
		s.setMainPID(sv, pid, m.UID)
	}
	if m.Watchdog() {
		s.armWatchdog(sv)
	}
	if d, ok := m.WatchdogUsec(); ok {
		sv.watchdogTimeout = d
		s.armWatchdog(sv)
	}
	if m.WatchdogTrigger() {
		s.watchdogExpired(sv)
	}
	if d, ok := m.ExtendTimeout(); ok {
		s.extendTimeout(sv, d)
	}
	if m.FDStoreRemove() {
		if name, ok := m.FDName(); ok {
			s.fdStoreRemove(sv, name)
		}
	}
	if m.FDStore() && len(m.FDs) > 0 {
		s.fdStoreAdd(sv, m)
	}
	if m.Stopping() {
		s.log.Info("service is stopping", zap.String("unit", sv.u.Name))
	}
	if m.Reloading() {
		s.log.Info("service is reloading", zap.String("unit", sv.u.Name))
	}
	if m.Ready() {
		s.notifyReady(sv)
	}
}

// setMainPID applies MAINPID=: ignored for 0, 1 and dead pids, and for a
// pid outside the service's process group unless the sender is root.
func (s *Supervisor) setMainPID(sv *serviceUnit, pid, senderUID int) {
	if pid <= 1 || pid == sv.mainPID || syscall.Kill(pid, 0) != nil {
		return
	}
	if pg, err := syscall.Getpgid(pid); senderUID != 0 && (err != nil || pg != sv.pgid) {
		s.log.Warn("MAINPID= outside the service refused", zap.String("unit", sv.u.Name), zap.Int("pid", pid))
		return
	}
	s.log.Info("main pid changed", zap.String("unit", sv.u.Name), zap.Int("from", sv.mainPID), zap.Int("pid", pid))
	sv.mainPID = pid
}

// armWatchdog (re)starts the WatchdogSec= deadline.
func (s *Supervisor) armWatchdog(sv *serviceUnit) {
	if sv.watchdogTimer != nil {
		sv.watchdogTimer.Stop()
		sv.watchdogTimer = nil
	}
	d := sv.watchdogTimeout
	if d <= 0 || d == units.Infinity || !sv.active() || sv.phase >= phStop {
		return
	}
	gen := sv.runGen
	sv.watchdogTimer = s.after(d, func() {
		if sv.runGen == gen && sv.watchdogTimer != nil {
			sv.watchdogTimer = nil
			s.watchdogExpired(sv)
		}
	})
}

// watchdogExpired kills the service with WatchdogSignal= (SIGABRT) and
// lets Restart= decide (on-watchdog, on-failure, on-abnormal, always).
func (s *Supervisor) watchdogExpired(sv *serviceUnit) {
	if !sv.active() || sv.phase >= phStop {
		return
	}
	s.log.Error("watchdog timeout, killing", zap.String("unit", sv.u.Name), zap.Int("pid", sv.mainPID), zap.Duration("timeout", sv.watchdogTimeout))
	sv.fail(ResultWatchdog)
	if sv.mainPID != 0 {
		syscall.Kill(sv.mainPID, syscall.SIGABRT)
	}
	s.enterStopSignal(sv, phStopSigterm)
}

// extendTimeout applies EXTEND_TIMEOUT_USEC=: the current start or stop
// phase may take d longer from now.
func (s *Supervisor) extendTimeout(sv *serviceUnit, d time.Duration) {
	if sv.timer == nil || d <= 0 {
		return
	}
	sv.timer.Stop()
	sv.timer = nil
	switch {
	case sv.phase == phStart:
		s.armTimeout(sv, d, func() {
			s.log.Warn("start timed out", zap.String("unit", sv.u.Name))
			sv.fail(ResultTimeout)
			s.enterStopSignal(sv, phStopSigterm)
		})
	case sv.phase == phStopSigterm:
		s.armTimeout(sv, d, func() {
			sv.fail(ResultTimeout)
			s.enterStopSignal(sv, phStopSigkill)
		})
	case sv.controlPID != 0:
		s.armTimeout(sv, d, func() { s.controlTimeout(sv) })
	}
}

// storedFD is one entry of a service's fd store.
type storedFD struct {
	fd    int
	name  string
	token uint64 // poller token watching it for POLLHUP (0: not watched)
}

// fdStoreAdd keeps the fds of an FDSTORE=1 message, up to
// FileDescriptorStoreMax=; they are handed back at the next start after
// the socket fds, named by FDNAME= (or "stored").
func (s *Supervisor) fdStoreAdd(sv *serviceUnit, m notify.Message) {
	name, ok := m.FDName()
	if !ok || name == "" {
		name = "stored"
	}
	for _, fd := range m.FDs {
		if len(sv.fdStore) >= sv.u.FileDescriptorStoreMax {
			s.log.Warn("hit the fd store limit, closing", zap.String("unit", sv.u.Name), zap.Int("max", sv.u.FileDescriptorStoreMax))
			unix.Close(fd)
			continue
		}
		if s.fdStoreHas(sv, fd) {
			unix.Close(fd)
			continue
		}
		e := &storedFD{fd: fd, name: name}
		if m.FDPoll() {
			// Dropped when its peer goes away, as systemd does.
			s.nextToken++
			e.token = s.nextToken
			if err := s.poller.WatchHangup(fd, e.token); err == nil {
				s.stored[e.token] = storeRef{sv, e}
			} else {
				e.token = 0
			}
		}
		sv.fdStore = append(sv.fdStore, e)
		s.log.Info("fd stored", zap.String("unit", sv.u.Name), zap.String("name", name), zap.Int("fd", fd))
	}
}

// fdStoreHas reports whether fd refers to an object already in the store
// (systemd drops duplicates, comparing with kcmp; the same file object
// has the same inode and device for sockets and pipes).
func (s *Supervisor) fdStoreHas(sv *serviceUnit, fd int) bool {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return false
	}
	for _, e := range sv.fdStore {
		var o unix.Stat_t
		if unix.Fstat(e.fd, &o) == nil && o.Dev == st.Dev && o.Ino == st.Ino {
			return true
		}
	}
	return false
}

type storeRef struct {
	sv *serviceUnit
	e  *storedFD
}

func (s *Supervisor) fdStoreRemove(sv *serviceUnit, name string) {
	kept := sv.fdStore[:0]
	for _, e := range sv.fdStore {
		if e.name == name {
			s.dropStored(e)
			continue
		}
		kept = append(kept, e)
	}
	sv.fdStore = kept
}

func (s *Supervisor) dropStored(e *storedFD) {
	if e.token != 0 {
		s.poller.Unwatch(e.fd)
		delete(s.stored, e.token)
	}
	unix.Close(e.fd)
}

// storedHangup drops a stored fd whose peer hung up.
func (s *Supervisor) storedHangup(ref storeRef) {
	s.log.Info("stored fd hung up, dropping", zap.String("unit", ref.sv.u.Name), zap.String("name", ref.e.name), zap.Int("fd", ref.e.fd))
	kept := ref.sv.fdStore[:0]
	for _, e := range ref.sv.fdStore {
		if e != ref.e {
			kept = append(kept, e)
		}
	}
	ref.sv.fdStore = kept
	s.dropStored(ref.e)
}

// fdStoreRelease empties the store when the service is fully stopped, as
// FileDescriptorStorePreserve= (default "restart") says: kept across
// restarts, released otherwise; "yes" keeps it until sockd exits.
func (s *Supervisor) fdStoreRelease(sv *serviceUnit, final bool) {
	if len(sv.fdStore) == 0 || (!final && sv.u.FileDescriptorStorePreserve == "yes") {
		return
	}
	for _, e := range sv.fdStore {
		s.dropStored(e)
	}
	s.log.Info("fd store released", zap.String("unit", sv.u.Name), zap.Int("fds", len(sv.fdStore)))
	sv.fdStore = nil
}
