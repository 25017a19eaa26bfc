package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/field"
)

// goodSink is a ClickHouse sink that passes validation once defaulted.
func goodSink() *Sink {
	return &Sink{Types: []string{"order.*"}, ClickHouse: &ClickHouseSink{Addr: "localhost:9000",
		Tables: map[string]*ClickHouseTable{"orders": {Type: "order.created", Columns: map[string]*ClickHouseColumn{
			"total": {Pointer: "/total", Type: "Decimal(12,2)"},
			"tz":    {Pointer: "/a~1b", Type: "DateTime64(3, 'UTC')"},
		}}}}}
}

func TestSinkDefaults(t *testing.T) {
	t.Parallel()
	s := goodSink()
	s.WithDefaults()
	require.Equal(t, "all", s.Start)
	c := s.ClickHouse
	require.Equal(t, "default", c.Database)
	require.Equal(t, "weir_events", c.Table)
	require.Equal(t, "default", c.User)
	require.Equal(t, 10000, c.Batch.MaxRows)
	require.Equal(t, DefaultSinkBytes, c.Batch.MaxBytes)
	require.Equal(t, time.Second, c.Batch.MaxWait.D())
	require.NoError(t, s.Validate("sinks.orders"))
}

func TestSinkValidateNamesTheField(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		change func(*Sink)
		want   string
	}{
		{"no types", func(s *Sink) { s.Types = nil }, "types"},
		{"bad pattern", func(s *Sink) { s.Types = []string{"a..b"} }, "types[0]"},
		{"partial overlap", func(s *Sink) { s.Types = []string{"a.*.c", "a.b.*"} }, "types[1]"},
		{"filter", func(s *Sink) { s.Filter = "data.total >" }, "filter"},
		{"start", func(s *Sink) { s.Start = "now" }, "start"},
		{"no provider", func(s *Sink) { s.ClickHouse = nil }, ""},
		{"no addr", func(s *Sink) { s.ClickHouse.Addr = "" }, "clickhouse.addr"},
		{"addr without port", func(s *Sink) { s.ClickHouse.Addr = "localhost" }, "clickhouse.addr"},
		{"addr bad port", func(s *Sink) { s.ClickHouse.Addr = "localhost:99999" }, "clickhouse.addr"},
		{"database", func(s *Sink) { s.ClickHouse.Database = "a;drop" }, "clickhouse.database"},
		{"table", func(s *Sink) { s.ClickHouse.Table = "1x" }, "clickhouse.table"},
		{"rows low", func(s *Sink) { s.ClickHouse.Batch.MaxRows = -1 }, "clickhouse.batch.max_rows"},
		{"rows high", func(s *Sink) { s.ClickHouse.Batch.MaxRows = MaxSinkRows + 1 }, "clickhouse.batch.max_rows"},
		{"bytes low", func(s *Sink) { s.ClickHouse.Batch.MaxBytes = MinSinkBytes - 1 }, "clickhouse.batch.max_bytes"},
		{"bytes high", func(s *Sink) { s.ClickHouse.Batch.MaxBytes = MaxSinkBytes + 1 }, "clickhouse.batch.max_bytes"},
		{"wait low", func(s *Sink) { s.ClickHouse.Batch.MaxWait = Duration(time.Millisecond) }, "clickhouse.batch.max_wait"},
		{"wait high", func(s *Sink) { s.ClickHouse.Batch.MaxWait = Duration(2 * time.Minute) }, "clickhouse.batch.max_wait"},
		{"table name", func(s *Sink) { s.ClickHouse.Tables["x y"] = s.ClickHouse.Tables["orders"] }, "clickhouse.tables.x y"},
		{"table is the main one", func(s *Sink) { s.ClickHouse.Tables["weir_events"] = s.ClickHouse.Tables["orders"] }, "clickhouse.tables.weir_events"},
		{"empty table", func(s *Sink) { s.ClickHouse.Tables["orders"] = nil }, "clickhouse.tables.orders"},
		{"table type pattern", func(s *Sink) { s.ClickHouse.Tables["orders"].Type = "order.*" }, "clickhouse.tables.orders.type"},
		{"table without type", func(s *Sink) { s.ClickHouse.Tables["orders"].Type = "" }, "clickhouse.tables.orders.type"},
		{"no columns", func(s *Sink) { s.ClickHouse.Tables["orders"].Columns = nil }, "clickhouse.tables.orders.columns"},
		{"column name", func(s *Sink) {
			s.ClickHouse.Tables["orders"].Columns["a-b"] = &ClickHouseColumn{Pointer: "/a", Type: "String"}
		}, "clickhouse.tables.orders.columns.a-b"},
		{"pointer", func(s *Sink) { s.ClickHouse.Tables["orders"].Columns["total"].Pointer = "total" }, "clickhouse.tables.orders.columns.total.pointer"},
		{"pointer escape", func(s *Sink) { s.ClickHouse.Tables["orders"].Columns["total"].Pointer = "/a~2" }, "clickhouse.tables.orders.columns.total.pointer"},
		{"no column type", func(s *Sink) { s.ClickHouse.Tables["orders"].Columns["total"].Type = "" }, "clickhouse.tables.orders.columns.total.type"},
		{"column type ends the DDL", func(s *Sink) { s.ClickHouse.Tables["orders"].Columns["total"].Type = "String) ENGINE = Log" }, "clickhouse.tables.orders.columns.total.type"},
		{"column type statement", func(s *Sink) { s.ClickHouse.Tables["orders"].Columns["total"].Type = "String; DROP TABLE x" }, "clickhouse.tables.orders.columns.total.type"},
		{"column type quote", func(s *Sink) { s.ClickHouse.Tables["orders"].Columns["total"].Type = "Enum8('a)" }, "clickhouse.tables.orders.columns.total.type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := goodSink()
			s.WithDefaults()
			c.change(s)
			var fe *field.Error
			require.ErrorAs(t, s.Validate("sinks.orders"), &fe)
			require.Equal(t, field.Join("sinks.orders", c.want), fe.Path)
			require.NotEmpty(t, fe.Reason)
		})
	}
}

