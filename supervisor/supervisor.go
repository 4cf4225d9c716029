// Package supervisor ties sockd together: it loads units, binds their
// listeners (activator), watches them, starts services (spawner) and owns
// the state of every unit.
//
// One goroutine, Run's, owns all state. The poller, the spawner's reaper,
// timers, signal handlers and control requests only send events to it, so
// nothing here takes a lock.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sockd/sockd/activator"
	"github.com/sockd/sockd/config"
	"github.com/sockd/sockd/notify"
	"github.com/sockd/sockd/spawner"
	"github.com/sockd/sockd/units"
)

// Options configure a Supervisor.
type Options struct {
	Config   *config.Config
	UnitDirs []string // overrides Config.Units when not empty
	UserMode bool
	Logger   *zap.Logger
	// OnReady is called once every unit that can be bound is bound (sockd
	// sends READY=1 to its own manager there). May be nil.
	OnReady func()
	// OnSpawn, if not nil, is told how long each process start took.
	OnSpawn SpawnObserver
	// NotifySocket is the path of the sd_notify socket services get in
	// $NOTIFY_SOCKET; "" means a private name in the abstract namespace.
	NotifySocket string
	// Subreaper makes sockd reap orphans of forking services. Only the
	// daemon sets it: it reaps every child, so nothing else in the process
	// may wait for children.
	Subreaper bool
	// Inherited are fds sockd itself received through socket activation;
	// matching listeners are adopted instead of bound. May be nil.
	Inherited *activator.Inherited

	// forkServerFDs, if not zero, replaces directForkMaxFDs (tests).
	forkServerFDs int
}

// Supervisor runs socket units and their services.
type Supervisor struct {
	opts Options
	cfg  *config.Config
	log  *zap.Logger

	set      *units.Set
	sockets  []*socketUnit          // load order
	byName   map[string]*socketUnit // socket units by name
	services map[string]*serviceUnit
	// listeners maps a poller token to its listener; tokens are never
	// reused, so a late event for a closed listener is recognised.
	listeners map[uint64]*listener
	nextToken uint64

	// stored maps the poller tokens of fd-store entries to them.
	stored map[uint64]storeRef
	// notifyAddr is the NOTIFY_SOCKET given to services ("" if none).
	notifyAddr string

	events chan activator.Event
	poller *activator.Poller
	sp     *spawner.Spawner
	procs  map[int]*proc // running processes by pid

	calls chan func() // timers and requests run on the owner goroutine

	// Asynchronous starts (spawnq.go): the queue, its workers, the starts
	// in flight, and exits reaped before their start was reported back.
	// creds remembers resolved credentials (spec.go, credential).
	creds map[credKey]credEntry

	// prebound holds the listeners bound while the units loaded, until
	// startSockets takes them.
	prebound  map[*units.Socket]prebound
	prebinder *activator.Binder // completes them (DeferListen)
	// startSpawner starts the spawner during the first load (see scanned).
	startSpawner func(sockets int)
	// deferred are the units bound from prebound, waiting for
	// listenDeferred; deferredBounds their Bounds, collected as they
	// come so that nothing is allocated once the garbage of loading is
	// gone.
	deferred       []*socketUnit
	deferredBounds []*activator.Bound

	spawnq   chan spawnJob
	spawnWG  sync.WaitGroup
	pending  int
	early    map[int]spawner.Exit
	stopping bool
}

// New loads the units and prepares the supervisor; nothing is bound until
// Run.
func New(opts Options) (*Supervisor, error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Config == nil {
		opts.Config = config.Default(opts.UserMode)
	}
	s := &Supervisor{
		opts:      opts,
		cfg:       opts.Config,
		log:       opts.Logger,
		byName:    map[string]*socketUnit{},
		services:  map[string]*serviceUnit{},
		listeners: map[uint64]*listener{},
		stored:    map[uint64]storeRef{},
		events:    make(chan activator.Event, 256),
		procs:     map[int]*proc{},
		calls:     make(chan func(), 64),
		early:     map[int]spawner.Exit{},
	}
	return s, nil
}

func (s *Supervisor) unitDirs() []string {
	if len(s.opts.UnitDirs) > 0 {
		return s.opts.UnitDirs
	}
	return s.cfg.Units
}

