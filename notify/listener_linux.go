//go:build linux

package notify

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// rcvbufSize is the receive buffer requested for the socket (systemd's
// NOTIFY_RCVBUF_SIZE), so bursts of notifications are not lost while the
// consumer is busy.
const rcvbufSize = 8 << 20

// controlSize is the control buffer of systemd's notify_recv_with_fds: room
// for one ucred, one pidfd (SCM_PIDFD, should SO_PASSPIDFD ever be enabled)
// and MaxFDs descriptors.
var controlSize = unix.CmsgSpace(unix.SizeofUcred) + unix.CmsgSpace(4) + unix.CmsgSpace(4*MaxFDs)

// Option configures [Listen].
type Option func(*Listener)

// WithLogger makes the Listener log dropped messages and receive errors.
// The default is zap.NewNop().
func WithLogger(log *zap.Logger) Option {
	return func(l *Listener) {
		if log != nil {
			l.log = log
		}
	}
}

// Listener is a notify socket. Create it with [Listen], read it with one
// goroutine calling [Listener.Run], stop it with [Listener.Close].
type Listener struct {
	f    *os.File
	rc   syscall.RawConn
	addr string // the $NOTIFY_SOCKET value
	path string // file-system path to remove on Close, "" when abstract
	dev  uint64 // identity of the bound socket node, to remove only our own
	ino  uint64
	log  *zap.Logger

	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Listen opens a notify socket: AF_UNIX, SOCK_DGRAM, close-on-exec,
// non-blocking (served by Go's netpoller), SO_PASSCRED on and an 8 MiB receive
// buffer (SO_RCVBUFFORCE when privileged, else SO_RCVBUF as far as
// net.core.rmem_max allows).
//
// If path is a file-system path, its parent directory is created (0755), a
// socket left at path by an earlier run is replaced (any other kind of file is
// an error) and the socket is made writable by everyone (0666) once bound:
// services may run as any user, and senders are identified by the credentials
// the kernel attaches, never by the path's permissions. This mirrors
// /run/systemd/notify.
//
// If path is "", the socket is bound in the abstract namespace under the
// unique name "@sockd/notify/<pid>/<random>"; it vanishes with the last
// descriptor and is visible only inside sockd's network namespace.
func Listen(path string, opts ...Option) (*Listener, error) {
	l := &Listener{log: zap.NewNop(), done: make(chan struct{})}
	for _, o := range opts {
		o(l)
	}
	if path == "" {
		var rnd [8]byte
		if _, err := rand.Read(rnd[:]); err != nil {
			return nil, fmt.Errorf("notify: listen: random socket name: %w", err)
		}
		l.addr = "@sockd/notify/" + strconv.Itoa(os.Getpid()) + "/" + hex.EncodeToString(rnd[:])
	} else {
		l.addr, l.path = path, path
	}
	// sun_path is 108 bytes: 107 plus the terminating NUL for a path; an
	// abstract name ("@" plus up to 107 bytes) has no terminator.
	maxLen := len(unix.RawSockaddrUnix{}.Path)
	if l.path != "" {
		maxLen--
	}
	if len(l.addr) > maxLen {
		return nil, l.opError("bind", unix.ENAMETOOLONG)
	}

	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, l.opError("socket", err)
	}
	if err := l.setup(fd); err != nil {
		unix.Close(fd)
		return nil, err
	}
	l.f = os.NewFile(uintptr(fd), l.addr)
	if l.rc, err = l.f.SyscallConn(); err != nil {
		l.f.Close()
		l.removePath()
		return nil, fmt.Errorf("notify: listen %s: %w", l.addr, err)
	}
	return l, nil
}

