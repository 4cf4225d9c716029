//go:build linux

package activator

// File-system safety rules, all enforced here:
//
//   - Paths are resolved one component at a time with openat(O_NOFOLLOW)
//     from "/", so a symlink planted as a parent directory is never
//     followed: the unit fails with ErrSymlink. Nodes are then created,
//     chowned, chmodded and unlinked relative to that directory fd, never
//     through a path string that the kernel would resolve again.
//   - A socket node is bound with mode 0000 and only then chowned and
//     chmodded (see bindPath), so no client ever reaches it with the wrong
//     mode or owner.
//   - On EADDRINUSE only a socket node that nobody answers on is unlinked;
//     a live socket, a regular file, a directory, a device or a symlink is
//     left alone and the unit fails.
//   - Removal (rollback, RemoveOnStop=) unlinks a node only if it still has
//     the device and inode number recorded when it was created.

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/units"

	"github.com/sockd/sockd/internal/userdb"
)

// node is a file-system node (or message queue) opened for a unit.
type node struct {
	dir, base string // parent directory and name; base is the queue name for mq
	dev, ino  uint64
	mq        bool
	created   bool // created by this Bind: rollback removes only these
}

func (n node) path() string { return filepath.Join(n.dir, n.base) }

// linkNode is a Symlinks= entry created (or found correct) by Bind.
type linkNode struct{ dir, base, target string }

// owner is SocketUser=/SocketGroup= resolved; -1 leaves an id unchanged.
type owner struct{ uid, gid int }

func (o owner) set() bool { return o.uid >= 0 || o.gid >= 0 }

// resolveOwner looks up SocketUser= and SocketGroup= (names or numeric ids).
// A user without a group gets the user's primary group, as in systemd.
func resolveOwner(o *units.SocketOptions) (owner, error) {
	own := owner{-1, -1}
	if o.SocketUser != "" {
		u, err := lookupUser(o.SocketUser)
		if err != nil {
			return own, err
		}
		if own.uid, err = strconv.Atoi(u.Uid); err != nil {
			return own, err
		}
		if o.SocketGroup == "" {
			if own.gid, err = strconv.Atoi(u.Gid); err != nil {
				return own, err
			}
		}
	}
	if o.SocketGroup != "" {
		gid, err := strconv.Atoi(o.SocketGroup)
		if err != nil {
			g, lerr := userdb.LookupGroup(o.SocketGroup)
			if lerr != nil {
				return own, lerr
			}
			if gid, err = strconv.Atoi(g.Gid); err != nil {
				return own, err
			}
		}
		own.gid = gid
	}
	return own, nil
}

func lookupUser(name string) (*user.User, error) {
	if _, err := strconv.Atoi(name); err == nil {
		if u, err := userdb.LookupId(name); err == nil {
			return u, nil
		}
		// A numeric id without a passwd entry is valid; its group stays.
		return &user.User{Uid: name, Gid: "-1"}, nil
	}
	return userdb.Lookup(name)
}

func socketMode(o *units.SocketOptions) uint32 {
	if o.SocketMode == 0 {
		return 0o666
	}
	return uint32(o.SocketMode.Perm())
}

func dirMode(o *units.SocketOptions) uint32 {
	if o.DirectoryMode == 0 {
		return 0o755
	}
	return uint32(o.DirectoryMode.Perm())
}

// dirCache maps directory paths to fds opened without following symlinks.
// It lives for one Bind/BindAll call.
type dirCache struct{ fds map[string]int }

func (c *dirCache) closeAll() {
	for _, fd := range c.fds {
		unix.Close(fd)
	}
	clear(c.fds)
}

