package mysql

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/cdc"
	"github.com/weir-dev/weir/internal/weirtest"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func TestStreamInsertUpdateDelete(t *testing.T) {
	t.Parallel()
	b := setup(t, "never", "CREATE TABLE shop.orders (id INT PRIMARY KEY, total DECIMAL(10,2) NOT NULL, note VARCHAR(50))",
		"CREATE TABLE shop.other (id INT PRIMARY KEY)")
	b.db.Exec(t,
		"INSERT INTO shop.orders VALUES (1, 9.50, 'first')",
		"INSERT INTO shop.other VALUES (1)",
		"UPDATE shop.orders SET total = 10.25, note = NULL WHERE id = 1",
		"DELETE FROM shop.orders WHERE id = 1",
		"BEGIN; INSERT INTO shop.orders VALUES (2, 1, 'a'), (3, 2, 'b'); UPDATE shop.orders SET note = 'c' WHERE id = 2; COMMIT")
	cs := b.rec.waitN(t, 6)
	require.Len(t, cs, 6)
	ops := ""
	for _, c := range cs {
		ops += c.Value.Op
	}
	require.Equal(t, "cudccu", ops)
	require.Equal(t, map[string]any{"id": json.Number("1"), "total": "9.50", "note": "first"}, obj(t, cs[0].Value.After))
	require.Nil(t, cs[0].Value.Before)
	require.Equal(t, map[string]any{"id": json.Number("1"), "total": "10.25", "note": nil}, obj(t, cs[1].Value.After))
	require.Equal(t, "first", obj(t, cs[1].Value.Before)["note"])
	require.Nil(t, cs[2].Value.After)
	require.Equal(t, []any{int64(1)}, cs[2].Key)
	for i, c := range cs[:3] {
		require.True(t, c.EndOfTx, "change %d", i)
		require.Equal(t, "mysql", c.Value.Source.Connector)
		require.Equal(t, "shop", c.Value.Source.DB)
		require.Equal(t, "orders", c.Value.Source.Table)
		require.Equal(t, "false", c.Value.Source.Snapshot)
		require.NotEmpty(t, c.Value.Source.GTID)
		require.Equal(t, fmt.Sprintf("shop:%s:0", c.Value.Source.GTID), c.ID)
	}
	// the transaction: three changes, in order, the last one ends it
	tx := cs[3:]
	require.False(t, tx[0].EndOfTx)
	require.False(t, tx[1].EndOfTx)
	require.True(t, tx[2].EndOfTx)
	require.Equal(t, tx[0].Value.Source.GTID, tx[2].Value.Source.GTID)
	require.Equal(t, []string{"shop:" + tx[0].Value.Source.GTID + ":0", "shop:" + tx[0].Value.Source.GTID + ":1", "shop:" + tx[0].Value.Source.GTID + ":2"},
		[]string{tx[0].ID, tx[1].ID, tx[2].ID})
	require.Equal(t, 1, tx[1].Value.Source.Row)
	require.Len(t, b.rec.tables, 1)
	require.Equal(t, "orders", b.rec.tables[0].Name)
	require.Equal(t, []string{"id", "total", "note"}, []string{b.rec.tables[0].Columns[0].Name, b.rec.tables[0].Columns[1].Name, b.rec.tables[0].Columns[2].Name})
	require.True(t, b.rec.tables[0].Columns[0].Key)
	// the position is saved once confirmed
	weirtest.Eventually(t, 10*time.Second, func() error {
		e, err := b.kv.Get(context.Background(), "shop.position")
		if err != nil {
			return err
		}
		var p Position
		_ = json.Unmarshal(e.Value(), &p)
		if p.GTID != tx[2].Position.(*Position).GTID {
			return fmt.Errorf("saved %s", e.Value())
		}
		return nil
	})
	st := b.r.Status(context.Background())
	require.Equal(t, "streaming", st.State)
	require.Equal(t, float64(0), st.LagSeconds)
	require.Equal(t, int64(-1), st.RetainedBytes)
}

