//go:build linux

package activator

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/units"
)

// BindOptions configures Bind and BindAll. The zero value is ready to use.
type BindOptions struct {
	// Logger receives the warnings systemd also only logs: socket options
	// that failed after bind, Symlinks= that could not be created, FIFOs
	// whose mode or owner had to be corrected. Nil means zap.NewNop().
	Logger *zap.Logger
	// Inherited, if non-nil, is searched for a descriptor matching each
	// listener before a new one is bound (sockd was itself socket-activated).
	// Nil means always bind.
	Inherited *Inherited
	// NoIPv6 makes a bare port (units.FamilyInet6Any) bind 0.0.0.0 as on a
	// host without IPv6. False means probe the host, as systemd does.
	NoIPv6 bool
	// DeferListen (Binder only) stops after bind(): listen() and the
	// socket options systemd applies after it wait for Binder.Listen.
	// AF_UNIX stream and seqpacket sockets at a path listen at once.
	DeferListen bool
}

// Bound is the result of binding one socket unit. Close undoes it. A Bound
// is owned by one goroutine: its methods must not be called concurrently.
// (Bind and BindAll themselves may run concurrently for different units.)
type Bound struct {
	// Unit is the unit name, e.g. "web.socket".
	Unit string
	// Listeners holds one entry per units.Listener, in unit order. It is
	// never empty for a Bound returned by Bind.
	Listeners []BoundListener

	// deferred are the sockets bound with DeferListen, waiting for
	// Binder.Listen.
	deferred []deferredListen
	fs       *boundFS // nil for a unit that touched no file system node
	closed   bool
}

// boundFS is what a Bound made in the file system, kept apart so that the
// many units with only network listeners do not carry it.
type boundFS struct {
	nodes []node     // file-system nodes and message queues, for removal
	links []linkNode // Symlinks= this unit created
	dirs  []string   // directories created by Bind, deepest last (rollback only)
}

// files returns b's file-system record, making it on first use.
func (b *Bound) files() *boundFS {
	if b.fs == nil {
		b.fs = &boundFS{}
	}
	return b.fs
}

// BoundListener is one open listener of a Bound.
type BoundListener struct {
	// FD is the listening descriptor: close-on-exec and non-blocking, owned
	// by the Bound until Close. It is -1 after Close.
	FD int
	// Listener is the unit's listener this fd was opened for (it points
	// into the unit's Listeners).
	Listener *units.Listener
	// Name is the fd's name for LISTEN_FDNAMES: FileDescriptorName= if set,
	// else "connection" with Accept=yes, else the unit name.
	Name string
	// Domain is the socket's address family (unix.AF_INET, unix.AF_INET6,
	// unix.AF_UNIX, unix.AF_VSOCK, unix.AF_NETLINK); 0 for FIFOs, special
	// files and message queues. A bare port is AF_INET6, or AF_INET on a host
	// without IPv6.
	Domain int
	// SockType is unix.SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET or SOCK_RAW
	// (netlink); 0 for FIFOs, special files and message queues.
	SockType int
	// Addr is the bound address as printed in errors and logs: "[::]:80",
	// "127.0.0.1:8080", "/run/x.sock", "@name", "vsock:4294967295:5",
	// a path or a message queue name.
	Addr string
	// Inherited is true when the fd was adopted from sockd's own
	// LISTEN_FDS instead of being bound.
	Inherited bool
}

// ListenError reports why a listener of a unit could not be opened.
type ListenError struct {
	Unit string // "web.socket"
	Addr string // "[::]:80", "/run/web.sock"; the listener text if no address was built
	Op   string // the failing operation: "socket", "bind", "listen", "setsockopt IPV6_V6ONLY", "mkdir /run/web", ...
	Err  error  // the cause, usually a unix.Errno
}

func (e *ListenError) Error() string {
	return e.Unit + ": " + e.Op + " " + e.Addr + ": " + e.Err.Error()
}

func (e *ListenError) Unwrap() error { return e.Err }