// setup configures and binds fd. On error nothing is left on the file system.
func (l *Listener) setup(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		return l.opError("setsockopt SO_PASSCRED", err)
	}
	// As systemd (fd_increase_rxbuf), a small buffer is not fatal.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbufSize); err != nil {
		if err2 := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbufSize); err2 != nil {
			l.log.Debug("cannot raise notify socket receive buffer", zap.String("addr", l.addr), zap.Error(err2))
		}
	}
	if l.path != "" {
		if err := os.MkdirAll(filepath.Dir(l.path), 0o755); err != nil {
			return fmt.Errorf("notify: listen %s: create parent directory: %w", l.addr, err)
		}
		if fi, err := os.Lstat(l.path); err == nil {
			if fi.Mode().Type() != fs.ModeSocket {
				return fmt.Errorf("notify: listen %s: %w", l.addr, &fs.PathError{Op: "bind", Path: l.path, Err: fmt.Errorf("exists and is not a socket (%v)", fi.Mode().Type())})
			}
			if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("notify: listen %s: remove stale socket: %w", l.addr, err)
			}
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: l.addr}); err != nil {
		return l.opError("bind", err)
	}
	if l.path != "" {
		var st unix.Stat_t
		if err := unix.Lstat(l.path, &st); err != nil {
			return l.opError("stat", err)
		}
		l.dev, l.ino = st.Dev, st.Ino
		// Widening after bind is safe: the node starts out narrower.
		if err := unix.Chmod(l.path, 0o666); err != nil {
			l.removePath()
			return l.opError("chmod", err)
		}
	}
	return nil
}

func (l *Listener) opError(op string, err error) error {
	return fmt.Errorf("notify: listen %s: %w", l.addr, os.NewSyscallError(op, err))
}

// Addr returns the value for $NOTIFY_SOCKET: the path, or "@name" for an
// abstract socket.
func (l *Listener) Addr() string { return l.addr }

// Close stops [Listener.Run], closes the socket and removes its path (only if
// the node there is still the one this Listener bound). It is safe to call more
// than once and concurrently with Run.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		if err := l.f.Close(); err != nil {
			l.closeErr = fmt.Errorf("notify: close %s: %w", l.addr, err)
		}
		if err := l.removePath(); err != nil && l.closeErr == nil {
			l.closeErr = err
		}
	})
	return l.closeErr
}

func (l *Listener) removePath() error {
	if l.path == "" {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Lstat(l.path, &st); err != nil || st.Dev != l.dev || st.Ino != l.ino {
		return nil // gone or replaced by someone else: not ours to remove
	}
	if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("notify: close %s: %w", l.addr, err)
	}
	return nil
}