// Run binds every socket unit, then serves until ctx is done; then it stops
// every service (KillSignal=, SIGKILL after the stop timeout), closes the
// listeners, removes RemoveOnStop= paths and returns.
func (s *Supervisor) Run(ctx context.Context) error {
	nl, err := notify.Listen(s.opts.NotifySocket, notify.WithLogger(s.log))
	if err != nil && s.opts.NotifySocket != "" {
		s.log.Warn("notify socket, using the abstract namespace instead", zap.Error(err))
		nl, err = notify.Listen("", notify.WithLogger(s.log))
	}
	if err != nil {
		return fmt.Errorf("notify socket: %w", err)
	}
	// Unbuffered, so that a BARRIER=1 is answered only once every earlier
	// message has been taken (see notify.Listener.Run).
	notes := make(chan notify.Message)
	s.notifyAddr = nl.Addr()
	go nl.Run(notes)
	defer nl.Close()

	poller, err := activator.NewPoller(s.events)
	if err != nil {
		return err
	}
	s.poller = poller
	go poller.Run()
	defer poller.Close(true)

	cur, max, err := activator.RaiseNoFileLimit()
	if err != nil {
		s.log.Warn("cannot raise the open files limit", zap.Error(err))
	}
	// The reaper reports exits from its own goroutine; quit keeps it from
	// blocking once Run has returned.
	exits := make(chan spawner.Exit, 1024)
	quit := make(chan struct{})
	type started struct {
		sp  *spawner.Spawner
		err error
	}
	spc := make(chan started, 1)
	// The spawner starts while the units load, once the scan has counted
	// them (its fork server takes a few ms to start).
	s.startSpawner = func(sockets int) {
		go func() {
			sp, err := spawner.New(spawner.Options{
				Logger:    s.log,
				Subreaper: s.opts.Subreaper,
				// fork() copies the fd table and exec closes every
				// close-on-exec fd, so with many listeners children are
				// forked from a small fork server instead; with few,
				// forking directly is cheaper than the round trip to it
				// (see bench/README.md). A first guess from the unit
				// files, settled below from their listeners.
				DirectFork: s.directFork(sockets),
				OnExit: func(e spawner.Exit) {
					select {
					case exits <- e:
					case <-quit:
					}
				},
			})
			spc <- started{sp, err}
		}()
	}
	t0 := time.Now()
	s.load()
	if start := s.startSpawner; start != nil { // the load did not scan
		s.startSpawner = nil
		start(len(s.set.Sockets))
	}
	nfds := activator.CountFDs(s.set.Sockets)
	if err := activator.CheckNoFileLimit(cur, nfds); err != nil {
		s.log.Warn("open files limit", zap.Error(err), zap.Uint64("soft", cur), zap.Uint64("hard", max))
	}
	res := <-spc
	sp, err := res.sp, res.err
	if err != nil {
		for _, p := range s.prebound { // bound while loading, never to listen
			p.b.Close(true)
		}
		if s.prebinder != nil {
			s.prebinder.Close()
		}
		return fmt.Errorf("spawner: %w", err)
	}
	sp.SetDirectFork(s.directFork(nfds)) // the listeners', not the files'
	s.sp = sp
	// Two workers measured best (1, 2 and 4 tried, spawn-per-conn C=8);
	// sockd run then keeps one P (cmd/sockd), and a vfork holds its P
	// until the child has exec'd, so more would only queue.
	s.startSpawnWorkers(min(runtime.GOMAXPROCS(0), 2), quit)
	defer func() {
		close(quit)
		s.stopSpawnWorkers()
		sp.Close()
	}()
	s.startSockets()
	// Loading thousands of units leaves garbage behind; hand it back to the
	// OS before the sockets listen rather than whenever the scavenger gets
	// to it: sockd is at its steady size from the moment clients can
	// connect, and may then sit idle for days. (Switching the collector
	// off while loading was measured: faster, but the live data ends up
	// spread over more pages, +2.8 MB RSS with 10,000 units.)
	debug.FreeOSMemory()
	s.listenDeferred()
	debug.FreeOSMemory() // what was kept only until the sockets listened
	if s.opts.OnReady != nil {
		s.opts.OnReady()
	}
	s.log.Info("sockd ready", zap.Int("sockets", len(s.sockets)), zap.Int("listening", s.countListening()),
		zap.Duration("listen", time.Since(t0)))

	for {
		select {
		case <-ctx.Done():
			s.shutdown(exits)
			return nil
		case ev := <-s.events:
			s.onEvent(ev)
		case ex := <-exits:
			s.onExit(ex)
		case m := <-notes:
			s.onNotify(m)
		case f := <-s.calls:
			f()
		}
	}
}

