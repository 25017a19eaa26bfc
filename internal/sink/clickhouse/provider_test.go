package clickhouse

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/sink"
)

func validSpec() *config.Sink {
	return &config.Sink{Types: []string{"order.*"}, ClickHouse: &config.ClickHouseSink{
		Addr: "clickhouse",
		Tables: map[string]*config.ClickHouseTable{"orders": {Type: "order.created", Columns: map[string]*config.ClickHouseColumn{
			"total": {Pointer: "/total", Type: "Decimal(12,2)"},
		}}},
	}}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	s, err := New(validSpec(), sink.Deps{Name: "a"})
	require.NoError(t, err)
	require.Equal(t, "clickhouse:9000", s.addr)
	require.Equal(t, "default", s.database)
	require.Equal(t, "weir_events", s.events)
	require.Equal(t, sink.Batching{MaxRows: 10000, MaxWait: time.Second, MaxBytes: 16 << 20}, s.Batching())
	require.Equal(t, "Decimal(12, 2)", s.tables[0].cols[0].typ.String())

	var p sink.Provider = Provider{}
	require.Equal(t, "clickhouse", p.Kind())
	_, err = sink.NewRegistry(p).New(validSpec(), sink.Deps{})
	require.NoError(t, err)
}

func TestNewRefusesNamingTheField(t *testing.T) {
	t.Parallel()
	col := func(f func(c *config.ClickHouseColumn)) func(*config.Sink) {
		return func(s *config.Sink) { f(s.ClickHouse.Tables["orders"].Columns["total"]) }
	}
	long := strings.Repeat("a", 65)
	for _, c := range []struct {
		path string
		edit func(*config.Sink)
	}{
		{"clickhouse", func(s *config.Sink) { s.ClickHouse = nil }},
		{"clickhouse.addr", func(s *config.Sink) { s.ClickHouse.Addr = "" }},
		{"clickhouse.addr", func(s *config.Sink) { s.ClickHouse.Addr = "h:99999" }},
		{"clickhouse.addr", func(s *config.Sink) { s.ClickHouse.Addr = ":9000" }},
		{"clickhouse.database", func(s *config.Sink) { s.ClickHouse.Database = "a`; DROP" }},
		{"clickhouse.table", func(s *config.Sink) { s.ClickHouse.Table = long }},
		{"clickhouse.batch.max_rows", func(s *config.Sink) { s.ClickHouse.Batch.MaxRows = MaxRowsLimit + 1 }},
		{"clickhouse.batch.max_wait", func(s *config.Sink) { s.ClickHouse.Batch.MaxWait = config.Duration(time.Hour) }},
		{"clickhouse.tables", func(s *config.Sink) {
			for i := range MaxTables + 1 {
				s.ClickHouse.Tables["t"+strings.Repeat("x", i)] = &config.ClickHouseTable{}
			}
		}},
		{"clickhouse.tables.weir_events", func(s *config.Sink) {
			s.ClickHouse.Tables["weir_events"] = s.ClickHouse.Tables["orders"]
		}},
		{"clickhouse.tables.bad-name", func(s *config.Sink) {
			s.ClickHouse.Tables["bad-name"] = s.ClickHouse.Tables["orders"]
		}},
		{"clickhouse.tables.orders.type", func(s *config.Sink) { s.ClickHouse.Tables["orders"].Type = "user.created" }},
		{"clickhouse.tables.orders.type", func(s *config.Sink) { s.ClickHouse.Tables["orders"].Type = "order.*" }},
		{"clickhouse.tables.orders.columns", func(s *config.Sink) { s.ClickHouse.Tables["orders"].Columns = nil }},
		{"clickhouse.tables.orders.columns.id", func(s *config.Sink) {
			s.ClickHouse.Tables["orders"].Columns["id"] = &config.ClickHouseColumn{Pointer: "/id", Type: "String"}
		}},
		{"clickhouse.tables.orders.columns.a b", func(s *config.Sink) {
			s.ClickHouse.Tables["orders"].Columns["a b"] = &config.ClickHouseColumn{Pointer: "/id", Type: "String"}
		}},
		{"clickhouse.tables.orders.columns.total.pointer", col(func(c *config.ClickHouseColumn) { c.Pointer = "total" })},
		{"clickhouse.tables.orders.columns.total.pointer", col(func(c *config.ClickHouseColumn) { c.Pointer = "/a~2" })},
		{"clickhouse.tables.orders.columns.total.type", col(func(c *config.ClickHouseColumn) { c.Type = "Decimal(40, 2)" })},
		{"clickhouse.tables.orders.columns.total.type", col(func(c *config.ClickHouseColumn) { c.Type = "String) ENGINE = Log; --" })},
		{"clickhouse.tables.orders.columns.total.type", col(func(c *config.ClickHouseColumn) { c.Type = "Array(String)" })},
	} {
		spec := validSpec()
		c.edit(spec)
		_, err := New(spec, sink.Deps{})
		var fe *field.Error
		require.ErrorAs(t, err, &fe, c.path)
		require.Equal(t, c.path, fe.Path, fe.Error())
	}
}

func TestLifecycleWithoutServer(t *testing.T) {
	t.Parallel()
	s, err := New(validSpec(), sink.Deps{})
	require.NoError(t, err)
	ctx := context.Background()
	require.ErrorIs(t, s.Write(ctx, []sink.Record{record("a", "order.created", `{}`)}), ErrNotStarted)
	require.NoError(t, s.Stop(ctx), "stop before start")
	require.NoError(t, s.Stop(ctx), "stop twice")
	require.ErrorIs(t, s.Start(ctx), ErrStopped)
	require.NoError(t, s.Write(ctx, nil), "an empty batch needs no server")
}

func TestStartUnreachableIsTransient(t *testing.T) {
	t.Parallel()
	spec := validSpec()
	spec.ClickHouse.Addr = freeAddr(t)
	s, err := New(spec, sink.Deps{})
	require.NoError(t, err)
	defer s.Stop(context.Background())
	err = s.Start(context.Background())
	require.Error(t, err)
	var me *MigrationError
	require.False(t, errors.As(err, &me))
	_, refused := sink.Refused(err)
	require.False(t, refused)
}
