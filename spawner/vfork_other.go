//go:build linux && !amd64

package spawner

import "syscall"

const haveVfork = false

// rawVforkSyscall is never called when haveVfork is false.
func rawVforkSyscall(trap, a1, a2, a3 uintptr) (r1 uintptr, err syscall.Errno) {
	panic("spawner: vfork not supported on this architecture")
}

const haveOwnStack = false

// rawCloneOwnStack is never called when haveOwnStack is false.
func rawCloneOwnStack(args, size, p uintptr) (r1 uintptr, err syscall.Errno) {
	panic("spawner: clone on a stack of its own not supported on this architecture")
}
