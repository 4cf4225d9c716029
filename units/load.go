package units

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// LoadOptions configures Load.
type LoadOptions struct {
	// UserMode selects the user manager's specifier values (%t =
	// $XDG_RUNTIME_DIR, %h = the user's home...) and defaults.
	UserMode bool
	// LookPath finds the program of an Exec*= command as written (absolute
	// or a bare name) and reports whether it exists as an executable file.
	// nil uses ResolveProgram and the file system. Tests inject their own.
	LookPath func(program string) (path string, ok bool)
	// Specifiers is the base specifier context (host name, machine id...);
	// nil builds one with NewSpecifierContext. Per-unit contexts are derived
	// from it with WithUnit, so host lookups happen once per Load.
	Specifiers *SpecifierContext
	// OnSocket, if not nil, is called with each socket unit as soon as it
	// is loaded and paired with its service, in the order of Set.Sockets,
	// while Load goes on with the others (sockd binds it meanwhile).
	OnSocket func(*Socket)
	// OnScanned, if not nil, is called once the unit directories are
	// listed and before any unit file is read, with the number of socket
	// unit files found (sockd sizes its descriptor table from it).
	OnScanned func(sockets int)
	// LazyTemplates leaves service templates (foo@.service) unread until
	// an instance is first asked for (Set.Instance, Set.Template), as
	// systemd loads the template of an Accept=yes socket at its first
	// connection: a template that does not load then fails that socket.
	LazyTemplates bool
	// OnLateDiagnostics, if not nil, receives the diagnostics of a
	// template read on first use (LazyTemplates), from the goroutine that
	// asked for it, after the Set's lock is released (it may call the Set).
	OnLateDiagnostics func(Diagnostics)
}

// Set is the result of Load: every unit that loaded, with sockets paired to
// the services they activate. A Set is read-only once returned, but for the
// templates read on first use; Instance and Template are safe for
// concurrent use.
type Set struct {
	// Sockets are the socket units that loaded and whose service exists,
	// sorted by name.
	Sockets []*Socket
	// Services maps a name to each plain service, and to each instance
	// named by a socket's Service=.
	Services map[string]*Service
	// Templates maps "foo@.service" to its parsed form (built with the
	// placeholder instance "internal", as systemd does before a connection
	// exists; Name and Template are the template's name). With
	// LazyTemplates it holds those read so far and changes under
	// Instance and Template: use them instead.
	Templates map[string]*Service

	// mu guards Templates, instSrcs and lazy once Load has returned.
	mu sync.Mutex
	// instSrcs holds the lexed files of the templates whose text uses
	// instance specifiers: their instances are built again from them.
	instSrcs map[string][]source
	// lazy maps the templates not read yet (LazyTemplates) to their file;
	// ld reads them.
	lazy  map[string]string
	ld    *loader
	table directiveTable
	opts  LoadOptions
}

// source is one unit file or drop-in, already lexed.
type source struct {
	path   string
	dropIn bool
	lex    *Lexed
}

// PlaceholderInstance is the instance systemd uses for an Accept=yes
// template before any connection exists.
const PlaceholderInstance = "internal"

// Load reads the unit files (*.socket, *.service) and their drop-ins from
// dirs, which are in priority order (the first directory wins for a unit
// name, as in systemd's search path /etc, /run, /usr/lib). A problem in one
// unit never prevents the others from loading; every problem is reported in
// the returned Diagnostics, sorted by position.
func Load(dirs []string, opts LoadOptions) (*Set, Diagnostics) {
	l := newLoader(opts)
	l.look = memoLookPath(l.opts.LookPath)
	l.share = newSharer()
	l.scan(dirs)
	if l.opts.OnScanned != nil {
		l.opts.OnScanned(l.sockets)
	}
	return l.load()
}

type loader struct {
	opts  LoadOptions
	table directiveTable
	spec  *SpecifierContext
	diags Diagnostics

	dirs []string
	// units maps a unit name to its file (first directory wins).
	units map[string]string
	// sockets and templates count the socket units and service
	// templates in units.
	sockets, templates int
	// dropDirs maps a directory to the names of its *.d subdirectories.
	dropDirs map[string]map[string]bool
	share    *sharer
	// look is opts.LookPath, remembering its answers during the Load: the
	// units of a set often run the same few programs.
	look func(string) (string, bool)
	// anyDropDirs is set when some directory has a *.d subdirectory.
	anyDropDirs bool
	// symlinks holds the unit files found as symbolic links: only they
	// can be masked (a link to /dev/null), so only they need a readlink.
	symlinks map[string]bool
	// free holds Lexed values to recycle (see release). Not a sync.Pool:
	// that would keep them for two collections after the Load.
	freeMu sync.Mutex
	free   []*Lexed
}

func newLoader(opts LoadOptions) *loader {
	if opts.LookPath == nil {
		opts.LookPath = lookPath
	}
	if opts.Specifiers == nil {
		opts.Specifiers = NewSpecifierContext("", opts.UserMode)
	}
	return &loader{
		opts:     opts,
		table:    newDirectiveTable(),
		spec:     opts.Specifiers,
		units:    map[string]string{},
		dropDirs: map[string]map[string]bool{},
		symlinks: map[string]bool{},
	}
}

// memoLookPath remembers the answers of look (for one Load).
func memoLookPath(look func(string) (string, bool)) func(string) (string, bool) {
	type answer struct {
		path string
		ok   bool
	}
	seen := map[string]answer{}
	return func(program string) (string, bool) {
		if a, hit := seen[program]; hit {
			return a.path, a.ok
		}
		p, ok := look(program)
		seen[program] = answer{p, ok}
		return p, ok
	}
}

