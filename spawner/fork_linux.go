//go:build linux

package spawner

import (
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The runtime's fork hooks. They are kept reachable through linkname on
// purpose (runtime/proc.go lists them among the symbols "widely used packages
// access"): BeforeFork blocks all signals on this thread and arms the stack
// guard so that any stack growth in the child throws instead of deadlocking;
// AfterFork undoes that in the parent.
//
//go:linkname runtime_BeforeFork syscall.runtime_BeforeFork
func runtime_BeforeFork()

//go:linkname runtime_AfterFork syscall.runtime_AfterFork
func runtime_AfterFork()

// Steps reported by a child that failed before or at execve.
const (
	stepSetsid uint32 = iota + 1
	stepRlimit
	stepNice
	stepDup
	stepNonblock
	stepCloseRange
	stepSetgroups
	stepSetgid
	stepSetuid
	stepChdir
	stepNoNewPrivs
	stepExec
)

var stepNames = [...]string{
	stepSetsid:     "setsid",
	stepRlimit:     "setrlimit",
	stepNice:       "setpriority",
	stepDup:        "dup3",
	stepNonblock:   "fcntl O_NONBLOCK",
	stepCloseRange: "close_range",
	stepSetgroups:  "setgroups",
	stepSetgid:     "setgid",
	stepSetuid:     "setuid",
	stepChdir:      "chdir",
	stepNoNewPrivs: "prctl PR_SET_NO_NEW_PRIVS",
	stepExec:       "execve",
}

// stepExit is the exit status of a child that failed at a step: systemd's
// (exit-status.h: EXIT_SETSID, EXIT_LIMITS, EXIT_NICE, EXIT_FDS,
// EXIT_GROUP, EXIT_USER, EXIT_CHDIR, EXIT_NO_NEW_PRIVILEGES, EXIT_EXEC), so
// that a start that did not wait for execve (Spec.NoWait) ends as
// "status=203/EXEC" does under systemd. Sixteen entries, so that the
// child's lookup needs no bounds check.
var stepExit = [16]uint8{
	stepSetsid:     220,
	stepRlimit:     205,
	stepNice:       201,
	stepDup:        202,
	stepNonblock:   202,
	stepCloseRange: 202,
	stepSetgroups:  216,
	stepSetgid:     216,
	stepSetuid:     217,
	stepChdir:      200,
	stepNoNewPrivs: 227,
	stepExec:       203,
}

type rlimitEntry struct {
	resource uintptr
	lim      unix.Rlimit
}

// plan is everything the child needs, prepared and allocated by the parent:
// after the fork the child runs with the runtime frozen and may only read
// this struct, write into buffers it owns, and make raw system calls.
type plan struct {
	path *byte
	argv []*byte // nil-terminated
	envv []*byte // nil-terminated
	// pidDigits is where the child writes its pid as decimal digits plus a
	// NUL: the tail of the "LISTEN_PID=" entry in envv. Nil without ListenEnv.
	pidDigits []byte

	dir         *byte // nil: keep the cwd
	dirOptional bool

	// src[i] is the parent fd that becomes fd i in the child. nonblock[i] is
	// +1 to set O_NONBLOCK on it, -1 to clear it, 0 to leave it.
	src      []int
	nonblock []int8
	nextfd   int // above every fd in src and the error pipe

	setCred  bool
	uid, gid uintptr
	groups   []uint32

	rlimits     []rlimitEntry
	sameSession bool
	setNice     bool
	nice        int
	umask       int // -1: keep
	nnp         bool

	// pipe is the write end of the CLOEXEC error pipe, or -1 with vfork:
	// a child sharing the address space reports a failure in report
	// instead, before it exits, and clone(CLONE_VFORK) returns only after
	// the child's execve or exit, so the parent reads report afterwards
	// without a pipe (as glibc's posix_spawn does).
	pipe   int
	report *[2]uint32 // step, errno; written by a failed child without a pipe
	vfork  bool       // share the address space (CLONE_VM|CLONE_VFORK)
	parent bool       // CLONE_PARENT: the child becomes our parent's child (fork server)

	// clone3 makes forkExec try clone3 with CLONE_CLEAR_SIGHAND: the
	// kernel resets every handled signal to SIG_DFL in the child, which
	// then resets only the signals in ignored (bit n-1 for signal n) instead
	// of all 62 with rt_sigaction, some 60 system calls fewer in the
	// window where a vfork holds the parent. noClone3 is set by forkExec
	// when the kernel (or a seccomp filter) refused clone3, which then
	// clones the old way; callers remember it.
	clone3   bool
	noClone3 bool
	cleared  bool // the child was made by clone3 with CLONE_CLEAR_SIGHAND
	ignored  uint64
	cargs    cloneArgs
	pidfd    int32 // clone3 writes the pidfd here
}

// forkState is what a forking process (sockd, or the fork server) keeps
// between starts.
type forkState struct {
	// startIgnored has bit n-1 set for each signal n that was SIG_IGN when
	// the Spawner, or the fork server, was made (see ignoredSignals).
	startIgnored uint64
	// noClone3 is set once clone3 was refused (see plan.clone3).
	noClone3 atomic.Bool
}

// ignoredSignals asks the kernel which signals are SIG_IGN now. The runtime
// does not record an inherited SIG_IGN for the signals it leaves alone
// (SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU), so signal.Ignored misses them.
func ignoredSignals() uint64 {
	var ign uint64
	var old [4]uint64 // struct sigaction: the handler is the first word
	for sig := uintptr(1); sig <= 64; sig++ {
		old[0] = 0
		if _, _, e := syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0); e == 0 && old[0] == 1 { // SIG_IGN
			ign |= 1 << (sig - 1)
		}
	}
	return ign
}

