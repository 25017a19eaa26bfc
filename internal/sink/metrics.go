package sink

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-dev/weir/internal/bus"
)

// Metrics are the sinks' Prometheus collectors. A nil *Metrics counts
// nothing. It is also the providers' Observer (Defaulted).
type Metrics struct {
	rowsTotal    *prometheus.CounterVec
	batches      *prometheus.CounterVec
	writeSeconds *prometheus.HistogramVec
	deadLetters  *prometheus.CounterVec
	defaulted    *prometheus.CounterVec
	reg          prometheus.Registerer // NewManager registers the lag collector on it
}

var _ Observer = (*Metrics)(nil)

// Outcomes of a batch write, the outcome label of weir_sink_batches_total.
const (
	OutcomeWritten = "written"
	OutcomeFailed  = "failed"
	OutcomeRefused = "refused"
)

// NewMetrics registers the sinks' collectors on reg. The lag, read from the
// bus at scrape time, is registered by NewManager with the manager it reads.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		rowsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_sink_rows_total",
			Help: "Events a sink's store accepted.",
		}, []string{"sink"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_sink_batches_total",
			Help: "Batch writes by sink and outcome: written, failed (transient, written again) and refused (split to find the refused events).",
		}, []string{"sink", "outcome"}),
		writeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "weir_sink_write_seconds",
			Help:    "Duration of one batch write to a sink's store, whatever its outcome.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"sink"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_sink_dead_letters_total",
			Help: "Events that became dead letters of a sink (refused by its store, or unreadable).",
		}, []string{"sink"}),
		defaulted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_sink_defaulted_total",
			Help: "Values that could not be converted to their column's type and were stored as the column's default.",
		}, []string{"sink", "table", "column"}),
		reg: reg,
	}
	reg.MustRegister(m.rowsTotal, m.batches, m.writeSeconds, m.deadLetters, m.defaulted)
	return m
}

// Defaulted counts one value stored as its column's default.
func (m *Metrics) Defaulted(sink, table, column string) {
	if m != nil {
		m.defaulted.WithLabelValues(sink, table, column).Inc()
	}
}

func (m *Metrics) wrote(sink string, took time.Duration, err error) {
	if m == nil {
		return
	}
	m.writeSeconds.WithLabelValues(sink).Observe(took.Seconds())
	outcome := OutcomeWritten
	if _, refused := Refused(err); refused {
		outcome = OutcomeRefused
	} else if err != nil {
		outcome = OutcomeFailed
	}
	m.batches.WithLabelValues(sink, outcome).Inc()
}

func (m *Metrics) rows(sink string, n int) {
	if m != nil {
		m.rowsTotal.WithLabelValues(sink).Add(float64(n))
	}
}

func (m *Metrics) deadLettered(sink string) {
	if m != nil {
		m.deadLetters.WithLabelValues(sink).Inc()
	}
}

var (
	lagDesc      = prometheus.NewDesc("weir_sink_lag", "Events stored on the bus and not yet handed to the sink.", []string{"sink"}, nil)
	inFlightDesc = prometheus.NewDesc("weir_sink_in_flight", "Events handed to the sink and not yet acknowledged (being batched or written).", []string{"sink"}, nil)
)

// lagCollector reads each sink's consumer at scrape time.
type lagCollector struct{ mgr *Manager }

func (c lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lagDesc; ch <- inFlightDesc }

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, name := range c.mgr.names() {
		// Looking the consumer up reads its state from the bus.
		cons, err := c.mgr.js.Consumer(ctx, bus.EventsStream, ConsumerPrefix+name)
		if err != nil {
			continue
		}
		ci := cons.CachedInfo()
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(ci.NumPending), name)
		ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(ci.NumAckPending), name)
	}
}
