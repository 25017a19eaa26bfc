package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/cdc"
	"github.com/weir-dev/weir/internal/weirtest"
)

func TestInsertUpdateDeleteTruncateInCommitOrder(t *testing.T) {
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL, note text);
CREATE TABLE full_orders (id int PRIMARY KEY, status text); ALTER TABLE full_orders REPLICA IDENTITY FULL;`)
	rec := &recorder{}
	e.start(t, e.spec("", "orders", "public.full_orders"), rec)
	e.pg.Exec(t, "", `INSERT INTO orders VALUES (1, 'new', 'a')`)
	e.pg.Exec(t, "", `UPDATE orders SET status = 'paid' WHERE id = 1`)
	e.pg.Exec(t, "", `INSERT INTO full_orders VALUES (7, 'new')`)
	e.pg.Exec(t, "", `UPDATE full_orders SET status = 'paid' WHERE id = 7`)
	e.pg.Exec(t, "", `DELETE FROM orders WHERE id = 1`)
	e.pg.Exec(t, "", `TRUNCATE full_orders`)
	cs := rec.waitFor(t, 6)
	require.Len(t, cs, 6)
	ops := []string{cdc.OpCreate, cdc.OpUpdate, cdc.OpCreate, cdc.OpUpdate, cdc.OpDelete, cdc.OpTruncate}
	for i, c := range cs {
		require.Equal(t, ops[i], c.Value.Op, i)
		require.True(t, c.EndOfTx)
		require.Equal(t, "postgresql", c.Value.Source.Connector)
		require.Equal(t, "shop", c.Value.Source.Name)
		require.Equal(t, "postgres", c.Value.Source.DB)
		require.Equal(t, "public", c.Value.Source.Schema)
		require.Equal(t, "false", c.Value.Source.Snapshot)
		require.NotZero(t, c.Value.Source.LSN)
		require.NotZero(t, c.Value.Source.TxID)
		require.True(t, strings.HasPrefix(c.ID, "weir_shop:"), c.ID)
		require.True(t, strings.HasSuffix(c.ID, ":0"), c.ID)
		if i > 0 {
			require.Greater(t, c.Value.Source.LSN, cs[i-1].Value.Source.LSN)
		}
	}
	require.Equal(t, map[string]any{"id": 1.0, "status": "new", "note": "a"}, obj(t, cs[0].Value.After))
	require.Nil(t, obj(t, cs[0].Value.Before))
	require.Equal(t, []any{int64(1)}, normKey(cs[0].Key))
	// REPLICA IDENTITY DEFAULT, key unchanged: no before.
	require.Nil(t, obj(t, cs[1].Value.Before))
	require.Equal(t, "paid", obj(t, cs[1].Value.After)["status"])
	// FULL: the whole old row.
	require.Equal(t, map[string]any{"id": 7.0, "status": "new"}, obj(t, cs[3].Value.Before))
	// DEFAULT delete: the key only.
	require.Equal(t, map[string]any{"id": 1.0}, obj(t, cs[4].Value.Before))
	require.Nil(t, obj(t, cs[4].Value.After))
	require.Equal(t, "full_orders", cs[5].Value.Source.Table)
	require.Equal(t, "null", string(cs[5].Value.Before))
	require.Equal(t, "null", string(cs[5].Value.After))
	// The contract: columns, key, not-null.
	require.NotEmpty(t, rec.tables)
	tb := rec.tables[0]
	require.Equal(t, "orders", tb.Name)
	require.Equal(t, []cdc.Column{{Name: "id", Type: "int4", Key: true, NotNull: true}, {Name: "status", Type: "text", NotNull: true}, {Name: "note", Type: "text"}}, tb.Columns)
}

func normKey(k []any) []any {
	out := make([]any, len(k))
	for i, v := range k {
		if n, ok := v.(interface{ Int64() (int64, error) }); ok {
			x, _ := n.Int64()
			out[i] = x
			continue
		}
		out[i] = v
	}
	return out
}

func TestMultiRowTransactionKeepsOrderAndEndsOnce(t *testing.T) {
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE items (id int PRIMARY KEY, n int)`)
	rec := &recorder{}
	e.start(t, e.spec("", "items"), rec)
	e.pg.Exec(t, "", `BEGIN; INSERT INTO items SELECT g, g FROM generate_series(1, 50) g; UPDATE items SET n = 0 WHERE id = 3; DELETE FROM items WHERE id = 4; COMMIT`)
	cs := rec.waitFor(t, 52)
	require.Len(t, cs, 52)
	prefix := cs[0].ID[:strings.LastIndexByte(cs[0].ID, ':')]
	for i, c := range cs {
		require.Equal(t, prefix+":"+strconv.Itoa(i), c.ID)
		require.Equal(t, i == 51, c.EndOfTx, i)
	}
	require.Equal(t, cdc.OpUpdate, cs[50].Value.Op)
	require.Equal(t, cdc.OpDelete, cs[51].Value.Op)
}

