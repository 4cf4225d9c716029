//go:build linux

package spawner

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// A start with Spec.NoWait does not wait for the child's execve: the child
// is cloned with CLONE_VM but without CLONE_VFORK onto a small stack of its
// own and runs childMain there while the parent carries on, as the parent of
// a fork(2)-based server does. The stack may be reused only once the child
// has left our address space, which the kernel reports by clearing a word
// (CLONE_CHILD_CLEARTID) at the child's execve or exit; nobody waits on that
// word, the next start looks at it. The stack keeps the plan alive until
// then; a child that fails leaves its report in a small buffer of its own,
// which the Process keeps until it is reaped.

// childStackSize is one child stack: childMain's frame and the system calls
// it makes need well under a page; the rest is margin. Below it is a guard
// page, so that an overflow faults instead of writing into other memory.
const (
	childGuardSize = 4 << 10
	childStackSize = 16 << 10
)

// childStack is a stack for one child at a time.
type childStack struct {
	mem []byte // guard page, then the stack
	// tid is 1 while a child may use the stack, and cleared by the kernel
	// once it does not (CLONE_CHILD_CLEARTID). It sits in the stack's top
	// 64 bytes, above the child's first frame, so that a stack touches
	// one page.
	tid *int32
	// plan is what the child reads until tid is cleared.
	plan *plan
}

// maxFreeStacks is how many unused child stacks the pool keeps mapped;
// more are unmapped as they come back.
const maxFreeStacks = 16

// stackPool hands out child stacks, reclaiming those whose child is gone.
type stackPool struct {
	mu   sync.Mutex
	free []*childStack
	busy []*childStack
}

// A child that dumps core before its execve may, on kernels whose
// mm_release skips the CLONE_CHILD_CLEARTID write for a core-dumping
// group, never clear its word: that stack then stays busy, a 20 KiB leak
// and nothing worse.

// get returns a stack that no child uses, marked busy for a child that
// will read p.
func (sp *stackPool) get(p *plan) (*childStack, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for i := 0; i < len(sp.busy); {
		if st := sp.busy[i]; atomic.LoadInt32(st.tid) == 0 {
			st.plan = nil
			if len(sp.free) < maxFreeStacks {
				sp.free = append(sp.free, st)
			} else {
				unix.Munmap(st.mem)
			}
			sp.busy[i] = sp.busy[len(sp.busy)-1]
			sp.busy = sp.busy[:len(sp.busy)-1]
			continue
		}
		i++
	}
	var st *childStack
	if n := len(sp.free); n > 0 {
		st = sp.free[n-1]
		sp.free = sp.free[:n-1]
	} else {
		mem, err := unix.Mmap(-1, 0, childGuardSize+childStackSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_STACK)
		if err != nil {
			return nil, os.NewSyscallError("mmap", err)
		}
		if err := unix.Mprotect(mem[:childGuardSize], unix.PROT_NONE); err != nil {
			unix.Munmap(mem)
			return nil, os.NewSyscallError("mprotect", err)
		}
		st = &childStack{mem: mem, tid: (*int32)(unsafe.Pointer(&mem[len(mem)-8]))}
	}
	atomic.StoreInt32(st.tid, 1)
	st.plan = p
	sp.busy = append(sp.busy, st)
	return st, nil
}

// put gives back a stack whose clone failed (no child uses it).
func (sp *stackPool) put(st *childStack) {
	atomic.StoreInt32(st.tid, 0)
}

// release unmaps the stacks no child uses any more; those still in use are
// left mapped (a child may be between clone and execve).
func (sp *stackPool) release() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	keep := sp.busy[:0]
	for _, st := range sp.busy {
		if atomic.LoadInt32(st.tid) == 0 {
			unix.Munmap(st.mem)
		} else {
			keep = append(keep, st)
		}
	}
	sp.busy = keep
	for _, st := range sp.free {
		unix.Munmap(st.mem)
	}
	sp.free = nil
}

// childMainFn is childMain as a func value, whose code pointer is the
// register-ABI entry that rawCloneOwnStack calls in the child.
//
//lint:ignore U1000 used by vfork_amd64.s
var childMainFn = childMain

