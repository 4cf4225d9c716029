//go:build linux

package spawner

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("spawner: closed")

// Options configure a Spawner. The zero value is usable.
type Options struct {
	// Logger receives the captured output of StdioLog streams and reaper
	// messages. Nil means zap.NewNop().
	Logger *zap.Logger
	// OnExit, if not nil, is called once per started process when it has
	// exited and been reaped, from the goroutine that reaped it, before
	// Process.Wait returns; in Subreaper mode also for every orphan reaped
	// (Exit.Unit is then empty), e.g. the daemon a forking service left
	// behind. It must not block for long.
	OnExit func(Exit)
	// Subreaper makes this process a child subreaper (PR_SET_CHILD_SUBREAPER)
	// so that orphans of forking services are re-parented to it, and reaps
	// every child it did not start itself. Only enable it in a process where
	// nothing else waits for children (sockd's daemon): a child started with
	// os/exec would have its exit status taken.
	Subreaper bool
	// DirectFork makes Start fork from this process instead of from the
	// fork server, a helper process that New starts (see the package
	// documentation for why and what it costs). The fork server needs
	// MaybeRunHelper to be called first thing in main; if it cannot start,
	// New logs a warning and forks directly.
	DirectFork bool
}

// Exit describes how a process ended.
type Exit struct {
	Unit string
	Pid  int
	// Code is the exit status for a normal exit, -1 when killed by a
	// signal. Code -1 with Signal 0 means the status was lost (another
	// waiter in the process reaped it; logged).
	Code int
	// Signal is the terminating signal, 0 for a normal exit.
	Signal     syscall.Signal
	CoreDumped bool
	Time       time.Time
	// StartErr is set when a Spec.NoWait start failed in the child, before
	// or at execve: the error Start would have returned. Code is then
	// systemd's status for the step (203 for execve, 200 for chdir, 217
	// for setuid, …).
	StartErr *StartError
}

// Success reports a normal exit with status 0.
func (e Exit) Success() bool { return e.Signal == 0 && e.Code == 0 }

func (e Exit) String() string {
	if e.Signal != 0 {
		s := "signal: " + e.Signal.String()
		if e.CoreDumped {
			s += " (core dumped)"
		}
		return s
	}
	return "exit status " + strconv.Itoa(e.Code)
}

// Process is a started service process.
type Process struct {
	Unit string
	// Pid is the process id. Pgid is its process group id, always equal to
	// Pid: every service gets its own group (and, unless
	// Spec.SameSession, its own session).
	Pid, Pgid int

	mu       sync.Mutex // guards pidfd against Signal racing with the reaper
	pidfd    int        // -1 once reaped
	done     chan struct{}
	exit     Exit
	internal bool // the fork server: not reported to OnExit
	// report is where a Spec.NoWait child that failed before or at its
	// execve left (step, errno); nil for other starts. path is the
	// program, for the error.
	report *[2]uint32
	path   string
	// notReaped counts reports of a readable pidfd that waitid found
	// nothing for (reaper goroutine only).
	notReaped int
}

// Wait blocks until the process has exited and been reaped.
func (p *Process) Wait() Exit {
	<-p.done
	return p.exit
}

// Done is closed when the process has been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Signal sends sig to the process through its pidfd, so it can never hit a
// recycled pid. After the process has been reaped it returns
// os.ErrProcessDone.
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pidfd < 0 {
		return os.ErrProcessDone
	}
	serr := unix.PidfdSendSignal(p.pidfd, sig, nil, 0)
	if serr == unix.ESRCH {
		return os.ErrProcessDone
	}
	return os.NewSyscallError("pidfd_send_signal", serr)
}

// SignalGroup sends sig to p's process group. A process started with
// Spec.NoWait makes its group (setsid or setpgid) only after Start has
// returned; while there is none, sig goes to p itself through its pidfd
// (never to a process that reused the pid), and p, which has every signal
// blocked until then, receives it once its dispositions are reset. (Should
// p make its group, exec and fork between the two calls, only p gets sig;
// a stop's final kill of the group still reaches the rest.)
func (p *Process) SignalGroup(sig syscall.Signal) error {
	err := Signal(p.Pgid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return p.Signal(sig)
	}
	return err
}

// Signal sends sig to every process in the process group pgid (kill(-pgid)).
func Signal(pgid int, sig syscall.Signal) error {
	if pgid <= 1 {
		return fmt.Errorf("spawner: refusing to signal process group %d", pgid)
	}
	return os.NewSyscallError("kill", unix.Kill(-pgid, sig))
}