// open returns an fd for the absolute, clean directory dir. With create,
// missing components are created with mode and appended to *made.
func (c *dirCache) open(dir string, create bool, mode uint32, made *[]string) (int, error) {
	if fd, ok := c.fds[dir]; ok {
		return fd, nil
	}
	if dir == "/" {
		fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: "/", Err: err}
		}
		c.fds[dir] = fd
		return fd, nil
	}
	pfd, err := c.open(filepath.Dir(dir), create, mode, made)
	if err != nil {
		return -1, err
	}
	base := filepath.Base(dir)
	op := "open"
	fd, err := unix.Openat(pfd, base, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT && create {
		op = "mkdir"
		fd, err = mkdirAt(pfd, base, mode)
		if err == nil {
			*made = append(*made, dir)
		} else if err == unix.EEXIST { // lost a race: use what is there now
			op = "open"
			fd, err = unix.Openat(pfd, base, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
	}
	if err != nil {
		if err == unix.ENOTDIR || err == unix.ELOOP {
			var st unix.Stat_t
			if unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				err = ErrSymlink
			}
		}
		return -1, &os.PathError{Op: op, Path: dir, Err: err}
	}
	c.fds[dir] = fd
	return fd, nil
}

// mkdirAt creates dir base in pfd with exactly mode (not masked by the
// umask): it is made 0700, opened without following symlinks, then
// fchmodded through that fd.
func mkdirAt(pfd int, base string, mode uint32) (int, error) {
	if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
		return -1, err
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// removeDir removes a directory Bind created, if it is empty, and forgets
// it and everything below it.
func (c *dirCache) removeDir(dir string) {
	if pfd, err := c.open(filepath.Dir(dir), false, 0, nil); err == nil {
		_ = unix.Unlinkat(pfd, filepath.Base(dir), unix.AT_REMOVEDIR)
	}
	for p, fd := range c.fds {
		if p == dir || strings.HasPrefix(p, dir+"/") {
			unix.Close(fd)
			delete(c.fds, p)
		}
	}
}

func (bd *binder) removeDir(dir string) { bd.dirs.removeDir(dir) }

// bindPath binds fd to the file-system AF_UNIX path sp.path.
//
// Why no window with a wrong mode or owner: on Linux, unix_bind() gives the
// new node the mode of the socket's own inode (masked by the umask), so
// fchmod(fd, 0) before bind() creates the node as 0000, reachable only with
// CAP_DAC_OVERRIDE. It is then chowned and chmodded through an O_PATH fd
// opened with O_NOFOLLOW, which a planted symlink cannot redirect; and a
// stream or seqpacket socket accepts no connection before listen(), which
// the caller runs afterwards. Binding at the real path (rather than a
// temporary name renamed into place) keeps getsockname() equal to the
// configured path, which services (sd_is_socket_unix) and Inherit compare.
func (bd *binder) bindPath(b *Bound, fd int, sp sockSpec, o *units.SocketOptions, own owner) *ListenError {
	fail := func(op string, err error) *ListenError { return &ListenError{Addr: sp.addr, Op: op, Err: err} }
	dir, base := filepath.Dir(sp.path), filepath.Base(sp.path)
	dfd, err := bd.dirs.open(dir, true, dirMode(o), &b.files().dirs)
	if err != nil {
		return fail("create parent directory", err)
	}
	if err := unix.Fchmod(fd, 0); err != nil {
		return fail("fchmod", err)
	}
	err = unix.Bind(fd, sp.sa)
	if err == unix.EADDRINUSE {
		if lerr := clearStale(dfd, base, sp); lerr != nil {
			return lerr
		}
		err = unix.Bind(fd, sp.sa)
	}
	if err != nil {
		return fail("bind", err)
	}
	nfd, err := unix.Openat(dfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		// The node is not where the directory fd says: a parent was swapped
		// under us after it was checked.
		return fail("open bound node", err)
	}
	defer unix.Close(nfd)
	var st unix.Stat_t
	if err := unix.Fstat(nfd, &st); err != nil {
		return fail("stat bound node", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK || int(st.Uid) != bd.euid {
		return fail("check bound node", fmt.Errorf("node at %s was replaced after bind", sp.path))
	}
	b.files().nodes = append(b.files().nodes, node{dir: dir, base: base, dev: st.Dev, ino: st.Ino, created: true})
	if own.set() {
		if err := unix.Fchownat(nfd, "", own.uid, own.gid, unix.AT_EMPTY_PATH); err != nil {
			return fail("chown", err)
		}
	}
	if err := chmodPath(nfd, socketMode(o)); err != nil {
		return fail("chmod", err)
	}
	return nil
}

// touch sets the times of a node Bind just created, without following a
// symlink, through the cached parent directory fd. Failures are ignored,
// as in systemd.
func (bd *binder) touch(path string) {
	if dfd, ok := bd.dirs.fds[filepath.Dir(path)]; ok {
		now := []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}
		_ = unix.UtimesNanoAt(dfd, filepath.Base(path), now, unix.AT_SYMLINK_NOFOLLOW)
	}
}

// chmodPath chmods the node an O_PATH fd refers to: fchmodat2(AT_EMPTY_PATH)
// on Linux ≥ 6.6, else through the /proc/self/fd magic link (as systemd's
// fchmod_opath does).
func chmodPath(fd int, mode uint32) error {
	err := unix.Fchmodat(fd, "", mode, unix.AT_EMPTY_PATH)
	if err == unix.EOPNOTSUPP || err == unix.ENOSYS || err == unix.EINVAL {
		err = unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), mode)
	}
	return err
}

// clearStale handles EADDRINUSE at a socket path: a socket node nobody
// answers on is unlinked (systemd unlinks and retries once); anything else
// fails the unit and is left untouched.
func clearStale(dfd int, base string, sp sockSpec) *ListenError {
	fail := func(op string, err error) *ListenError { return &ListenError{Addr: sp.addr, Op: op, Err: err} }
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if err == unix.ENOENT {
			return nil // gone meanwhile: retry the bind
		}
		return fail("stat", err)
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFSOCK {
		if t == unix.S_IFLNK {
			return fail("bind", ErrSymlink)
		}
		return fail("bind", fmt.Errorf("%w (found %s)", ErrNotSocket, fileKind(st.Mode)))
	}
	live, err := socketAnswers(sp.path, sp.typ)
	if err != nil {
		return fail("probe existing socket", err)
	}
	if live {
		return fail("bind", fmt.Errorf("%w: %w", unix.EADDRINUSE, ErrInUse))
	}
	if err := unix.Unlinkat(dfd, base, 0); err != nil && err != unix.ENOENT {
		return fail("unlink stale socket", err)
	}
	return nil
}

// socketAnswers dials a socket node: true if something is bound to it.
func socketAnswers(path string, typ int) (bool, error) {
	fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	switch err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err {
	case nil, unix.EAGAIN, unix.EINPROGRESS, unix.EPROTOTYPE:
		return true, nil // listening (maybe with a full backlog), or bound with another type
	case unix.ECONNREFUSED, unix.ENOENT:
		return false, nil
	default:
		return false, err
	}
}

func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	case unix.S_IFIFO:
		return "FIFO"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFSOCK:
		return "socket"
	}
	return "unknown file type"
}

