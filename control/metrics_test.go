package control

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/zap/zaptest"

	"github.com/sockd/sockd/supervisor"
)

// family is a metric family as parseExposition reads it.
type family struct {
	typ, help       string
	hasHelp, hasTyp bool
	samples         []sample
}

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// parseExposition is a strict reader of the Prometheus text format 0.0.4:
// it fails on anything Prometheus would refuse (bad names, bad escapes,
// HELP or TYPE twice or TYPE after samples, a family in two groups,
// duplicate series, a counter or gauge sample under another name) and
// checks every histogram: buckets sorted by le, cumulative, ending in
// +Inf, with _count equal to the +Inf bucket when there is a _count.
func parseExposition(text string) (map[string]*family, error) {
	fams := map[string]*family{}
	get := func(name string) *family {
		f := fams[name]
		if f == nil {
			f = &family{typ: "untyped"}
			fams[name] = f
		}
		return f
	}
	if !strings.HasSuffix(text, "\n") {
		return nil, errors.New("no line feed at the end")
	}
	if !utf8.ValidString(text) {
		return nil, errors.New("not UTF-8")
	}
	seen := map[string]bool{}   // series
	closed := map[string]bool{} // families whose group of lines has ended
	current := ""
	enter := func(name string) error {
		if name == current {
			return nil
		}
		if closed[name] {
			return fmt.Errorf("%s: lines not in one group", name)
		}
		if current != "" {
			closed[current] = true
		}
		current = name
		return nil
	}
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(format string, a ...any) error {
			return fmt.Errorf("line %d %q: %s", n+1, line, fmt.Sprintf(format, a...))
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "#"); ok {
			words := strings.Fields(rest)
			if len(words) == 0 || (words[0] != "HELP" && words[0] != "TYPE") {
				continue // a comment
			}
			if len(words) < 2 || !metricNameRE.MatchString(words[1]) {
				return nil, fail("bad metric name")
			}
			name := words[1]
			if err := enter(name); err != nil {
				return nil, fail("%v", err)
			}
			f := get(name)
			if words[0] == "HELP" {
				if f.hasHelp {
					return nil, fail("second HELP")
				}
				f.hasHelp = true
				_, f.help, _ = strings.Cut(strings.TrimLeft(rest, " \t")[len("HELP"):], name)
				f.help = strings.TrimSpace(f.help)
				for i := 0; i < len(f.help); i++ {
					if f.help[i] == '\\' {
						if i++; i == len(f.help) || (f.help[i] != '\\' && f.help[i] != 'n') {
							return nil, fail("bad escape in HELP")
						}
					}
				}
				continue
			}
			if f.hasTyp || len(f.samples) > 0 {
				return nil, fail("TYPE twice or after samples")
			}
			if len(words) != 3 || !slices.Contains([]string{"counter", "gauge", "histogram", "summary", "untyped"}, words[2]) {
				return nil, fail("bad TYPE")
			}
			f.hasTyp, f.typ = true, words[2]
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fail("%v", err)
		}
		name := s.name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base, ok := strings.CutSuffix(s.name, suffix)
			if f := fams[base]; ok && f != nil && (f.typ == "histogram" || (f.typ == "summary" && suffix != "_bucket")) {
				name = base
			}
		}
		f := get(name)
		switch {
		case f.typ == "histogram" && name == s.name:
			return nil, fail("histogram sample without _bucket, _sum or _count")
		case f.typ == "histogram" && strings.HasSuffix(s.name, "_bucket") && s.labels["le"] == "":
			return nil, fail("bucket without le")
		case f.typ == "summary" && name == s.name && s.labels["quantile"] == "":
			return nil, fail("summary sample without quantile")
		case f.typ == "counter" && s.value < 0:
			return nil, fail("negative counter")
		}
		if err := enter(name); err != nil {
			return nil, fail("%v", err)
		}
		key := seriesKey(s.name, s.labels)
		if seen[key] {
			return nil, fail("duplicate series")
		}
		seen[key] = true
		f.samples = append(f.samples, s)
	}
	for name, f := range fams {
		if f.typ == "histogram" {
			if err := checkHistogram(name, f); err != nil {
				return nil, err
			}
		}
	}
	return fams, nil
}

func seriesKey(name string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(name)
	for _, k := range keys {
		fmt.Fprintf(&b, "\x00%s\x00%s", k, labels[k])
	}
	return b.String()
}

