package ingress

import "github.com/prometheus/client_golang/prometheus"

// Metrics are ingress's Prometheus collectors.
type Metrics struct {
	requests       *prometheus.CounterVec
	publishSeconds prometheus.Histogram
	deprecated     *prometheus.CounterVec
	reg            prometheus.Registerer
}

// NewMetrics registers ingress's collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_ingress_requests_total",
			Help: "Incoming events by source (\"api\" for POST /v1/events) and outcome.",
		}, []string{"source", "outcome"}),
		publishSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "weir_bus_publish_seconds",
			Help:    "Time from publish to JetStream's ack.",
			Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
	}
	m.deprecated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weir_contract_deprecated_events_total",
		Help: "Events accepted whose type or contract version is deprecated, by type.",
	}, []string{"type"})
	reg.MustRegister(m.requests, m.publishSeconds, m.deprecated)
	m.reg = reg
	return m
}

// watch exports the gate's load.
func (m *Metrics) watch(g *Gate) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "weir_ingress_pending",
			Help: "Incoming events admitted and not yet answered (bounded by ingress.max_pending).",
		}, func() float64 { n, _ := g.Load(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "weir_ingress_pressure",
			Help: "Load pressure: low-priority sources are shed from 0.5, normal ones from 0.8.",
		}, func() float64 { _, p := g.Load(); return p }),
	)
}

// Count records one request's outcome.
func (m *Metrics) Count(source, outcome string) {
	m.requests.WithLabelValues(source, outcome).Inc()
}