// lookPath is the default LoadOptions.LookPath.
func lookPath(program string) (string, bool) {
	p := ResolveProgram(program)
	if p == "" {
		return program, false
	}
	st, err := os.Stat(p)
	return p, err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

func (l *loader) scan(dirs []string) {
	for _, dir := range dirs {
		ents, err := readDirUnsorted(dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				l.diags = append(l.diags, Diagnostic{Pos: Pos{File: dir}, Severity: Warning, Msg: fmt.Sprintf("cannot read unit directory: %v", err)})
			}
			continue
		}
		if len(l.units) == 0 {
			l.units = make(map[string]string, len(ents))
		}
		l.dirs = append(l.dirs, dir)
		dd := map[string]bool{}
		l.dropDirs[dir] = dd
		// clean+sep+name is filepath.Join(dir, name) without a Clean per
		// entry: an entry's name has no slash and is not "." or "..".
		clean, sep := filepath.Clean(dir), "/"
		switch {
		case clean == ".":
			clean, sep = "", "" // Join(".", name) is name
		case strings.HasSuffix(clean, "/"):
			sep = "" // the root
		}
		for _, ent := range ents {
			name := ent.name
			path := clean + sep + name
			if strings.HasSuffix(name, ".d") {
				if st, err := os.Stat(path); err == nil && st.IsDir() {
					// Cloned: ent.name shares one string with the whole listing.
					dd[strings.Clone(strings.TrimSuffix(name, ".d"))] = true
					l.anyDropDirs = true
				}
				continue
			}
			typ := unitType(name)
			if !strings.HasSuffix(name, ".socket") && !strings.HasSuffix(name, ".service") {
				continue
			}
			if typ == "" {
				l.diags = append(l.diags, Diagnostic{Pos: Pos{File: path}, Severity: Warning, Msg: "invalid unit name, ignoring"})
				continue
			}
			if _, seen := l.units[name]; seen {
				continue // overridden by an earlier directory
			}
			// The name kept for the unit's life is the tail of its path:
			// one allocation per unit file instead of two (and ent.name
			// shares one string with the whole listing).
			name = path[len(path)-len(name):]
			l.units[name] = path
			switch {
			case typ == "socket":
				l.sockets++
			case strings.HasSuffix(name, "@.service"):
				l.templates++
			}
			if ent.typ == unix.DT_LNK {
				l.symlinks[path] = true
			}
		}
	}
}

// dropInNames lists the drop-in directory stems for a unit, most specific
// first: the name, its template, the dash-truncated prefixes, the type.
func dropInNames(name string) []string {
	out := []string{name}
	if t := TemplateOf(name); t != "" {
		out = append(out, t)
	}
	stem, typ := unitStem(name), unitType(name)
	for i := len(stem) - 1; i > 0; i-- {
		if stem[i] == '-' && (i == 0 || stem[i-1] != '-') {
			out = append(out, stem[:i+1]+"."+typ)
		}
	}
	return append(out, typ)
}

// dropIns returns the drop-in files of a unit in application order: sorted
// by file name across all directories; for a repeated file name only the
// first found wins, searching directory by directory (in priority order)
// and, within one directory, from the most specific name to the type-wide
// one (systemd's unit_file_find_dropin_paths).
func (l *loader) dropIns(name string) []string {
	if !l.anyDropDirs {
		return nil
	}
	type dropIn struct {
		path string
		link bool
	}
	var seen map[string]dropIn
	for _, dir := range l.dirs {
		dd := l.dropDirs[dir]
		for _, n := range dropInNames(name) {
			if !dd[n] {
				continue
			}
			d := filepath.Join(dir, n+".d")
			ents, err := os.ReadDir(d)
			if err != nil {
				continue
			}
			for _, ent := range ents {
				f := ent.Name()
				if !strings.HasSuffix(f, ".conf") || ent.IsDir() {
					continue
				}
				if seen == nil {
					seen = map[string]dropIn{}
				}
				if _, ok := seen[f]; !ok {
					seen[f] = dropIn{filepath.Join(d, f), ent.Type()&fs.ModeSymlink != 0}
				}
			}
		}
	}
	if len(seen) == 0 {
		return nil
	}
	names := make([]string, 0, len(seen))
	for f := range seen {
		names = append(names, f)
	}
	sort.Strings(names)
	out := make([]string, 0, len(names))
	for _, f := range names {
		if d := seen[f]; !d.link || !isDevNull(d.path) {
			out = append(out, d.path)
		} // else a drop-in masked by a symlink to /dev/null
	}
	return out
}

func isDevNull(path string) bool {
	t, err := os.Readlink(path)
	return err == nil && t == "/dev/null"
}

// readSources lexes a unit's file and drop-ins. ok is false when the main
// file cannot be used at all.
func (l *loader) readSources(name, path string) ([]source, bool) {
	p := l.prepare(name, path)
	l.diags = append(l.diags, p.diags...)
	return p.srcs, p.ok
}

// prepared is what prepare found for one unit.
type prepared struct {
	srcs  []source
	diags Diagnostics
	ok    bool
}

