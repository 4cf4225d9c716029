//go:build linux

package spawner

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Options configure a Spawner. The zero value is usable.
type Options struct {
	// Logger receives the captured output of StdioLog streams and reaper
	// messages. Nil means zap.NewNop().
	Logger *zap.Logger
	// OnExit, if not nil, is called once per started process when it has
	// exited and been reaped, from the goroutine that reaped it. It must
	// not block for long.
	OnExit func(Exit)
	// Subreaper makes this process a child subreaper (PR_SET_CHILD_SUBREAPER)
	// so that orphans of forking services are re-parented to it, and reaps
	// every child it did not start itself. Only enable it in a process where
	// nothing else waits for children (sockd's daemon): a child started with
	// os/exec would have its exit status taken.
	Subreaper bool
}

// Exit describes how a process ended.
type Exit struct {
	Unit string
	Pid  int
	// Code is the exit status for a normal exit, -1 when killed by a signal.
	Code int
	// Signal is the terminating signal, 0 for a normal exit.
	Signal     syscall.Signal
	CoreDumped bool
	Time       time.Time
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
	// Pid is the process id. Pgid is its process group (and session) id,
	// always equal to Pid: every service gets its own group.
	Pid, Pgid int

	pidf *os.File // pidfd, pollable; closed once reaped
	done chan struct{}
	exit Exit
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
	rc, err := p.pidf.SyscallConn()
	if err != nil {
		return os.ErrProcessDone
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.PidfdSendSignal(int(fd), sig, nil, 0)
	}); err != nil {
		return os.ErrProcessDone
	}
	if serr == unix.ESRCH {
		return os.ErrProcessDone
	}
	return os.NewSyscallError("pidfd_send_signal", serr)
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
	log    *zap.Logger
	onExit func(Exit)
	devnull int
	vfork   bool

	// spawnMu is read-locked by Start from before the clone until the pid is
	// in procs, and write-locked by the orphan reaper, so that a child that
	// dies at once is never mistaken for an orphan.
	spawnMu sync.RWMutex
	procsMu sync.Mutex
	procs   map[int]*Process

	subreaper bool
	sigc      chan os.Signal
	poke      chan struct{}
	quit      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New returns a Spawner. With opts.Subreaper it sets PR_SET_CHILD_SUBREAPER
// and starts reaping orphans.
func New(opts Options) (*Spawner, error) {
	s := &Spawner{
		log:     opts.Logger,
		onExit:  opts.OnExit,
		vfork:   haveVfork,
		procs:   make(map[int]*Process),
		quit:    make(chan struct{}),
		devnull: -1,
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	fd, err := unix.Open(os.DevNull, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: os.DevNull, Err: err}
	}
	s.devnull = fd
	if opts.Subreaper {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			unix.Close(fd)
			return nil, os.NewSyscallError("prctl PR_SET_CHILD_SUBREAPER", err)
		}
		s.subreaper = true
		s.sigc = make(chan os.Signal, 1)
		s.poke = make(chan struct{}, 1)
		signal.Notify(s.sigc, syscall.SIGCHLD)
		s.wg.Add(1)
		go s.reapOrphans()
	}
	return s, nil
}

// Close stops the orphan reaper and releases the Spawner's resources. It
// does not stop running processes; they are still reaped (and reported to
// OnExit) when they exit.
func (s *Spawner) Close() error {
	s.closeOnce.Do(func() {
		close(s.quit)
		if s.subreaper {
			signal.Stop(s.sigc)
		}
		s.wg.Wait()
		unix.Close(s.devnull)
	})
	return nil
}

