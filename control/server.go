package control

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/sockd/sockd/supervisor"
)

// Supervisor is what the API drives; *supervisor.Supervisor implements it.
type Supervisor interface {
	Status(ctx context.Context) (supervisor.Status, error)
	StartUnit(ctx context.Context, name string) error
	StopUnit(ctx context.Context, name string) error
	RestartUnit(ctx context.Context, name string) error
	ReloadUnit(ctx context.Context, name string) error
	ResetFailed(ctx context.Context, names ...string) error
	Reload(ctx context.Context) error
}

// Options configure a Server.
type Options struct {
	// Path of the control socket; its directory is created if missing.
	Path string
	// Group names the group whose members may use the API besides root
	// and sockd's own user; the socket is then mode 0660 and owned by it.
	Group string
	// MetricsAddress, if set, serves /metrics on this TCP address too.
	MetricsAddress string

	Supervisor Supervisor
	Ring       *Ring
	Metrics    *Metrics
	Logger     *zap.Logger
}

// Server serves the control API until Close.
type Server struct {
	opts    Options
	auth    authorizer
	ln      net.Listener
	http    *http.Server
	metrics *http.Server
	maddr   string
	done    chan struct{}
}

// requestTimeout bounds a request's wait for the supervisor.
const requestTimeout = 30 * time.Second

// Listen binds the control socket (and the metrics address) and starts
// serving in the background.
func Listen(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Ring == nil {
		opts.Ring = NewRing(0)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	auth, err := newAuthorizer(os.Getuid(), opts.Group)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, auth: auth, done: make(chan struct{})}
	if s.ln, err = listenUnix(opts.Path, auth.gid); err != nil {
		return nil, err
	}
	s.http = &http.Server{Handler: s.authorize(s.routes()), ConnContext: connContext, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Logger.Error("control API", zap.Error(err))
		}
	}()
	if opts.MetricsAddress != "" {
		ml, err := net.Listen("tcp", opts.MetricsAddress)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("metrics_address: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.metricsHandler())
		s.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		s.maddr = ml.Addr().String()
		go s.metrics.Serve(ml)
		opts.Logger.Info("metrics", zap.String("address", ml.Addr().String()))
	}
	return s, nil
}

// MetricsAddr is the bound metrics address (useful with port 0), or "".
func (s *Server) MetricsAddr() string { return s.maddr }

// listenUnix binds path, replacing a stale socket left by a crashed
// sockd but refusing to take over one a live daemon answers on.
func listenUnix(path string, gid int) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("control socket %s: exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another sockd is serving it", path)
		}
		os.Remove(path)
	}
	// The umask makes the node 0600 from the start: no window in which
	// another user could connect.
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("control socket: %w", err)
		}
		if err := os.Chmod(path, 0o660); err != nil {
			ln.Close()
			return nil, fmt.Errorf("control socket: %w", err)
		}
	}
	return ln, nil
}

// Close stops serving and removes the socket.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if s.metrics != nil {
		s.metrics.Shutdown(ctx)
	}
	// Followers (logs -f) never finish on their own: close, not Shutdown.
	err := s.http.Close()
	<-s.done
	return err
}

func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := r.Context().Value(peerKey{}).(Peer)
		if !s.auth.allowed(p) {
			s.opts.Logger.Warn("control API access denied", zap.Int("uid", p.UID), zap.Int("gid", p.GID),
				zap.Int("pid", p.PID), zap.String("method", r.Method), zap.String("path", r.URL.Path))
			writeError(w, http.StatusForbidden, fmt.Errorf("access denied for uid %d", p.UID))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/units", s.getUnits)
	mux.HandleFunc("GET /v1/units/{name}", s.getUnit)
	mux.HandleFunc("GET /v1/status", s.getStatus)
	mux.HandleFunc("GET /v1/units/{name}/log", s.getLog)
	mux.HandleFunc("POST /v1/units/{name}/{action}", s.postAction)
	mux.HandleFunc("POST /v1/reload", s.postReload)
	mux.HandleFunc("POST /v1/reset-failed", s.postResetFailed)
	mux.Handle("GET /metrics", s.metricsHandler())
	return mux
}

// metricsTimeout bounds a scrape's wait for the supervisor's status.
const metricsTimeout = 5 * time.Second

// metricsHandler serves the text exposition, the units read from the
// supervisor at scrape time (sockd_status_up 0 if it does not answer);
// gzipped when the scraper accepts it, as Prometheus does.
func (s *Server) metricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), metricsTimeout)
		st, err := s.opts.Supervisor.Status(ctx)
		cancel()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		var out io.Writer = w
		if acceptsGzip(r) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Add("Vary", "Accept-Encoding")
			gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
			defer gz.Close()
			out = gz
		}
		if err := s.opts.Metrics.WritePrometheus(out, st, err); err != nil {
			s.opts.Logger.Debug("metrics: write", zap.Error(err))
		}
		returnMemory(len(st.Sockets) + len(st.Services))
	})
}

// largeStatus is the number of units above which answering with all of
// them allocates more than sockd keeps for the units themselves.
const largeStatus = 1000

// returnMemory hands the garbage of a large answer back to the OS at once:
// sockd then sits idle, and the runtime would otherwise keep it for minutes
// (measured with 10,000 units: `sockd status` took sockd from 23 to 56 MB).
func returnMemory(units int) {
	if units >= largeStatus {
		debug.FreeOSMemory()
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
			if f, err := strconv.ParseFloat(q, 64); !ok || err != nil || f > 0 {
				return true
			}
		}
	}
	return false
}