// Sentinel causes wrapped in a ListenError's Err; test them with errors.Is.
var (
	// ErrInUse: a live socket answers at the path; it is not replaced.
	ErrInUse = errors.New("socket is in use by another process")
	// ErrNotSocket: something other than a socket (or FIFO, for ListenFIFO=)
	// occupies the path; it is never removed.
	ErrNotSocket = errors.New("path exists and is not a socket; refusing to remove it")
	// ErrSymlink: a symlink was found where a directory or node was
	// expected; sockd does not follow it.
	ErrSymlink = errors.New("path component is a symlink; not following it")
	// ErrUnsupported: the listener kind or family is not supported.
	ErrUnsupported = errors.New("not supported")
)

// Bind opens every listener of s in order and applies s.Options. It binds
// all listeners or none: on the first failure it closes what it opened,
// removes the nodes, symlinks and directories it created, and returns a
// *ListenError.
func Bind(s *units.Socket, opts BindOptions) (*Bound, error) {
	bd := newBinder(opts)
	defer bd.close()
	return bd.bind(s)
}

// Binder binds units one after another, sharing directory lookups between
// them. It is not safe for concurrent use.
type Binder struct{ bd *binder }

// NewBinder returns a Binder; Close releases what it cached.
func NewBinder(opts BindOptions) *Binder { return &Binder{newBinder(opts)} }

// Bind is Bind with the Binder's options.
func (b *Binder) Bind(s *units.Socket) (*Bound, error) { return b.bd.bind(s) }

// Close releases the Binder's cached directory fds (not the Bounds).
func (b *Binder) Close() { b.bd.close() }

// Listen completes a Bound made with DeferListen: listen() and the options
// applied after it. On failure it undoes the whole unit, as Bind does.
func (b *Binder) Listen(bound *Bound) error {
	for _, d := range bound.deferred {
		bl := &bound.Listeners[d.i]
		if err := b.bd.listen(bl.FD, bound.Unit, bl.Domain, bl.SockType, bl.Addr, d.path, d.o); err != nil {
			err.Unit = bound.Unit
			bound.deferred = nil
			bound.rollback(b.bd)
			return err
		}
	}
	bound.deferred = nil
	return nil
}

// ListenAll is Listen for each of bounds; failed maps the index of each
// unit that failed (and was undone) to its error, nil when none did.
// listen() of thousands of sockets is kernel work that spreads over the
// cores, so units listen on up to GOMAXPROCS goroutines, except those that
// must keep their order on the calling goroutine: units with file-system
// nodes (they share the Binder's directory cache), and units with a port
// another unit of bounds also listens on. Every IP socket has
// SO_REUSEADDR, so two units on one port both bind and the first to
// listen() gets it: in the order of bounds (name order at start-up), as
// when they start one after the other. It allocates little (a bit per
// unit) so that sockd's memory is at its steady size when its sockets
// listen.
func (b *Binder) ListenAll(bounds []*Bound) (failed map[int]error) {
	serial := make([]uint64, (len(bounds)+63)/64)
	mark := func(i int) { serial[i/64] |= 1 << (i % 64) }
	inOrder := func(i int) bool { return serial[i/64]&(1<<(i%64)) != 0 }
	// Ports listened on more than once: a bit per IP port, a map for the
	// (rare) vsock ports.
	var seen, dup [1 << 16 / 64]uint64
	var vsock map[uint32]int
	count := func(bound *Bound, note func(ip bool, port uint32)) {
		for _, d := range bound.deferred {
			if ip, port, ok := listenPort(&bound.Listeners[d.i]); ok {
				note(ip, port)
			}
		}
	}
	for i, bound := range bounds {
		if bound.fs != nil {
			mark(i)
		}
		count(bound, func(ip bool, port uint32) {
			if !ip {
				if vsock == nil {
					vsock = map[uint32]int{}
				}
				vsock[port]++
			} else if seen[port/64]&(1<<(port%64)) != 0 {
				dup[port/64] |= 1 << (port % 64)
			} else {
				seen[port/64] |= 1 << (port % 64)
			}
		})
	}
	for i, bound := range bounds {
		count(bound, func(ip bool, port uint32) {
			if ip && dup[port/64]&(1<<(port%64)) != 0 || !ip && vsock[port] > 1 {
				mark(i)
			}
		})
	}

	var mu sync.Mutex
	record := func(i int, err error) {
		mu.Lock()
		if failed == nil {
			failed = map[int]error{}
		}
		failed[i] = err
		mu.Unlock()
	}
	var next atomic.Int64
	work := func() {
		for {
			end := int(next.Add(listenChunk))
			start := end - listenChunk
			if start >= len(bounds) {
				return
			}
			for i := start; i < min(end, len(bounds)); i++ {
				if !inOrder(i) {
					if err := b.Listen(bounds[i]); err != nil {
						record(i, err)
					}
				}
			}
		}
	}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), (len(bounds)+listenChunk-1)/listenChunk) - 1 {
		wg.Go(work)
	}
	for i, bound := range bounds {
		if inOrder(i) {
			if err := b.Listen(bound); err != nil {
				record(i, err)
			}
		}
	}
	work()
	wg.Wait()
	return failed
}

