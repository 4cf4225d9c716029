//go:build linux

package spawner

import "syscall"

// haveVfork reports whether rawVforkSyscall is implemented for this
// architecture; without it the spawner forks without CLONE_VM.
const haveVfork = true

// rawVforkSyscall is implemented in vfork_amd64.s.
func rawVforkSyscall(trap, a1, a2, a3 uintptr) (r1 uintptr, err syscall.Errno)

// haveOwnStack reports whether rawCloneOwnStack is implemented: a start
// that does not wait for the child's execve (Spec.NoWait).
const haveOwnStack = true

// rawCloneOwnStack is implemented in vfork_amd64.s.
func rawCloneOwnStack(args, size, p uintptr) (r1 uintptr, err syscall.Errno)
