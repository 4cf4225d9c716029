//go:build linux

package activator

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/units"
)

func inode(t testing.TB, p string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return st.Ino
}

func TestStaleSocketReplaced(t *testing.T) {
	d := shortDir(t)
	for _, kind := range []units.ListenKind{units.ListenStream, units.ListenDatagram} {
		p := filepath.Join(d, "stale.sock")
		// A socket node whose process is gone: bound, then closed.
		// It is made 0700 so that the replacement (0666) is told apart even
		// if the file system reuses the inode number.
		fd, _ := unix.Socket(unix.AF_UNIX, sockType(kind)|unix.SOCK_CLOEXEC, 0)
		unix.Fchmod(fd, 0o700)
		if err := unix.Bind(fd, &unix.SockaddrUnix{Name: p}); err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		b := mustBind(t, unit("s.socket", units.SocketOptions{}, unixL(kind, p)), BindOptions{})
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil || st.Mode&0o7777 != 0o666 {
			t.Errorf("kind %d: stale socket not replaced (mode %o, %v)", kind, st.Mode&0o7777, err)
		}
		c, _ := unix.Socket(unix.AF_UNIX, sockType(kind)|unix.SOCK_CLOEXEC, 0)
		if err := unix.Connect(c, &unix.SockaddrUnix{Name: p}); err != nil {
			t.Errorf("kind %d: new socket does not answer: %v", kind, err)
		}
		unix.Close(c)
		b.Close(true)
	}
}

func TestLiveSocketNotStolen(t *testing.T) {
	d := shortDir(t)
	cases := []struct {
		name string
		kind units.ListenKind
		net  string
	}{
		{"stream", units.ListenStream, "unix"},
		{"dgram", units.ListenDatagram, "unixgram"},
		{"other-type", units.ListenSequentialPacket, "unix"}, // live stream socket, seqpacket unit
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(d, c.name+".sock")
			var closer interface{ Close() error }
			if c.net == "unixgram" {
				pc, err := net.ListenPacket(c.net, p)
				if err != nil {
					t.Fatal(err)
				}
				closer = pc
			} else {
				ln, err := net.Listen(c.net, p)
				if err != nil {
					t.Fatal(err)
				}
				closer = ln
			}
			defer closer.Close()
			old := inode(t, p)
			_, err := Bind(unit("s.socket", units.SocketOptions{}, unixL(c.kind, p)), BindOptions{})
			if !errors.Is(err, ErrInUse) || !errors.Is(err, unix.EADDRINUSE) {
				t.Fatalf("err = %v, want ErrInUse/EADDRINUSE", err)
			}
			if inode(t, p) != old {
				t.Error("live socket node was replaced")
			}
		})
	}
}