func (s *Server) units(ctx context.Context) (Units, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	st, err := s.opts.Supervisor.Status(ctx)
	if err != nil {
		return Units{}, fmt.Errorf("status: %w", err)
	}
	return view(st), nil
}

func (s *Server) getUnits(w http.ResponseWriter, r *http.Request) {
	u, err := s.units(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
	returnMemory(len(u.Sockets) + len(u.Services))
}

func (s *Server) getUnit(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	u, err := s.units(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	unit, ok := u.find(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("%s: %w", name, supervisor.ErrNoSuchUnit))
		return
	}
	n := 10
	if v := r.URL.Query().Get("n"); v != "" {
		if n, err = strconv.Atoi(v); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("n: %w", err))
			return
		}
	}
	unit.Log = s.opts.Ring.Lines(name, n)
	if unit.Log == nil {
		unit.Log = []Entry{}
	}
	writeJSON(w, http.StatusOK, unit)
}

// getStatus writes every unit with its last n log entries (?n=, default
// 10): `sockd status` without a unit, in one request however many units
// there are.
func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) {
	n := 10
	if v := r.URL.Query().Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("n: bad count %q", v))
			return
		}
	}
	u, err := s.units(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	names := make([]string, 0, len(u.Sockets)+len(u.Services))
	for i := range u.Sockets {
		names = append(names, u.Sockets[i].Name)
	}
	for i := range u.Services {
		names = append(names, u.Services[i].Name)
	}
	logs := s.opts.Ring.LinesEach(names, n)
	out := make([]Unit, 0, len(names))
	for i := range u.Sockets {
		out = append(out, Unit{Socket: &u.Sockets[i], Log: nonNil(logs[u.Sockets[i].Name])})
	}
	for i := range u.Services {
		out = append(out, Unit{Service: &u.Services[i], Log: nonNil(logs[u.Services[i].Name])})
	}
	writeJSON(w, http.StatusOK, out)
	returnMemory(len(out))
}

func nonNil(es []Entry) []Entry {
	if es == nil {
		return []Entry{}
	}
	return es
}

// getLog writes entries as JSON lines; with follow=1 it keeps the
// response open and writes each new entry as it is logged.
func (s *Server) getLog(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	q := r.URL.Query()
	n := -1
	if v := q.Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("n: %w", err))
			return
		}
	}
	follow, _ := strconv.ParseBool(q.Get("follow"))
	if u, err := s.units(r.Context()); err == nil {
		if _, ok := u.find(name); !ok && ringKey(name) == name && s.opts.Ring.Lines(name, 1) == nil && !u.hasInstancesOf(name) {
			writeError(w, http.StatusNotFound, fmt.Errorf("%s: %w", name, supervisor.ErrNoSuchUnit))
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	if !follow {
		for _, e := range s.opts.Ring.Lines(name, n) {
			enc.Encode(e)
		}
		return
	}
	backlog, ch, cancel := s.opts.Ring.Follow(name, n)
	defer cancel()
	for _, e := range backlog {
		enc.Encode(e)
	}
	rc := http.NewResponseController(w)
	rc.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case e := <-ch:
			if enc.Encode(e) != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// hasInstancesOf reports whether a template has a loaded socket whose
// instances it names, so `logs x@.service` works before any connection.
func (u Units) hasInstancesOf(template string) bool {
	for _, s := range u.Sockets {
		if s.Accept && ringKey(s.Service) == template {
			return true
		}
	}
	return false
}

func (s *Server) postAction(w http.ResponseWriter, r *http.Request) {
	name, action := r.PathValue("name"), r.PathValue("action")
	var do func(context.Context, string) error
	switch action {
	case "start":
		do = s.opts.Supervisor.StartUnit
	case "stop":
		do = s.opts.Supervisor.StopUnit
	case "restart":
		do = s.opts.Supervisor.RestartUnit
	case "reload":
		do = s.opts.Supervisor.ReloadUnit
	default:
		writeError(w, http.StatusNotFound, fmt.Errorf("unknown action %q", action))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	s.result(w, r, do(ctx, name), zap.String("unit", name), zap.String("action", action))
}

func (s *Server) postReload(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	s.result(w, r, s.opts.Supervisor.Reload(ctx), zap.String("action", "reload"))
}

func (s *Server) postResetFailed(w http.ResponseWriter, r *http.Request) {
	var req ResetFailedRequest
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	s.result(w, r, s.opts.Supervisor.ResetFailed(ctx, req.Units...), zap.String("action", "reset-failed"), zap.Strings("units", req.Units))
}

// result answers an action: 200, or the error with a status code that
// tells the client what kind of failure it was.
func (s *Server) result(w http.ResponseWriter, r *http.Request, err error, fields ...zap.Field) {
	p, _ := r.Context().Value(peerKey{}).(Peer)
	fields = append(fields, zap.Int("uid", p.UID))
	if err != nil {
		if errors.Is(err, supervisor.ErrNoSuchUnit) {
			// Not under "unit": a log ring per mistyped name would grow
			// without bound.
			for i := range fields {
				if fields[i].Key == "unit" {
					fields[i].Key = "requested"
				}
			}
		}
		s.opts.Logger.Warn("control request failed", append(fields, zap.Error(err))...)
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, supervisor.ErrNoSuchUnit):
			code = http.StatusNotFound
		case errors.Is(err, supervisor.ErrNotAllowed):
			code = http.StatusConflict
		case errors.Is(err, context.DeadlineExceeded):
			code = http.StatusServiceUnavailable
		}
		writeError(w, code, err)
		return
	}
	s.opts.Logger.Info("control request", fields...)
	writeJSON(w, http.StatusOK, struct{}{})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, errorBody{Error: err.Error()})
}