// Start starts spec's program. It returns once the program has been
// exec'd: a missing binary, a failed setuid or chdir is an error
// (*StartError wrapping the errno), not an exit.
func (s *Spawner) Start(spec *Spec) (*Process, error) {
	fail := func(op string, err error) (*Process, error) {
		return nil, &StartError{Unit: spec.Unit, Path: spec.Path, Op: op, Err: err}
	}
	if spec.Names != nil && len(spec.Names) != len(spec.Files) {
		return fail("prepare", fmt.Errorf("%d names for %d files", len(spec.Names), len(spec.Files)))
	}
	if spec.Cred != nil && os.Geteuid() != 0 &&
		(int(spec.Cred.Uid) != os.Geteuid() || int(spec.Cred.Gid) != os.Getegid()) {
		return fail("setuid", syscall.EPERM)
	}
	p, cl, err := s.prepare(spec)
	defer cl.release()
	if err != nil {
		return fail("prepare", err)
	}

	var pipe [2]int
	syscall.ForkLock.Lock()
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		syscall.ForkLock.Unlock()
		return fail("pipe2", err)
	}
	p.pipe = pipe[1]
	if pipe[1] >= p.nextfd {
		p.nextfd = pipe[1] + 1
	}
	if s.subreaper {
		s.spawnMu.RLock()
	}
	pid, pidfd, errno := forkExec(p)
	syscall.ForkLock.Unlock()
	unix.Close(pipe[1])
	if errno != 0 {
		if s.subreaper {
			s.spawnMu.RUnlock()
		}
		unix.Close(pipe[0])
		return fail("clone", errno)
	}

	// Wait for execve: EOF on the CLOEXEC pipe means it succeeded, else the
	// child sent (step, errno) and exited.
	var buf [2]uint32
	n, rerr := readFull(pipe[0], unsafe.Slice((*byte)(unsafe.Pointer(&buf)), unsafe.Sizeof(buf)))
	unix.Close(pipe[0])
	if n != 0 || rerr != nil {
		var info unix.Siginfo
		for unix.Waitid(unix.P_PIDFD, int(pidfd), &info, unix.WEXITED, nil) == unix.EINTR {
		}
		unix.Close(int(pidfd))
		if s.subreaper {
			s.spawnMu.RUnlock()
		}
		if rerr != nil {
			return fail("read error pipe", rerr)
		}
		if n != len(buf)*4 || int(buf[0]) >= len(stepNames) {
			return fail("exec", fmt.Errorf("short report from child (%d bytes)", n))
		}
		return fail(stepNames[buf[0]], syscall.Errno(buf[1]))
	}

	proc := &Process{Unit: spec.Unit, Pid: int(pid), Pgid: int(pid), done: make(chan struct{})}
	// A nonblocking pidfd registers with the runtime poller; waitid on it
	// then returns EAGAIN instead of blocking.
	if err := unix.SetNonblock(int(pidfd), true); err != nil {
		// Cannot happen for a valid pidfd; keep going with a blocking one.
		s.log.Warn("pidfd nonblock", zap.Error(err))
	}
	proc.pidf = os.NewFile(uintptr(pidfd), "pidfd:"+strconv.Itoa(int(pid)))
	s.procsMu.Lock()
	s.procs[proc.Pid] = proc
	s.procsMu.Unlock()
	if s.subreaper {
		s.spawnMu.RUnlock()
	}
	for _, c := range cl.captures {
		go s.capture(c.r, spec.Unit, proc.Pid, c.stream)
	}
	cl.captures = nil
	go s.watch(proc)
	return proc, nil
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

// watch reaps p when its pidfd becomes readable.
func (s *Spawner) watch(p *Process) {
	var info unix.Siginfo
	var werr error
	rc, err := p.pidf.SyscallConn()
	if err == nil {
		err = rc.Read(func(fd uintptr) bool {
			for {
				info = unix.Siginfo{}
				werr = unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG, nil)
				switch {
				case werr == unix.EINTR:
					continue
				case werr == unix.EAGAIN:
					return false
				case werr != nil:
					return true
				}
				return siginfoPid(&info) != 0
			}
		})
	}
	if err == nil {
		err = werr
	}
	e := Exit{Unit: p.Unit, Pid: p.Pid, Time: time.Now()}
	if err != nil {
		// ECHILD: someone else reaped it (a blanket waiter elsewhere).
		s.log.Error("wait for service process", zap.String("unit", p.Unit), zap.Int("pid", p.Pid), zap.Error(err))
		e.Code = -1
	} else {
		e = exitFromSiginfo(&info, e)
	}
	p.exit = e
	p.pidf.Close()
	s.procsMu.Lock()
	delete(s.procs, p.Pid)
	s.procsMu.Unlock()
	close(p.done)
	if s.onExit != nil {
		s.onExit(e)
	}
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

// reapOrphans reaps children that this Spawner did not start: orphans
// re-parented to the subreaper. It peeks with WNOWAIT and only reaps a pid
// that is not in procs; those have a watcher of their own.
func (s *Spawner) reapOrphans() {
	defer s.wg.Done()
	for {
		select {
		case <-s.quit:
			return
		case <-s.sigc:
		case <-s.poke:
		}
		s.spawnMu.Lock()
		for {
			var info unix.Siginfo
			err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
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
				break // its watcher reaps it and pokes us
			}
			info = unix.Siginfo{}
			if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG, nil); err != nil {
				break
			}
			e := exitFromSiginfo(&info, Exit{Pid: pid})
			s.log.Debug("reaped orphan", zap.Int("pid", pid), zap.Stringer("status", e))
		}
		s.spawnMu.Unlock()
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

