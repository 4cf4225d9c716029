//go:build linux && !amd64

package spawner

import "syscall"

const haveVfork = false

// rawVforkSyscall is never called when haveVfork is false.
func rawVforkSyscall(trap, a1, a2, a3 uintptr) (r1 uintptr, err syscall.Errno) {
	panic("spawner: vfork not supported on this architecture")
}