// Run reads datagrams until [Listener.Close] and sends every valid message to
// out, in the order received. It blocks in Go's netpoller while the socket is
// idle (no polling, no CPU). Run must be called by one goroutine at a time; it
// never closes out. Invalid datagrams are dropped (and their descriptors
// closed) as described in the package documentation. If Close happens while
// Run waits for the consumer, the pending message's descriptors are closed.
//
// BARRIER=1 (sd_notify_barrier) must arrive alone with exactly one
// descriptor; systemd closes that descriptor after it has processed every
// earlier message, which the sender observes as POLLHUP. Run closes it as
// soon as the barrier is read and never delivers the message: Run hands
// messages over in order, so every earlier message has already been received
// from out by then. With an unbuffered out, the single consumer goroutine has
// taken each earlier message before anything the sender does after the
// barrier (exiting, for instance) can reach it; with a buffered out, earlier
// messages may still sit in the buffer, which is why out should be unbuffered.
// A malformed barrier (other lines, or not exactly one descriptor) is dropped
// the same way, as systemd does.
func (l *Listener) Run(out chan<- Message) {
	buf := make([]byte, MaxPayload)
	oob := make([]byte, controlSize)
	for {
		var (
			n, oobn, flags int
			rerr           error
		)
		err := l.rc.Read(func(fd uintptr) bool {
			for {
				n, oobn, flags, rerr = recvmsg(int(fd), buf, oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
				if rerr != unix.EINTR {
					return rerr != unix.EAGAIN
				}
			}
		})
		if err != nil { // closed
			return
		}
		if rerr != nil {
			if rerr == unix.ENOBUFS || rerr == unix.ENOMEM {
				l.log.Warn("notify: receive failed, continuing", zap.String("addr", l.addr), zap.Error(rerr))
				continue
			}
			// Like systemd, stop rather than spin on a socket we cannot read.
			l.log.Error("notify: receive failed, no longer reading notifications",
				zap.String("addr", l.addr), zap.Error(os.NewSyscallError("recvmsg", rerr)))
			return
		}
		msg, ok := l.decode(buf[:n], oob[:oobn], flags)
		if !ok {
			continue
		}
		select {
		case out <- msg:
		case <-l.done:
			closeFDs(msg.FDs)
			return
		}
	}
}

// recvmsg is recvmsg(2) without a source address (which x/sys/unix would
// decode, and could fail on after descriptors were installed).
func recvmsg(fd int, p, oob []byte, flags int) (n, oobn, recvflags int, err error) {
	iov := unix.Iovec{Base: &p[0]}
	iov.SetLen(len(p))
	msg := unix.Msghdr{Iov: &iov, Control: &oob[0]}
	msg.SetIovlen(1)
	msg.SetControllen(len(oob))
	r, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
	if e != 0 {
		return 0, 0, 0, e
	}
	return int(r), int(msg.Controllen), int(msg.Flags), nil
}

// decode validates one datagram in systemd's order and returns the message to
// deliver. Every received descriptor is either in the result or closed.
func (l *Listener) decode(payload, oob []byte, flags int) (Message, bool) {
	var (
		fds   []int
		cred  *unix.Ucred
		cmsgs []unix.SocketControlMessage
		err   error
	)
	if len(oob) > 0 {
		cmsgs, err = unix.ParseSocketControlMessage(oob)
	}
	for _, c := range cmsgs {
		if c.Header.Level != unix.SOL_SOCKET {
			continue
		}
		switch c.Header.Type {
		case unix.SCM_RIGHTS:
			if rights, err := unix.ParseUnixRights(&c); err == nil {
				fds = append(fds, rights...)
			}
		case unix.SCM_CREDENTIALS:
			if len(c.Data) >= unix.SizeofUcred && cred == nil {
				cred, _ = unix.ParseUnixCredentials(&c)
			}
		}
	}
	drop := func(reason string, extra ...zap.Field) (Message, bool) {
		closeFDs(fds)
		fields := append([]zap.Field{zap.String("addr", l.addr), zap.String("reason", reason), zap.Int("fds", len(fds))}, extra...)
		if cred != nil {
			fields = append(fields, zap.Int32("pid", cred.Pid))
		}
		l.log.Warn("notify: dropping notification", fields...)
		return Message{}, false
	}
	switch {
	case err != nil:
		return drop("malformed control data", zap.Error(err))
	case flags&unix.MSG_CTRUNC != 0: // notify-recv.c: -ECHRNG, fds closed
		return drop("truncated control data (too many fds?)")
	case cred == nil || cred.Pid <= 0: // pid_is_valid
		return drop("no valid credentials")
	case flags&unix.MSG_TRUNC != 0 || len(payload) > MaxPayload: // -EXFULL
		return drop("payload exceeds " + strconv.Itoa(MaxPayload) + " bytes")
	}
	fields, ignored, err := Parse(payload)
	if err != nil {
		return drop("unparsable payload", zap.Error(err))
	}
	msg := Message{PID: int(cred.Pid), UID: int(cred.Uid), GID: int(cred.Gid), Fields: fields, Ignored: ignored}
	if msg.Barrier() {
		// manager_process_barrier_fd: the message is consumed here; closing
		// the descriptor is the acknowledgement.
		if len(fields)+len(ignored) != 1 || len(fds) != 1 {
			return drop("malformed BARRIER=1 (must be alone with exactly one fd)")
		}
		closeFDs(fds)
		return Message{}, false
	}
	if len(fds) > 0 {
		if msg.FDStore() && !msg.FDStoreRemove() {
			msg.FDs = fds
		} else {
			l.log.Debug("notify: closing fds sent without FDSTORE=1",
				zap.String("addr", l.addr), zap.Int("pid", msg.PID), zap.Int("fds", len(fds)))
			closeFDs(fds)
		}
	}
	return msg, true
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
