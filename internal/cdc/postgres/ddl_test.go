package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/cdc"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

// tablesSeen is a copy of the shapes the recorder was told of.
func (e *recorder) tablesSeen() []*cdc.Table {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*cdc.Table(nil), e.tables...)
}

// waitTables waits until n shapes were told and returns them.
func (e *recorder) waitTables(t *testing.T, n int) []*cdc.Table {
	t.Helper()
	weirtest.Eventually(t, 30*time.Second, func() error {
		if got := len(e.tablesSeen()); got < n {
			return fmt.Errorf("%d of %d table shapes", got, n)
		}
		return nil
	})
	return e.tablesSeen()
}

// ddlObjectsIn lists the event triggers and event-trigger functions of the
// database, sorted.
func ddlObjectsIn(t *testing.T, pg *weirtest.Postgres) [][]string {
	t.Helper()
	return pg.Exec(t, "", `SELECT 'event trigger ' || evtname || ' ' || evtevent FROM pg_event_trigger
UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE prorettype = 'event_trigger'::regtype AND proname LIKE 'weir%'
ORDER BY 1`)
}

// With ddl: trigger an ALTER TABLE registers the table's new shape with no
// later row change; reports of other sources, other prefixes and other
// tables are ignored; the next row change finds the same shape and
// registers nothing more.
func TestDDLTriggerReportsAChangedTableAtOnce(t *testing.T) {
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE t1 (id int PRIMARY KEY, status text NOT NULL); INSERT INTO t1 VALUES (1, 'new')`)
	spec := e.spec("initial", "t1")
	spec.Postgres.DDL = config.DDLTrigger
	rec := &recorder{}
	e.start(t, spec, rec)
	rec.waitFor(t, 1)
	require.Equal(t, [][]string{{"event trigger weir_shop_ddl ddl_command_end"}, {"event trigger weir_shop_ddl_drop sql_drop"}, {"function weir_shop_ddl"}},
		ddlObjectsIn(t, e.pg))
	require.Len(t, rec.tablesSeen(), 1, "the snapshot's shape")

	e.pg.Exec(t, "", `ALTER TABLE t1 ADD COLUMN total numeric`)
	ts := rec.waitTables(t, 2)
	require.Equal(t, []cdc.Column{{Name: "id", Type: "int4", Key: true, NotNull: true}, {Name: "status", Type: "text", NotNull: true}, {Name: "total", Type: "numeric"}}, ts[1].Columns)

	// None of these is a report of this source on a captured table.
	e.pg.Exec(t, "", `SELECT pg_logical_emit_message(true, 'other', '{"slot":"weir_shop"}');
SELECT pg_logical_emit_message(true, 'weir.ddl', '{"slot":"weir_other","objects":[{"type":"table","schema":"public","table":"t1","columns":[]}]}');
SELECT pg_logical_emit_message(true, 'weir.ddl', 'not json');
CREATE TABLE other (x int);
ALTER TABLE t1 DROP COLUMN status`)
	ts = rec.waitTables(t, 3)
	require.Len(t, ts, 3)
	require.Equal(t, []cdc.Column{{Name: "id", Type: "int4", Key: true, NotNull: true}, {Name: "total", Type: "numeric"}}, ts[2].Columns)
	require.Equal(t, 1, rec.count(), "no row change yet")

	e.pg.Exec(t, "", `INSERT INTO t1 VALUES (2, 9.5)`)
	cs := rec.waitFor(t, 2)
	require.Equal(t, `{"id":2,"total":"9.5"}`, string(cs[1].Value.After))
	require.True(t, sameShape(ts[2], cs[1].Table))
	require.Len(t, rec.tablesSeen(), 3, "the relation message found the reported shape")
}

// A table without a primary key keeps its replica identity as its key
// through a report, as a relation message gives it.
func TestDDLReportKeepsTheReplicaIdentity(t *testing.T) {
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE log (a int, b text); ALTER TABLE log REPLICA IDENTITY FULL`)
	spec := e.spec("", "log")
	spec.Postgres.DDL = config.DDLTrigger
	rec := &recorder{}
	e.start(t, spec, rec)
	e.pg.Exec(t, "", `INSERT INTO log VALUES (1, 'x')`)
	rec.waitFor(t, 1)
	e.pg.Exec(t, "", `ALTER TABLE log ADD COLUMN c int`)
	ts := rec.waitTables(t, 2)
	require.Equal(t, []cdc.Column{{Name: "a", Type: "int4", Key: true, NotNull: true}, {Name: "b", Type: "text", Key: true, NotNull: true}, {Name: "c", Type: "int4", Key: true, NotNull: true}}, ts[1].Columns)
	e.pg.Exec(t, "", `INSERT INTO log VALUES (2, 'y', 3)`)
	rec.waitFor(t, 2)
	require.Len(t, rec.tablesSeen(), 2)
}