// cloneArgs is struct clone_args up to tls (CLONE_ARGS_SIZE_VER0).
type cloneArgs struct {
	flags, pidfd, childTID, parentTID, exitSignal, stack, stackSize, tls uint64
}

// sigDefault is a kernel struct sigaction with SIG_DFL, no flags, empty mask.
// It is only read, so sharing it between children is fine.
var sigDefault [4]uint64

// forkExec clones and, in the child, applies p and execs. It returns in the
// parent only. As in syscall.forkAndExecInChild1, the child does all of its
// work in this frame and never returns from it, because with CLONE_VM it runs
// on the parent's stack; all variables are declared before the fork so that
// nothing is allocated after it.
//
//go:noinline
//go:norace
//go:nocheckptr
func forkExec(p *plan) (pid uintptr, pidfd int32, err1 syscall.Errno) {
	var (
		flags   uintptr
		cleared bool
	)
	pidfd = -1
	flags = unix.CLONE_PIDFD
	if p.vfork {
		flags |= unix.CLONE_VM | unix.CLONE_VFORK
	}
	if p.parent {
		flags |= unix.CLONE_PARENT
	}
	cleared = p.clone3
	if cleared {
		p.pidfd = -1
		p.cargs = cloneArgs{
			flags: uint64(flags) | unix.CLONE_CLEAR_SIGHAND,
			pidfd: uint64(uintptr(unsafe.Pointer(&p.pidfd))),
		}
		// With CLONE_PARENT the child takes our exit signal, and clone3
		// refuses any other (EINVAL).
		if !p.parent {
			p.cargs.exitSignal = uint64(syscall.SIGCHLD)
		}
	}

	runtime_BeforeFork()
	if cleared {
		if p.vfork {
			pid, err1 = rawVforkSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&p.cargs)), unsafe.Sizeof(p.cargs), 0)
		} else {
			pid, _, err1 = syscall.RawSyscall6(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&p.cargs)), unsafe.Sizeof(p.cargs), 0, 0, 0, 0)
		}
		// No child was made when clone3 failed. ENOSYS: before Linux 5.3
		// or a seccomp filter that wants the fallback; EINVAL: no
		// CLONE_CLEAR_SIGHAND (before 5.5); EPERM: a filter.
		if err1 == syscall.ENOSYS || err1 == syscall.EINVAL || err1 == syscall.EPERM {
			p.noClone3 = true
			cleared = false
		} else if err1 != 0 || pid != 0 {
			runtime_AfterFork()
			pidfd = p.pidfd
			return
		}
	}
	if !cleared {
		if p.vfork {
			pid, err1 = rawVforkSyscall(unix.SYS_CLONE, flags|uintptr(syscall.SIGCHLD), 0, uintptr(unsafe.Pointer(&pidfd)))
		} else {
			pid, _, err1 = syscall.RawSyscall6(unix.SYS_CLONE, flags|uintptr(syscall.SIGCHLD), 0, uintptr(unsafe.Pointer(&pidfd)), 0, 0, 0)
		}
		if err1 != 0 || pid != 0 {
			// Parent. Return at once: with vfork this frame was the child's.
			runtime_AfterFork()
			return
		}
	}
	p.cleared = cleared
	childMain(p)
	return // not reached
}