// listenPort is what listen() of l may find taken: the port of an IP
// (ip) or vsock stream or seqpacket socket; its address does not matter
// (0.0.0.0, an address and [::] on one port conflict). ok is false for
// other kinds (they conflict at bind(), which is exclusive for them) and
// for port 0 (assigned at bind).
func listenPort(l *BoundListener) (ip bool, port uint32, ok bool) {
	if l.SockType != unix.SOCK_STREAM && l.SockType != unix.SOCK_SEQPACKET || l.Listener == nil {
		return false, 0, false
	}
	switch l.Domain {
	case unix.AF_INET, unix.AF_INET6:
		p := l.Listener.Addr.Port
		return true, uint32(p), p != 0
	case unix.AF_VSOCK:
		p := l.Listener.Addr.VsockPort
		return false, p, p != unix.VMADDR_PORT_ANY
	}
	return false, 0, false
}

// listenChunk is how many units a goroutine of ListenAll takes at a time:
// enough to make the hand-over cheap next to a listen() of a few µs.
const listenChunk = 256

// deferredListen is a socket bound but not yet listening: the index of
// its BoundListener, and what listen needs that the BoundListener lacks.
type deferredListen struct {
	i    int
	path string
	o    *units.SocketOptions
}

// BindAll binds each unit independently, so that one failing unit does not
// stop the others. bound[i] and errs[i] belong to socks[i]: exactly one of
// them is nil. It shares directory lookups between units, which makes it
// faster than calling Bind in a loop.
func BindAll(socks []*units.Socket, opts BindOptions) (bound []*Bound, errs []error) {
	bd := newBinder(opts)
	defer bd.close()
	bound = make([]*Bound, len(socks))
	errs = make([]error, len(socks))
	for i, s := range socks {
		bound[i], errs[i] = bd.bind(s)
	}
	return bound, errs
}