// prepare reads and lexes a unit's file and drop-ins. It only reads the
// loader's scan results, so several units can be prepared concurrently.
func (l *loader) prepare(name, path string) prepared {
	var p prepared
	if l.symlinks[path] && isDevNull(path) {
		p.diags = append(p.diags, Diagnostic{Pos: Pos{File: path}, Severity: Notice, Unit: name, Msg: "unit is masked, skipping"})
		return p
	}
	data, err := readFile(path)
	if err != nil {
		p.diags = append(p.diags, Diagnostic{Pos: Pos{File: path}, Severity: Error, Unit: name, Msg: fmt.Sprintf("failed to read unit file: %v", err)})
		return p
	}
	drops := l.dropIns(name)
	p.srcs = make([]source, 1, 1+len(drops))
	p.srcs[0] = source{path: path, lex: l.lex(data, path)}
	for _, d := range drops {
		data, err := readFile(d)
		if err != nil {
			p.diags = append(p.diags, Diagnostic{Pos: Pos{File: d}, Severity: Warning, Unit: name, Msg: fmt.Sprintf("failed to read drop-in, ignoring: %v", err)})
			continue
		}
		p.srcs = append(p.srcs, source{path: d, dropIn: true, lex: l.lex(data, d)})
	}
	p.ok = true
	return p
}

// lex lexes a file into a recycled Lexed when there is one.
func (l *loader) lex(data, file string) *Lexed {
	var res *Lexed
	l.freeMu.Lock()
	if n := len(l.free); n > 0 {
		res, l.free = l.free[n-1], l.free[:n-1]
	}
	l.freeMu.Unlock()
	if res == nil {
		return lexString(data, file)
	}
	lexInto(res, data, file)
	return res
}

// release recycles the lexed files of a unit that is built and keeps
// nothing of them: a load of thousands of files otherwise allocates (and
// collects) their lexed form anew for each.
func (l *loader) release(srcs []source) {
	for _, s := range srcs {
		s.lex.reset()
	}
	l.freeMu.Lock()
	for _, s := range srcs {
		l.free = append(l.free, s.lex)
	}
	l.freeMu.Unlock()
}

// prefetchBatch is how many units a worker of prefetch prepares at a time.
const prefetchBatch = 64

// prefetch prepares the units names[i] (with paths from l.units) on
// GOMAXPROCS worker goroutines, a bounded window ahead of the caller, which
// takes the results in order with next. Reading and lexing are the
// expensive, independent part of loading; building stays sequential so
// that diagnostics come out in the same order as a sequential load.
// next must be called exactly len(names) times.
func (l *loader) prefetch(names []string) (next func() prepared) {
	workers := runtime.GOMAXPROCS(0)
	if workers < 2 || len(names) <= prefetchBatch {
		i := 0
		return func() prepared {
			n := names[i]
			i++
			return l.prepare(n, l.units[n])
		}
	}
	nb := (len(names) + prefetchBatch - 1) / prefetchBatch
	results := make([]prepared, len(names))
	done := make([]chan struct{}, nb)
	for b := range done {
		done[b] = make(chan struct{})
	}
	jobs := make(chan int)
	// window bounds the batches prepared but not yet consumed, and so the
	// memory held by lexed sources waiting to be built.
	window := make(chan struct{}, 2*workers)
	go func() {
		for b := 0; b < nb; b++ {
			window <- struct{}{}
			jobs <- b
		}
		close(jobs)
	}()
	for w := 0; w < workers; w++ {
		go func() {
			for b := range jobs {
				end := min((b+1)*prefetchBatch, len(names))
				for i := b * prefetchBatch; i < end; i++ {
					results[i] = l.prepare(names[i], l.units[names[i]])
				}
				close(done[b])
			}
		}()
	}
	i := 0
	return func() prepared {
		b := i / prefetchBatch
		<-done[b]
		p := results[i]
		results[i] = prepared{}
		i++
		if i%prefetchBatch == 0 || i == len(names) {
			<-window
		}
		return p
	}
}

