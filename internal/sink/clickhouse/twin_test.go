package clickhouse

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/sink"
)

// twinViews are a latest and a count view of orders.
func twinViews() map[string]*config.View {
	return map[string]*config.View{
		"orders": {Kind: config.ViewLatest, Types: []string{"order.*"}, Key: "/id",
			Fields: map[string]string{"status": "/status", "total": "/total"}, DeleteWhen: `type == "order.deleted"`},
		"per-minute": {Kind: config.ViewCount, Types: []string{"order.*"}, By: []string{"type", "/customer/region"}, Sum: "/total"},
	}
}

func twinSpec() *config.Sink {
	return &config.Sink{Types: []string{"order.>"}, ClickHouse: &config.ClickHouseSink{}}
}

// at is a record of an order event with an explicit time and sequence.
func at(seq uint64, id, typ string, tm time.Time, data string) sink.Record {
	r := record(id, typ, data)
	r.Seq = seq
	r.Event.Time = tm
	return r
}

func TestStartCreatesTheTwinsOfViews(t *testing.T) {
	t.Parallel()
	h := newViewsHarness(t, twinSpec(), compile(t, twinViews()))
	start(t, h.Sink)
	start(t, h.Sink) // again: changes nothing

	require.Equal(t, "weir_view_orders\tReplacingMergeTree\tkey\n"+
		"weir_view_orders_current\tView\t\n"+
		"weir_view_per-minute\tMaterializedView\t\n"+
		"weir_view_per-minute_events\tReplacingMergeTree\tbucket, type, customer_region, id\n",
		h.Server.Query(t, "SELECT name, engine, sorting_key FROM system.tables WHERE database = 'default' AND name LIKE 'weir_view%' ORDER BY name"))
	require.Contains(t, h.Server.Query(t, "SELECT engine_full FROM system.tables WHERE name = 'weir_view_orders'"), "ReplacingMergeTree(version)")
	require.Equal(t, "key\tString\ntime\tDateTime\ntime_ms\tUInt16\nseq\tUInt64\ndeleted\tUInt8\nevent_id\tString\ntype\tString\nfields\tString\nversion\tUInt64\n",
		h.Server.Query(t, "SELECT name, type FROM system.columns WHERE table = 'weir_view_orders'"))
	require.Equal(t, "bucket\tDateTime\ntype\tString\ncustomer_region\tString\nevents\tAggregateFunction(uniqExact, String)\nsum\tAggregateFunction(sum, Float64)\n",
		h.Server.Query(t, "SELECT name, type FROM system.columns WHERE table = 'weir_view_per-minute'"))
}

func TestLatestTwinFollowsTheView(t *testing.T) {
	t.Parallel()
	h := newViewsHarness(t, twinSpec(), compile(t, twinViews()))
	start(t, h.Sink)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	require.NoError(t, write(t, h.Sink,
		at(1, "e1", "order.created", t0, `{"id":"a","status":"new","total":5}`),
		at(2, "e2", "order.created", t0, `{"id":"b","status":"new","total":7}`),
		at(3, "e3", "order.paid", t0.Add(time.Minute), `{"id":"a","status":"paid","total":5}`),
		at(4, "e4", "order.created", t0, `{"id":"c","status":"new"}`),
		at(5, "e5", "order.deleted", t0.Add(time.Minute), `{"id":"c"}`),
		at(6, "nokey", "order.created", t0, `{"status":"new"}`),
	))
	// Later: an older update of a (out of order), an older update of the
	// deleted c (no resurrection), two updates of b in one millisecond.
	require.NoError(t, write(t, h.Sink,
		at(7, "e7", "order.shipped", t0.Add(30*time.Second), `{"id":"a","status":"shipped"}`),
		at(8, "e8", "order.paid", t0.Add(30*time.Second), `{"id":"c","status":"paid"}`),
		at(10, "e10", "order.paid", t0.Add(2*time.Minute), `{"id":"b","status":"paid","total":7}`),
		at(9, "e9", "order.refunded", t0.Add(2*time.Minute), `{"id":"b","status":"refunded","total":7}`),
	))
	require.NoError(t, write(t, h.Sink, at(3, "e3", "order.paid", t0.Add(time.Minute), `{"id":"a","status":"paid","total":5}`)), "a redelivery")

	require.Equal(t, "a\t"+`{"status":"paid","total":5}`+"\t3\te3\torder.paid\t2026-03-01 12:01:00\n"+
		"b\t"+`{"status":"paid","total":7}`+"\t10\te10\torder.paid\t2026-03-01 12:02:00\n",
		h.Server.Query(t, "SELECT key, fields, seq, event_id, type, time FROM weir_view_orders_current ORDER BY key"))
	require.Equal(t, "1\n", h.Server.Query(t, "SELECT count() FROM weir_view_orders FINAL WHERE deleted = 1"))
}

