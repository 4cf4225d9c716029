package activator

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Event reports that a watched fd is ready. Token is the caller's key given
// to Watch; Events holds the epoll bits (EPOLLIN, EPOLLHUP, EPOLLERR).
type Event struct {
	Token  uint64
	Events uint32
}

// Poller watches listening fds for readiness without consuming anything.
//
// It is one epoll instance, itself registered with the Go runtime's
// netpoller, and one goroutine parked on it, so an idle sockd wakes up
// never, whatever the number of sockets. No thread sits blocked in
// epoll_wait: a readiness wakes the goroutine through the netpoller like
// any network I/O, and the only epoll_wait on this instance is a raw,
// non-blocking one, so a connection costs no thread handoff and no
// system-call bookkeeping (which would also keep the runtime's sysmon
// thread polling). Every fd is
// armed one-shot: after reporting an event it stays silent until the owner
// calls Rearm. That lets the single goroutine owning unit state decide,
// event by event, whether to watch again (Accept=yes after accepting),
// pause (poll limit) or leave the fd to a running service (Accept=no),
// without a level-triggered fd spinning meanwhile.
type Poller struct {
	epfd   int
	epf    *os.File // epfd, registered with the netpoller
	wakefd int      // eventfd that unblocks Run on Close
	out    chan<- Event

	closeOnce sync.Once
	stop      chan struct{} // closed by Close: Run must not block on out
	done      chan struct{}
}

const wakeToken = ^uint64(0)

// NewPoller creates a poller that delivers events to out. Call Run in a
// goroutine to start delivering.
func NewPoller(out chan<- Event) (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	// Nonblocking, so that os.NewFile hands it to the netpoller: an epoll
	// fd is readable while it has events to report.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	p := &Poller{epfd: epfd, epf: os.NewFile(uintptr(epfd), "epoll"), wakefd: wakefd, out: out, stop: make(chan struct{}), done: make(chan struct{})}
	if err := p.ctl(unix.EPOLL_CTL_ADD, wakefd, wakeToken, unix.EPOLLIN); err != nil {
		p.closeFDs()
		return nil, err
	}
	return p, nil
}

func (p *Poller) ctl(op, fd int, token uint64, events uint32) error {
	ev := unix.EpollEvent{Events: events}
	// EpollEvent stores 64 bits of user data in Fd and Pad.
	ev.Fd = int32(uint32(token))
	ev.Pad = int32(uint32(token >> 32))
	if err := unix.EpollCtl(p.epfd, op, fd, &ev); err != nil {
		return os.NewSyscallError(fmt.Sprintf("epoll_ctl fd %d", fd), err)
	}
	return nil
}

// Watch starts watching fd for input; the next readiness is reported once
// with token.
func (p *Poller) Watch(fd int, token uint64) error {
	return p.ctl(unix.EPOLL_CTL_ADD, fd, token, unix.EPOLLIN|unix.EPOLLONESHOT)
}

// Rearm reports fd's next readiness (once) after an event or after Watch.
func (p *Poller) Rearm(fd int, token uint64) error {
	return p.ctl(unix.EPOLL_CTL_MOD, fd, token, unix.EPOLLIN|unix.EPOLLONESHOT)
}

// WatchHangup watches fd only for EPOLLHUP/EPOLLERR, once (stored fds
// that are dropped when their peer goes away).
func (p *Poller) WatchHangup(fd int, token uint64) error {
	return p.ctl(unix.EPOLL_CTL_ADD, fd, token, unix.EPOLLONESHOT)
}

// Disarm keeps fd registered but silent until Rearm (an fd left to a
// running service, or paused).
func (p *Poller) Disarm(fd int, token uint64) error {
	return p.ctl(unix.EPOLL_CTL_MOD, fd, token, unix.EPOLLONESHOT)
}

// Unwatch stops watching fd. It is not an error if fd was not watched.
func (p *Poller) Unwatch(fd int) error {
	err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EBADF) {
		return os.NewSyscallError(fmt.Sprintf("epoll_ctl del fd %d", fd), err)
	}
	return nil
}

// Run delivers events until Close. It is parked in the netpoller while
// nothing happens, so it costs no CPU then.
func (p *Poller) Run() {
	defer close(p.done)
	rc, err := p.epf.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]unix.EpollEvent, 64)
	for {
		var n int
		var werr syscall.Errno
		err := rc.Read(func(fd uintptr) bool {
			for {
				// Timeout 0: it never blocks; the netpoller does the waiting.
				r, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
				if e == unix.EINTR {
					continue
				}
				n, werr = int(r), e
				return e != 0 || n > 0
			}
		})
		if err != nil || werr != 0 {
			return
		}
		for i := 0; i < n; i++ {
			tok := uint64(uint32(buf[i].Fd)) | uint64(uint32(buf[i].Pad))<<32
			if tok == wakeToken {
				return
			}
			select {
			case p.out <- Event{Token: tok, Events: buf[i].Events}:
			case <-p.stop:
				return
			}
		}
	}
}

// Close stops Run (waiting for it if it was started) and releases the
// epoll instance. Watched fds are not closed: they belong to the caller.
func (p *Poller) Close(running bool) {
	p.closeOnce.Do(func() {
		close(p.stop)
		var one = [8]byte{1}
		unix.Write(p.wakefd, one[:])
		if running {
			<-p.done
		}
		p.closeFDs()
	})
}

func (p *Poller) closeFDs() {
	unix.Close(p.wakefd)
	p.epf.Close()
}