// call runs f on the owner goroutine and waits for it. It fails when the
// supervisor is not running.
func (s *Supervisor) call(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case s.calls <- func() { f(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// after runs f on the owner goroutine after d. The returned timer can be
// stopped; f must tolerate running after a state change.
func (s *Supervisor) after(d time.Duration, f func()) *time.Timer {
	return time.AfterFunc(d, func() { s.calls <- f })
}

// Reload re-reads the unit files (SIGHUP): unchanged sockets keep their
// listeners, changed ones are bound again, removed ones are closed.
func (s *Supervisor) Reload(ctx context.Context) error {
	return s.call(ctx, s.reload)
}

func (s *Supervisor) countListening() int {
	n := 0
	for _, su := range s.sockets {
		if su.bound != nil {
			n++
		}
	}
	return n
}

// load reads the unit directories and builds unit state for every socket
// unit. Problems are logged as file:line diagnostics; a broken unit never
// stops the others.
func (s *Supervisor) load() {
	feed, wait := s.startPrebind()
	set, diags := units.Load(s.unitDirs(), s.loadOptions(feed))
	s.prebinder, s.prebound = wait()
	s.logDiagnostics(diags)
	s.set = set
	for _, u := range set.Sockets {
		su := newSocketUnit(u)
		s.sockets = append(s.sockets, su)
		s.byName[u.Name] = su
	}
	s.linkServices()
}

// loadOptions are the options of every load of the unit directories.
// Templates are read when their socket first accepts a connection, as
// systemd does; the owner goroutine is the one asking, so their
// diagnostics are logged from it.
func (s *Supervisor) loadOptions(onSocket func(*units.Socket)) units.LoadOptions {
	return units.LoadOptions{UserMode: s.opts.UserMode, OnSocket: onSocket,
		OnScanned: s.scanned, LazyTemplates: true, OnLateDiagnostics: s.logDiagnostics}
}

// scanned is told the number of socket units a load found before it reads
// them; the first load also starts the spawner then.
func (s *Supervisor) scanned(sockets int) {
	s.growFDTable(sockets)
	if start := s.startSpawner; start != nil {
		s.startSpawner = nil
		start(sockets)
	}
}

// growFDTable sizes the descriptor table for the socket units a load found
// (one listener each, most often) before they are bound, on its own
// goroutine: the one wait for the kernel it costs overlaps the rest of the
// load instead of one wait per doubling of the table while binding.
func (s *Supervisor) growFDTable(sockets int) {
	go func() {
		if err := activator.GrowFDTable(sockets + activator.NoFileReserve); err != nil {
			s.log.Debug("grow the descriptor table", zap.Error(err))
		}
	}()
}

// logDiagnostics logs problems found in unit files, one line each.
func (s *Supervisor) logDiagnostics(diags units.Diagnostics) {
	for _, d := range diags {
		if d.Severity == units.Error {
			s.log.Error(d.String(), zap.String("unit", d.Unit))
		} else {
			s.log.Warn(d.String(), zap.String("unit", d.Unit))
		}
	}
}

// linkServices connects Accept=no sockets with the services they trigger.
func (s *Supervisor) linkServices() {
	for _, su := range s.sockets {
		if su.u.Accept {
			continue
		}
		svc := s.service(su.u.Service)
		su.svc = svc
		if svc == nil {
			continue
		}
		if !contains(svc.triggers, su) {
			svc.triggers = append(svc.triggers, su)
		}
	}
}

// service returns the state of a (non-template) service, creating it from
// the loaded set; nil if no such unit is loaded.
func (s *Supervisor) service(name string) *serviceUnit {
	if sv, ok := s.services[name]; ok {
		return sv
	}
	u := s.set.Service(name)
	if u == nil {
		return nil
	}
	sv := &serviceUnit{u: u, state: ServiceInactive}
	sv.startLimit = rateLimit{interval: u.StartLimitInterval, burst: u.StartLimitBurst}
	s.services[name] = sv
	return sv
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// directForkMaxFDs is the number of listeners below which services are
// forked from sockd itself rather than from the fork server: measured
// here, a direct fork costs about 0.07 µs more per open fd, the fork
// server's round trip about 90 µs, so they break even near 1,300 fds.
// The spawner starts before the units are read, with the count of socket
// unit files; once they are loaded, the count of their listeners decides.
const directForkMaxFDs = 1000

// directFork reports whether services are forked from sockd itself when it
// holds fds listeners.
func (s *Supervisor) directFork(fds int) bool {
	if s.opts.forkServerFDs > 0 {
		return fds < s.opts.forkServerFDs
	}
	return fds < directForkMaxFDs
}

// prebound is the result of binding a socket unit while the units loaded.
type prebound struct {
	b   *activator.Bound
	err error
}

// startPrebind binds socket units on another goroutine while Load reads
// and builds the rest, in load order. Only units without socket helpers
// are bound ahead (those with helpers start afterwards, so an address two
// units share goes to the one without helpers), and only up to bind()
// (AF_UNIX stream sockets at a path also listen): bindSocket takes the
// results and listenDeferred makes them listen, once the garbage of
// loading has gone back to the OS (sockd is at its steady size when its
// sockets listen).
func (s *Supervisor) startPrebind() (feed func(*units.Socket), wait func() (*activator.Binder, map[*units.Socket]prebound)) {
	ch := make(chan *units.Socket, 256)
	done := make(chan map[*units.Socket]prebound, 1)
	bd := activator.NewBinder(activator.BindOptions{Logger: s.log, Inherited: s.opts.Inherited, DeferListen: true})
	go func() {
		m := map[*units.Socket]prebound{}
		for u := range ch {
			b, err := bd.Bind(u)
			m[u] = prebound{b, err}
		}
		done <- m
	}()
	feed = func(u *units.Socket) {
		// ExecStartPre= runs before the bind, ExecStartPost= once the
		// socket listens: those units start the ordinary way.
		if len(u.ExecStartPre) == 0 && len(u.ExecStartPost) == 0 {
			ch <- u
		}
	}
	wait = func() (*activator.Binder, map[*units.Socket]prebound) {
		close(ch)
		return bd, <-done
	}
	return feed, wait
}

// errStopping is returned for actions refused during shutdown.
var errStopping = errors.New("sockd is stopping")