// A report in a transaction of its own does not move the slot past a
// change the bus has not confirmed: a new reader gets the change again.
func TestDDLReportKeepsConfirmOrder(t *testing.T) {
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE ev (id int PRIMARY KEY)`)
	spec := e.spec("", "ev")
	spec.Postgres.DDL = config.DDLTrigger
	rec1 := &recorder{hold: true}
	r1 := e.start(t, spec, rec1)
	e.pg.Exec(t, "", `INSERT INTO ev VALUES (1)`)
	first := rec1.waitFor(t, 1)
	e.pg.Exec(t, "", `ALTER TABLE ev ADD COLUMN note text`)
	rec1.waitTables(t, 2)
	require.NoError(t, r1.Stop(context.Background()))
	require.Zero(t, r1.confirmed.Load(), "nothing was confirmed")

	rec2 := &recorder{}
	e.start(t, spec, rec2)
	again := rec2.waitFor(t, 1)
	require.Equal(t, first[0].ID, again[0].ID)
	ts := rec2.waitTables(t, 2)
	require.Equal(t, "note", ts[1].Columns[1].Name, "the report comes again after the change")
}

// Without the option nothing is created; with it the objects are made
// once, and turning it off or dropping the source removes them.
func TestDDLTriggerIsCreatedOnlyWhenAskedAndDropRemovesIt(t *testing.T) {
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE TABLE ev (id int PRIMARY KEY)`)
	run := func(ddl string) *Reader {
		spec := e.spec("", "ev")
		spec.Postgres.DDL = ddl
		r := e.start(t, spec, &recorder{})
		require.NoError(t, r.Stop(context.Background()))
		return r
	}
	run(config.DDLOff)
	require.Empty(t, ddlObjectsIn(t, e.pg))

	run(config.DDLTrigger)
	made := ddlObjectsIn(t, e.pg)
	require.Len(t, made, 3)
	oid := e.pg.Exec(t, "", `SELECT oid FROM pg_proc WHERE proname = 'weir_shop_ddl'`)
	run(config.DDLTrigger)
	require.Equal(t, oid, e.pg.Exec(t, "", `SELECT oid FROM pg_proc WHERE proname = 'weir_shop_ddl'`), "a second start changes nothing")

	run(config.DDLOff)
	require.Empty(t, ddlObjectsIn(t, e.pg), "ddl: off removes what an earlier start made")

	r := run(config.DDLTrigger)
	require.Len(t, ddlObjectsIn(t, e.pg), 3)
	removed, err := r.Drop(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"replication slot weir_shop", "event trigger weir_shop_ddl", "event trigger weir_shop_ddl_drop",
		"function public.weir_shop_ddl()", "publication weir_shop", "saved snapshot progress"}, removed)
	require.Empty(t, ddlObjectsIn(t, e.pg))
}

// A role that is not a superuser cannot create event triggers: the error
// names the privilege and how to grant it, and nothing is left behind.
func TestDDLTriggerNeedsASuperuser(t *testing.T) {
	e := newEnv(t)
	e.pg.Exec(t, "", `CREATE ROLE app LOGIN REPLICATION; GRANT CREATE ON DATABASE postgres TO app; GRANT CREATE ON SCHEMA public TO app;
CREATE TABLE t1 (id int PRIMARY KEY); ALTER TABLE t1 OWNER TO app`)
	spec := e.spec("", "t1")
	spec.Postgres.DSN = strings.Replace(e.pg.DSN(), "postgres@", "app@", 1)
	spec.Postgres.DDL = config.DDLTrigger
	r, err := New("shop", spec, &recorder{}, e.kv, weirtest.Logger(t))
	require.NoError(t, err)
	err = r.Start(context.Background())
	require.ErrorIs(t, err, ErrPrivilege)
	var pe *PrivilegeError
	require.True(t, errors.As(err, &pe), "%v", err)
	require.Equal(t, "app", pe.Role)
	require.Contains(t, pe.Privilege, "superuser")
	require.True(t, strings.HasPrefix(pe.Fix, `ALTER ROLE "app" WITH SUPERUSER;`), pe.Fix)
	require.NoError(t, r.Stop(context.Background()))
	require.Empty(t, ddlObjectsIn(t, e.pg), "the refused transaction left nothing")
	require.Empty(t, e.pg.Exec(t, "", `SELECT 1 FROM pg_replication_slots`))

	// The same role without the option starts.
	spec.Postgres.DDL = config.DDLOff
	rec := &recorder{}
	e.start(t, spec, rec)
}

// Names stay within PostgreSQL's 63 bytes and apart for long slots.
func TestDDLNamesFitIdentifiers(t *testing.T) {
	t.Parallel()
	require.Equal(t, ddlObjects{function: "weir_shop_ddl", trigger: "weir_shop_ddl", dropTrigger: "weir_shop_ddl_drop"}, ddlNames("weir_shop"))
	a := ddlNames(strings.Repeat("s", 60) + "_a")
	b := ddlNames(strings.Repeat("s", 60) + "_b")
	for _, n := range []ddlObjects{a, b} {
		require.LessOrEqual(t, len(n.dropTrigger), 63)
		require.LessOrEqual(t, len(n.trigger), 63)
	}
	require.NotEqual(t, a.trigger, b.trigger)
	require.NotEqual(t, a.trigger, a.dropTrigger)
}
