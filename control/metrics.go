package control

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/sockd/sockd/supervisor"
)

// Metrics holds sockd's Prometheus registry: per-unit counters and states
// read from the supervisor at scrape time, the spawn latency histogram,
// and the process and Go runtime collectors.
type Metrics struct {
	reg   *prometheus.Registry
	spawn *prometheus.HistogramVec
}

// NewMetrics returns the registry with the process collectors and the
// spawn histogram; Server adds the unit collector.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		spawn: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sockd_spawn_duration_seconds",
			Help:    "Time from the decision to start a service process until it was started.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 100µs … 3.3s
		}, []string{"unit"}),
	}
	m.reg.MustRegister(m.spawn,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector())
	return m
}

// ObserveSpawn records one process start; it is supervisor.Options.OnSpawn.
// Accept=yes instances are counted under their template to keep the
// label set bounded.
func (m *Metrics) ObserveSpawn(unit string, d time.Duration) {
	m.spawn.WithLabelValues(ringKey(unit)).Observe(d.Seconds())
}

// Registry is the registry to serve.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

var (
	socketStates  = []string{"dead", "listening", "running", "paused", "failed"}
	serviceStates = []string{"inactive", "activating", "active", "deactivating", "failed"}

	descSocketState   = prometheus.NewDesc("sockd_socket_state", "1 for the socket unit's current state.", []string{"unit", "state"}, nil)
	descAccepted      = prometheus.NewDesc("sockd_socket_accepted_total", "Connections accepted by sockd (Accept=yes).", []string{"unit"}, nil)
	descActivations   = prometheus.NewDesc("sockd_socket_activations_total", "Services started by traffic on the socket.", []string{"unit"}, nil)
	descRefused       = prometheus.NewDesc("sockd_socket_refused_total", "Connections refused by MaxConnections= or MaxConnectionsPerSource=.", []string{"unit"}, nil)
	descTriggerHits   = prometheus.NewDesc("sockd_socket_trigger_limit_hits_total", "Times the socket hit its trigger limit.", []string{"unit"}, nil)
	descConnections   = prometheus.NewDesc("sockd_socket_connections", "Current connections (running Accept=yes instances).", []string{"unit"}, nil)
	descServiceState  = prometheus.NewDesc("sockd_service_state", "1 for the service unit's current state.", []string{"unit", "state"}, nil)
	descRestarts      = prometheus.NewDesc("sockd_service_restarts_total", "Automatic restarts of the service.", []string{"unit"}, nil)
	descServiceUp     = prometheus.NewDesc("sockd_service_running_instances", "Running processes of a service or template.", []string{"unit"}, nil)
	descScrapeFailure = prometheus.NewDesc("sockd_status_up", "1 if the supervisor answered the status request of this scrape.", nil, nil)
)

// unitCollector reads the supervisor's status at scrape time, so the
// metrics can never disagree with `sockd status`.
type unitCollector struct {
	sup  Supervisor
	ring *Ring
}

func (c unitCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSocketState, descAccepted, descActivations, descRefused, descTriggerHits,
		descConnections, descServiceState, descRestarts, descServiceUp, descScrapeFailure} {
		ch <- d
	}
}

func (c unitCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.sup.Status(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descScrapeFailure, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descScrapeFailure, prometheus.GaugeValue, 1)
	u := view(st)
	for _, s := range u.Sockets {
		for _, state := range socketStates {
			ch <- prometheus.MustNewConstMetric(descSocketState, prometheus.GaugeValue, b2f(s.State == state), s.Name, state)
		}
		ch <- prometheus.MustNewConstMetric(descAccepted, prometheus.CounterValue, float64(s.Accepted), s.Name)
		ch <- prometheus.MustNewConstMetric(descActivations, prometheus.CounterValue, float64(s.Activations), s.Name)
		ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(s.Refused), s.Name)
		ch <- prometheus.MustNewConstMetric(descTriggerHits, prometheus.CounterValue, float64(s.TriggerLimitHits), s.Name)
		ch <- prometheus.MustNewConstMetric(descConnections, prometheus.GaugeValue, float64(s.Connections), s.Name)
	}
	// Instances are folded into their template: one series per loaded
	// unit, however many connections come and go.
	type agg struct {
		states   map[string]bool
		restarts int
		running  int
	}
	svcs := map[string]*agg{}
	var order []string
	for _, s := range u.Services {
		key := ringKey(s.Name)
		a := svcs[key]
		if a == nil {
			a = &agg{states: map[string]bool{}}
			svcs[key] = a
			order = append(order, key)
		}
		a.states[string(s.State)] = true
		a.restarts += s.Restarts
		if s.MainPID != 0 {
			a.running++
		}
	}
	for _, name := range order {
		a := svcs[name]
		for _, state := range serviceStates {
			ch <- prometheus.MustNewConstMetric(descServiceState, prometheus.GaugeValue, b2f(a.states[state]), name, state)
		}
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(a.restarts), name)
		ch <- prometheus.MustNewConstMetric(descServiceUp, prometheus.GaugeValue, float64(a.running), name)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// interface check: the collector reads through the same interface as the
// HTTP handlers.
var _ prometheus.Collector = unitCollector{}

// compile-time check that *supervisor.Supervisor satisfies Supervisor.
var _ Supervisor = (*supervisor.Supervisor)(nil)