// Spawner starts service processes and reaps them. Its methods are safe for
// concurrent use.
type Spawner struct {
	log      *zap.Logger
	onExit   func(Exit)
	devnull  int
	vfork    bool
	nofile   rlimitEntry // RLIMIT_NOFILE for services that set none
	fs       *forkServer // nil: fork directly
	stacks   stackPool   // child stacks for Spec.NoWait
	ownStack atomic.Bool // Spec.NoWait starts do not wait (see ownStackOK)
	// stackWarned is set once a child stack could not be mapped.
	stackWarned atomic.Bool
	lineBufs    *sync.Pool // capture buffers

	// spawnMu is read-locked by Start from before the clone until the pid is
	// in procs, and write-locked by the orphan reaper, so that a child that
	// dies at once is never mistaken for an orphan.
	spawnMu sync.RWMutex
	fork    forkState
	procsMu sync.Mutex
	procs   map[int]*Process

	// Reaping: every child's pidfd is in the epoll set reapFD (level
	// triggered, token = pid), which is itself registered with the
	// runtime's netpoller through reapFile; one goroutine reaps whatever
	// is ready. reapDone is set (under procsMu) once that goroutine is told
	// to end: after Close, when no tracked process is left.
	reapFD   int
	reapFile *os.File
	reapDone bool

	subreaper bool
	sigc      chan os.Signal
	poke      chan struct{}
	quit      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closed    atomic.Bool
}

// New returns a Spawner. With opts.Subreaper it sets PR_SET_CHILD_SUBREAPER
// and starts reaping orphans.
func New(opts Options) (*Spawner, error) {
	s := &Spawner{
		log:      opts.Logger,
		onExit:   opts.OnExit,
		vfork:    haveVfork,
		procs:    make(map[int]*Process),
		quit:     make(chan struct{}),
		devnull:  -1,
		lineBufs: newLineBufs(),
	}
	s.fork.startIgnored = ignoredSignals()
	s.ownStack.Store(haveOwnStack && ownStackKernel())
	if s.log == nil {
		s.log = zap.NewNop()
	}
	fd, err := unix.Open(os.DevNull, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: os.DevNull, Err: err}
	}
	s.devnull = fd
	if err := s.startReaper(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// Go raised this process's soft RLIMIT_NOFILE to the hard limit at
	// startup; services get systemd's default soft limit of 1024 instead
	// (select(2) breaks above it), like os/exec restores the original.
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err == nil {
		s.nofile = rlimitEntry{unix.RLIMIT_NOFILE, unix.Rlimit{Cur: min(1024, rl.Max), Max: rl.Max}}
	}
	if opts.Subreaper {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			unix.Close(fd)
			s.stopReaper()
			return nil, os.NewSyscallError("prctl PR_SET_CHILD_SUBREAPER", err)
		}
		s.subreaper = true
		s.sigc = make(chan os.Signal, 1)
		s.poke = make(chan struct{}, 1)
		signal.Notify(s.sigc, syscall.SIGCHLD)
		s.wg.Add(1)
		go s.reapOrphans()
	}
	if !opts.DirectFork {
		fs, err := s.startForkServer()
		if err != nil {
			s.log.Warn("no fork server; forking directly", zap.Error(err))
		}
		s.fs = fs
	}
	return s, nil
}

// SetDirectFork changes the choice Options.DirectFork made in New: true
// stops the fork server, false starts one when there is none (if it cannot
// start, Start keeps forking directly, as after New). It must not be
// called while a Start is running.
func (s *Spawner) SetDirectFork(direct bool) {
	switch {
	case direct && s.fs != nil:
		s.fs.close()
		s.fs = nil
	case !direct && s.fs == nil && !s.closed.Load():
		fs, err := s.startForkServer()
		if err != nil {
			s.log.Warn("no fork server; forking directly", zap.Error(err))
		}
		s.fs = fs
	}
}

// Close stops the fork server and the orphan reaper and releases the
// Spawner's resources; Start then fails with ErrClosed. It must not be
// called while a Start is still running. It does not stop running
// processes; they are still reaped (and reported to OnExit) when they exit,
// but orphans are no longer reaped.
func (s *Spawner) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.fs != nil {
			s.fs.close()
		}
		close(s.quit)
		if s.subreaper {
			signal.Stop(s.sigc)
		}
		s.wg.Wait()
		s.stacks.release()
		unix.Close(s.devnull)
		// The reaper keeps going while processes are left; it ends with
		// the last one.
		s.procsMu.Lock()
		if len(s.procs) == 0 {
			s.stopReaperLocked()
		}
		s.procsMu.Unlock()
	})
	return nil
}