// openFIFO creates (mkfifo, EEXIST is fine) and opens a FIFO as systemd
// does, O_RDWR so that it never reports EOF. A new FIFO is made 0600 and
// only then chowned and chmodded through the open fd, so it never has a
// wider mode. An existing FIFO whose mode or owner differ is corrected
// through the fd with a notice (systemd refuses it instead, which breaks a
// restart after SocketUser= chowned it); anything else at the path fails.
func (bd *binder) openFIFO(b *Bound, unit, path string, o *units.SocketOptions, own owner) (_ int, lerr *ListenError) {
	fail := func(op string, err error) *ListenError { return &ListenError{Op: op, Err: err} }
	p := filepath.Clean(path)
	if !filepath.IsAbs(p) || p == "/" {
		return -1, fail("open", fmt.Errorf("FIFO path %q is not absolute", path))
	}
	dir, base := filepath.Dir(p), filepath.Base(p)
	dfd, err := bd.dirs.open(dir, true, dirMode(o), &b.files().dirs)
	if err != nil {
		return -1, fail("create parent directory", err)
	}
	created := true
	if err := unix.Mkfifoat(dfd, base, 0o600); err == unix.EEXIST {
		created = false
	} else if err != nil {
		return -1, fail("mkfifo", err)
	}
	var pre unix.Stat_t
	if !created {
		if err := unix.Fstatat(dfd, base, &pre, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return -1, fail("stat", err)
		}
		if t := pre.Mode & unix.S_IFMT; t == unix.S_IFLNK {
			return -1, fail("open", ErrSymlink)
		} else if t != unix.S_IFIFO {
			return -1, fail("open", fmt.Errorf("path exists and is not a FIFO (found %s); refusing to remove it", fileKind(pre.Mode)))
		}
	}
	fd, err := unix.Openat(dfd, base, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_NOFOLLOW, 0)
	if err != nil {
		if created {
			_ = unix.Unlinkat(dfd, base, 0)
		}
		return -1, fail("open", err)
	}
	defer func() {
		if lerr != nil {
			unix.Close(fd)
		}
	}()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return -1, fail("stat", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFIFO || (!created && (st.Dev != pre.Dev || st.Ino != pre.Ino)) {
		return -1, fail("open", fmt.Errorf("node at %s was replaced while opening it", p))
	}
	b.files().nodes = append(b.files().nodes, node{dir: dir, base: base, dev: st.Dev, ino: st.Ino, created: created})
	mode := socketMode(o)
	if !created && (st.Mode&0o7777 != mode || (own.uid >= 0 && int(st.Uid) != own.uid) || (own.gid >= 0 && int(st.Gid) != own.gid)) {
		bd.log.Info("correcting mode/owner of existing FIFO", zap.String("unit", unit), zap.String("path", p))
	}
	if own.set() {
		if err := unix.Fchown(fd, own.uid, own.gid); err != nil {
			return -1, fail("chown", err)
		}
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return -1, fail("chmod", err)
	}
	if o.PipeSize > 0 {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, int(min(o.PipeSize, 1<<31-1))); err != nil {
			bd.log.Warn("PipeSize= not applied", zap.String("unit", unit), zap.String("path", p), zap.Error(err))
		}
	}
	return fd, nil
}

