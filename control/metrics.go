package control

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/VictoriaMetrics/metrics"

	"github.com/sockd/sockd/supervisor"
)

// Metrics is what sockd measures itself: the spawn latency histogram.
// Everything else on /metrics is read at scrape time: the units from the
// supervisor's status (so the metrics can never disagree with `sockd
// status`), the process and Go runtime figures from /proc and the runtime.
type Metrics struct {
	// spawn holds sockd_spawn_duration_seconds{unit} and nothing else.
	spawn   *metrics.Set
	buckets []float64
}

// NewMetrics returns an empty spawn histogram.
func NewMetrics() *Metrics {
	// The library's one switch for # HELP and # TYPE lines is process-wide
	// (a Set has no option of its own); it gives the process and Go
	// metrics their types. Every Metrics wants it on, so setting it here
	// on each call is harmless.
	metrics.ExposeMetadata(true)
	return &Metrics{
		spawn:   metrics.NewSet(),
		buckets: metrics.ExponentialBuckets(0.0001, 2, 16), // 100µs … 3.3s
	}
}

const (
	spawnName = "sockd_spawn_duration_seconds"
	spawnHelp = "Time from the decision to start a service process until it was started."
)

// ObserveSpawn records one process start; it is supervisor.Options.OnSpawn.
// Accept=yes instances are counted under their template to keep the
// label set bounded.
func (m *Metrics) ObserveSpawn(unit string, d time.Duration) {
	name := string(appendLabels([]byte(spawnName), "unit", ringKey(unit)))
	m.spawn.GetOrCreatePrometheusHistogramExt(name, m.buckets).Update(d.Seconds())
}

var (
	socketStates  = []string{"dead", "listening", "running", "paused", "failed"}
	serviceStates = []string{"inactive", "activating", "active", "deactivating", "failed"}
)

// WritePrometheus writes the text exposition (format 0.0.4): the units of
// st, or only sockd_status_up 0 when the supervisor did not answer
// (statusErr), then the spawn histogram and the process and Go metrics.
func (m *Metrics) WritePrometheus(w io.Writer, st supervisor.Status, statusErr error) error {
	e := expo{w: bufio.NewWriterSize(w, 32<<10)}
	e.family("sockd_status_up", "gauge", "1 if the supervisor answered the status request of this scrape.")
	e.sample("sockd_status_up", b2u(statusErr == nil))
	if statusErr == nil {
		writeUnits(&e, view(st))
	}
	// The Set writes the histogram's metadata itself (with no help text,
	// and only while ExposeMetadata is on): ours replaces it.
	m.spawn.WritePrometheus(&stripComments{w: e.w, header: "# HELP " + spawnName + " " + spawnHelp +
		"\n# TYPE " + spawnName + " histogram\n", bol: true})
	metrics.WriteProcessMetrics(e.w)
	metrics.WriteFDMetrics(e.w)
	return e.w.Flush()
}

