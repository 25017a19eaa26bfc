package clickhouse

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/sink"
)

func TestStartCreatesTheEventsTable(t *testing.T) {
	t.Parallel()
	h := NewHarness(t, nil)
	start(t, h.Sink)
	start(t, h.Sink) // a second Start (the Runner's retry) changes nothing

	require.Equal(t, "id\tString\ntype\tString\nsource\tString\nsubject\tString\ntime\tDateTime\ntime_ms\tUInt16\n"+
		"partitionkey\tString\nreceived_at\tDateTime\ndata\tString\ndataschema\tString\ntraceparent\tString\n",
		h.Server.Query(t, "SELECT name, type FROM system.columns WHERE database = 'default' AND table = 'weir_events'"))
	require.Equal(t, "ReplacingMergeTree\ttoYYYYMM(time)\ttype, time, id\n",
		h.Server.Query(t, "SELECT engine, partition_key, sorting_key FROM system.tables WHERE database = 'default' AND name = 'weir_events'"))
}

func TestStartCreatesTheDatabaseAndTypedTables(t *testing.T) {
	t.Parallel()
	h := NewHarness(t, ordersSpec("analytics"))
	start(t, h.Sink)
	require.Equal(t, "id\tString\ntime\tDateTime\nreceived_at\tDateTime\ncustomer\tNullable(String)\nday\tDate\n"+
		"paid\tUInt8\nplaced\tDateTime\nqty\tUInt32\ntotal\tDecimal(12, 2)\n",
		h.Server.Query(t, "SELECT name, type FROM system.columns WHERE database = 'analytics' AND table = 'orders'"))
	require.Equal(t, "ReplacingMergeTree\ttoYYYYMM(time)\ttime, id\n",
		h.Server.Query(t, "SELECT engine, partition_key, sorting_key FROM system.tables WHERE database = 'analytics' AND name = 'orders'"))
}

// ordersSpec maps order.created events to a typed table "orders".
func ordersSpec(database string) *config.Sink {
	return &config.Sink{Types: []string{"order.*"}, ClickHouse: &config.ClickHouseSink{
		Database: database,
		Tables: map[string]*config.ClickHouseTable{"orders": {Type: "order.created", Columns: map[string]*config.ClickHouseColumn{
			"total":    {Pointer: "/total", Type: "Decimal(12,2)"},
			"qty":      {Pointer: "/items/0/qty", Type: "UInt32"},
			"paid":     {Pointer: "/paid", Type: "UInt8"},
			"placed":   {Pointer: "/placed_at", Type: "DateTime"},
			"day":      {Pointer: "/placed_at", Type: "Date"},
			"customer": {Pointer: "/customer/name", Type: "Nullable(String)"},
		}}},
	}}
}

// restart builds a new sink of spec on the harness's server, as a changed
// config does, and starts it.
func restart(t *testing.T, h *Harness, spec *config.Sink) error {
	t.Helper()
	spec.ClickHouse.Addr = h.Server.NativeAddr
	s, err := New(spec, sink.Deps{Name: "analytics"})
	require.NoError(t, err)
	defer s.Stop(context.Background())
	return s.Start(context.Background())
}

func TestMigrationAddsAColumn(t *testing.T) {
	t.Parallel()
	h := NewHarness(t, ordersSpec(""))
	start(t, h.Sink)
	require.NoError(t, write(t, h.Sink, record("o1", "order.created", `{"total": 5}`)))

	spec := ordersSpec("")
	spec.ClickHouse.Tables["orders"].Columns["currency"] = &config.ClickHouseColumn{Pointer: "/currency", Type: "String"}
	require.NoError(t, restart(t, h, spec))
	require.Equal(t, "String\n", h.Server.Query(t, "SELECT type FROM system.columns WHERE table = 'orders' AND name = 'currency'"))
	require.Equal(t, "o1\t5.00\t\n", h.Server.Query(t, "SELECT id, total, currency FROM orders FINAL"), "old rows get the default")
}

func TestMigrationRefusesATypeChangeAndARemovedColumn(t *testing.T) {
	t.Parallel()
	h := NewHarness(t, ordersSpec(""))
	start(t, h.Sink)

	spec := ordersSpec("")
	spec.ClickHouse.Tables["orders"].Columns["total"].Type = "Float64"
	spec.ClickHouse.Tables["orders"].Columns["currency"] = &config.ClickHouseColumn{Pointer: "/currency", Type: "String"}
	err := restart(t, h, spec)
	var me *MigrationError
	require.ErrorAs(t, err, &me)
	require.Equal(t, MigrationError{Table: "default.orders", Column: "total"}, MigrationError{Table: me.Table, Column: me.Column})
	require.Contains(t, me.Reason, "Decimal(12, 2)")
	require.Contains(t, me.Reason, "MODIFY COLUMN")
	require.Equal(t, "", h.Server.Query(t, "SELECT name FROM system.columns WHERE table = 'orders' AND name = 'currency'"),
		"a refused migration changes nothing")
	_, refused := sink.Refused(err)
	require.False(t, refused)

	spec = ordersSpec("")
	delete(spec.ClickHouse.Tables["orders"].Columns, "qty")
	err = restart(t, h, spec)
	require.ErrorAs(t, err, &me)
	require.Equal(t, "qty", me.Column)
	require.Contains(t, me.Reason, "DROP COLUMN")

	// A column an analyst computes from the others is theirs, not a removed one.
	h.Server.Query(t, "ALTER TABLE orders ADD COLUMN big UInt8 MATERIALIZED total > 100")
	require.NoError(t, restart(t, h, ordersSpec("")))
}

func TestEventsTableMigration(t *testing.T) {
	t.Parallel()
	h := NewHarness(t, nil)
	// An older layout without traceparent, with an analyst's own column.
	h.Server.Query(t, "CREATE TABLE weir_events (id String, type String, source String, subject String, time DateTime('UTC'), "+
		"time_ms UInt16, partitionkey String, received_at DateTime, data String, dataschema String, mine UInt8) "+
		"ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(time) ORDER BY (type, time, id)")
	start(t, h.Sink)
	require.Equal(t, "String\n", h.Server.Query(t, "SELECT type FROM system.columns WHERE table = 'weir_events' AND name = 'traceparent'"))

	h.Server.Query(t, "CREATE TABLE wrong (id String, type String, source String, subject String, time DateTime, "+
		"time_ms UInt32, partitionkey String, received_at DateTime, data String, dataschema String, traceparent String) "+
		"ENGINE = MergeTree PARTITION BY toYYYYMM(time) ORDER BY (type, time, id)")
	spec := &config.Sink{Types: []string{">"}, ClickHouse: &config.ClickHouseSink{Table: "wrong"}}
	err := restart(t, h, spec)
	var columns, engines []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var me *MigrationError
		require.True(t, errors.As(e, &me))
		if me.Column == "" {
			engines = append(engines, me.Reason)
		} else {
			columns = append(columns, me.Column)
		}
	}
	require.Equal(t, []string{"time_ms"}, columns)
	require.Len(t, engines, 1)
	require.Contains(t, engines[0], "ReplacingMergeTree")
}
