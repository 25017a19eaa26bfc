package mysql

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/cdc"
	"github.com/weir-dev/weir/internal/weirtest"
)

// TestColumnNamesAcrossAnAlterWhileBehind: the reader is stopped while rows
// are written, the table is altered (a column added, another dropped) and
// more rows are written. Started again, it reads every row with the columns
// it was written with, from the binlog's own column names, although the
// catalog now describes only the altered table.
func TestColumnNamesAcrossAnAlterWhileBehind(t *testing.T) {
	t.Parallel()
	b := setup(t, "never", "CREATE TABLE shop.orders (id INT PRIMARY KEY, a VARCHAR(10), b INT UNSIGNED NOT NULL)")
	b.db.Exec(t, "INSERT INTO shop.orders VALUES (1, 'x', 10)")
	b.rec.waitN(t, 1)
	b.stopOnceSaved(t)

	b.db.Exec(t,
		"INSERT INTO shop.orders VALUES (2, 'y', 20)",
		"UPDATE shop.orders SET b = 11 WHERE id = 1",
		"ALTER TABLE shop.orders ADD COLUMN c DATE, DROP COLUMN a",
		"INSERT INTO shop.orders VALUES (3, 30, '2026-01-02')",
		"UPDATE shop.orders SET b = 21 WHERE id = 2",
		"DELETE FROM shop.orders WHERE id = 1")
	_, rec := newReader(t, b.kv, spec(b.db, "never", "shop.orders"), false)
	cs := rec.waitN(t, 5)
	require.Len(t, cs, 5)
	type row = map[string]any
	want := []struct {
		op            string
		before, after row
	}{
		{"c", nil, row{"id": json.Number("2"), "a": "y", "b": json.Number("20")}},
		{"u", row{"id": json.Number("1"), "a": "x", "b": json.Number("10")}, row{"id": json.Number("1"), "a": "x", "b": json.Number("11")}},
		{"c", nil, row{"id": json.Number("3"), "b": json.Number("30"), "c": "2026-01-02"}},
		{"u", row{"id": json.Number("2"), "b": json.Number("20"), "c": nil}, row{"id": json.Number("2"), "b": json.Number("21"), "c": nil}},
		{"d", row{"id": json.Number("1"), "b": json.Number("11"), "c": nil}, nil},
	}
	for i, w := range want {
		require.Equal(t, w.op, cs[i].Value.Op, "change %d", i)
		require.Equal(t, w.before, obj(t, cs[i].Value.Before), "change %d before", i)
		require.Equal(t, w.after, obj(t, cs[i].Value.After), "change %d after", i)
	}
	require.Equal(t, []any{int64(1)}, cs[4].Key)
	// the contract shapes follow the table: before the ALTER, then after it
	require.Len(t, rec.tables, 2)
	require.Equal(t, []cdc.Column{{Name: "id", Type: "int", Key: true, NotNull: true}, {Name: "a", Type: "varchar"},
		{Name: "b", Type: "int", NotNull: true}}, rec.tables[0].Columns)
	require.Equal(t, []cdc.Column{{Name: "id", Type: "int", Key: true, NotNull: true}, {Name: "b", Type: "int", NotNull: true},
		{Name: "c", Type: "date"}}, rec.tables[1].Columns)
	require.Same(t, rec.tables[0], cs[1].Table)
	require.Same(t, rec.tables[1], cs[2].Table)
}

// TestWarnsWithoutRowMetadata: a reader starting on a server whose binlog
// does not name columns says so in the log, with the setting to change.
func TestWarnsWithoutRowMetadata(t *testing.T) {
	t.Parallel()
	m := weirtest.StartMariaDB(t)
	m.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY)")
	kv := startKV(t)
	start := func() string {
		var out weirtest.LockedBuffer
		r, err := New("shop", spec(m, "never", "shop.orders"), &recorder{}, kv, slog.New(slog.NewTextHandler(&out, nil)))
		require.NoError(t, err)
		require.NoError(t, r.Start(context.Background()))
		require.NoError(t, r.Stop(context.Background()))
		return out.String()
	}
	require.NotContains(t, start(), "binlog_row_metadata", "FULL: no warning")
	m.Exec(t, "SET GLOBAL binlog_row_metadata = MINIMAL")
	log := start()
	require.Contains(t, log, "level=WARN")
	require.Contains(t, log, "binlog_row_metadata=MINIMAL")
	require.Contains(t, log, "set binlog_row_metadata=FULL")
}