func TestTruncateAndAddedColumn(t *testing.T) {
	t.Parallel()
	b := setup(t, "never", "CREATE TABLE shop.orders (id INT PRIMARY KEY)")
	b.db.Exec(t, "INSERT INTO shop.orders VALUES (1)", "ALTER TABLE shop.orders ADD COLUMN note TEXT",
		"INSERT INTO shop.orders VALUES (2, 'x')", "TRUNCATE TABLE shop.orders")
	cs := b.rec.waitN(t, 3)
	require.Equal(t, cdc.OpTruncate, cs[2].Value.Op)
	require.True(t, cs[2].EndOfTx)
	require.Equal(t, map[string]any{"id": json.Number("2"), "note": "x"}, obj(t, cs[1].Value.After))
	b.rec.mu.Lock()
	defer b.rec.mu.Unlock()
	require.Len(t, b.rec.tables, 2)
	require.Len(t, b.rec.tables[1].Columns, 2)
	require.Same(t, b.rec.tables[1], cs[1].Table)
}

func TestTypes(t *testing.T) {
	t.Parallel()
	b := setup(t, "never", `CREATE TABLE shop.orders (
  id BIGINT UNSIGNED PRIMARY KEY, ti TINYINT, si SMALLINT UNSIGNED, mi MEDIUMINT, i INT,
  d DECIMAL(20,6), dn DECIMAL(5,0), f FLOAT, db DOUBLE, vc VARCHAR(300), c CHAR(3), tx TEXT, bl BLOB, vb VARBINARY(4),
  dt DATETIME(3), ts TIMESTAMP(6) NULL, da DATE, tm TIME, tm2 TIME(2), y YEAR, j JSON, e ENUM('red','green'), s SET('a','b','c'), bt BIT(10),
  secret VARCHAR(10))`)
	require.NoError(t, b.r.Stop(context.Background()))
	s := spec(b.db, "never", "shop.orders")
	s.MySQL.Tables["shop.orders"].Columns.Exclude = []string{"secret"}
	_, rec := newReader(t, startKV(t), s, false)
	time.Sleep(0) // the new reader starts at the current position
	weirtest.EventuallyTrue(t, 30*time.Second, func() bool { return rec.reader.Status(context.Background()).State == "streaming" }, "not streaming")
	b.db.Exec(t, `SET time_zone = '+00:00'`, `INSERT INTO shop.orders VALUES (18446744073709551615, -128, 65535, -8388608, -2147483648,
  -12345678901234.567891, 99999, 1.5, -2.25e100, REPEAT('é', 300), 'abc', 'long text', x'00ff10', x'0102',
  '2024-02-29 13:14:15.123', '2024-01-02 03:04:05.654321', '1999-12-31', '-838:59:59', '12:34:56.78', 2155, '{"a":[1,2,{"b":null}]}', 'green', 'a,c', b'1000000001',
  'hidden')`)
	cs := rec.waitN(t, 1)
	got := obj(t, cs[0].Value.After)
	want := map[string]any{
		"id": json.Number("18446744073709551615"), "ti": json.Number("-128"), "si": json.Number("65535"), "mi": json.Number("-8388608"), "i": json.Number("-2147483648"),
		"d": "-12345678901234.567891", "dn": "99999", "f": json.Number("1.5"), "db": json.Number("-2.25e+100"),
		"vc": string(bytes.Repeat([]byte("é"), 300)), "c": "abc", "tx": "long text", "bl": "AP8Q", "vb": "AQI=",
		"dt": "2024-02-29T13:14:15.123Z", "ts": "2024-01-02T03:04:05.654321Z", "da": "1999-12-31", "tm": "-838:59:59", "tm2": "12:34:56.78",
		"y": json.Number("2155"), "j": map[string]any{"a": []any{json.Number("1"), json.Number("2"), map[string]any{"b": nil}}},
		"e": "green", "s": "a,c", "bt": json.Number("513"),
	}
	require.Equal(t, want, got)
	rec.mu.Lock()
	for _, c := range rec.tables[0].Columns {
		require.NotEqual(t, "secret", c.Name)
	}
	rec.mu.Unlock()
}

