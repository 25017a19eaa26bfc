package delivery

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-dev/weir/internal/delivery/breaker"
)

// Metrics are delivery's Prometheus collectors.
type Metrics struct {
	deliveries     *prometheus.CounterVec
	attemptSeconds *prometheus.HistogramVec
	deadLetters    *prometheus.CounterVec
	filterErrors   *prometheus.CounterVec
	breaker        *prometheus.GaugeVec
	reg            prometheus.Registerer // New registers the manager's lag collector on it
	observer       Observer              // set by New from Config.Observer; may be nil
}

// Observer learns of every delivery outcome this node counts, for live figures
// kept beside the Prometheus collectors. It is called on the delivery's path, so
// it must be quick and must not block.
type Observer interface {
	// Delivered gets an attempt's outcome (the Outcome* values, or
	// "filtered" for an event the filter skipped), or OutcomeDeadLettered
	// when an event became a dead letter for any reason.
	Delivered(outcome string)
}

// OutcomeDeadLettered is what an Observer gets for each new dead letter. It
// differs from OutcomeDeadLetter, the outcome of a last failed attempt: events
// also become dead letters without an attempt (a filter that cannot judge
// them, max_age).
const OutcomeDeadLettered = "dead_lettered"

// outcome counts one delivery outcome.
func (m *Metrics) outcome(sub, outcome string) {
	m.deliveries.WithLabelValues(sub, outcome).Inc()
	if m.observer != nil {
		m.observer.Delivered(outcome)
	}
}

// deadLettered counts one new dead letter.
func (m *Metrics) deadLettered(sub string) {
	m.deadLetters.WithLabelValues(sub).Inc()
	if m.observer != nil {
		m.observer.Delivered(OutcomeDeadLettered)
	}
}

// NewMetrics registers delivery's collectors on reg. The lag and in-flight
// figures, read from the bus at scrape time, are registered by New with the
// manager they read: one Metrics serves one manager.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_deliveries_total",
			Help: "Delivery attempts by subscription and outcome (delivered, failed, retry_after, gone, dead_letter, denied, filtered).",
		}, []string{"subscription", "outcome"}),
		attemptSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "weir_delivery_attempt_seconds",
			Help:    "Duration of push delivery attempts.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"subscription"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_dead_letters_total",
			Help: "Events that became dead letters, by subscription.",
		}, []string{"subscription"}),
		filterErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_filter_errors_total",
			Help: "Events the subscription's filter failed on, by reason: evaluation (e.g. a missing field; skipped as not matched), limit (over the evaluation's bounds) and undecodable (data the filter cannot read); the last two become dead letters.",
		}, []string{"subscription", "reason"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weir_subscription_breaker_state",
			Help: "Circuit breaker of a push subscription: 0 closed, 1 half-open, 2 open.",
		}, []string{"subscription"}),
		reg: reg,
	}
	reg.MustRegister(m.deliveries, m.attemptSeconds, m.deadLetters, m.filterErrors, m.breaker)
	return m
}

func (m *Metrics) breakerState(sub string, s breaker.State) {
	v := 0.0
	switch s {
	case breaker.HalfOpen:
		v = 1
	case breaker.Open:
		v = 2
	}
	m.breaker.WithLabelValues(sub).Set(v)
}

var (
	lagDesc      = prometheus.NewDesc("weir_subscription_lag", "Events stored but not yet handed to the subscription.", []string{"subscription"}, nil)
	inFlightDesc = prometheus.NewDesc("weir_subscription_in_flight", "Events handed out and not yet acknowledged.", []string{"subscription"}, nil)
)

// lagCollector reads each subscription's consumer state at scrape time.
type lagCollector struct{ mgr *Manager }

func (c lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lagDesc; ch <- inFlightDesc }

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	mgr := c.mgr
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	mgr.mu.Lock()
	subs := make([]*Sub, 0, len(mgr.subs))
	for _, s := range mgr.subs {
		subs = append(subs, s)
	}
	mgr.mu.Unlock()
	for _, s := range subs {
		info, err := s.cons.Info(ctx)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(info.NumPending), s.name)
		ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(info.NumAckPending), s.name)
	}
}