func TestCountTwinCountsEachEventOnce(t *testing.T) {
	t.Parallel()
	h := newViewsHarness(t, twinSpec(), compile(t, twinViews()))
	start(t, h.Sink)
	t0 := time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)
	batch := []sink.Record{
		at(1, "e1", "order.created", t0, `{"customer":{"region":"eu"},"total":5}`),
		at(2, "e2", "order.created", t0.Add(20*time.Second), `{"customer":{"region":"eu"},"total":2.5}`),
		at(3, "e3", "order.created", t0.Add(time.Minute), `{"customer":{"region":"us"},"total":1}`),
		at(4, "e4", "order.paid", t0, `{"total":"not a number"}`),
	}
	require.NoError(t, write(t, h.Sink, batch...))
	const mv = "SELECT bucket, type, customer_region, uniqExactMerge(events), sumMerge(sum) FROM `weir_view_per-minute` " +
		"GROUP BY bucket, type, customer_region ORDER BY bucket, type, customer_region"
	want := "2026-03-01 12:00:00\torder.created\teu\t2\t7.5\n" +
		"2026-03-01 12:00:00\torder.paid\t\t1\t0\n" +
		"2026-03-01 12:01:00\torder.created\tus\t1\t1\n"
	require.Equal(t, want, h.Server.Query(t, mv))

	// Redelivered: counts stay exact; the materialized view's sum counts
	// the event twice, the rows table read with FINAL does not.
	require.NoError(t, write(t, h.Sink, batch[0]))
	require.Equal(t, "2026-03-01 12:00:00\torder.created\teu\t2\t12.5\n",
		h.Server.Query(t, "SELECT bucket, type, customer_region, uniqExactMerge(events), sumMerge(sum) FROM `weir_view_per-minute` "+
			"WHERE customer_region = 'eu' GROUP BY bucket, type, customer_region"))
	require.Equal(t, "2026-03-01 12:00:00\torder.created\teu\t2\t7.5\n",
		h.Server.Query(t, "SELECT bucket, type, customer_region, count(), sum(value) FROM `weir_view_per-minute_events` FINAL "+
			"WHERE customer_region = 'eu' GROUP BY bucket, type, customer_region"))
}

func TestTwinOfAChangedViewIsRefused(t *testing.T) {
	t.Parallel()
	views := twinViews()
	h := newViewsHarness(t, twinSpec(), compile(t, views))
	start(t, h.Sink)

	views["per-minute"].By = []string{"type", "source"}
	s, err := New(withAddr(twinSpec(), h), sink.Deps{Views: compile(t, views)})
	require.NoError(t, err)
	defer s.Stop(context.Background())
	err = s.Start(context.Background())
	var tables []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var me *MigrationError
		require.True(t, errors.As(e, &me))
		tables = append(tables, me.Table)
		require.Contains(t, me.Reason, "DROP TABLE `default`.`weir_view_per-minute`; DROP TABLE `default`.`weir_view_per-minute_events`")
	}
	require.Equal(t, []string{"default.weir_view_per-minute_events", "default.weir_view_per-minute"}, tables)
	require.Equal(t, "", h.Server.Query(t, "SELECT name FROM system.columns WHERE table = 'weir_view_per-minute_events' AND name = 'source'"),
		"a refused migration changes nothing")

	// Dropped as the error says, the twin is made again and its view
	// filled from the rows table.
	h.Server.Query(t, "DROP TABLE `weir_view_per-minute`")
	require.NoError(t, write(t, h.Sink, at(1, "e1", "order.created", time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), `{}`)))
	start(t, h.Sink)
	require.Equal(t, "1\n", h.Server.Query(t, "SELECT uniqExactMerge(events) FROM `weir_view_per-minute`"))

	// A table of another kind where the latest twin's view goes.
	h.Server.Query(t, "DROP TABLE weir_view_orders_current")
	h.Server.Query(t, "CREATE TABLE weir_view_orders_current (x UInt8) ENGINE = Memory")
	s2, err := New(withAddr(twinSpec(), h), sink.Deps{Views: compile(t, twinViews())})
	require.NoError(t, err)
	defer s2.Stop(context.Background())
	var me *MigrationError
	require.ErrorAs(t, s2.Start(context.Background()), &me)
	require.Equal(t, "default.weir_view_orders_current", me.Table)
}

func withAddr(spec *config.Sink, h *Harness) *config.Sink {
	spec.ClickHouse.Addr = h.Server.NativeAddr
	return spec
}
