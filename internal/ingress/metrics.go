package ingress

import "github.com/prometheus/client_golang/prometheus"

// Metrics are ingress's Prometheus collectors.
type Metrics struct {
	requests       *prometheus.CounterVec
	publishSeconds prometheus.Histogram
	deprecated     *prometheus.CounterVec
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
	return m
}

// Count records one request's outcome.
func (m *Metrics) Count(source, outcome string) {
	m.requests.WithLabelValues(source, outcome).Inc()
}