// openSpecial opens a ListenSpecial= file like systemd: read-only (O_RDWR
// with Writable=), never following a symlink at the path; it must be a
// regular file (/proc, /sys) or a character device.
func openSpecial(path string, writable bool) (int, *ListenError) {
	flags := unix.O_RDONLY
	if writable {
		flags = unix.O_RDWR
	}
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_NOFOLLOW, 0)
	if err != nil {
		if err == unix.ELOOP {
			err = ErrSymlink
		}
		return -1, &ListenError{Op: "open", Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, &ListenError{Op: "stat", Err: err}
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFCHR {
		unix.Close(fd)
		return -1, &ListenError{Op: "open", Err: fmt.Errorf("%s is neither a regular file nor a character device", fileKind(st.Mode))}
	}
	return fd, nil
}

// mqAttr is struct mq_attr.
type mqAttr struct {
	flags, maxmsg, msgsize, curmsgs int64
	_                               [4]int64
}

// mqOpen calls mq_open(2); name has no leading "/" (glibc strips it too).
func mqOpen(name string, flags int, mode uint32, attr *mqAttr) (int, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return -1, err
	}
	fd, _, e := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), uintptr(flags), uintptr(mode), uintptr(unsafe.Pointer(attr)), 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

func mqUnlink(name string) error {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	if _, _, e := unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0); e != 0 {
		return e
	}
	return nil
}

// openMQueue opens a ListenMessageQueue= queue read-only and non-blocking,
// creating it with MessageQueueMaxMessages=/MessageQueueMessageSize= when
// both are set. A new queue is created 0600 and then chowned and chmodded
// through its fd.
func (bd *binder) openMQueue(b *Bound, name string, o *units.SocketOptions, own owner) (_ int, lerr *ListenError) {
	fail := func(op string, err error) *ListenError { return &ListenError{Op: op, Err: err} }
	if len(name) < 2 || name[0] != '/' || strings.Contains(name[1:], "/") {
		return -1, fail("mq_open", fmt.Errorf("invalid message queue name %q", name))
	}
	var attr *mqAttr
	if o.MessageQueueMaxMessages > 0 && o.MessageQueueMessageSize > 0 {
		attr = &mqAttr{maxmsg: o.MessageQueueMaxMessages, msgsize: o.MessageQueueMessageSize}
	}
	const flags = unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK
	created := true
	fd, err := mqOpen(name[1:], flags|unix.O_CREAT|unix.O_EXCL, 0o600, attr)
	if err == unix.EEXIST {
		created = false
		fd, err = mqOpen(name[1:], flags, 0, nil)
	}
	if err != nil {
		return -1, fail("mq_open", err)
	}
	defer func() {
		if lerr != nil {
			unix.Close(fd)
		}
	}()
	b.files().nodes = append(b.files().nodes, node{base: name[1:], mq: true, created: created})
	if own.set() {
		if err := unix.Fchown(fd, own.uid, own.gid); err != nil {
			return -1, fail("chown", err)
		}
	}
	if err := unix.Fchmod(fd, socketMode(o)); err != nil {
		return -1, fail("chmod", err)
	}
	return fd, nil
}