// forkOwnStack clones a child that runs childMain(p) on st while we return
// at once. Only clone3 can give the child a stack and CLONE_CLEAR_SIGHAND;
// callers use it only when clone3 works here.
//
//go:noinline
//go:norace
//go:nocheckptr
func forkOwnStack(p *plan, st *childStack) (pid uintptr, pidfd int32, err1 syscall.Errno) {
	p.cleared = true
	p.pidfd = -1
	p.cargs = cloneArgs{
		flags:      unix.CLONE_VM | unix.CLONE_PIDFD | unix.CLONE_CLEAR_SIGHAND | unix.CLONE_CHILD_CLEARTID,
		pidfd:      uint64(uintptr(unsafe.Pointer(&p.pidfd))),
		childTID:   uint64(uintptr(unsafe.Pointer(st.tid))),
		exitSignal: uint64(syscall.SIGCHLD),
		stack:      uint64(uintptr(unsafe.Pointer(&st.mem[childGuardSize]))),
		stackSize:  childStackSize - 64, // the top 64 bytes hold tid
	}
	runtime_BeforeFork()
	pid, err1 = rawCloneOwnStack(uintptr(unsafe.Pointer(&p.cargs)), unsafe.Sizeof(p.cargs), uintptr(unsafe.Pointer(p)))
	runtime_AfterFork()
	return pid, p.pidfd, err1
}

// NoWaitStarts reports whether Start returns for a Spec.NoWait start
// without waiting for the child's execve. It changes through
// SetDirectFork, when the fork server fails, and when the kernel refuses
// the clone.
func (s *Spawner) NoWaitStarts() bool { return s.ownStackOK() }

// ownStackOK reports whether a Spec.NoWait start can skip the wait here:
// forking directly (the fork server waits for its children anyway) on an
// architecture with the clone trampoline, on Linux 5.16 or later (see
// ownStackKernel), where the kernel has not refused the clone.
func (s *Spawner) ownStackOK() bool {
	return s.ownStack.Load() && s.vfork && (s.fs == nil || s.fs.broken.Load())
}

// ownStackKernel reports whether the running kernel is 5.16 or later.
// Before 5.16 a core dump killed every process sharing the dumping
// process's memory: a core-dumping signal (KillSignal=SIGQUIT or
// SIGABRT sent to an instance that had just started) reaching a child
// before its execve would have killed sockd too. A vfork child cannot be
// signalled by sockd before its execve; a no-wait child can.
func ownStackKernel() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 5 || major == 5 && minor >= 16
}

// spawnOwnStack starts r without waiting for its execve. A nil plan with a
// nil error means the caller starts r the usual way: the kernel refused
// the clone (then no-wait starts stay off), or no stack could be mapped.
func (s *Spawner) spawnOwnStack(r *request) (pid, pidfd int, p *plan, err error) {
	p, err = buildPlan(r, r.src, -1, true, s.fork.startIgnored)
	if err != nil {
		return 0, -1, nil, err
	}
	st, err := s.stacks.get(p)
	if err != nil {
		if s.stackWarned.CompareAndSwap(false, true) {
			s.log.Warn("no stack for a start without waiting; such starts wait while this lasts (logged once)", zap.Error(err))
		}
		return 0, -1, nil, nil
	}
	syscall.ForkLock.RLock()
	upid, upidfd, e := forkOwnStack(p, st)
	syscall.ForkLock.RUnlock()
	switch {
	case e == syscall.ENOSYS || e == syscall.EINVAL || e == syscall.EPERM:
		s.stacks.put(st)
		if s.ownStack.CompareAndSwap(true, false) {
			s.log.Warn("clone3 onto a stack of its own refused; starting every service waiting for its execve", zap.Error(e))
		}
		return 0, -1, nil, nil
	case e != 0:
		s.stacks.put(st)
		return 0, -1, nil, os.NewSyscallError("clone3", e)
	}
	return int(upid), int(upidfd), p, nil
}
