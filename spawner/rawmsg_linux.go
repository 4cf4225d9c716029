package spawner

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawSendmsg and rawRecvmsg are sendmsg and recvmsg without the runtime's
// blocking-call bookkeeping, for the fork server's round trip: every
// ordinary call after an idle spell woke the runtime's sysmon thread, as
// in rawWaitid. They are only called when they cannot block for long: after
// rawPoll, or with MSG_DONTWAIT (forkServer.spawn, runForkServer).
func rawSendmsg(fd int, p, oob []byte, flags int) error {
	msg, iov := msghdr(p, oob)
	msg.Iov = iov
	for {
		_, _, e := syscall.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(msg)), uintptr(flags))
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

func rawRecvmsg(fd int, p, oob []byte, flags int) (n, oobn, recvflags int, err error) {
	msg, iov := msghdr(p, oob)
	msg.Iov = iov
	for {
		r, _, e := syscall.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(msg)), uintptr(flags))
		switch e {
		case 0:
			return int(r), int(msg.Controllen), int(msg.Flags), nil
		case unix.EINTR:
			continue
		}
		return 0, 0, 0, e
	}
}

func msghdr(p, oob []byte) (*unix.Msghdr, *unix.Iovec) {
	msg := new(unix.Msghdr)
	var iov *unix.Iovec
	if len(p) > 0 {
		iov = &unix.Iovec{Base: &p[0]}
		iov.SetLen(len(p))
		msg.SetIovlen(1)
	}
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	return msg, iov
}

// rawPoll waits up to ms milliseconds for fd to be readable, holding the
// caller's P (ppoll: some architectures have no poll).
func rawPoll(fd, ms int) bool {
	pfd := unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	ts := unix.NsecToTimespec(int64(ms) * 1e6)
	r, _, e := syscall.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	return e == 0 && r == 1
}