// recordExistingNode remembers the node at path (an adopted socket or
// FIFO) so that RemoveOnStop= removes it.
func (bd *binder) recordExistingNode(b *Bound, path string) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	dfd, err := bd.dirs.open(dir, false, 0, nil)
	if err != nil {
		return
	}
	var st unix.Stat_t
	if unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		b.files().nodes = append(b.files().nodes, node{dir: dir, base: base, dev: st.Dev, ino: st.Ino})
	}
}

// removeNode unlinks n if the path still holds the very same node.
func removeNode(n node) error {
	if n.mq {
		if err := mqUnlink(n.base); err != nil && err != unix.ENOENT {
			return &os.PathError{Op: "mq_unlink", Path: "/" + n.base, Err: err}
		}
		return nil
	}
	c := dirCache{fds: map[string]int{}}
	defer c.closeAll()
	dfd, err := c.open(n.dir, false, 0, nil)
	if err != nil {
		if pe, ok := err.(*os.PathError); ok && pe.Err == unix.ENOENT {
			return nil
		}
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, n.base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return &os.PathError{Op: "stat", Path: n.path(), Err: err}
	}
	if st.Dev != n.dev || st.Ino != n.ino {
		return nil // someone else's node now: not ours to remove
	}
	if err := unix.Unlinkat(dfd, n.base, 0); err != nil && err != unix.ENOENT {
		return &os.PathError{Op: "unlink", Path: n.path(), Err: err}
	}
	return nil
}

// removeLink unlinks a Symlinks= entry if it still points at its target.
func removeLink(l linkNode) error {
	c := dirCache{fds: map[string]int{}}
	defer c.closeAll()
	dfd, err := c.open(l.dir, false, 0, nil)
	if err != nil {
		return nil // directory gone or replaced: nothing of ours left
	}
	if t, err := readlinkat(dfd, l.base); err != nil || t != l.target {
		return nil
	}
	if err := unix.Unlinkat(dfd, l.base, 0); err != nil && err != unix.ENOENT {
		return &os.PathError{Op: "unlink", Path: filepath.Join(l.dir, l.base), Err: err}
	}
	return nil
}

func readlinkat(dfd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// symlinks creates Symlinks= pointing at the unit's single file-system node
// (systemd refuses other units at load time). A link pointing elsewhere is
// replaced; a non-link is never removed. Failures only warn, as in systemd.
func (bd *binder) symlinks(b *Bound, s *units.Socket) {
	if len(s.Symlinks) == 0 {
		return
	}
	warn := func(msg, link string, err error) {
		bd.log.Warn(msg, zap.String("unit", s.Name), zap.String("symlink", link), zap.Error(err))
	}
	var target string
	n := 0
	for _, l := range s.Listeners {
		if (l.Kind == units.ListenFIFO && l.Addr.Family == units.FamilyPath) || l.Addr.Family == units.FamilyUnix {
			target = filepath.Clean(l.Addr.Path)
			n++
		}
	}
	if n != 1 {
		warn("Symlinks= needs exactly one file-system socket or FIFO; not creating", strings.Join(s.Symlinks, " "), nil)
		return
	}
	for _, link := range s.Symlinks {
		p := filepath.Clean(link)
		if !filepath.IsAbs(p) || p == "/" {
			warn("invalid symlink path", link, nil)
			continue
		}
		dir, base := filepath.Dir(p), filepath.Base(p)
		dfd, err := bd.dirs.open(dir, true, dirMode(&s.Options), &b.files().dirs)
		if err != nil {
			warn("cannot create symlink", link, err)
			continue
		}
		err = unix.Symlinkat(target, dfd, base)
		if err == unix.EEXIST {
			var t string
			if t, err = readlinkat(dfd, base); err == unix.EINVAL {
				warn("not replacing a non-symlink", link, fmt.Errorf("%s exists and is not a symlink", p))
				continue
			} else if err == nil && t != target {
				if err = unix.Unlinkat(dfd, base, 0); err == nil {
					err = unix.Symlinkat(target, dfd, base)
				}
			}
		}
		if err != nil {
			warn("cannot create symlink", link, err)
			continue
		}
		b.files().links = append(b.files().links, linkNode{dir: dir, base: base, target: target})
	}
}
