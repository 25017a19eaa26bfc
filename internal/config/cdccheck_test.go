package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/field"
)

func TestCDCDefaultsFromYAML(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(`
cdc:
  Orders-DB:
    postgres:
      dsn: postgres://weir@localhost/shop
      tables:
        orders: {}
        billing.invoices:
          columns: {exclude: [card_number]}
  shop:
    mysql:
      dsn: weir:pw@tcp(localhost:3306)/
      server_id: 7
      tables:
        shop.orders: {}
`), func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	pg := c.CDC["Orders-DB"]
	require.Equal(t, "db", pg.Prefix)
	require.Equal(t, "string", pg.Numeric)
	require.Equal(t, "postgres", pg.Kind())
	require.Equal(t, "weir_orders_db", pg.Postgres.Slot)
	require.Equal(t, "weir_orders_db", pg.Postgres.Publication)
	require.Equal(t, "initial", pg.Postgres.Snapshot)
	require.Equal(t, 10*time.Second, pg.Postgres.Heartbeat.D())
	require.Equal(t, int64(1<<30), pg.Postgres.MaxRetainedWAL)
	require.Equal(t, "off", pg.Postgres.DDL)
	require.Contains(t, pg.Postgres.Tables, "public.orders")
	require.Contains(t, pg.Postgres.Tables, "billing.invoices")
	my := c.CDC["shop"]
	require.Equal(t, "mysql", my.Kind())
	require.Equal(t, "initial", my.MySQL.Snapshot)
}

func goodPG() *CDC {
	return &CDC{Postgres: &PostgresCDC{DSN: "postgres://localhost/db", Tables: map[string]*CDCTable{"orders": {}}}}
}

func goodMy() *CDC {
	return &CDC{MySQL: &MySQLCDC{DSN: "u:p@tcp(h:3306)/", ServerID: 9, Tables: map[string]*CDCTable{"shop.orders": {}}}}
}

func TestCDCValidateNamesTheField(t *testing.T) {
	t.Parallel()
	excl := &CDCTable{}
	excl.Columns.Exclude = []string{"ok", "bad col"}
	for _, c := range []struct {
		name string
		make func() *CDC
		want string
	}{
		{"no section", func() *CDC { return &CDC{} }, "cdc.x"},
		{"both", func() *CDC { c := goodPG(); c.MySQL = goodMy().MySQL; return c }, "cdc.x.mysql"},
		{"prefix", func() *CDC { c := goodPG(); c.Prefix = "a b"; return c }, "cdc.x.prefix"},
		{"numeric", func() *CDC { c := goodPG(); c.Numeric = "float"; return c }, "cdc.x.numeric"},
		{"pg dsn", func() *CDC { c := goodPG(); c.Postgres.DSN = " "; return c }, "cdc.x.postgres.dsn"},
		{"slot", func() *CDC { c := goodPG(); c.Postgres.Slot = "Weir-Slot"; return c }, "cdc.x.postgres.slot"},
		{"publication", func() *CDC { c := goodPG(); c.Postgres.Publication = "1pub"; return c }, "cdc.x.postgres.publication"},
		{"long slot", func() *CDC {
			c := goodPG()
			c.Postgres.Slot = "s123456789012345678901234567890123456789012345678901234567890123"
			return c
		}, "cdc.x.postgres.slot"},
		{"snapshot", func() *CDC { c := goodPG(); c.Postgres.Snapshot = "always"; return c }, "cdc.x.postgres.snapshot"},
		{"heartbeat", func() *CDC { c := goodPG(); c.Postgres.Heartbeat = Duration(500 * time.Millisecond); return c }, "cdc.x.postgres.heartbeat"},
		{"wal", func() *CDC { c := goodPG(); c.Postgres.MaxRetainedWAL = -1; return c }, "cdc.x.postgres.max_retained_wal"},
		{"ddl", func() *CDC { c := goodPG(); c.Postgres.DDL = "event"; return c }, "cdc.x.postgres.ddl"},
		{"no tables", func() *CDC { c := goodPG(); c.Postgres.Tables = nil; return c }, "cdc.x.postgres.tables"},
		{"quoted table", func() *CDC {
			c := goodPG()
			c.Postgres.Tables = map[string]*CDCTable{`public.Order Lines`: {}}
			return c
		}, "cdc.x.postgres.tables.public.Order Lines"},
		{"duplicate table", func() *CDC {
			c := goodPG()
			c.Postgres.Tables = map[string]*CDCTable{"orders": {}, "public.orders": {}}
			return c
		}, "cdc.x.postgres.tables.orders"},
		{"exclude", func() *CDC { c := goodPG(); c.Postgres.Tables = map[string]*CDCTable{"orders": excl}; return c }, "cdc.x.postgres.tables.public.orders.columns.exclude[1]"},
		{"type too long", func() *CDC {
			c := goodPG()
			c.Prefix = strings.Repeat("p", 120)
			c.Postgres.Tables = map[string]*CDCTable{"s2345678901234567890123456789012345678901234567890.t2345678901234567890123456789012345678901234567890": {}}
			return c
		}, "cdc.x.postgres.tables.s2345678901234567890123456789012345678901234567890.t2345678901234567890123456789012345678901234567890"},
		{"my dsn", func() *CDC { c := goodMy(); c.MySQL.DSN = ""; return c }, "cdc.x.mysql.dsn"},
		{"server id", func() *CDC { c := goodMy(); c.MySQL.ServerID = 0; return c }, "cdc.x.mysql.server_id"},
		{"my table", func() *CDC { c := goodMy(); c.MySQL.Tables = map[string]*CDCTable{"orders": {}}; return c }, "cdc.x.mysql.tables.orders"},
		{"my snapshot", func() *CDC { c := goodMy(); c.MySQL.Snapshot = "x"; return c }, "cdc.x.mysql.snapshot"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := c.make()
			s.WithDefaults("x")
			err := s.Validate("cdc.x")
			var fe *field.Error
			require.True(t, errors.As(err, &fe), "want a field error, got %v", err)
			require.Equal(t, c.want, fe.Path, fe.Reason)
		})
	}
	for _, good := range []*CDC{goodPG(), goodMy()} {
		good.WithDefaults("x")
		require.NoError(t, good.Validate("cdc.x"))
	}
}

func TestCDCNameAndEmptyInConfig(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{"bad name!": "cdc.bad name!", "empty": "cdc.empty"} {
		c := &Config{CDC: map[string]*CDC{name: nil}}
		if name != "empty" {
			c.CDC[name] = goodPG()
		}
		err := c.validateCDC()
		var fe *field.Error
		require.True(t, errors.As(err, &fe), "%v", err)
		require.Equal(t, want, fe.Path)
	}
}