func writeUnits(e *expo, u Units) {
	socketFamilies := []struct {
		name, typ, help string
		value           func(*Socket) uint64
	}{
		{"sockd_socket_accepted_total", "counter", "Connections accepted by sockd (Accept=yes).", func(s *Socket) uint64 { return s.Accepted }},
		{"sockd_socket_activations_total", "counter", "Services started by traffic on the socket.", func(s *Socket) uint64 { return s.Activations }},
		{"sockd_socket_refused_total", "counter", "Connections refused by MaxConnections= or MaxConnectionsPerSource=.", func(s *Socket) uint64 { return s.Refused }},
		{"sockd_socket_trigger_limit_hits_total", "counter", "Times the socket hit its trigger limit.", func(s *Socket) uint64 { return s.TriggerLimitHits }},
		{"sockd_socket_connections", "gauge", "Current connections (running Accept=yes instances).", func(s *Socket) uint64 { return uint64(max(s.Connections, 0)) }},
	}
	e.family("sockd_socket_state", "gauge", "1 for the socket unit's current state.")
	for i := range u.Sockets {
		s := &u.Sockets[i]
		for _, state := range socketStates {
			e.sample("sockd_socket_state", b2u(s.State == state), "state", state, "unit", s.Name)
		}
	}
	for _, f := range socketFamilies {
		e.family(f.name, f.typ, f.help)
		for i := range u.Sockets {
			e.sample(f.name, f.value(&u.Sockets[i]), "unit", u.Sockets[i].Name)
		}
	}

	// Instances are folded into their template: one series per loaded
	// unit, however many connections come and go.
	type agg struct {
		name     string
		states   uint8 // bit i: some instance is in serviceStates[i]
		restarts int
		running  int
	}
	var svcs []agg
	index := make(map[string]int, len(u.Services))
	for _, s := range u.Services {
		key := ringKey(s.Name)
		i, ok := index[key]
		if !ok {
			i = len(svcs)
			index[key] = i
			svcs = append(svcs, agg{name: key})
		}
		a := &svcs[i]
		for b, state := range serviceStates {
			if string(s.State) == state {
				a.states |= 1 << b
			}
		}
		a.restarts += s.Restarts
		if s.MainPID != 0 {
			a.running++
		}
	}
	e.family("sockd_service_state", "gauge", "1 for the service unit's current state.")
	for _, a := range svcs {
		for b, state := range serviceStates {
			e.sample("sockd_service_state", uint64(a.states>>b&1), "state", state, "unit", a.name)
		}
	}
	e.family("sockd_service_restarts_total", "counter", "Automatic restarts of the service.")
	for _, a := range svcs {
		e.sample("sockd_service_restarts_total", uint64(max(a.restarts, 0)), "unit", a.name)
	}
	e.family("sockd_service_running_instances", "gauge", "Running processes of a service or template.")
	for _, a := range svcs {
		e.sample("sockd_service_running_instances", uint64(a.running), "unit", a.name)
	}
}

// expo writes the text exposition format.
type expo struct {
	w   *bufio.Writer
	buf []byte
}

// family writes the HELP and TYPE lines; help must not contain a
// backslash or a line break.
func (e *expo) family(name, typ, help string) {
	e.w.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n")
}

// sample writes one line; labels are name, value pairs.
func (e *expo) sample(name string, v uint64, labels ...string) {
	b := append(e.buf[:0], name...)
	b = appendLabels(b, labels...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, v, 10)
	b = append(b, '\n')
	e.w.Write(b)
	e.buf = b
}

// appendLabels appends {name="value",…} with the values escaped as the
// text format wants: backslash, double quote and line feed, and invalid
// UTF-8 replaced.
func appendLabels(b []byte, labels ...string) []byte {
	if len(labels) == 0 {
		return b
	}
	b = append(b, '{')
	for i := 0; i+1 < len(labels); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, labels[i]...)
		b = append(b, `="`...)
		v := labels[i+1]
		if !utf8.ValidString(v) {
			v = strings.ToValidUTF8(v, "\uFFFD")
		}
		for j := 0; j < len(v); j++ {
			switch c := v[j]; c {
			case '\\':
				b = append(b, `\\`...)
			case '"':
				b = append(b, `\"`...)
			case '\n':
				b = append(b, `\n`...)
			default:
				b = append(b, c)
			}
		}
		b = append(b, '"')
	}
	return append(b, '}')
}

// stripComments passes on the lines written to it except comments, and
// writes header before the first line it passes on.
type stripComments struct {
	w      io.Writer
	header string
	bol    bool // at the beginning of a line
	skip   bool // in a comment line
}

func (s *stripComments) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if s.bol {
			s.skip = p[0] == '#'
		}
		line := p
		i := bytes.IndexByte(p, '\n')
		if i >= 0 {
			line = p[:i+1]
		}
		if !s.skip {
			if s.header != "" {
				if _, err := io.WriteString(s.w, s.header); err != nil {
					return 0, err
				}
				s.header = ""
			}
			if _, err := s.w.Write(line); err != nil {
				return 0, err
			}
		}
		p = p[len(line):]
		s.bol = i >= 0
	}
	return n, nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// compile-time check that *supervisor.Supervisor satisfies Supervisor.
var _ Supervisor = (*supervisor.Supervisor)(nil)