// readFile reads a whole file with plain system calls: unlike os.ReadFile
// it does not set up an *os.File (and try to register it with the network
// poller), and one read usually does, into a buffer of the file's size.
// The buffer is handed over as a string without a copy.
func readFile(path string) (string, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return "", &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	size := 0
	if st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size > 0 && st.Size < 1<<30 {
		size = int(st.Size)
	}
	// One byte more than the size: a read that returns exactly the size
	// the file has, into room for more, read everything.
	n := size + 1
	if size == 0 {
		n = 512 // unknown size (empty, or not a regular file)
	}
	buf := make([]byte, 0, n)
	for {
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n <= 0 {
			break
		}
		buf = buf[:len(buf)+n]
		if len(buf) == size && size > 0 {
			break
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
	if len(buf) == 0 {
		return "", nil
	}
	return unsafe.String(&buf[0], len(buf)), nil
}

func (l *loader) load() (*Set, Diagnostics) {
	set := &Set{
		Services: map[string]*Service{},
		instSrcs: map[string][]source{},
		table:    l.table,
		opts:     l.opts,
	}
	lazy := l.opts.LazyTemplates && l.templates > 0
	if lazy {
		set.Templates = map[string]*Service{}
		set.lazy = make(map[string]string, l.templates)
		set.ld = l.forLater()
	} else {
		set.Templates = make(map[string]*Service, l.templates)
	}
	// Templates left for their first use need no place in the order.
	names := make([]string, 0, len(l.units))
	for n, path := range l.units {
		if lazy && strings.HasSuffix(n, "@.service") {
			set.lazy[n] = path
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	// Services first: sockets are paired with them afterwards.
	order := make([]string, 0, len(names))
	for _, name := range names {
		if strings.HasSuffix(name, ".service") {
			order = append(order, name)
		}
	}
	nsvc := len(order)
	for _, name := range names {
		if strings.HasSuffix(name, ".socket") {
			order = append(order, name)
		}
	}
	next := l.prefetch(order)
	take := func() ([]source, bool) {
		p := next()
		l.diags = append(l.diags, p.diags...)
		return p.srcs, p.ok
	}

	for _, name := range order[:nsvc] {
		srcs, ok := take()
		if !ok {
			continue
		}
		if kind, _, _, _ := ParseUnitName(name); kind == NameTemplate {
			svc, keep, d := l.buildTemplate(name, srcs)
			l.diags = append(l.diags, d...)
			if svc == nil {
				continue
			}
			if keep {
				set.instSrcs[name] = srcs // else Instance copies the template
			} else {
				l.release(srcs)
			}
			set.Templates[name] = svc
			continue
		}
		svc, d := buildService(name, srcs, l.table, l.spec, l.look, l.share)
		l.diags = append(l.diags, d...)
		l.release(srcs)
		if svc != nil {
			set.Services[name] = svc
		}
	}

	for _, name := range order[nsvc:] {
		srcs, ok := take()
		if !ok {
			continue
		}
		kind, _, _, _ := ParseUnitName(name)
		buildName := name
		if kind == NameTemplate {
			// Like systemd-analyze verify: check a template with a
			// placeholder instance; it is not started without one.
			buildName, _ = InstanceName(name, "test_instance")
		}
		sock, d := buildSocket(buildName, srcs, l.table, l.spec, l.look, l.share)
		for i := range d {
			d[i].Unit = name
		}
		l.diags = append(l.diags, d...)
		l.release(srcs)
		if sock == nil || kind == NameTemplate {
			continue
		}
		if t := TemplateOf(sock.Service); t != "" && !sock.Accept && set.Services[sock.Service] == nil && set.hasTemplate(t) {
			// A named instance (Service=foo@bar.service) also gets the
			// instance's own drop-ins (foo@bar.service.d/), so it is
			// loaded like a unit file rather than through Instance.
			srcs, ok := l.readSources(sock.Service, l.units[t])
			var svc *Service
			if ok {
				var d Diagnostics
				svc, d = buildService(sock.Service, srcs, l.table, l.spec, l.look, l.share)
				l.diags = append(l.diags, d...)
				l.release(srcs)
			}
			if svc == nil {
				l.diags = append(l.diags, Diagnostic{Pos: Pos{File: sock.FragmentPath}, Severity: Error, Unit: name,
					Msg: fmt.Sprintf("service %s not loaded, socket cannot be started", sock.Service)})
				continue
			}
			svc.Template = t
			set.Services[sock.Service] = svc
		}
		if msg := set.pair(sock); msg != "" {
			l.diags = append(l.diags, Diagnostic{Pos: Pos{File: sock.FragmentPath}, Severity: Error, Unit: name, Msg: msg})
			continue
		}
		set.Sockets = append(set.Sockets, sock)
		if l.opts.OnSocket != nil {
			l.opts.OnSocket(sock)
		}
	}
	l.diags.Sort()
	return set, l.diags
}

// forLater is what reading a template on first use needs of l: not the
// scan's list of units, nor the sharer and lookup cache of this load
// (those would keep every distinct unit text alive, and remember
// programs found or missing at start-up for good).
func (l *loader) forLater() *loader {
	return &loader{
		opts:        l.opts,
		table:       l.table,
		spec:        l.spec,
		dirs:        l.dirs,
		dropDirs:    l.dropDirs,
		anyDropDirs: l.anyDropDirs,
		symlinks:    l.symlinks,
		look:        l.opts.LookPath,
	}
}

// buildTemplate builds a template as the placeholder instance, as systemd
// checks one. keep reports whether its instances must be built again from
// srcs (its text uses instance specifiers); else Instance copies it.
func (l *loader) buildTemplate(name string, srcs []source) (svc *Service, keep bool, d Diagnostics) {
	inst, _ := InstanceName(name, PlaceholderInstance)
	svc, d = buildService(inst, srcs, l.table, l.spec, l.look, l.share)
	for i := range d {
		d[i].Unit = name
	}
	if svc == nil {
		return nil, false, d
	}
	// Kept under the template's own name (Instance names each instance).
	svc.Name, svc.Template = name, name
	for _, s := range srcs {
		for _, e := range s.lex.Entries {
			// Exec*= and Environment= unescape before expanding, so an
			// escaped '%' (\x25, \045) may become a specifier.
			if UsesInstanceSpecifiers(e.Value) || strings.Contains(e.Value, "\\x25") || strings.Contains(e.Value, "\\045") {
				keep = true
			}
		}
	}
	return svc, keep, d
}

// hasTemplate reports whether the template called name is loaded or can be
// read on first use.
func (s *Set) hasTemplate(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, loaded := s.Templates[name]
	_, lazy := s.lazy[name]
	return loaded || lazy
}

// Template returns the parsed template called name ("foo@.service"),
// reading it first when it was left for its first use (LazyTemplates).
func (s *Set) Template(name string) (*Service, error) {
	s.mu.Lock()
	t, _, late, err := s.template(name)
	s.mu.Unlock()
	s.lateDiagnostics(late)
	return t, err
}

// template returns the template called name and, when it is read now,
// whether its instances are built again from its files, and the
// diagnostics to hand to OnLateDiagnostics once s.mu is released.
func (s *Set) template(name string) (t *Service, srcs []source, late Diagnostics, err error) {
	if t, ok := s.Templates[name]; ok {
		return t, s.instSrcs[name], nil, nil
	}
	path, ok := s.lazy[name]
	if !ok {
		return nil, nil, nil, fmt.Errorf("unit template %s not loaded", name)
	}
	// A failure is not remembered: the next use reads the file again.
	p := s.ld.prepare(name, path)
	late = p.diags
	keep := false
	if p.ok {
		var d Diagnostics
		t, keep, d = s.ld.buildTemplate(name, p.srcs)
		late = append(late, d...)
	}
	if t == nil {
		if err = late.Err(); err == nil {
			err = fmt.Errorf("unit template %s not loaded: %s", name, late)
		}
		return nil, nil, late, err
	}
	delete(s.lazy, name)
	if len(s.lazy) == 0 {
		s.ld = nil
	}
	s.Templates[name] = t
	if keep {
		s.instSrcs[name] = p.srcs
		srcs = p.srcs
	}
	return t, srcs, late, nil
}

func (s *Set) lateDiagnostics(d Diagnostics) {
	if len(d) > 0 && s.opts.OnLateDiagnostics != nil {
		s.opts.OnLateDiagnostics(d)
	}
}

// pair finds or instantiates the service a socket activates. It returns a
// message when the socket cannot be started.
func (s *Set) pair(sock *Socket) string {
	if sock.Accept {
		_, prefix, _, _ := ParseUnitName(sock.Name)
		tname := prefix + "@.service"
		if t, ok := s.Templates[tname]; ok {
			sock.Service = t.Template // the same string, kept once
			return ""
		}
		if path, ok := s.lazy[tname]; ok {
			sock.Service = tname
			if strings.HasSuffix(path, tname) {
				sock.Service = path[len(path)-len(tname):] // the scan's string, kept once
			}
			return ""
		}
		sock.Service = tname
		inst, _ := InstanceName(tname, PlaceholderInstance)
		msg := fmt.Sprintf("service %s not loaded, socket cannot be started", inst)
		if _, plain := s.Services[unitStem(sock.Name)+".service"]; plain {
			msg += fmt.Sprintf(" (Accept=yes needs the template %s, not %s.service)", tname, unitStem(sock.Name))
		}
		return msg
	}
	if _, ok := s.Services[sock.Service]; ok {
		return ""
	}
	if t := TemplateOf(sock.Service); t != "" {
		if s.hasTemplate(t) {
			_, _, inst, _ := ParseUnitName(sock.Service)
			svc, err := s.Instance(t, inst)
			if err != nil {
				return err.Error()
			}
			s.Services[svc.Name] = svc
			return ""
		}
	}
	msg := fmt.Sprintf("service %s not loaded, socket cannot be started", sock.Service)
	if t := unitStem(sock.Service) + "@.service"; s.hasTemplate(t) {
		msg += fmt.Sprintf(" (%s is a template: use Accept=yes, or name an instance with Service=)", t)
	}
	return msg
}

// Service returns the loaded service called name, instantiating it from its
// template when name is a template instance; nil if there is none.
func (s *Set) Service(name string) *Service {
	if svc := s.Services[name]; svc != nil {
		return svc
	}
	if t := TemplateOf(name); t != "" {
		if svc, err := s.Instance(t, name); err == nil {
			return svc
		}
	}
	return nil
}

// Instance returns the service for one instance of a loaded template, e.g.
// Instance("echo@.service", "3-127.0.0.1:22-127.0.0.1:4242"); instance may
// also be the full instance name. It never reads
// files: when the template uses no instance-dependent specifiers it returns
// a shallow copy of the parsed template with Name set (slices are shared and
// must not be modified); otherwise it re-parses the stored lexed files with
// the instance's specifier values.
func (s *Set) Instance(templateName, instance string) (*Service, error) {
	s.mu.Lock()
	proto, srcs, late, err := s.template(templateName)
	s.mu.Unlock()
	s.lateDiagnostics(late)
	if err != nil {
		return nil, err
	}
	usesInstance := srcs != nil
	// Also accept the full instance name ("echo@3-....service").
	if TemplateOf(instance) == templateName {
		_, _, instance, _ = ParseUnitName(instance)
	}
	name, err := InstanceName(templateName, instance)
	if err != nil {
		return nil, err
	}
	if !usesInstance {
		c := *proto
		c.Name = name
		return &c, nil
	}
	svc, diags := buildService(name, srcs, s.table, s.opts.Specifiers, s.opts.LookPath, nil)
	if svc == nil {
		return nil, fmt.Errorf("instance %s: %w", name, diags.Err())
	}
	svc.Template = templateName
	return svc, nil
}

// ---- building one unit ----

type missingProgram struct {
	key, path string
	pos       Pos
}

// killPtrs points at the kill settings of the unit being built.
type killPtrs struct {
	mode            *KillMode
	signal, final   *int
	sighup, sigkill *bool
}

// builder applies assignments to one unit.
type builder struct {
	name string
	typ  string // "socket" or "service"
	sock *Socket
	svc  *Service
	exec *ExecContext
	unit *UnitInfo
	kill killPtrs
	// spec is baseSpec for this unit (name, fragment), made by expand.
	spec     *SpecifierContext
	baseSpec *SpecifierContext
	fragment string
	// share, when set, interns the values and maps the unit keeps.
	share   *sharer
	look    func(string) (string, bool)
	table   directiveTable
	diags   Diagnostics
	sectPos Pos // the first [Socket]/[Service] header, for unit-level messages

	typeSet, triggerBurstSet, pollBurstSet, pollIntervalSet              bool
	maxConnPos, deferAcceptPos, symlinksPos, servicePos, deferTriggerPos Pos
	missingPrograms                                                      []missingProgram
}

func (b *builder) expand(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	if b.spec == nil {
		// Made on first use: most values have no specifier.
		b.spec = b.baseSpec.WithUnit(b.name)
		b.spec.FragmentPath = b.fragment
	}
	v, err := ExpandSpecifiers(s, b.spec)
	if err != nil {
		return "", fmt.Errorf("failed to resolve specifiers in %s: %w", s, err)
	}
	return v, nil
}

func (b *builder) resolve(prog string) string {
	p, ok := b.look(prog)
	if !ok {
		return ""
	}
	return p
}

func (b *builder) diag(e *Entry, sev Severity, format string, args ...any) {
	b.diags = append(b.diags, Diagnostic{Pos: e.Pos, Severity: sev, Unit: b.name, Directive: e.Key, Msg: fmt.Sprintf(format, args...)})
}

func (b *builder) warn(e *Entry, format string, args ...any) { b.diag(e, Warning, format, args...) }

// unitError reports a refusal of the whole unit.
func (b *builder) unitError(pos Pos, directive, format string, args ...any) {
	if pos.File == "" {
		pos = b.sectPos
	}
	b.diags = append(b.diags, Diagnostic{Pos: pos, Severity: Error, Unit: b.name, Directive: directive, Msg: fmt.Sprintf(format, args...)})
}

func (b *builder) unitWarning(pos Pos, directive, format string, args ...any) {
	if pos.File == "" {
		pos = b.sectPos
	}
	b.diags = append(b.diags, Diagnostic{Pos: pos, Severity: Warning, Unit: b.name, Directive: directive, Msg: fmt.Sprintf(format, args...)})
}

// apply runs every assignment of srcs. It returns false when the unit must
// be refused (a fatal error in the main file).
func (b *builder) apply(srcs []source, mainSection string) bool {
	allowed := func(section string) bool {
		return section == "Unit" || section == mainSection || section == "Install"
	}
	var keyBuf [64]byte
	for i, src := range srcs {
		lx := src.lex
		for k, d := range lx.Diags {
			if sec := lx.diagSection[k]; sec != "" && !allowed(sec) {
				continue // lines of ignored sections are not looked at
			}
			d.Unit = b.name
			if src.dropIn && d.Severity == Error {
				d.Severity = Warning
				d.Msg += "; ignoring the rest of this drop-in"
			}
			b.diags = append(b.diags, d)
		}
		for _, h := range lx.Headers {
			if !allowed(h.Name) && !strings.HasPrefix(h.Name, "X-") {
				b.diags = append(b.diags, Diagnostic{Pos: h.Pos, Severity: Warning, Unit: b.name, Msg: fmt.Sprintf("unknown section '%s', ignoring", h.Name)})
			}
			if h.Name == mainSection && b.sectPos.File == "" {
				b.sectPos = h.Pos
			}
		}
		if i == 0 && b.sectPos.File == "" {
			b.sectPos = Pos{File: src.path}
		}
		for j := range lx.Entries {
			e := &lx.Entries[j]
			if !allowed(e.Section) {
				continue
			}
			// The table key "Section.Key", built without an allocation.
			key := append(append(append(keyBuf[:0], e.Section...), '.'), e.Key...)
			d := b.table[string(key)]
			if d == nil {
				if !strings.HasPrefix(e.Key, "X-") {
					b.warn(e, "unknown key '%s' in section [%s], ignoring", e.Key, e.Section)
				}
				continue
			}
			if d.parse == nil {
				if d.Status == StatusUnsupported {
					b.warn(e, "%v", errNotSupported)
				}
				continue
			}
			if b.share != nil {
				// What the unit keeps of the value then does not keep the
				// whole file alive, and equal values are stored once.
				e.Value = b.share.str(e.Value)
			}
			err := d.parse(b, e)
			if err == nil {
				continue
			}
			var hard hardError // escapes: declared only on the error path
			switch {
			case errors.Is(err, errNotSupported):
				b.warn(e, "%v", err)
			case errors.As(err, &hard):
				if src.dropIn {
					b.warn(e, "%v; ignoring the rest of this drop-in", hard.err)
					goto nextSource
				}
				b.diag(e, Error, "%v", hard.err)
				return false
			default:
				msg := err.Error()
				if !strings.Contains(msg, "ignoring") {
					msg += ", ignoring"
				}
				b.warn(e, "%s", msg)
			}
		}
	nextSource:
		// The lines before a fatal syntax error were applied (and warned
		// about) like systemd does; then the unit is refused.
		if lx.Failed && !src.dropIn {
			return false
		}
	}
	return true
}

func defaultUnitInfo() UnitInfo {
	return UnitInfo{DefaultDependencies: true, StartLimitInterval: 10 * time.Second, StartLimitBurst: 5, CollectMode: "inactive"}
}

func defaultExec() ExecContext { return ExecContext{UMask: 0o022} }

func newBuilder(name, typ string, srcs []source, table directiveTable, spec *SpecifierContext, look func(string) (string, bool), sh *sharer) *builder {
	if sh != nil {
		// Load builds one unit at a time and keeps nothing of a builder
		// but its diagnostics (a fresh slice each time): reuse it.
		if sh.b == nil {
			sh.b = new(builder)
		}
		*sh.b = builder{name: name, typ: typ, table: table, baseSpec: spec, fragment: srcs[0].path, look: look, share: sh}
		return sh.b
	}
	return &builder{name: name, typ: typ, table: table, baseSpec: spec, fragment: srcs[0].path, look: look}
}

func fragmentInfo(srcs []source) (string, []string) {
	var drop []string
	for _, s := range srcs[1:] {
		drop = append(drop, s.path)
	}
	return srcs[0].path, drop
}

// buildSocket parses and validates one socket unit; nil means refused.
func buildSocket(name string, srcs []source, table directiveTable, spec *SpecifierContext, look func(string) (string, bool), sh *sharer) (*Socket, Diagnostics) {
	b := newBuilder(name, "socket", srcs, table, spec, look, sh)
	s := &Socket{Name: name, SocketSettings: b.share.socketSettings()}
	*s.SocketSettings = SocketSettings{
		Options: SocketOptions{
			Backlog:       math.MaxInt32,
			SocketMode:    0o666,
			DirectoryMode: 0o755,
		},
		MaxConnections:       64,
		TriggerLimitInterval: 2 * time.Second,
		PollLimitInterval:    2 * time.Second,
		Timeout:              90 * time.Second,
		Exec:                 defaultExec(),
		Kill:                 KillContext{KillSignal: sigTERM, FinalKillSignal: sigKILL, SendSIGKILL: true},
		DeferTriggerMax:      Infinity,
		Unit:                 defaultUnitInfo(),
	}
	s.FragmentPath, s.DropIns = fragmentInfo(srcs)
	b.sock, b.exec, b.unit = s, &s.Exec, &s.Unit
	b.kill = killPtrs{&s.Kill.KillMode, &s.Kill.KillSignal, &s.Kill.FinalKillSignal, &s.Kill.SendSIGHUP, &s.Kill.SendSIGKILL}
	if !b.apply(srcs, "Socket") {
		return nil, b.diags
	}
	s.Description = s.Unit.Description
	if s.Service == "" {
		s.Service = unitStem(name) + ".service"
	}
	if !b.triggerBurstSet {
		s.TriggerLimitBurst = 20
		if s.Accept {
			s.TriggerLimitBurst = 200
		}
	}
	// Unset poll limits follow the trigger limit, at 3/4 of its burst, as
	// systemd's socket_add_extras explains them: the defaults are systemd's
	// (2s, 15 or 150), and a unit that switches the trigger limit off or
	// raises it is not throttled by a poll limit it never set. (systemd
	// v255+ keeps 2s/150 regardless; see docs/differences.md.)
	if !b.pollBurstSet {
		s.PollLimitBurst = s.TriggerLimitBurst * 3 / 4
	}
	if !b.pollIntervalSet {
		s.PollLimitInterval = s.TriggerLimitInterval
	}
	if s.FileDescriptorName == "" {
		s.FileDescriptorName = name
		if s.Accept {
			s.FileDescriptorName = "connection"
		}
	}
	if !validateSocket(b, s) {
		return nil, b.diags
	}
	b.share.unitInfo(&s.Unit)
	if sh := b.share; sh != nil {
		if st := shared(sh, sh.sockets, 's', srcs, s.SocketSettings); st != s.SocketSettings {
			sh.spareSocket, s.SocketSettings = s.SocketSettings, st // reused by the next unit
		}
	}
	return s, b.diags
}

// buildService parses and validates one service unit; nil means refused.
func buildService(name string, srcs []source, table directiveTable, spec *SpecifierContext, look func(string) (string, bool), sh *sharer) (*Service, Diagnostics) {
	b := newBuilder(name, "service", srcs, table, spec, look, sh)
	s := &Service{Name: name, ServiceSettings: b.share.serviceSettings()}
	*s.ServiceSettings = ServiceSettings{
		RestartSec:                  100 * time.Millisecond,
		KillSignal:                  sigTERM,
		FinalKillSignal:             sigKILL,
		SendSIGKILL:                 true,
		FileDescriptorStorePreserve: "restart",
		Exec:                        defaultExec(),
		Unit:                        defaultUnitInfo(),
	}
	s.FragmentPath, s.DropIns = fragmentInfo(srcs)
	b.svc, b.exec, b.unit = s, &s.Exec, &s.Unit
	b.kill = killPtrs{&s.KillMode, &s.KillSignal, &s.FinalKillSignal, &s.SendSIGHUP, &s.SendSIGKILL}
	if !b.apply(srcs, "Service") {
		return nil, b.diags
	}
	s.Description = s.Unit.Description
	s.StartLimitInterval, s.StartLimitBurst = s.Unit.StartLimitInterval, s.Unit.StartLimitBurst
	if !b.typeSet {
		switch {
		case s.BusName != "" && len(s.ExecStart) > 0:
			s.Type = TypeDBus
		case len(s.ExecStart) > 0:
			s.Type = TypeSimple
		default:
			s.Type = TypeOneshot
		}
	}
	if s.TimeoutStart == 0 {
		s.TimeoutStart = 90 * time.Second
		if s.Type == TypeOneshot {
			s.TimeoutStart = Infinity
		}
	}
	if s.TimeoutStop == 0 {
		s.TimeoutStop = 90 * time.Second
	}
	fillStdioDefaults(&s.Exec)
	if !validateService(b, s) {
		return nil, b.diags
	}
	b.share.unitInfo(&s.Unit)
	if sh := b.share; sh != nil {
		if st := shared(sh, sh.services, 'v', srcs, s.ServiceSettings); st != s.ServiceSettings {
			sh.spareService, s.ServiceSettings = s.ServiceSettings, st
		}
	}
	return s, b.diags
}

// fillStdioDefaults applies systemd's exec_context defaults: stdin null (or
// data), stdout inherit when stdin is a tty/socket/fd else journal, stderr
// inherit.
func fillStdioDefaults(x *ExecContext) {
	if x.StandardInput.Kind == StdioDefault {
		x.StandardInput.Kind = StdioNull
		if len(x.StandardInputData) > 0 {
			x.StandardInput.Kind = StdioData
		}
	}
	if x.StandardOutput.Kind == StdioDefault {
		switch x.StandardInput.Kind {
		case StdioTTY, StdioSocket, StdioFD:
			x.StandardOutput.Kind = StdioInherit
		default:
			x.StandardOutput.Kind = StdioJournal
		}
	}
	if x.StandardError.Kind == StdioDefault {
		x.StandardError.Kind = StdioInherit
	}
}

// sharer stores the values of a Load once: equal strings (descriptions,
// paths, "sockets.target") and equal [Unit] dependency and [Install] maps
// are shared between units, which the read-only Set allows (Instance's
// copies share them already). It also copies each kept value out of its
// unit file, which can then be freed. Only the sequential build uses it.
type sharer struct {
	strs map[string]string
	maps map[string]map[string][]string
	key  []byte
	b    *builder // reused by newBuilder
	// sockets and services map a settingsKey to the settings built from
	// it first.
	sockets  map[string]*SocketSettings
	services map[string]*ServiceSettings
	// spareSocket and spareService are settings a unit built and then
	// did not keep (it shares an earlier unit's): the next unit builds
	// into them instead of allocating.
	spareSocket  *SocketSettings
	spareService *ServiceSettings
	// spareMap is an empty map a unit filled and then did not keep.
	spareMap map[string][]string
}

// newMap returns an empty map for a unit's Deps or Install: the spare one
// when there is one. A nil sharer makes a new one.
func (sh *sharer) newMap() map[string][]string {
	if sh == nil || sh.spareMap == nil {
		return map[string][]string{}
	}
	m := sh.spareMap
	sh.spareMap = nil
	return m
}

// takeSpare returns *spare, emptying it, or a new T when there is none.
func takeSpare[T any](spare **T) *T {
	st := *spare
	if st == nil {
		return new(T)
	}
	*spare = nil
	return st
}

func (sh *sharer) socketSettings() *SocketSettings {
	if sh == nil {
		return new(SocketSettings)
	}
	return takeSpare(&sh.spareSocket)
}

func (sh *sharer) serviceSettings() *ServiceSettings {
	if sh == nil {
		return new(ServiceSettings)
	}
	return takeSpare(&sh.spareService)
}

func newSharer() *sharer {
	return &sharer{strs: map[string]string{}, maps: map[string]map[string][]string{},
		sockets: map[string]*SocketSettings{}, services: map[string]*ServiceSettings{}}
}

// shared returns the settings an earlier unit built from the same text, or
// remembers v as those.
func shared[T any](sh *sharer, seen map[string]*T, kind byte, srcs []source, v *T) *T {
	key, ok := sh.settingsKey(kind, srcs)
	if !ok {
		return v
	}
	if old, ok := seen[string(key)]; ok {
		return old
	}
	seen[string(key)] = v
	return v
}

// settingsKey is what a unit's settings are built from: every assignment
// of its files in order, with its line (commands and conditions keep
// their positions), but not the files' names nor a socket's Listen*=
// lines, which are kept per unit. ok is false when a value might depend on
// the unit's name or files: specifiers, also escaped ones in Exec*= lines.
func (sh *sharer) settingsKey(kind byte, srcs []source) (key []byte, ok bool) {
	b := append(sh.key[:0], kind)
	for _, src := range srcs {
		b = append(b, 0xff)
		for i := range src.lex.Entries {
			e := &src.lex.Entries[i]
			if kind == 's' && e.Section == "Socket" && strings.HasPrefix(e.Key, "Listen") {
				continue
			}
			if strings.IndexByte(e.Value, '%') >= 0 || strings.Contains(e.Value, "\\x25") || strings.Contains(e.Value, "\\045") {
				sh.key = b
				return nil, false
			}
			b = binary.AppendUvarint(b, uint64(e.Pos.Line))
			b = binary.AppendUvarint(b, uint64(e.FirstLine))
			for _, f := range [...]string{e.Section, e.Key, e.Value} {
				b = append(binary.AppendUvarint(b, uint64(len(f))), f...)
			}
		}
	}
	sh.key = b
	return b, true
}

func (sh *sharer) str(s string) string {
	if s == "" {
		return s
	}
	if v, ok := sh.strs[s]; ok {
		return v
	}
	s = strings.Clone(s)
	sh.strs[s] = s
	return s
}

// unitInfo shares u's Deps and Install maps with an earlier unit's equal
// ones. A nil sharer does nothing.
func (sh *sharer) unitInfo(u *UnitInfo) {
	if sh == nil {
		return
	}
	u.Deps = sh.strMap(u.Deps)
	u.Install = sh.strMap(u.Install)
}

func (sh *sharer) strMap(m map[string][]string) map[string][]string {
	if len(m) == 0 || len(m) > 8 {
		return m
	}
	var keys [8]string
	ks := keys[:0]
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	// The key: every string with its length before it, each list with its.
	b := sh.key[:0]
	for _, k := range ks {
		b = append(binary.AppendUvarint(b, uint64(len(k))), k...)
		b = binary.AppendUvarint(b, uint64(len(m[k])))
		for _, v := range m[k] {
			b = append(binary.AppendUvarint(b, uint64(len(v))), v...)
		}
	}
	sh.key = b
	if old, ok := sh.maps[string(b)]; ok {
		clear(m) // the unit keeps old: m is free for the next one
		sh.spareMap = m
		return old
	}
	sh.maps[string(b)] = m
	return m
}