func TestExcludedColumnsNeverAppear(t *testing.T) {
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE users (id int PRIMARY KEY, email text, ssn text); ALTER TABLE users REPLICA IDENTITY FULL`)
	spec := e.spec("", "users")
	spec.Postgres.Tables["users"].Columns.Exclude = []string{"ssn"}
	rec := &recorder{}
	e.start(t, spec, rec)
	e.pg.Exec(t, "", `INSERT INTO users VALUES (1, 'a@x', '123'); UPDATE users SET email = 'b@x'`)
	cs := rec.waitFor(t, 2)
	for _, c := range cs {
		require.NotContains(t, string(c.Value.After), "ssn")
		require.NotContains(t, string(c.Value.Before), "ssn")
		require.NotContains(t, string(c.Value.After), "123")
	}
	for _, col := range rec.tables[0].Columns {
		require.NotEqual(t, "ssn", col.Name)
	}
}

func TestAddedColumnCallsTableChanged(t *testing.T) {
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE t1 (id int PRIMARY KEY)`)
	rec := &recorder{}
	e.start(t, e.spec("", "t1"), rec)
	e.pg.Exec(t, "", `INSERT INTO t1 VALUES (1)`)
	rec.waitFor(t, 1)
	e.pg.Exec(t, "", `ALTER TABLE t1 ADD COLUMN name text NOT NULL DEFAULT 'x'; INSERT INTO t1 VALUES (2, 'y')`)
	cs := rec.waitFor(t, 2)
	require.Equal(t, "y", obj(t, cs[1].Value.After)["name"])
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, tb := range rec.tables {
		t.Logf("%+v", tb)
	}
	require.Len(t, rec.tables, 2)
	require.Equal(t, cdc.Column{Name: "name", Type: "text", NotNull: true}, rec.tables[1].Columns[1])
	require.Same(t, rec.tables[1], cs[1].Table)
}

func TestPrivilegeErrorNamesTheReplicationAttribute(t *testing.T) {
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE t1 (id int PRIMARY KEY); CREATE ROLE app LOGIN`)
	spec := e.spec("", "t1")
	spec.Postgres.DSN = strings.Replace(e.pg.DSN(), "postgres@", "app@", 1)
	r, err := New("shop", spec, &recorder{}, e.kv, nil)
	require.NoError(t, err)
	err = r.Start(context.Background())
	require.ErrorIs(t, err, ErrPrivilege)
	var pe *PrivilegeError
	require.True(t, errors.As(err, &pe))
	require.Equal(t, `ALTER ROLE "app" WITH REPLICATION;`, pe.Fix)
	require.NoError(t, r.Stop(context.Background()))

	e.pg.Exec(t, "", `ALTER ROLE app WITH REPLICATION`)
	r, _ = New("shop", spec, &recorder{}, e.kv, nil)
	err = r.Start(context.Background())
	require.True(t, errors.As(err, &pe), "%v", err)
	require.Contains(t, pe.Privilege, "CREATE on database")

	e.pg.Exec(t, "", `GRANT CREATE ON DATABASE postgres TO app`)
	r, _ = New("shop", spec, &recorder{}, e.kv, nil)
	err = r.Start(context.Background())
	require.True(t, errors.As(err, &pe), "%v", err)
	require.Contains(t, pe.Privilege, "ownership of public.t1")
}

// A columns.exclude naming a primary-key column is refused at start, naming
// the table and the column: the events would lose their subject.
func TestExcludingAKeyColumnIsRefused(t *testing.T) {
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE users (tenant int, id int, email text, PRIMARY KEY (tenant, id))`)
	spec := e.spec("", "users")
	spec.Postgres.Tables["users"].Columns.Exclude = []string{"email", "id"}
	r, err := New("shop", spec, &recorder{}, e.kv, weirtest.Logger(t))
	require.NoError(t, err)
	err = r.Start(context.Background())
	var ke *cdc.ExcludedKeyError
	require.ErrorAs(t, err, &ke)
	require.Equal(t, cdc.ExcludedKeyError{Table: "public.users", Column: "id"}, *ke)
	require.Contains(t, err.Error(), "tables.public.users.columns.exclude")
	require.Equal(t, [][]string{{"0"}}, e.pg.Exec(t, "", `SELECT count(*) FROM pg_replication_slots`), "nothing was created")
	require.NoError(t, r.Stop(context.Background()))
}
