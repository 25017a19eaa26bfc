package cdc

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the cdc metrics: what the publishers count, and the readers'
// lag and retained WAL read from Status on each scrape.
type Metrics struct {
	events       *prometheus.CounterVec
	pendingG     *prometheus.GaugeVec
	incompatible *prometheus.CounterVec
}

// NewMetrics registers the cdc metrics on reg: weir_cdc_events_total,
// weir_cdc_publish_pending and weir_cdc_incompatible_changes_total, each by
// source.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_cdc_events_total", Help: "Row changes stored on the bus, by cdc source (duplicates not counted).",
		}, []string{"source"}),
		pendingG: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weir_cdc_publish_pending", Help: "Row changes waiting for the bus's ack, by cdc source.",
		}, []string{"source"}),
		incompatible: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_cdc_incompatible_changes_total", Help: "Table schema changes whose contract could not be registered as a compatible new version, by cdc source.",
		}, []string{"source"}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.pendingG, m.incompatible)
	}
	return m
}

func (m *Metrics) published(source string) {
	if m != nil {
		m.events.WithLabelValues(source).Inc()
	}
}

func (m *Metrics) pending(source string, n int) {
	if m != nil {
		m.pendingG.WithLabelValues(source).Set(float64(n))
	}
}

func (m *Metrics) incompatibleChange(source string) {
	if m != nil {
		m.incompatible.WithLabelValues(source).Inc()
	}
}

// StatusSource lists the readers' statuses by source, for the collector.
type StatusSource interface {
	Statuses(ctx context.Context) map[string]Status
}

// statusCollector reads weir_cdc_lag_seconds and
// weir_cdc_retained_wal_bytes from the readers on each scrape.
type statusCollector struct {
	src      StatusSource
	lag      *prometheus.Desc
	retained *prometheus.Desc
}

// NewStatusCollector returns a collector of weir_cdc_lag_seconds and
// weir_cdc_retained_wal_bytes (omitted when a reader does not know it),
// read from src when scraped.
func NewStatusCollector(src StatusSource) prometheus.Collector {
	return &statusCollector{
		src:      src,
		lag:      prometheus.NewDesc("weir_cdc_lag_seconds", "How far the cdc reader is behind the database's newest commit.", []string{"source"}, nil),
		retained: prometheus.NewDesc("weir_cdc_retained_wal_bytes", "WAL the replication slot keeps (PostgreSQL).", []string{"source"}, nil),
	}
}

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	ch <- c.retained
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	for name, st := range c.src.Statuses(context.Background()) {
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, st.LagSeconds, name)
		if st.RetainedBytes >= 0 {
			ch <- prometheus.MustNewConstMetric(c.retained, prometheus.GaugeValue, float64(st.RetainedBytes), name)
		}
	}
}
