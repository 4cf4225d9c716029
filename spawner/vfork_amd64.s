// Copied from Go's src/syscall/asm_linux_amd64.s (BSD-style license, see
// https://go.dev/LICENSE): clone with CLONE_VM|CLONE_VFORK shares the stack
// with the parent, so the return address is kept in a register across the
// system call and the child never returns through the caller's frame.

#include "textflag.h"

// func rawVforkSyscall(trap, a1, a2, a3 uintptr) (r1 uintptr, err syscall.Errno)
TEXT ·rawVforkSyscall(SB),NOSPLIT|NOFRAME,$0-48
	MOVQ	a1+8(FP), DI
	MOVQ	a2+16(FP), SI
	MOVQ	a3+24(FP), DX
	MOVQ	$0, R10
	MOVQ	$0, R8
	MOVQ	$0, R9
	MOVQ	trap+0(FP), AX	// syscall entry
	POPQ	R12 // preserve return address
	SYSCALL
	PUSHQ	R12
	CMPQ	AX, $0xfffffffffffff001
	JLS	ok
	MOVQ	$-1, r1+32(FP)
	NEGQ	AX
	MOVQ	AX, err+40(FP)
	RET
ok:
	MOVQ	AX, r1+32(FP)
	MOVQ	$0, err+40(FP)
	RET

// func rawCloneOwnStack(args, size, p uintptr) (r1 uintptr, err syscall.Errno)
//
// clone3 for a child that runs on a stack of its own (args.stack) while the
// parent carries on: the child never returns here but calls childMain(p)
// on the new stack. p is kept in R12, which the kernel preserves and copies
// into the child. childMain is entered directly with the register ABI
// (through the func value childMainFn): the ABI0 wrapper an assembly CALL
// would go through calls the race detector's racefuncenter in race builds,
// which must not run in the child.
TEXT ·rawCloneOwnStack(SB),NOSPLIT,$0-40
	MOVQ	args+0(FP), DI
	MOVQ	size+8(FP), SI
	MOVQ	p+16(FP), R12
	MOVQ	$435, AX	// SYS_clone3
	SYSCALL
	CMPQ	AX, $0xfffffffffffff001
	JLS	ok
	MOVQ	$-1, r1+24(FP)
	NEGQ	AX
	MOVQ	AX, err+32(FP)
	RET
ok:
	CMPQ	AX, $0
	JEQ	child
	MOVQ	AX, r1+24(FP)
	MOVQ	$0, err+32(FP)
	RET
child:
	// The new stack's top, aligned, with room above the argument for
	// anything a callee spills into its caller's frame.
	ANDQ	$~15, SP
	SUBQ	$64, SP
	MOVQ	R12, AX	// the first argument
	XORPS	X15, X15	// the register ABI's zero register
	MOVQ	·childMainFn(SB), DX
	MOVQ	0(DX), BX
	CALL	BX
	MOVL	$253, DI
	MOVL	$231, AX	// SYS_exit_group
	SYSCALL
	INT	$3