// A reader stopped while changes wait for the bus, and a new one from the
// confirmed position: the changes read again carry the same ids, and none
// is missing.
func TestResumeFromConfirmed(t *testing.T) {
	t.Parallel()
	m := weirtest.StartMariaDB(t)
	m.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY, n INT)")
	kv := startKV(t)
	s := spec(m, "never", "shop.orders")
	r1, rec1 := newReader(t, kv, s, true)
	weirtest.EventuallyTrue(t, 30*time.Second, func() bool { return r1.Status(context.Background()).State == "streaming" }, "not streaming")
	for i := range 20 {
		m.Exec(t, fmt.Sprintf("INSERT INTO shop.orders VALUES (%d, %d), (%d, %d)", 2*i, i, 2*i+1, i))
	}
	first := rec1.waitN(t, 40)
	rec1.release(8) // 8 transactions, 16 changes, reach the bus
	weirtest.Eventually(t, 10*time.Second, func() error {
		e, err := kv.Get(context.Background(), "shop.position")
		if err != nil {
			return err
		}
		if want := first[15].Position.(*Position).GTID; !bytes.Contains(e.Value(), []byte(`"`+want+`"`)) {
			return fmt.Errorf("saved %s, want %s", e.Value(), want)
		}
		return nil
	})
	require.NoError(t, r1.Stop(context.Background()))
	m.Kill() // and the database crashes too
	m.Start()
	r2, rec2 := newReader(t, kv, s, false)
	_ = r2
	again := rec2.waitN(t, 24)
	require.Len(t, again, 24)
	for i, c := range again {
		require.Equal(t, first[16+i].ID, c.ID)
		require.Equal(t, first[16+i].Value.After, c.Value.After)
	}
	m.Exec(t, "INSERT INTO shop.orders VALUES (100, 1)")
	rec2.waitN(t, 25)
}

// Rows of a captured table dropped before the reader got to them, from a
// binlog without column names: the reader reports the table in its last
// error and does not skip the rows (it used to dereference the missing table
// and crash the process).
func TestRowsOfADroppedTable(t *testing.T) {
	t.Parallel()
	b := setup(t, "never", "CREATE TABLE shop.orders (id INT PRIMARY KEY)")
	b.db.Exec(t, "SET GLOBAL binlog_row_metadata = NO_LOG", "INSERT INTO shop.orders VALUES (1)")
	b.rec.waitN(t, 1)
	b.stopOnceSaved(t)
	b.db.Exec(t, "INSERT INTO shop.orders VALUES (2)", "DROP TABLE shop.orders")
	r, rec := newReader(t, b.kv, spec(b.db, "never", "shop.orders"), false)
	weirtest.Eventually(t, 30*time.Second, func() error {
		st := r.Status(context.Background())
		if !strings.Contains(st.LastError, "shop.orders") || !strings.Contains(st.LastError, errNoTable.Error()) {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	require.Empty(t, rec.all())
}

// With column names in the binlog (binlog_row_metadata=FULL), rows of a
// table dropped before the reader got to them are decoded from the binlog
// alone.
func TestRowsOfADroppedTableWithRowMetadata(t *testing.T) {
	t.Parallel()
	b := setup(t, "never", "CREATE TABLE shop.orders (id INT UNSIGNED PRIMARY KEY, note VARCHAR(10))")
	b.db.Exec(t, "INSERT INTO shop.orders VALUES (1, 'a')")
	b.rec.waitN(t, 1)
	b.stopOnceSaved(t)
	b.db.Exec(t, "INSERT INTO shop.orders VALUES (4294967295, 'b')", "DROP TABLE shop.orders")
	_, rec := newReader(t, b.kv, spec(b.db, "never", "shop.orders"), false)
	cs := rec.waitN(t, 1)
	require.Equal(t, map[string]any{"id": json.Number("4294967295"), "note": "b"}, obj(t, cs[0].Value.After))
	require.Equal(t, []any{uint64(4294967295)}, cs[0].Key)
	require.Len(t, rec.tables, 1)
	require.Equal(t, []cdc.Column{{Name: "id", Type: "int", Key: true, NotNull: true}, {Name: "note", Type: "varchar"}}, rec.tables[0].Columns)
}