// prepare builds the child's plan. It does all allocation up front.
func (s *Spawner) prepare(spec *Spec) (*plan, *cleanup, error) {
	cl := &cleanup{}
	p := &plan{umask: 0o022, vfork: s.vfork}
	if spec.Path == "" || !strings.HasPrefix(spec.Path, "/") {
		return nil, cl, fmt.Errorf("program path %q is not absolute", spec.Path)
	}

	// Environment: LISTEN_* first (systemd's order), then the caller's env
	// without any LISTEN_* of its own.
	env := make([]string, 0, len(spec.Env)+3)
	if spec.ListenEnv && len(spec.Files) > 0 {
		env = append(env, "LISTEN_PID="+strings.Repeat("0", 20))
		env = append(env, "LISTEN_FDS="+strconv.Itoa(len(spec.Files)))
		names := spec.Names
		if names == nil {
			names = make([]string, len(spec.Files))
			for i := range names {
				names[i] = "unknown"
			}
		}
		env = append(env, "LISTEN_FDNAMES="+strings.Join(names, ":"))
	}
	for _, kv := range spec.Env {
		if strings.HasPrefix(kv, "LISTEN_PID=") || strings.HasPrefix(kv, "LISTEN_FDS=") ||
			strings.HasPrefix(kv, "LISTEN_FDNAMES=") || strings.HasPrefix(kv, "LISTEN_PIDFDID=") {
			continue
		}
		env = append(env, kv)
	}
	argv := spec.Argv
	if argv == nil {
		argv = []string{spec.Path}
	}

	dir := spec.Dir
	switch {
	case dir == "":
		dir = "/"
	case dir == "~":
		if spec.Cred != nil {
			dir = spec.Cred.Home
		} else {
			dir = os.Getenv("HOME")
		}
		if dir == "" {
			dir = "/"
		}
	}

	// One arena for every C string the child needs.
	size := len(spec.Path) + 1 + len(dir) + 1
	for _, a := range argv {
		size += len(a) + 1
	}
	for _, kv := range env {
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
	if p.path, err = cstr(spec.Path); err != nil {
		return nil, cl, err
	}
	if p.dir, err = cstr(dir); err != nil {
		return nil, cl, err
	}
	p.dirOptional = spec.DirOptional
	p.argv = make([]*byte, len(argv)+1)
	for i, a := range argv {
		if p.argv[i], err = cstr(a); err != nil {
			return nil, cl, err
		}
	}
	p.envv = make([]*byte, len(env)+1)
	for i, kv := range env {
		off := len(arena)
		if p.envv[i], err = cstr(kv); err != nil {
			return nil, cl, err
		}
		if i == 0 && spec.ListenEnv && len(spec.Files) > 0 {
			p.pidDigits = arena[off+len("LISTEN_PID=") : off+len(kv)+1]
		}
	}

	// Descriptors.
	n := 3 + len(spec.Files)
	p.src = make([]int, n)
	p.nonblock = make([]int8, n)
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
			p.src[i] = s.devnull
		case StdioInherit:
			p.src[i] = i
		case StdioFD:
			p.src[i] = st.st.FD
			p.nonblock[i] = nb
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
			p.src[i] = pp[1]
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
			p.src[i] = fd
		default:
			return nil, cl, fmt.Errorf("unknown %s kind %d", st.name, st.st.Kind)
		}
	}
	for i, fd := range spec.Files {
		if fd < 0 {
			return nil, cl, fmt.Errorf("invalid file descriptor %d", fd)
		}
		p.src[3+i] = fd
		p.nonblock[3+i] = nb
	}
	p.nextfd = n
	for _, fd := range p.src {
		if fd >= p.nextfd {
			p.nextfd = fd + 1
		}
	}

	// Credentials: a non-root sockd naming itself changes nothing.
	if c := spec.Cred; c != nil && os.Geteuid() == 0 {
		p.setCred = true
		p.uid, p.gid = uintptr(c.Uid), uintptr(c.Gid)
		p.groups = c.Groups
	}
	for res, l := range spec.Rlimits {
		p.rlimits = append(p.rlimits, rlimitEntry{uintptr(res), unix.Rlimit{Cur: l.Soft, Max: l.Hard}})
	}
	if spec.Nice != nil {
		p.setNice = true
		p.nice = *spec.Nice
	}
	if spec.Umask != nil {
		p.umask = int(*spec.Umask & 0o777)
	}
	p.nnp = spec.NoNewPrivs
	return p, cl, nil
}