// Close closes every fd of b. With removeOnStop (RemoveOnStop=yes) it also
// unlinks the unit's sockets, FIFOs and message queues and the symlinks it
// created, but only if they are still the very nodes it made. Close is
// idempotent; it returns the removal errors joined.
func (b *Bound) Close(removeOnStop bool) error {
	if b == nil || b.closed {
		return nil
	}
	b.closed = true
	for i := range b.Listeners {
		if b.Listeners[i].FD >= 0 {
			unix.Close(b.Listeners[i].FD)
			b.Listeners[i].FD = -1
		}
	}
	if !removeOnStop {
		return nil
	}
	if b.fs == nil {
		return nil
	}
	var errs []error
	for _, l := range b.fs.links {
		if err := removeLink(l); err != nil {
			errs = append(errs, err)
		}
	}
	for _, n := range b.fs.nodes {
		if err := removeNode(n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// rollback undoes a partial bind: fds, nodes it created, symlinks, dirs.
func (b *Bound) rollback(bd *binder) {
	for i := range b.Listeners {
		bl := &b.Listeners[i]
		if bl.Inherited && bd.opts.Inherited != nil {
			bd.opts.Inherited.giveBack(bl.FD) // it may match another unit
			continue
		}
		unix.Close(bl.FD)
	}
	b.Listeners = nil
	b.closed = true
	if b.fs == nil {
		return
	}
	for _, l := range b.fs.links {
		_ = removeLink(l)
	}
	for _, n := range b.fs.nodes {
		if n.created {
			_ = removeNode(n)
		}
	}
	for i := len(b.fs.dirs) - 1; i >= 0; i-- {
		bd.removeDir(b.fs.dirs[i])
	}
}

// binder carries what one Bind or BindAll call shares between listeners.
type binder struct {
	opts BindOptions
	log  *zap.Logger
	dirs dirCache
	euid int
	ipv6 int8 // 0 unknown, 1 yes, -1 no
}

func newBinder(opts BindOptions) *binder {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &binder{opts: opts, log: log, dirs: dirCache{fds: map[string]int{}}, euid: os.Geteuid()}
}

func (bd *binder) close() { bd.dirs.closeAll() }

func fdName(s *units.Socket) string {
	switch {
	case s.FileDescriptorName != "":
		return s.FileDescriptorName
	case s.Accept:
		return "connection"
	default:
		return s.Name
	}
}

func (bd *binder) bind(s *units.Socket) (_ *Bound, err error) {
	b := &Bound{Unit: s.Name, Listeners: make([]BoundListener, 0, len(s.Listeners))}
	if len(s.Listeners) == 0 {
		return nil, &ListenError{Unit: s.Name, Op: "bind", Addr: "(none)", Err: errors.New("unit has no listeners")}
	}
	defer func() {
		if err != nil {
			b.rollback(bd)
		}
	}()
	own, err := resolveOwner(&s.Options)
	if err != nil {
		return nil, &ListenError{Unit: s.Name, Op: "lookup SocketUser/SocketGroup", Addr: s.Listeners[0].Text, Err: err}
	}
	name := fdName(s)
	for i := range s.Listeners {
		l := &s.Listeners[i]
		bl, err := bd.open(b, s, l, own)
		if err != nil {
			err.Unit = s.Name
			if err.Addr == "" {
				err.Addr = l.Text
			}
			return nil, err
		}
		bl.Listener = l
		if bl.Addr == l.Text {
			bl.Addr = l.Text // one copy of the string for the daemon's life
		}
		bl.Name = name
		b.Listeners = append(b.Listeners, bl)
	}
	bd.symlinks(b, s)
	return b, nil
}

// open opens one listener. Nodes and dirs it creates are recorded in b even
// when it fails, so that rollback finds them.
func (bd *binder) open(b *Bound, s *units.Socket, l *units.Listener, own owner) (BoundListener, *ListenError) {
	o := &s.Options
	switch l.Kind {
	case units.ListenStream, units.ListenDatagram, units.ListenSequentialPacket, units.ListenNetlink:
		sp, lerr := bd.sockSpec(l, o)
		if lerr != nil {
			return BoundListener{}, lerr
		}
		bl := BoundListener{FD: -1, Domain: sp.domain, SockType: sp.typ, Addr: sp.addr}
		if in := bd.opts.Inherited; in.Len() > 0 {
			if fd, ok := in.take(sp.key()); ok {
				bl.FD, bl.Inherited = fd, true
				if sp.path != "" {
					bd.recordExistingNode(b, sp.path)
				}
				bd.log.Info("adopted inherited listener", zap.String("unit", s.Name), zap.String("addr", sp.addr), zap.Int("fd", fd))
				return bl, nil
			}
		}
		fd, lerr := bd.openSocket(b, s.Name, sp, o, own)
		if lerr != nil {
			return BoundListener{}, lerr
		}
		bl.FD = fd
		return bl, nil
	case units.ListenFIFO, units.ListenSpecial:
		bl := BoundListener{FD: -1, Addr: l.Addr.Path}
		if in := bd.opts.Inherited; in != nil {
			if fd, ok := in.takePath(l.Addr.Path); ok {
				bl.FD, bl.Inherited = fd, true
				if l.Kind == units.ListenFIFO {
					bd.recordExistingNode(b, l.Addr.Path)
				}
				return bl, nil
			}
		}
		var fd int
		var lerr *ListenError
		if l.Kind == units.ListenFIFO {
			fd, lerr = bd.openFIFO(b, s.Name, l.Addr.Path, o, own)
		} else {
			fd, lerr = openSpecial(l.Addr.Path, o.Writable)
		}
		if lerr != nil {
			lerr.Addr = l.Addr.Path
			return BoundListener{}, lerr
		}
		bl.FD = fd
		return bl, nil
	case units.ListenMessageQueue:
		fd, lerr := bd.openMQueue(b, l.Addr.Path, o, own)
		if lerr != nil {
			lerr.Addr = l.Addr.Path
			return BoundListener{}, lerr
		}
		return BoundListener{FD: fd, Addr: l.Addr.Path}, nil
	default:
		return BoundListener{}, &ListenError{Op: "open", Err: fmt.Errorf("listener kind %d: %w", l.Kind, ErrUnsupported)}
	}
}

// openSocket creates, configures, binds and (for stream and seqpacket)
// listens, in systemd's order (socket_address_listen, then
// socket_apply_socket_options).
func (bd *binder) openSocket(b *Bound, unit string, sp sockSpec, o *units.SocketOptions, own owner) (_ int, lerr *ListenError) {
	fail := func(op string, err error) *ListenError { return &ListenError{Addr: sp.addr, Op: op, Err: err} }
	fd, err := unix.Socket(sp.domain, sp.typ|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, sp.proto)
	if err != nil {
		return -1, fail("socket", err)
	}
	defer func() {
		if lerr != nil {
			unix.Close(fd)
		}
	}()
	if err := bd.preBind(fd, unit, sp, o); err != nil {
		return -1, err
	}
	if sp.path != "" {
		if err := bd.bindPath(b, fd, sp, o, own); err != nil {
			return -1, err
		}
	} else if err := unix.Bind(fd, sp.sa); err != nil {
		return -1, fail("bind", err)
	}
	if sp.ephemeral {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return -1, fail("setsockopt SO_REUSEADDR", err)
		}
	}
	// A file-system stream socket listens at once even so: a later unit
	// with the same path tells a live socket from a stale one by
	// connecting to it (clearStale), which a bound but not listening one
	// would fail.
	if bd.opts.DeferListen && !(sp.path != "" && (sp.typ == unix.SOCK_STREAM || sp.typ == unix.SOCK_SEQPACKET)) {
		b.deferred = append(b.deferred, deferredListen{len(b.Listeners), sp.path, o})
		return fd, nil
	}
	if err := bd.listen(fd, unit, sp.domain, sp.typ, sp.addr, sp.path, o); err != nil {
		return -1, err
	}
	return fd, nil
}

// listen is openSocket's last part: listen() for stream and seqpacket
// sockets, then the options systemd applies after it.
func (bd *binder) listen(fd int, unit string, domain, typ int, addr, path string, o *units.SocketOptions) *ListenError {
	if typ == unix.SOCK_STREAM || typ == unix.SOCK_SEQPACKET {
		if err := unix.Listen(fd, backlog(o)); err != nil {
			return &ListenError{Addr: addr, Op: "listen", Err: err}
		}
	}
	if path != "" {
		// Like systemd, touch the node once it accepts connections, so that
		// clients waiting with inotify see an event after listen(), not only
		// the chmod before it.
		bd.touch(path)
	}
	applyOptions(fd, domain, typ, o, true, func(op string, err error) {
		bd.log.Warn("socket option not applied", zap.String("unit", unit), zap.String("addr", addr),
			zap.String("op", op), zap.Error(err))
	})
	return nil
}

// backlog is Backlog=, or INT_MAX (systemd's default) when unset; the
// kernel caps it at net.core.somaxconn.
func backlog(o *units.SocketOptions) int {
	if o.Backlog <= 0 {
		return 1<<31 - 1
	}
	return o.Backlog
}