func TestNonSocketNeverRemoved(t *testing.T) {
	d := shortDir(t)
	reg := filepath.Join(d, "file")
	if err := os.WriteFile(reg, []byte("keep me"), 0o640); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(d, "dir")
	os.Mkdir(dir, 0o755)
	fifo := filepath.Join(d, "fifo")
	unix.Mkfifo(fifo, 0o600)
	cases := []struct {
		path, kind string
		l          units.Listener
	}{
		{reg, "regular file", unixL(units.ListenStream, reg)},
		{dir, "directory", unixL(units.ListenDatagram, dir)},
		{fifo, "FIFO", unixL(units.ListenStream, fifo)},
		{reg, "regular file", pathL(units.ListenFIFO, reg)},
		{dir, "directory", pathL(units.ListenFIFO, dir)},
	}
	if os.Geteuid() == 0 {
		dev := filepath.Join(d, "null")
		if err := unix.Mknod(dev, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err == nil {
			cases = append(cases, struct {
				path, kind string
				l          units.Listener
			}{dev, "character device", unixL(units.ListenStream, dev)})
		}
	}
	for _, c := range cases {
		old := inode(t, c.path)
		_, err := Bind(unit("x.socket", units.SocketOptions{}, c.l), BindOptions{})
		if err == nil {
			t.Fatalf("%s at %s: Bind succeeded", c.kind, c.path)
		}
		if !strings.Contains(err.Error(), c.kind) || !strings.Contains(err.Error(), "x.socket") || !strings.Contains(err.Error(), c.path) {
			t.Errorf("unclear error for a %s: %v", c.kind, err)
		}
		if inode(t, c.path) != old {
			t.Errorf("%s at %s was replaced", c.kind, c.path)
		}
	}
	if b, _ := os.ReadFile(reg); string(b) != "keep me" {
		t.Errorf("regular file content changed: %q", b)
	}
}

func TestSymlinkAtPathNotFollowed(t *testing.T) {
	d := shortDir(t)
	secret := filepath.Join(d, "secret")
	os.WriteFile(secret, []byte("s"), 0o600)
	dead := filepath.Join(d, "dead.sock")
	fd, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	unix.Bind(fd, &unix.SockaddrUnix{Name: dead})
	unix.Close(fd)
	fifo := filepath.Join(d, "fifo")
	unix.Mkfifo(fifo, 0o600)
	for _, c := range []struct {
		target string
		l      func(string) units.Listener
	}{
		{secret, func(p string) units.Listener { return unixL(units.ListenStream, p) }},
		{dead, func(p string) units.Listener { return unixL(units.ListenStream, p) }}, // a dead socket behind a link
		{fifo, func(p string) units.Listener { return pathL(units.ListenFIFO, p) }},
		{secret, func(p string) units.Listener { return pathL(units.ListenSpecial, p) }},
	} {
		link := filepath.Join(d, "link")
		os.Remove(link)
		if err := os.Symlink(c.target, link); err != nil {
			t.Fatal(err)
		}
		var before unix.Stat_t
		unix.Lstat(c.target, &before)
		_, err := Bind(unit("l.socket", units.SocketOptions{SocketMode: 0o666, SocketUser: "0"}, c.l(link)), BindOptions{})
		if !errors.Is(err, ErrSymlink) {
			t.Errorf("symlink to %s: err = %v, want ErrSymlink", c.target, err)
		}
		var after unix.Stat_t
		if err := unix.Lstat(c.target, &after); err != nil || after.Ino != before.Ino || after.Mode != before.Mode || after.Uid != before.Uid {
			t.Errorf("target %s changed through the link: %v", c.target, err)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("the symlink itself was removed")
		}
	}
}

func TestSymlinkParentNotFollowed(t *testing.T) {
	d := shortDir(t)
	real := filepath.Join(d, "real")
	os.Mkdir(real, 0o755)
	link := filepath.Join(d, "link")
	os.Symlink(real, link)
	for _, l := range []units.Listener{
		unixL(units.ListenStream, filepath.Join(link, "s.sock")),
		unixL(units.ListenStream, filepath.Join(link, "new", "deeper", "s.sock")),
		pathL(units.ListenFIFO, filepath.Join(link, "fifo")),
	} {
		_, err := Bind(unit("p.socket", units.SocketOptions{}, l), BindOptions{})
		if !errors.Is(err, ErrSymlink) {
			t.Errorf("%s: err = %v, want ErrSymlink", l.Addr.Path, err)
		}
		if !strings.Contains(err.Error(), link) {
			t.Errorf("error does not name the symlink: %v", err)
		}
	}
	if ents, _ := os.ReadDir(real); len(ents) != 0 {
		t.Errorf("created %v through a symlinked parent", ents)
	}
}

// TestModeOwnerNeverWrong hammers lstat() and connect() on the socket path
// while binding it again and again: the node may be seen as 0000 (being
// set up) or with its final mode and owner, never anything else, and a
// connect only ever succeeds on the final node.
func TestModeOwnerNeverWrong(t *testing.T) {
	d := shortDir(t)
	p := filepath.Join(d, "race.sock")
	o := units.SocketOptions{SocketMode: 0o660}
	uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())
	if os.Geteuid() == 0 {
		o.SocketUser, o.SocketGroup = "65534", "65534"
		uid, gid = 65534, 65534
	}
	var stop atomic.Bool
	var bad atomic.Value
	var seen, connected atomic.Int64
	// gen changes whenever the main loop starts a bind or finished a close:
	// a node seen after a change may be a new one with the old one's inode
	// number (file systems reuse them).
	var gen atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				g := gen.Load()
				var st unix.Stat_t
				if unix.Lstat(p, &st) != nil {
					continue
				}
				seen.Add(1)
				mode := st.Mode & 0o7777
				final := mode == 0o660 && st.Uid == uid && st.Gid == gid
				if mode != 0 && !final {
					bad.Store(st)
					return
				}
				fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					continue
				}
				if unix.Connect(fd, &unix.SockaddrUnix{Name: p}) == nil {
					connected.Add(1)
					var st2 unix.Stat_t
					// The node cannot go back to 0000 once listening; if the
					// stat before connect saw 0000 that is fine (it was
					// finished in between), but the node now must be final.
					if unix.Lstat(p, &st2) == nil && (st2.Mode&0o7777 != 0o660 || st2.Uid != uid || st2.Gid != gid) && st2.Ino == st.Ino && gen.Load() == g {
						bad.Store(st2)
					}
				}
				unix.Close(fd)
			}
		}()
	}
	for range 300 {
		gen.Add(1)
		b, err := Bind(unit("r.socket", o, unixL(units.ListenStream, p)), BindOptions{})
		if err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatal(err)
		}
		b.Close(true)
		gen.Add(1)
	}
	stop.Store(true)
	wg.Wait()
	if st := bad.Load(); st != nil {
		s := st.(unix.Stat_t)
		t.Fatalf("node seen with mode %o uid %d gid %d", s.Mode&0o7777, s.Uid, s.Gid)
	}
	t.Logf("%d observations, %d connects", seen.Load(), connected.Load())
}

func TestSocketUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to another user needs root")
	}
	d := shortDir(t)
	cases := []struct {
		user, group string
		uid, gid    uint32
	}{
		{"nobody", "", 65534, 65534}, // the user's primary group
		{"nobody", "0", 65534, 0},
		{"", "65534", 0, 65534},
	}
	for i, c := range cases {
		sp := filepath.Join(d, "u"+itoaT(i)+".sock")
		fp := filepath.Join(d, "f"+itoaT(i))
		mustBind(t, unit("u.socket", units.SocketOptions{SocketUser: c.user, SocketGroup: c.group, SocketMode: 0o600},
			unixL(units.ListenStream, sp), pathL(units.ListenFIFO, fp)), BindOptions{})
		for _, p := range []string{sp, fp} {
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil || st.Uid != c.uid || st.Gid != c.gid || st.Mode&0o7777 != 0o600 {
				t.Errorf("%s/%s: %s is %d:%d %o (%v), want %d:%d 0600", c.user, c.group, p, st.Uid, st.Gid, st.Mode&0o7777, err, c.uid, c.gid)
			}
		}
	}
	if _, err := Bind(unit("u.socket", units.SocketOptions{SocketUser: "no-such-user-x"}, unixL(units.ListenStream, filepath.Join(d, "x.sock"))), BindOptions{}); err == nil {
		t.Error("unknown SocketUser= accepted")
	}
}

func TestSymlinksAndRemoveOnStop(t *testing.T) {
	d := shortDir(t)
	p := filepath.Join(d, "run", "app.sock")
	other := filepath.Join(d, "other")
	os.WriteFile(other, nil, 0o644)
	l1 := filepath.Join(d, "links", "a")
	l2 := filepath.Join(d, "b")
	os.Symlink(other, l2) // points elsewhere: replaced
	nonLink := filepath.Join(d, "c")
	os.WriteFile(nonLink, []byte("data"), 0o644) // never replaced
	s := unit("app.socket", units.SocketOptions{},
		unixL(units.ListenStream, p),
		inet4(units.ListenStream, "127.0.0.1", 0),
		units.Listener{Kind: units.ListenStream, Addr: units.Address{Family: units.FamilyAbstract, Path: "sockd-ros-" + itoaT(os.Getpid())}})
	s.Symlinks = []string{l1, l2, nonLink}
	b, err := Bind(s, BindOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{l1, l2} {
		if tgt, err := os.Readlink(l); err != nil || tgt != p {
			t.Errorf("symlink %s -> %q (%v), want %s", l, tgt, err, p)
		}
	}
	if data, _ := os.ReadFile(nonLink); string(data) != "data" {
		t.Error("a non-link at a Symlinks= path was replaced")
	}
	if err := b.Close(true); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{p, l1, l2} {
		if _, err := os.Lstat(gone); !os.IsNotExist(err) {
			t.Errorf("%s left after RemoveOnStop (%v)", gone, err)
		}
	}
	for _, kept := range []string{other, nonLink, filepath.Dir(p), filepath.Dir(l1)} {
		if _, err := os.Lstat(kept); err != nil {
			t.Errorf("%s removed by RemoveOnStop: %v", kept, err)
		}
	}
}

func TestRemoveOnStopOnlyOwnNodes(t *testing.T) {
	d := shortDir(t)
	p := filepath.Join(d, "s.sock")
	b := mustBind(t, unit("o.socket", units.SocketOptions{}, unixL(units.ListenStream, p)), BindOptions{})
	// Someone replaces the node while the unit runs.
	os.Remove(p)
	os.WriteFile(p, []byte("new"), 0o644)
	if err := b.Close(true); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(p); err != nil || string(data) != "new" {
		t.Errorf("RemoveOnStop removed a node that was not its own: %v", err)
	}
	// Without RemoveOnStop the node stays.
	q := filepath.Join(d, "k.sock")
	b = mustBind(t, unit("k.socket", units.SocketOptions{}, unixL(units.ListenStream, q)), BindOptions{})
	b.Close(false)
	if _, err := os.Lstat(q); err != nil {
		t.Errorf("node removed without RemoveOnStop: %v", err)
	}
	if err := b.Close(true); err != nil { // idempotent: second Close is a no-op
		t.Fatal(err)
	}
	if _, err := os.Lstat(q); err != nil {
		t.Errorf("second Close removed the node: %v", err)
	}
}