// Start starts spec's program. It returns once the program has been
// exec'd: a missing binary, a failed setuid or chdir is an error
// (*StartError wrapping the errno), not an exit. With Spec.NoWait, where
// NoWaitStarts reports true, it returns once the child exists, and such
// failures come with its exit (Exit.StartErr).
func (s *Spawner) Start(spec *Spec) (*Process, error) {
	fail := func(op string, err error) (*Process, error) {
		return nil, &StartError{Unit: spec.Unit, Path: spec.Path, Op: op, Err: err}
	}
	if s.closed.Load() {
		return fail("prepare", ErrClosed)
	}
	if spec.Names != nil && len(spec.Names) != len(spec.Files) {
		return fail("prepare", fmt.Errorf("%d names for %d files", len(spec.Names), len(spec.Files)))
	}
	if spec.Cred != nil && os.Geteuid() != 0 &&
		(int(spec.Cred.Uid) != os.Geteuid() || int(spec.Cred.Gid) != os.Getegid()) {
		return fail("setuid", syscall.EPERM)
	}
	r, cl, err := s.prepare(spec)
	defer cl.release()
	if err != nil {
		return fail("prepare", err)
	}

	// Under subreaper mode, hold off the orphan reaper until the pid is in
	// procs: a child that dies at once must not look like an orphan.
	if s.subreaper {
		s.spawnMu.RLock()
	}
	var pl *plan
	pid, pidfd, step, errno := 0, -1, uint32(0), syscall.Errno(0)
	if r.noWait && s.ownStackOK() {
		pid, pidfd, pl, err = s.spawnOwnStack(r)
	}
	if pl == nil && err == nil {
		pid, pidfd, step, errno, err = s.spawn(r)
	}
	if err != nil {
		if s.subreaper {
			s.spawnMu.RUnlock()
		}
		return fail("spawn", err)
	}
	if step != 0 {
		var info unix.Siginfo
		for unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WEXITED, nil) == unix.EINTR {
		}
		unix.Close(pidfd)
		if s.subreaper {
			s.spawnMu.RUnlock()
		}
		return fail(stepNames[step], errno)
	}

	var report *[2]uint32
	if pl != nil {
		report = pl.report
	}
	proc := s.track(spec.Unit, pid, pidfd, false, report, spec.Path)
	if s.subreaper {
		s.spawnMu.RUnlock()
	}
	for _, c := range cl.captures {
		go s.capture(c.r, spec.Unit, proc.Pid, c.stream)
	}
	cl.captures = nil
	return proc, nil
}

// track registers a started child with the reaper.
// report and path are those of a Spec.NoWait start (see Process.report).
func (s *Spawner) track(unit string, pid, pidfd int, internal bool, report *[2]uint32, path string) *Process {
	proc := &Process{Unit: unit, Pid: pid, Pgid: pid, pidfd: pidfd, done: make(chan struct{}), internal: internal, report: report, path: path}
	s.procsMu.Lock()
	s.procs[proc.Pid] = proc
	s.procsMu.Unlock()
	// After procs: a child that is already gone is reported at once.
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setToken(&ev, uint64(pid))
	if err := unix.EpollCtl(s.reapFD, unix.EPOLL_CTL_ADD, pidfd, &ev); err != nil {
		// Cannot happen for a valid pidfd (ENOMEM aside): reap it the slow
		// way rather than never.
		s.log.Error("watch pidfd", zap.Int("pid", pid), zap.Error(err))
		go s.waitBlocking(proc)
	}
	return proc
}

// spawn starts r through the fork server when there is one, else directly.
func (s *Spawner) spawn(r *request) (pid, pidfd int, step uint32, errno syscall.Errno, err error) {
	if fs := s.fs; fs != nil && !fs.broken.Load() {
		pid, pidfd, step, errno, err = fs.spawn(r)
		if err == nil {
			return
		}
		if !errors.Is(err, errTooBig) {
			s.log.Error("fork server failed; forking directly from now on", zap.Error(err))
			fs.broken.Store(true)
		}
	}
	return s.spawnDirect(r)
}