func TestConfigValidatesSinks(t *testing.T) {
	t.Parallel()
	c := &Config{Sinks: map[string]*Sink{"bad name!": goodSink()}}
	c.WithDefaults()
	var fe *field.Error
	require.ErrorAs(t, c.Validate(), &fe)
	require.Equal(t, "sinks.bad name!", fe.Path)

	c = &Config{Sinks: map[string]*Sink{"orders": {Types: []string{"order.*"}, ClickHouse: &ClickHouseSink{}}}}
	c.WithDefaults()
	require.ErrorAs(t, c.Validate(), &fe)
	require.Equal(t, "sinks.orders.clickhouse.addr", fe.Path)

	c = &Config{Sinks: map[string]*Sink{"orders": nil}}
	c.WithDefaults()
	require.ErrorAs(t, c.Validate(), &fe)
	require.Equal(t, "sinks.orders", fe.Path)
}

func FuzzColumnType(f *testing.F) {
	for _, s := range []string{"String", "Decimal(12,2)", "DateTime64(3, 'UTC')", "Nullable(String)", "String)", "(", "'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validColumnType(s) != nil {
			return
		}
		// Whatever passes cannot end the column list or the statement.
		depth := 0
		quoted := false
		for _, r := range s {
			switch {
			case r == ';' || r == '`' || r == '"' || r == '\\':
				t.Fatalf("%q passed with %q", s, r)
			case r == '\'':
				quoted = !quoted
			case quoted:
			case r == '(':
				depth++
			case r == ')':
				depth--
			}
			if depth < 0 {
				t.Fatalf("%q closes more than it opens", s)
			}
		}
		if depth != 0 || quoted {
			t.Fatalf("%q is unbalanced", s)
		}
	})
}