// childMain is the child's side of a start: it applies p and execs, or
// reports the failing step and exits. It never returns. It runs without the
// runtime (signals blocked, sharing the parent's memory, on the parent's
// stack after a vfork or on a stack of its own after a no-wait clone), so it
// only makes raw system calls, allocates nothing and must not grow the
// stack (nosplit).
//
//go:nosplit
//go:norace
//go:nocheckptr
func childMain(p *plan) {
	var (
		i, fd   int
		nextfd  int
		pipe    int
		r1      uintptr
		sig     uintptr
		n       uintptr
		digits  [24]byte
		errbuf  [2]uint32
		emptySS uint64
		lim     *rlimitEntry
		err1    syscall.Errno
		cleared bool

		src       []int
		nonblock  []int8
		pidDigits []byte
	)
	pipe = p.pipe
	cleared = p.cleared

	// Child. Signals are blocked (runtime_BeforeFork); every disposition
	// is reset before unblocking, so that the service starts with SIG_DFL
	// everywhere, also for signals sockd ignores, and no handler of the
	// parent's can run here. After clone3 with CLONE_CLEAR_SIGHAND the
	// kernel has reset the handled ones; the ignored ones are left.
	for sig = 1; sig <= 64; sig++ {
		if sig == uintptr(syscall.SIGKILL) || sig == uintptr(syscall.SIGSTOP) {
			continue
		}
		if cleared && p.ignored&(1<<(sig-1)) == 0 {
			continue
		}
		syscall.RawSyscall6(unix.SYS_RT_SIGACTION, sig, uintptr(unsafe.Pointer(&sigDefault)), 0, 8, 0, 0)
	}

	// Own session and process group (pgid == sid == pid), or only an own
	// process group.
	if p.sameSession {
		_, _, err1 = syscall.RawSyscall(unix.SYS_SETPGID, 0, 0, 0)
	} else {
		_, _, err1 = syscall.RawSyscall(unix.SYS_SETSID, 0, 0, 0)
	}
	if err1 != 0 {
		errbuf[0] = stepSetsid
		goto fail
	}

	// Limits and priority before dropping privileges: raising a hard limit
	// or lowering nice needs root.
	for i = 0; i < len(p.rlimits); i++ {
		lim = &p.rlimits[i]
		if _, _, err1 = syscall.RawSyscall6(unix.SYS_PRLIMIT64, 0, lim.resource, uintptr(unsafe.Pointer(&lim.lim)), 0, 0, 0); err1 != 0 {
			errbuf[0] = stepRlimit
			goto fail
		}
	}
	if p.setNice {
		if _, _, err1 = syscall.RawSyscall(unix.SYS_SETPRIORITY, unix.PRIO_PROCESS, 0, uintptr(p.nice)); err1 != 0 {
			errbuf[0] = stepNice
			goto fail
		}
	}
	if p.umask >= 0 {
		syscall.RawSyscall(unix.SYS_UMASK, uintptr(p.umask), 0, 0)
	}

	// Lay out the fds. First move every source that a later dup3 could
	// overwrite (src[i] < i, or the error pipe inside the target range)
	// above everything in use, then dup into place; dup3 without O_CLOEXEC
	// leaves the new fd inheritable.
	nextfd = p.nextfd
	if pipe >= 0 && pipe < len(p.src) {
		if _, _, err1 = syscall.RawSyscall(unix.SYS_DUP3, uintptr(pipe), uintptr(nextfd), unix.O_CLOEXEC); err1 != 0 {
			errbuf[0] = stepDup
			goto fail
		}
		pipe = nextfd
		nextfd++
	}
	src = p.src
	for i = 0; i < len(src); i++ {
		if src[i] < i {
			if _, _, err1 = syscall.RawSyscall(unix.SYS_DUP3, uintptr(src[i]), uintptr(nextfd), unix.O_CLOEXEC); err1 != 0 {
				errbuf[0] = stepDup
				goto fail
			}
			src[i] = nextfd
			nextfd++
		}
	}
	for i = 0; i < len(src); i++ {
		fd = src[i]
		if fd == i {
			_, _, err1 = syscall.RawSyscall(unix.SYS_FCNTL, uintptr(i), unix.F_SETFD, 0)
		} else {
			_, _, err1 = syscall.RawSyscall(unix.SYS_DUP3, uintptr(fd), uintptr(i), 0)
		}
		if err1 != 0 {
			errbuf[0] = stepDup
			goto fail
		}
	}
	// NonBlocking=: the flag lives in the open file description, so doing
	// it here, last, is as close to exec as it gets.
	nonblock = p.nonblock
	for i = 0; i < len(nonblock); i++ {
		if nonblock[i] == 0 {
			continue
		}
		if r1, _, err1 = syscall.RawSyscall(unix.SYS_FCNTL, uintptr(i), unix.F_GETFL, 0); err1 != 0 {
			errbuf[0] = stepNonblock
			goto fail
		}
		if nonblock[i] > 0 {
			r1 |= unix.O_NONBLOCK
		} else {
			r1 &^= unix.O_NONBLOCK
		}
		if _, _, err1 = syscall.RawSyscall(unix.SYS_FCNTL, uintptr(i), unix.F_SETFL, r1); err1 != 0 {
			errbuf[0] = stepNonblock
			goto fail
		}
	}
	// Everything else sockd has open goes away at execve. Marking is cheap
	// (a bitmap update) and keeps the error pipe usable until then.
	if _, _, err1 = syscall.RawSyscall(unix.SYS_CLOSE_RANGE, uintptr(len(p.src)), ^uintptr(0)>>32, unix.CLOSE_RANGE_CLOEXEC); err1 != 0 {
		errbuf[0] = stepCloseRange
		goto fail
	}

	if p.setCred {
		if len(p.groups) > 0 {
			_, _, err1 = syscall.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(p.groups)), uintptr(unsafe.Pointer(&p.groups[0])), 0)
		} else {
			_, _, err1 = syscall.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0)
		}
		if err1 != 0 {
			errbuf[0] = stepSetgroups
			goto fail
		}
		if _, _, err1 = syscall.RawSyscall(unix.SYS_SETRESGID, p.gid, p.gid, p.gid); err1 != 0 {
			errbuf[0] = stepSetgid
			goto fail
		}
		if _, _, err1 = syscall.RawSyscall(unix.SYS_SETRESUID, p.uid, p.uid, p.uid); err1 != 0 {
			errbuf[0] = stepSetuid
			goto fail
		}
		// Belt and braces: never exec with other ids than asked for (an
		// id of -1 would make setres[ug]id a silent no-op, as root).
		if r1, _, _ = syscall.RawSyscall(unix.SYS_GETEGID, 0, 0, 0); r1 != p.gid {
			err1 = syscall.EPERM
			errbuf[0] = stepSetgid
			goto fail
		}
		if r1, _, _ = syscall.RawSyscall(unix.SYS_GETEUID, 0, 0, 0); r1 != p.uid {
			err1 = syscall.EPERM
			errbuf[0] = stepSetuid
			goto fail
		}
	}

	// chdir as the service's user, so that permissions apply to it.
	if p.dir != nil {
		if _, _, err1 = syscall.RawSyscall(unix.SYS_CHDIR, uintptr(unsafe.Pointer(p.dir)), 0, 0); err1 != 0 && !p.dirOptional {
			errbuf[0] = stepChdir
			goto fail
		}
	}
	if p.nnp {
		if _, _, err1 = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); err1 != 0 {
			errbuf[0] = stepNoNewPrivs
			goto fail
		}
	}

	// LISTEN_PID: the pid this process has and keeps across execve.
	// Every index is provably in range (no bounds check): a failed
	// check would call into the runtime, which must not run here.
	if pidDigits = p.pidDigits; len(pidDigits) > 0 {
		r1, _, _ = syscall.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
		n = uintptr(len(digits))
		for n > 0 {
			n--
			digits[n%uintptr(len(digits))] = byte('0' + r1%10)
			r1 /= 10
			if r1 == 0 {
				break
			}
		}
		// The digits, then NULs to the end of the placeholder.
		for i = range pidDigits {
			if n < uintptr(len(digits)) && i < len(pidDigits)-1 {
				pidDigits[i] = digits[n%uintptr(len(digits))]
				n++
			} else {
				pidDigits[i] = 0
			}
		}
	}

	// Unblock everything; the mask is inherited across execve.
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&emptySS)), 0, 8, 0, 0)

	_, _, err1 = syscall.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(p.path)), uintptr(unsafe.Pointer(unsafe.SliceData(p.argv))), uintptr(unsafe.Pointer(unsafe.SliceData(p.envv))))
	errbuf[0] = stepExec

fail:
	errbuf[1] = uint32(err1)
	if pipe >= 0 {
		syscall.RawSyscall(unix.SYS_WRITE, uintptr(pipe), uintptr(unsafe.Pointer(&errbuf)), unsafe.Sizeof(errbuf))
	} else {
		*p.report = errbuf
	}
	for {
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, uintptr(stepExit[errbuf[0]&15]), 0, 0)
	}
}