func readFull(fd int, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Read(fd, b[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

func setToken(ev *unix.EpollEvent, tok uint64) {
	// EpollEvent stores 64 bits of user data in Fd and Pad.
	ev.Fd = int32(uint32(tok))
	ev.Pad = int32(uint32(tok >> 32))
}

func token(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// startReaper creates the reaper's epoll set and starts its goroutine.
func (s *Spawner) startReaper() error {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	// Nonblocking, so that os.NewFile registers it with the netpoller: an
	// epoll fd is readable while it has events to report.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return os.NewSyscallError("fcntl", err)
	}
	s.reapFD = fd
	s.reapFile = os.NewFile(uintptr(fd), "reaper epoll")
	rc, err := s.reapFile.SyscallConn()
	if err != nil {
		s.reapFile.Close()
		return err
	}
	go s.reap(rc)
	return nil
}

func (s *Spawner) stopReaper() {
	s.procsMu.Lock()
	s.stopReaperLocked()
	s.procsMu.Unlock()
}

func (s *Spawner) stopReaperLocked() {
	if !s.reapDone {
		s.reapDone = true
		// Wakes the reaper's Read with an error; the fd is closed once
		// it has returned.
		s.reapFile.Close()
	}
}

// reap waits for pidfds to become readable and reaps their processes, in
// batches: one wakeup for every exit that happened meanwhile. It runs until
// stopReaper.
func (s *Spawner) reap(rc syscall.RawConn) {
	var evs [64]unix.EpollEvent
	for {
		var n int
		err := rc.Read(func(fd uintptr) bool {
			for {
				// Raw: it never blocks (timeout 0).
				r, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
				if e == unix.EINTR {
					continue
				}
				n = int(r)
				return e != 0 || n > 0
			}
		})
		if err != nil {
			return // stopReaper closed the epoll fd
		}
		for i := 0; i < n; i++ {
			pid := int(token(&evs[i]))
			s.procsMu.Lock()
			p := s.procs[pid]
			s.procsMu.Unlock()
			if p != nil {
				s.tryReap(p)
			}
		}
	}
}

// tryReap reaps p if it has exited (its pidfd was readable).
func (s *Spawner) tryReap(p *Process) {
	var info unix.Siginfo
	for {
		// WNOHANG: a readable pidfd means exited, but a spurious report
		// must not block the reaper.
		e := rawWaitid(unix.P_PIDFD, p.pidfd, &info, unix.WEXITED|unix.WNOHANG)
		switch {
		case e == unix.EINTR:
			continue
		case e != nil:
			// ECHILD: someone else reaped it (a blanket waiter elsewhere).
			s.log.Error("wait for service process", zap.String("unit", p.Unit), zap.Int("pid", p.Pid), zap.Error(e))
			s.finish(p, Exit{Unit: p.Unit, Pid: p.Pid, Code: -1, Time: time.Now()})
			return
		case siginfoPid(&info) == 0:
			// Readable but not reapable yet. Briefly normal: the pidfd is
			// woken as the process exits, a moment before it can be
			// waited for. For long, a tracer (strace, gdb) gets the exit
			// first: the set is level-triggered, so stop spinning and wait
			// on a goroutine of its own.
			if p.notReaped++; p.notReaped == 1000 {
				unix.EpollCtl(s.reapFD, unix.EPOLL_CTL_DEL, p.pidfd, nil)
				go s.waitBlocking(p)
			}
			return
		}
		s.finish(p, exitFromSiginfo(&info, Exit{Unit: p.Unit, Pid: p.Pid, Time: time.Now()}))
		return
	}
}

// rawWaitid is waitid without the runtime's blocking-call bookkeeping, for
// WNOHANG calls only (they never block). Every system call made through
// syscall.Syscall wakes the runtime's sysmon thread when the process was
// idle, which at one process per connection is once per connection.
func rawWaitid(idtype, id int, info *unix.Siginfo, options int) error {
	_, _, e := syscall.RawSyscall6(unix.SYS_WAITID, uintptr(idtype), uintptr(id), uintptr(unsafe.Pointer(info)), uintptr(options), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// waitBlocking reaps p without the reaper (its pidfd could not be added).
func (s *Spawner) waitBlocking(p *Process) {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PIDFD, p.pidfd, &info, unix.WEXITED, nil)
	for err == unix.EINTR {
		err = unix.Waitid(unix.P_PIDFD, p.pidfd, &info, unix.WEXITED, nil)
	}
	e := Exit{Unit: p.Unit, Pid: p.Pid, Time: time.Now()}
	if err != nil {
		s.log.Error("wait for service process", zap.String("unit", p.Unit), zap.Int("pid", p.Pid), zap.Error(err))
		e.Code = -1
	} else {
		e = exitFromSiginfo(&info, e)
	}
	s.finish(p, e)
}

// finish records p's exit, closes its pidfd (which also takes it out of the
// reaper's set), reports it and wakes waiters.
func (s *Spawner) finish(p *Process, e Exit) {
	if p.report != nil {
		if step, errno := decodeReport(*p.report); step != 0 {
			e.StartErr = &StartError{Unit: p.Unit, Path: p.path, Op: stepNames[step], Err: errno}
		}
		p.report = nil
	}
	p.exit = e
	p.mu.Lock()
	// Explicitly out of the reaper's set: closing is not enough while a
	// child forked meanwhile still holds the pidfd until its execve.
	unix.EpollCtl(s.reapFD, unix.EPOLL_CTL_DEL, p.pidfd, nil)
	// Raw: closing a pidfd never blocks, and the runtime's blocking-call
	// entry would wake its sysmon thread after every idle spell.
	syscall.RawSyscall(unix.SYS_CLOSE, uintptr(p.pidfd), 0, 0)
	p.pidfd = -1
	p.mu.Unlock()
	s.procsMu.Lock()
	if s.procs[p.Pid] == p { // the pid may already belong to a new child
		delete(s.procs, p.Pid)
	}
	if s.closed.Load() && len(s.procs) == 0 {
		s.stopReaperLocked()
	}
	s.procsMu.Unlock()
	if s.onExit != nil && !p.internal {
		s.onExit(e)
	}
	close(p.done)
	if s.subreaper {
		// An orphan's exit may have been hidden behind this one in the
		// orphan reaper's peek.
		select {
		case s.poke <- struct{}{}:
		default:
		}
	}
}

// siginfo_t for SIGCHLD: si_pid at offset 16, si_status at 24 on Linux.
func siginfoPid(info *unix.Siginfo) int {
	return int(*(*int32)(unsafe.Add(unsafe.Pointer(info), 16)))
}

func siginfoStatus(info *unix.Siginfo) int {
	return int(*(*int32)(unsafe.Add(unsafe.Pointer(info), 24)))
}

// si_code values for SIGCHLD (CLD_*).
const (
	cldExited = 1
	cldDumped = 3
)

func exitFromSiginfo(info *unix.Siginfo, e Exit) Exit {
	st := siginfoStatus(info)
	switch info.Code {
	case cldExited:
		e.Code = st
	case cldDumped:
		e.CoreDumped = true
		fallthrough
	default:
		e.Code = -1
		e.Signal = syscall.Signal(st)
	}
	return e
}

// orphanQuiet is how long SIGCHLD stays unwatched after the last exit of
// a tracked process (see reapOrphans).
const orphanQuiet = 100 * time.Millisecond

// reapOrphans reaps children that this Spawner did not start: orphans
// re-parented to the subreaper. It peeks with WNOWAIT and only reaps a pid
// that is not in procs; those have a watcher of their own.
//
// It looks when SIGCHLD arrives and whenever a tracked process has been
// reaped (finish pokes it). While tracked processes keep exiting, the pokes
// alone are enough, and SIGCHLD is not relayed: each relayed signal wakes
// the runtime's signal thread and hands the P around, which at one process
// per connection cost about 50 µs of sockd's CPU per connection and 5 %
// of its rate. A ticker looks every orphanQuiet meanwhile, so an orphan that
// dies between pokes waits at most that long; after a quiet tick, SIGCHLD
// is relayed again and the ticker stops (an idle sockd has no timer).
func (s *Spawner) reapOrphans() {
	defer s.wg.Done()
	var (
		relayed = true // SIGCHLD is relayed to s.sigc
		poked   bool   // a tracked process was reaped since the last tick
		tick    *time.Ticker
		tickC   <-chan time.Time
	)
	for {
		select {
		case <-s.quit:
			if tick != nil {
				tick.Stop()
			}
			// A tick taken together with quit may have relayed SIGCHLD
			// again after Close's signal.Stop.
			signal.Stop(s.sigc)
			return
		case <-s.sigc:
		case <-s.poke:
			poked = true
			if relayed {
				signal.Stop(s.sigc)
				relayed = false
				tick = time.NewTicker(orphanQuiet)
				tickC = tick.C
			}
		case <-tickC:
			if !poked {
				// Relay first, then look: an orphan that died in
				// between is found by this look.
				signal.Notify(s.sigc, syscall.SIGCHLD)
				relayed = true
				tick.Stop()
				tick, tickC = nil, nil
			}
			poked = false
		}
		var orphans []Exit
		s.spawnMu.Lock()
		for {
			var info unix.Siginfo
			err := rawWaitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT)
			if err == unix.EINTR {
				continue
			}
			pid := siginfoPid(&info)
			if err != nil || pid == 0 {
				break
			}
			s.procsMu.Lock()
			_, ours := s.procs[pid]
			s.procsMu.Unlock()
			if ours {
				break // the reaper reaps it and pokes us
			}
			info = unix.Siginfo{}
			if err := rawWaitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG); err != nil {
				break
			}
			e := exitFromSiginfo(&info, Exit{Pid: pid, Time: time.Now()})
			s.log.Debug("reaped orphan", zap.Int("pid", pid), zap.Stringer("status", e))
			orphans = append(orphans, e)
		}
		s.spawnMu.Unlock()
		// Reported outside spawnMu: OnExit may wait for a Start to finish.
		if s.onExit != nil {
			for _, e := range orphans {
				s.onExit(e)
			}
		}
	}
}

// cleanup holds what Start must release whatever happens.
type cleanup struct {
	closeFDs []int // opened for the child only (files, pipe write ends)
	captures []capturePipe
}

type capturePipe struct {
	r      *os.File
	stream string
}

func (c *cleanup) release() {
	for _, fd := range c.closeFDs {
		unix.Close(fd)
	}
	for _, cp := range c.captures {
		cp.r.Close()
	}
}

// request is a start request in plain data: what prepare derives from a
// Spec, and what travels to the fork server.
type request struct {
	path      string
	argv      []string
	env       []string // env[0] is the LISTEN_PID placeholder when listenPID
	listenPID bool
	dir       string
	dirOpt    bool
	src       []int  // parent fd for child fd i
	nonblock  []int8 // per child fd: +1 set, -1 clear, 0 leave O_NONBLOCK
	setCred   bool
	uid, gid  uint32
	groups    []uint32
	rlimits   []rlimitEntry
	sameSess  bool
	noWait    bool
	setNice   bool
	nice      int
	umask     int
	nnp       bool
}

// listenPIDPlaceholder leaves room for any pid (20 digits) plus a NUL.
const listenPIDPlaceholder = "LISTEN_PID=00000000000000000000"

// prepare turns spec into a request, opening what the child needs (files,
// log pipes); cl releases those whatever happens.
func (s *Spawner) prepare(spec *Spec) (*request, *cleanup, error) {
	cl := &cleanup{}
	r := &request{path: spec.Path, umask: 0o022, dirOpt: spec.DirOptional}
	if spec.Path == "" || !strings.HasPrefix(spec.Path, "/") {
		return nil, cl, fmt.Errorf("program path %q is not absolute", spec.Path)
	}

	// Environment: LISTEN_* first (systemd's order), then the caller's env
	// without any LISTEN_* of its own.
	r.env = make([]string, 0, len(spec.Env)+3)
	if spec.ListenEnv && len(spec.Files) > 0 {
		r.listenPID = true
		r.env = append(r.env, listenPIDPlaceholder)
		r.env = append(r.env, "LISTEN_FDS="+strconv.Itoa(len(spec.Files)))
		names := spec.Names
		for _, n := range names {
			if n == "" || strings.ContainsFunc(n, func(r rune) bool { return r == ':' || r < ' ' || r == 0x7f }) {
				return nil, cl, fmt.Errorf("invalid fd name %q", n)
			}
		}
		if names == nil {
			names = make([]string, len(spec.Files))
			for i := range names {
				names[i] = "unknown"
			}
		}
		r.env = append(r.env, "LISTEN_FDNAMES="+strings.Join(names, ":"))
	}
	for _, kv := range spec.Env {
		if strings.HasPrefix(kv, "LISTEN_PID=") || strings.HasPrefix(kv, "LISTEN_FDS=") ||
			strings.HasPrefix(kv, "LISTEN_FDNAMES=") || strings.HasPrefix(kv, "LISTEN_PIDFDID=") {
			continue
		}
		r.env = append(r.env, kv)
	}
	r.argv = spec.Argv
	if r.argv == nil {
		r.argv = []string{spec.Path}
	}

	r.dir = spec.Dir
	switch {
	case r.dir == "":
		r.dir = "/"
	case r.dir == "~":
		if spec.Cred != nil {
			r.dir = spec.Cred.Home
		} else {
			r.dir = os.Getenv("HOME")
		}
		if r.dir == "" {
			r.dir = "/"
		}
	}

	// Descriptors.
	n := 3 + len(spec.Files)
	r.src = make([]int, n)
	r.nonblock = make([]int8, n)
	nb := int8(-1)
	if spec.NonBlocking {
		nb = 1
	}
	streams := [3]struct {
		st   Stdio
		name string
	}{{spec.Stdin, "stdin"}, {spec.Stdout, "stdout"}, {spec.Stderr, "stderr"}}
	for i, st := range streams {
		switch st.st.Kind {
		case StdioNull:
			r.src[i] = s.devnull
		case StdioInherit:
			r.src[i] = i
		case StdioFD:
			r.src[i] = st.st.FD
			r.nonblock[i] = nb
		case StdioLog:
			if i == 0 {
				return nil, cl, errors.New("stdin cannot be a log stream")
			}
			var pp [2]int
			if err := unix.Pipe2(pp[:], unix.O_CLOEXEC); err != nil {
				return nil, cl, os.NewSyscallError("pipe2", err)
			}
			cl.closeFDs = append(cl.closeFDs, pp[1])
			unix.SetNonblock(pp[0], true)
			cl.captures = append(cl.captures, capturePipe{os.NewFile(uintptr(pp[0]), st.name), st.name})
			r.src[i] = pp[1]
		case StdioFile, StdioAppend, StdioTruncate:
			flags := unix.O_CLOEXEC | unix.O_NOCTTY
			if i == 0 {
				flags |= unix.O_RDONLY
			} else {
				flags |= unix.O_WRONLY | unix.O_CREAT
				switch st.st.Kind {
				case StdioAppend:
					flags |= unix.O_APPEND
				case StdioTruncate:
					flags |= unix.O_TRUNC
				}
			}
			fd, err := unix.Open(st.st.Path, flags, 0o644)
			if err != nil {
				return nil, cl, &os.PathError{Op: "open " + st.name, Path: st.st.Path, Err: err}
			}
			cl.closeFDs = append(cl.closeFDs, fd)
			r.src[i] = fd
		default:
			return nil, cl, fmt.Errorf("unknown %s kind %d", st.name, st.st.Kind)
		}
	}
	for i, fd := range spec.Files {
		if fd < 0 {
			return nil, cl, fmt.Errorf("invalid file descriptor %d", fd)
		}
		r.src[3+i] = fd
		r.nonblock[3+i] = nb
		if slices.Contains(spec.KeepFlags, fd) {
			r.nonblock[3+i] = 0 // left as it is
		}
	}

	// Credentials: a non-root sockd naming itself changes nothing.
	if c := spec.Cred; c != nil && os.Geteuid() == 0 {
		r.setCred = true
		r.uid, r.gid = c.Uid, c.Gid
		r.groups = c.Groups
	}
	for res, l := range spec.Rlimits {
		r.rlimits = append(r.rlimits, rlimitEntry{uintptr(res), unix.Rlimit{Cur: l.Soft, Max: l.Hard}})
	}
	if _, ok := spec.Rlimits[unix.RLIMIT_NOFILE]; !ok && s.nofile.lim.Max != 0 {
		r.rlimits = append(r.rlimits, s.nofile)
	}
	if spec.Nice != nil {
		r.setNice = true
		r.nice = *spec.Nice
	}
	if spec.Umask != nil {
		r.umask = int(*spec.Umask & 0o777)
	}
	r.nnp = spec.NoNewPrivs
	r.sameSess = spec.SameSession
	r.noWait = spec.NoWait
	return r, cl, nil
}

// buildPlan lays r out for the child: one arena for every C string, and the
// source fds (src, which may differ from r.src in the fork server).
func buildPlan(r *request, src []int, pipe int, vfork bool, startIgnored uint64) (*plan, error) {
	p := &plan{
		src: src, nonblock: r.nonblock, pipe: pipe, vfork: vfork, report: new([2]uint32),
		dirOptional: r.dirOpt,
		setCred:     r.setCred, uid: uintptr(r.uid), gid: uintptr(r.gid), groups: r.groups,
		rlimits: r.rlimits, sameSession: r.sameSess, setNice: r.setNice, nice: r.nice, umask: r.umask, nnp: r.nnp,
	}
	// O_NONBLOCK belongs to the open file description: change it once
	// for fds that share one (stdin and stdout of an inetd service).
	for i, v := range r.nonblock {
		if v == 0 {
			continue
		}
		if j := slices.Index(src[:i], src[i]); j >= 0 && r.nonblock[j] == v {
			if &p.nonblock[0] == &r.nonblock[0] {
				p.nonblock = slices.Clone(r.nonblock)
			}
			p.nonblock[i] = 0
		}
	}
	// Signals ignored here the child must reset itself (CLONE_CLEAR_SIGHAND
	// leaves SIG_IGN): those that were when the Spawner was made (the
	// runtime leaves an inherited SIG_IGN of the job-control signals alone
	// and does not record it), SIGHUP and SIGINT always (an inherited
	// SIG_IGN comes back after signal.Stop), and those ignored through
	// signal.Ignore since.
	p.ignored = startIgnored | 1<<(syscall.SIGHUP-1) | 1<<(syscall.SIGINT-1)
	for sig := 1; sig <= 64; sig++ {
		if signal.Ignored(syscall.Signal(sig)) {
			p.ignored |= 1 << (sig - 1)
		}
	}
	size := len(r.path) + 1 + len(r.dir) + 1
	for _, a := range r.argv {
		size += len(a) + 1
	}
	for _, kv := range r.env {
		size += len(kv) + 1
	}
	arena := make([]byte, 0, size)
	cstr := func(s string) (*byte, error) {
		if strings.IndexByte(s, 0) >= 0 {
			return nil, fmt.Errorf("NUL byte in %q", s)
		}
		off := len(arena)
		arena = append(arena, s...)
		arena = append(arena, 0)
		return &arena[off], nil
	}
	var err error
	if p.path, err = cstr(r.path); err != nil {
		return nil, err
	}
	if p.dir, err = cstr(r.dir); err != nil {
		return nil, err
	}
	p.argv = make([]*byte, len(r.argv)+1)
	for i, a := range r.argv {
		if p.argv[i], err = cstr(a); err != nil {
			return nil, err
		}
	}
	p.envv = make([]*byte, len(r.env)+1)
	for i, kv := range r.env {
		off := len(arena)
		if p.envv[i], err = cstr(kv); err != nil {
			return nil, err
		}
		if i == 0 && r.listenPID {
			p.pidDigits = arena[off+len("LISTEN_PID=") : off+len(kv)+1]
		}
	}
	p.nextfd = len(src)
	for _, fd := range src {
		p.nextfd = max(p.nextfd, fd+1)
	}
	p.nextfd = max(p.nextfd, pipe+1)
	return p, nil
}

// spawnDirect forks from this process. It returns the pid and pidfd of the
// child, or the step and errno at which the child failed (then pid and
// pidfd are still valid: the child has exited and must be reaped).
//
// It takes syscall.ForkLock for reading only: the lock exists so that an
// fd created without close-on-exec elsewhere cannot leak into the child,
// and the child marks every fd above the ones it keeps close-on-exec
// (close_range) anyway, so two spawns may fork at the same time (os/exec
// still excludes them).
func (s *Spawner) spawnDirect(r *request) (pid, pidfd int, step uint32, errno syscall.Errno, err error) {
	syscall.ForkLock.RLock()
	var refused bool
	pid, pidfd, step, errno, refused, err = forkChild(r, r.src, s.vfork, false, &s.fork)
	if refused {
		s.log.Warn("clone3 refused; starting services with clone and resetting every signal in the child")
	}
	syscall.ForkLock.RUnlock()
	return
}

// forkChild starts r with the parent fds src and waits for its execve. With
// vfork the child reports a failure through the plan it shares with us;
// without, through a close-on-exec pipe (EOF: execve succeeded).
//
// fs is the forking process's state (see forkState); refused is true for
// the one start that found clone3 refused.
func forkChild(r *request, src []int, vfork, parent bool, fs *forkState) (pid, pidfd int, step uint32, errno syscall.Errno, refused bool, err error) {
	pipe := [2]int{-1, -1}
	if !vfork {
		if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
			return 0, -1, 0, 0, false, os.NewSyscallError("pipe2", err)
		}
	}
	p, err := buildPlan(r, src, pipe[1], vfork, fs.startIgnored)
	if err != nil {
		if !vfork {
			unix.Close(pipe[0])
			unix.Close(pipe[1])
		}
		return 0, -1, 0, 0, false, err
	}
	p.parent = parent
	p.clone3 = !fs.noClone3.Load()
	upid, upidfd, e := forkExec(p)
	refused = p.noClone3 && fs.noClone3.CompareAndSwap(false, true)
	if !vfork {
		unix.Close(pipe[1])
	}
	if e != 0 {
		if !vfork {
			unix.Close(pipe[0])
		}
		return 0, -1, 0, 0, refused, os.NewSyscallError("clone", e)
	}
	if vfork {
		step, errno = decodeReport(*p.report)
	} else {
		// A read error counts as a failed exec (stepExec, EIO): the
		// child exists either way and the caller reaps it.
		step, errno, _ = readChildReport(pipe[0])
		unix.Close(pipe[0])
	}
	return int(upid), int(upidfd), step, errno, refused, nil
}

// decodeReport checks what a vfork child left in plan.report: zeros when it
// reached a successful execve.
func decodeReport(rep [2]uint32) (step uint32, errno syscall.Errno) {
	switch {
	case rep[0] == 0:
		return 0, 0
	case int(rep[0]) >= len(stepNames):
		return stepExec, syscall.EIO
	}
	return rep[0], syscall.Errno(rep[1])
}

// readChildReport waits for execve: EOF on the CLOEXEC pipe means it
// succeeded; otherwise the child sent (step, errno) and exited.
func readChildReport(fd int) (step uint32, errno syscall.Errno, err error) {
	var buf [2]uint32
	n, err := readFull(fd, unsafe.Slice((*byte)(unsafe.Pointer(&buf)), unsafe.Sizeof(buf)))
	switch {
	case err != nil:
		return stepExec, syscall.EIO, os.NewSyscallError("read", err)
	case n == 0:
		return 0, 0, nil
	case n != len(buf)*4 || buf[0] == 0 || int(buf[0]) >= len(stepNames):
		return stepExec, syscall.EIO, nil
	}
	return buf[0], syscall.Errno(buf[1]), nil
}
