//go:build linux

package activator

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/coreos/go-systemd/v22/activation"
	"golang.org/x/sys/unix"
)

// Inherited holds the descriptors sockd itself received through LISTEN_FDS.
// Bind (via BindOptions.Inherited) takes a descriptor whose address and type
// match a listener instead of binding again; Close closes the ones no unit
// took. It is safe for concurrent use.
type Inherited struct {
	mu  sync.Mutex
	fds []inheritedFD
}

type inheritedFD struct {
	fd       int
	key      string // sockets: sockKey of domain, type, protocol, getsockname
	dev, ino uint64 // other files (FIFOs, special files): matched by inode
}

// Inherit collects the descriptors passed to sockd by its own service
// manager (LISTEN_PID, LISTEN_FDS) and unsets those variables. With none
// passed it returns an empty, usable *Inherited. Each fd is duplicated
// close-on-exec and made non-blocking, and the *os.File from go-systemd is
// closed, so that the raw fd is never switched to blocking mode by Fd().
// Descriptors that cannot be described are closed and reported in err,
// which does not stop the others from being returned.
func Inherit() (*Inherited, error) {
	var fds []int
	var errs []error
	for _, f := range activation.Files(true) {
		fd, err := dupFile(f)
		f.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("inherited fd %s: %w", f.Name(), err))
			continue
		}
		fds = append(fds, fd)
	}
	in, err := InheritFDs(fds)
	return in, errors.Join(append(errs, err)...)
}

func dupFile(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	dup := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		dup, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 3)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", derr)
	}
	return dup, nil
}

// InheritFDs takes ownership of raw descriptors (already close-on-exec) as
// Inherit does: it is Inherit without the environment, for callers that got
// the fds some other way and for tests. Descriptors that cannot be
// described are closed and reported.
func InheritFDs(fds []int) (*Inherited, error) {
	in := &Inherited{}
	var errs []error
	for _, fd := range fds {
		e, err := describeFD(fd)
		if err != nil {
			unix.Close(fd)
			errs = append(errs, fmt.Errorf("inherited fd %d: %w", fd, err))
			continue
		}
		in.fds = append(in.fds, e)
	}
	return in, errors.Join(errs...)
}

func describeFD(fd int) (inheritedFD, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return inheritedFD{}, os.NewSyscallError("fcntl O_NONBLOCK", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return inheritedFD{}, os.NewSyscallError("fstat", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return inheritedFD{fd: fd, dev: st.Dev, ino: st.Ino}, nil
	}
	domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return inheritedFD{}, os.NewSyscallError("getsockopt SO_DOMAIN", err)
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return inheritedFD{}, os.NewSyscallError("getsockopt SO_TYPE", err)
	}
	proto, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil {
		return inheritedFD{}, os.NewSyscallError("getsockopt SO_PROTOCOL", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return inheritedFD{}, os.NewSyscallError("getsockname", err)
	}
	return inheritedFD{fd: fd, key: sockKey(domain, typ, proto, formatSockaddr(sa, proto))}, nil
}

// Len is the number of descriptors not taken yet (0 for nil).
func (in *Inherited) Len() int {
	if in == nil {
		return 0
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.fds)
}

func (in *Inherited) take(key string) (int, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i, e := range in.fds {
		if e.key == key {
			in.fds = append(in.fds[:i], in.fds[i+1:]...)
			return e.fd, true
		}
	}
	return -1, false
}

// takePath takes the non-socket fd whose inode is the one at path.
func (in *Inherited) takePath(path string) (int, bool) {
	var st unix.Stat_t
	if unix.Lstat(filepath.Clean(path), &st) != nil {
		return -1, false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for i, e := range in.fds {
		if e.key == "" && e.dev == st.Dev && e.ino == st.Ino {
			in.fds = append(in.fds[:i], in.fds[i+1:]...)
			return e.fd, true
		}
	}
	return -1, false
}

// giveBack returns an fd taken by a unit that was then rolled back.
func (in *Inherited) giveBack(fd int) {
	e, err := describeFD(fd)
	if err != nil {
		unix.Close(fd)
		return
	}
	in.mu.Lock()
	in.fds = append(in.fds, e)
	in.mu.Unlock()
}

// Close closes every descriptor no unit took. It returns nil; the error
// result keeps the io.Closer shape.
func (in *Inherited) Close() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, e := range in.fds {
		unix.Close(e.fd)
	}
	in.fds = nil
	return nil
}