// parseSample reads `name{label="value",…} value [timestamp]`.
func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ \t")
	if i < 0 {
		return s, errors.New("no value")
	}
	s.name = line[:i]
	if !metricNameRE.MatchString(s.name) {
		return s, errors.New("bad metric name")
	}
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, " \t")
			if strings.HasPrefix(rest, "}") { // {}
				rest = rest[1:]
				break
			}
			eq := strings.IndexByte(rest, '=')
			if eq < 0 {
				return s, errors.New("no = after a label name")
			}
			lname := strings.TrimSpace(rest[:eq])
			if !labelNameRE.MatchString(lname) {
				return s, fmt.Errorf("bad label name %q", lname)
			}
			if _, dup := s.labels[lname]; dup {
				return s, fmt.Errorf("label %s twice", lname)
			}
			rest = strings.TrimLeft(rest[eq+1:], " \t")
			if !strings.HasPrefix(rest, `"`) {
				return s, errors.New("label value not quoted")
			}
			var v strings.Builder
			j := 1
			for ; j < len(rest) && rest[j] != '"'; j++ {
				if rest[j] == '\\' {
					j++
					if j >= len(rest) {
						break
					}
					switch rest[j] {
					case '\\', '"':
						v.WriteByte(rest[j])
					case 'n':
						v.WriteByte('\n')
					default:
						return s, fmt.Errorf("bad escape \\%c", rest[j])
					}
					continue
				}
				v.WriteByte(rest[j])
			}
			if j >= len(rest) {
				return s, errors.New("unterminated label value")
			}
			s.labels[lname] = v.String()
			rest = strings.TrimLeft(rest[j+1:], " \t")
			if strings.HasPrefix(rest, ",") {
				rest = rest[1:]
				if strings.HasPrefix(strings.TrimLeft(rest, " \t"), "}") {
					rest = strings.TrimLeft(rest, " \t")[1:]
					break // a trailing comma is allowed
				}
				continue
			}
			if !strings.HasPrefix(rest, "}") {
				return s, errors.New("no , or } after a label")
			}
			rest = rest[1:]
			break
		}
	}
	if rest == "" || (rest[0] != ' ' && rest[0] != '\t') {
		return s, errors.New("no blank before the value")
	}
	fields := strings.Fields(rest)
	if len(fields) < 1 || len(fields) > 2 {
		return s, errors.New("want a value and an optional timestamp")
	}
	var err error
	if s.value, err = parseValue(fields[0]); err != nil {
		return s, err
	}
	if len(fields) == 2 {
		if _, err := strconv.ParseInt(fields[1], 10, 64); err != nil {
			return s, fmt.Errorf("timestamp: %v", err)
		}
	}
	return s, nil
}

func parseValue(v string) (float64, error) {
	switch v {
	case "NaN":
		return math.NaN(), nil
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(v, 64)
}

func checkHistogram(name string, f *family) error {
	type series struct {
		les            []float64
		counts         []float64
		count          float64
		hasSum, hasCnt bool
	}
	all := map[string]*series{}
	var order []string
	for _, s := range f.samples {
		rest := maps(s.labels, "le")
		key := seriesKey("", rest)
		h := all[key]
		if h == nil {
			h = &series{}
			all[key] = h
			order = append(order, key)
		}
		switch s.name {
		case name + "_bucket":
			le, err := parseValue(s.labels["le"])
			if err != nil {
				return fmt.Errorf("%s: le %q: %v", name, s.labels["le"], err)
			}
			h.les, h.counts = append(h.les, le), append(h.counts, s.value)
		case name + "_sum":
			h.hasSum = true
		case name + "_count":
			h.hasCnt, h.count = true, s.value
		}
	}
	for _, key := range order {
		h := all[key]
		if len(h.les) == 0 || !math.IsInf(h.les[len(h.les)-1], 1) {
			return fmt.Errorf("%s%q: buckets do not end in +Inf", name, key)
		}
		for i := 1; i < len(h.les); i++ {
			if h.les[i] <= h.les[i-1] || h.counts[i] < h.counts[i-1] {
				return fmt.Errorf("%s%q: buckets not sorted or not cumulative: %v %v", name, key, h.les, h.counts)
			}
		}
		if h.hasCnt != h.hasSum || (h.hasCnt && h.count != h.counts[len(h.counts)-1]) {
			return fmt.Errorf("%s%q: _count/_sum missing or _count != +Inf bucket", name, key)
		}
		// Every histogram of sockd's own has both: the library's Go
		// runtime histograms have neither, as their sums are unknown.
		if strings.HasPrefix(name, "sockd_") && !h.hasCnt {
			return fmt.Errorf("%s%q: no _sum and _count", name, key)
		}
	}
	return nil
}

// maps returns labels without the named ones.
func maps(labels map[string]string, without ...string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		if !slices.Contains(without, k) {
			out[k] = v
		}
	}
	return out
}

