package view

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the views' collectors.
type Metrics struct {
	lag     *prometheus.GaugeVec
	applied *prometheus.CounterVec
	skipped *prometheus.CounterVec
}

// NewMetrics registers the views' collectors on reg (nil: not registered,
// for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weir_view_lag",
			Help: "Events of the view's types stored on the bus and not yet applied to the view's current generation, on this node.",
		}, []string{"view"}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_view_applied_total",
			Help: "Events applied to a view (every generation, rebuilds included).",
		}, []string{"view"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_view_skipped_total",
			Help: "Events of a view's types it skipped: no key, or an expression could not judge them (reason).",
		}, []string{"view", "reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.lag, m.applied, m.skipped)
	}
	return m
}