// value returns the value of the series name{labels}, and whether it exists.
func (f *family) value(name string, labels map[string]string) (float64, bool) {
	want := seriesKey(name, labels)
	for _, s := range f.samples {
		if seriesKey(s.name, s.labels) == want {
			return s.value, true
		}
	}
	return 0, false
}

func lbl(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// failingSupervisor does not answer status requests.
type failingSupervisor struct{ fakeSupervisor }

func (*failingSupervisor) Status(context.Context) (supervisor.Status, error) {
	return supervisor.Status{}, context.DeadlineExceeded
}

func TestMetricsExposition(t *testing.T) {
	// A unit name with everything the format has to escape, and an
	// instance whose name carries a systemd escape.
	odd := "odd\\x2d\"q\"\nz.socket"
	f := &fakeSupervisor{status: supervisor.Status{
		Sockets: []supervisor.SocketStatus{
			{Name: "a.socket", State: supervisor.SocketListening, Service: "a.service", Accepted: 3, Refused: 2,
				Listen: []supervisor.ListenStatus{{Address: "127.0.0.1:1", FD: 3, Paused: true}}},
			{Name: "e.socket", State: supervisor.SocketRunning, Accept: true, Service: "e@.service", Accepted: 5, Connections: 2},
			{Name: odd, State: supervisor.SocketFailed, Service: "odd.service", TriggerLimitHits: 1},
		},
		Services: []supervisor.ServiceStatus{
			{Name: "a.service", State: supervisor.ServiceActive, MainPID: 7, Restarts: 1},
			{Name: `e@1-127.0.0.1:80-127.0.0.1:5000.service`, State: supervisor.ServiceActive, MainPID: 8},
			{Name: `e@2-127.0.0.1:80-127.0.0.1:5001.service`, State: supervisor.ServiceDeactivating, MainPID: 9, Restarts: 2},
		},
	}}
	m := NewMetrics()
	path := filepath.Join(t.TempDir(), "ctl.sock")
	s, err := Listen(Options{Path: path, MetricsAddress: "127.0.0.1:0", Supervisor: f, Metrics: m, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	m.ObserveSpawn("a.service", 300*time.Microsecond)
	m.ObserveSpawn(`e@1-127.0.0.1:80-127.0.0.1:5000.service`, 2*time.Millisecond)
	m.ObserveSpawn(`e@2-127.0.0.1:80-127.0.0.1:5001.service`, 10*time.Second)
	m.ObserveSpawn(`odd\x2d"q".service`, time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	text, err := NewClient(path).Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fams, err := parseExposition(text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	check := func(fam, name string, labels map[string]string, want float64) {
		t.Helper()
		f := fams[fam]
		if f == nil {
			t.Errorf("no family %s", fam)
			return
		}
		if got, ok := f.value(name, labels); !ok || got != want {
			t.Errorf("%s%v = %v (present %v), want %v", name, labels, got, ok, want)
		}
	}

	// Types and help of sockd's families, as client_golang wrote them.
	for name, typ := range map[string]string{
		"sockd_socket_state": "gauge", "sockd_socket_accepted_total": "counter", "sockd_socket_activations_total": "counter",
		"sockd_socket_refused_total": "counter", "sockd_socket_trigger_limit_hits_total": "counter",
		"sockd_socket_connections": "gauge", "sockd_service_state": "gauge", "sockd_service_restarts_total": "counter",
		"sockd_service_running_instances": "gauge", "sockd_status_up": "gauge", "sockd_spawn_duration_seconds": "histogram",
		// The process and Go metrics are typed too.
		"process_cpu_seconds_total": "counter", "process_resident_memory_bytes": "gauge", "process_open_fds": "gauge",
		"process_max_fds": "gauge", "process_start_time_seconds": "gauge", "go_goroutines": "gauge",
		"go_memstats_heap_inuse_bytes": "gauge", "go_gc_duration_seconds": "summary",
	} {
		f := fams[name]
		switch {
		case f == nil || len(f.samples) == 0:
			t.Errorf("%s: missing", name)
		case f.typ != typ:
			t.Errorf("%s: type %s, want %s", name, f.typ, typ)
		case strings.HasPrefix(name, "sockd_") && f.help == "":
			t.Errorf("%s: no help", name)
		}
	}
	check("sockd_status_up", "sockd_status_up", nil, 1)

	// Socket states: 1 for the current one, 0 for the others.
	for sock, cur := range map[string]string{"a.socket": "paused", "e.socket": "running", odd: "failed"} {
		for _, state := range socketStates {
			check("sockd_socket_state", "sockd_socket_state", lbl("unit", sock, "state", state), b2f(state == cur))
		}
	}
	check("sockd_socket_accepted_total", "sockd_socket_accepted_total", lbl("unit", "a.socket"), 3)
	check("sockd_socket_refused_total", "sockd_socket_refused_total", lbl("unit", "a.socket"), 2)
	check("sockd_socket_connections", "sockd_socket_connections", lbl("unit", "e.socket"), 2)
	check("sockd_socket_trigger_limit_hits_total", "sockd_socket_trigger_limit_hits_total", lbl("unit", odd), 1)
	check("sockd_socket_activations_total", "sockd_socket_activations_total", lbl("unit", "e.socket"), 0)

	// Services: instances folded into their template.
	for _, state := range serviceStates {
		check("sockd_service_state", "sockd_service_state", lbl("unit", "a.service", "state", state), b2f(state == "active"))
		check("sockd_service_state", "sockd_service_state", lbl("unit", "e@.service", "state", state), b2f(state == "active" || state == "deactivating"))
	}
	check("sockd_service_restarts_total", "sockd_service_restarts_total", lbl("unit", "e@.service"), 2)
	check("sockd_service_running_instances", "sockd_service_running_instances", lbl("unit", "e@.service"), 2)
	check("sockd_service_running_instances", "sockd_service_running_instances", lbl("unit", "a.service"), 1)
	if n := len(fams["sockd_service_state"].samples); n != 2*len(serviceStates) {
		t.Errorf("%d sockd_service_state series, want %d", n, 2*len(serviceStates))
	}

	// The spawn histogram: 16 buckets from 100µs doubling, then +Inf.
	const h = "sockd_spawn_duration_seconds"
	check(h, h+"_count", lbl("unit", "a.service"), 1)
	check(h, h+"_count", lbl("unit", "e@.service"), 2)
	check(h, h+"_count", lbl("unit", `odd\x2d"q".service`), 1)
	check(h, h+"_sum", lbl("unit", "a.service"), 0.0003)
	check(h, h+"_bucket", lbl("unit", "a.service", "le", "0.0002"), 0)
	check(h, h+"_bucket", lbl("unit", "a.service", "le", "0.0004"), 1)
	check(h, h+"_bucket", lbl("unit", "e@.service", "le", "3.2768"), 1)
	check(h, h+"_bucket", lbl("unit", "e@.service", "le", "+Inf"), 2)
	var les []string
	for _, s := range fams[h].samples {
		if s.name == h+"_bucket" && s.labels["unit"] == "a.service" {
			les = append(les, s.labels["le"])
		}
	}
	if len(les) != 17 || les[0] != "0.0001" || les[15] != "3.2768" || les[16] != "+Inf" {
		t.Errorf("buckets %v", les)
	}

	// The same on metrics_address, plain and gzipped, and the existing
	// scrapers' spelling of the series.
	for _, enc := range []string{"identity", "gzip"} {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.MetricsAddr()+"/metrics", nil)
		req.Header.Set("Accept-Encoding", enc)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		var body io.Reader = resp.Body
		if got := resp.Header.Get("Content-Encoding"); (got == "gzip") != (enc == "gzip") {
			t.Errorf("Accept-Encoding %s: Content-Encoding %q", enc, got)
		} else if got == "gzip" {
			if body, err = gzip.NewReader(resp.Body); err != nil {
				t.Fatal(err)
			}
		}
		b, err := io.ReadAll(body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
			t.Errorf("Content-Type %q", ct)
		}
		if _, err := parseExposition(string(b)); err != nil {
			t.Errorf("%s: %v", enc, err)
		}
		for _, want := range []string{
			`sockd_socket_state{state="paused",unit="a.socket"} 1`,
			`sockd_socket_state{state="failed",unit="odd\\x2d\"q\"\nz.socket"} 1`,
			`sockd_spawn_duration_seconds_bucket{unit="a.service",le="+Inf"} 1`,
		} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s: no %s", enc, want)
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func TestMetricsStatusDown(t *testing.T) {
	m := NewMetrics()
	m.ObserveSpawn("a.service", time.Millisecond)
	var b bytes.Buffer
	if err := m.WritePrometheus(&b, supervisor.Status{}, context.DeadlineExceeded); err != nil {
		t.Fatal(err)
	}
	fams, err := parseExposition(b.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if v, ok := fams["sockd_status_up"].value("sockd_status_up", nil); !ok || v != 0 {
		t.Errorf("sockd_status_up = %v %v", v, ok)
	}
	if fams["sockd_socket_state"] != nil {
		t.Error("unit metrics without a status")
	}
	if v, _ := fams["sockd_spawn_duration_seconds"].value("sockd_spawn_duration_seconds_count", lbl("unit", "a.service")); v != 1 {
		t.Errorf("spawn count %v", v)
	}

	// Through the handler too, with a supervisor that does not answer.
	path := filepath.Join(t.TempDir(), "ctl.sock")
	s, err := Listen(Options{Path: path, Supervisor: &failingSupervisor{}, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	text, err := NewClient(path).Metrics(context.Background())
	if err != nil || !strings.Contains(text, "\nsockd_status_up 0\n") {
		t.Errorf("%v\n%.300s", err, text)
	}
	if _, err := parseExposition(text); err != nil {
		t.Error(err)
	}
}

// Before any spawn there is no histogram series, and no lone HELP line.
func TestMetricsNoSpawnYet(t *testing.T) {
	var b bytes.Buffer
	NewMetrics().WritePrometheus(&b, supervisor.Status{}, nil)
	if strings.Contains(b.String(), "sockd_spawn_duration_seconds") {
		t.Errorf("histogram before any spawn:\n%s", b.String())
	}
	if _, err := parseExposition(b.String()); err != nil {
		t.Error(err)
	}
}

func TestAppendLabels(t *testing.T) {
	for _, v := range []string{"", "plain", `a\b`, `"`, "\n", `\x2d`, "x\\\"\n\\", "bad\xffutf8", "tab\tand ünïcode"} {
		line := string(appendLabels([]byte("m"), "unit", v, "state", "x")) + " 1"
		s, err := parseSample(line)
		want := strings.ToValidUTF8(v, "\uFFFD")
		if err != nil || s.labels["unit"] != want || s.labels["state"] != "x" {
			t.Errorf("%q: %s → %q, %v", v, line, s.labels, err)
		}
	}
}

func TestStripComments(t *testing.T) {
	in := "# HELP x\n# TYPE x histogram\nx_bucket{le=\"1\"} 1\nx_count 1\n# more\nx_sum 2\n"
	want := "HDR\nx_bucket{le=\"1\"} 1\nx_count 1\nx_sum 2\n"
	for _, step := range []int{1, 2, 3, 7, len(in)} {
		var b bytes.Buffer
		w := &stripComments{w: &b, header: "HDR\n", bol: true}
		for i := 0; i < len(in); i += step {
			if n, err := w.Write([]byte(in[i:min(i+step, len(in))])); err != nil || n != min(step, len(in)-i) {
				t.Fatalf("Write: %d %v", n, err)
			}
		}
		if b.String() != want {
			t.Errorf("step %d: %q", step, b.String())
		}
	}
}

// Spawns observed while scraping: no race, and every one counted.
func TestMetricsConcurrent(t *testing.T) {
	m := NewMetrics()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				m.ObserveSpawn(fmt.Sprintf("t%d@%d.service", g%2, i), time.Duration(i)*time.Microsecond)
			}
		})
	}
	for range 20 {
		m.WritePrometheus(io.Discard, supervisor.Status{}, nil)
	}
	wg.Wait()
	var b bytes.Buffer
	m.WritePrometheus(&b, supervisor.Status{}, nil)
	fams, err := parseExposition(b.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"t0@.service", "t1@.service"} {
		if v, _ := fams["sockd_spawn_duration_seconds"].value("sockd_spawn_duration_seconds_count", lbl("unit", u)); v != 400 {
			t.Errorf("%s: count %v, want 400", u, v)
		}
	}
}

// The validator itself refuses what Prometheus refuses.
func TestParseExpositionRejects(t *testing.T) {
	for _, bad := range []string{
		"x 1",                                        // no final line feed
		"x{a=\"\\q\"} 1\n",                           // bad escape
		"x{a=\"1\",a=\"2\"} 1\n",                     // label twice
		"x 1\nx 2\n",                                 // duplicate series
		"x 1\ny 1\nx{a=\"b\"} 1\n",                   // two groups
		"x 1\n# TYPE x gauge\n",                      // TYPE after samples
		"# TYPE x gauge\n# TYPE x gauge\n",           // TYPE twice
		"# TYPE h histogram\nh_bucket{le=\"1\"} 1\n", // no +Inf
		"# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 0\n", // not cumulative
		"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 1\nh_sum 0\n",                       // count != +Inf
		"# TYPE sockd_h histogram\nsockd_h_bucket{le=\"+Inf\"} 2\n",                               // no _sum/_count
		"x{a=\"1\" 1\n", // unterminated labels
		"1x 1\n",        // bad name
		"x abc\n",       // bad value
	} {
		if _, err := parseExposition(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
