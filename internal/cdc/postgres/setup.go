package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/weir-dev/weir/internal/config"
)

// ErrPrivilege is what a PrivilegeError is (errors.Is).
var ErrPrivilege = errors.New("postgres: privilege lacking")

// ErrNoTable is returned when a configured table does not exist.
var ErrNoTable = errors.New("postgres: no such table")

// PrivilegeError says which privilege weir's role lacks and the SQL an
// administrator runs to grant it.
type PrivilegeError struct {
	// Role is the role weir connects as.
	Role string
	// Privilege is what is lacking: "REPLICATION", "CREATE on database
	// <db>", "ownership of <table>", "SELECT on <table>", or superuser
	// (ddl: trigger creates event triggers).
	Privilege string
	// Fix is the SQL that grants it.
	Fix string
}

func (e *PrivilegeError) Error() string {
	return fmt.Sprintf("postgres: role %q lacks %s; an administrator can run: %s", e.Role, e.Privilege, e.Fix)
}

// Is makes errors.Is(err, ErrPrivilege) true.
func (e *PrivilegeError) Is(target error) bool { return target == ErrPrivilege }

// checkPrivileges finds the first privilege weir needs and lacks: the
// REPLICATION attribute, then (when the publication is missing or misses
// tables) CREATE on the database and ownership of each table, and SELECT on
// each table for snapshots and backfills.
func (r *Reader) checkPrivileges(ctx context.Context, conn *pgx.Conn, needPublication bool) error {
	var role, db string
	var repl bool
	if err := conn.QueryRow(ctx, `SELECT current_user, current_database(), rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&role, &db, &repl); err != nil {
		return fmt.Errorf("postgres: read privileges: %w", err)
	}
	if !repl {
		return &PrivilegeError{Role: role, Privilege: "the REPLICATION attribute", Fix: fmt.Sprintf("ALTER ROLE %s WITH REPLICATION;", quoteIdent(role))}
	}
	if needPublication {
		var create bool
		if err := conn.QueryRow(ctx, `SELECT has_database_privilege(current_database(), 'CREATE')`).Scan(&create); err != nil {
			return err
		}
		if !create {
			return &PrivilegeError{Role: role, Privilege: "CREATE on database " + db + " (to create the publication)", Fix: fmt.Sprintf("GRANT CREATE ON DATABASE %s TO %s;", quoteIdent(db), quoteIdent(role))}
		}
	}
	for _, t := range r.tableNames {
		schema, name := splitTable(t)
		var owner, sel bool
		err := conn.QueryRow(ctx, `SELECT pg_has_role(c.relowner, 'USAGE'), has_table_privilege(c.oid, 'SELECT')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`, schema, name).Scan(&owner, &sel)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrNoTable, t)
		}
		if err != nil {
			return err
		}
		q := quoteIdent(schema) + "." + quoteIdent(name)
		if needPublication && !owner {
			return &PrivilegeError{Role: role, Privilege: "ownership of " + t + " (a publication FOR TABLE needs it)", Fix: fmt.Sprintf("ALTER TABLE %s OWNER TO %s; -- or create the publication as the owner: CREATE PUBLICATION %s FOR TABLE %s;", q, quoteIdent(role), quoteIdent(r.publication), q)}
		}
		if !sel {
			return &PrivilegeError{Role: role, Privilege: "SELECT on " + t, Fix: fmt.Sprintf("GRANT SELECT ON %s TO %s;", q, quoteIdent(role))}
		}
	}
	return nil
}

// ensurePublication creates the publication for the configured tables, or
// adds the tables it misses. It reports whether weir created it.
func (r *Reader) ensurePublication(ctx context.Context, conn *pgx.Conn) (created bool, err error) {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)`, r.publication).Scan(&exists); err != nil {
		return false, err
	}
	var missing []string
	if exists {
		have := map[string]bool{}
		rows, err := conn.Query(ctx, `SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = $1`, r.publication)
		if err != nil {
			return false, err
		}
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				rows.Close()
				return false, err
			}
			have[t] = true
		}
		rows.Close()
		for _, t := range r.tableNames {
			if !have[t] {
				missing = append(missing, t)
			}
		}
		if len(missing) == 0 {
			return false, r.checkPrivileges(ctx, conn, false)
		}
	}
	if err := r.checkPrivileges(ctx, conn, true); err != nil {
		return false, err
	}
	list := func(ts []string) string {
		q := make([]string, len(ts))
		for i, t := range ts {
			s, n := splitTable(t)
			q[i] = quoteIdent(s) + "." + quoteIdent(n)
		}
		return strings.Join(q, ", ")
	}
	if exists {
		_, err = conn.Exec(ctx, fmt.Sprintf("ALTER PUBLICATION %s ADD TABLE %s", quoteIdent(r.publication), list(missing)))
		return false, privilegeFromPg(err, "ALTER PUBLICATION")
	}
	_, err = conn.Exec(ctx, fmt.Sprintf("CREATE PUBLICATION %s FOR TABLE %s", quoteIdent(r.publication), list(r.tableNames)))
	return err == nil, privilegeFromPg(err, "CREATE PUBLICATION")
}

// insufficientPrivilege is PostgreSQL's SQLSTATE for a refused privilege.
const insufficientPrivilege = "42501"

// privilegeFromPg wraps a permission error the server gave.
func privilegeFromPg(err error, what string) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == insufficientPrivilege {
		return &PrivilegeError{Privilege: "a privilege " + what + " needs (" + pe.Message + ")", Fix: "see docs/cdc.md, PostgreSQL privileges"}
	}
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", what, err)
	}
	return nil
}

// slotInfo is the slot as pg_replication_slots shows it.
type slotInfo struct {
	exists   bool
	plugin   string
	database string
	active   bool
}

func (r *Reader) readSlot(ctx context.Context, conn *pgx.Conn) (slotInfo, error) {
	var s slotInfo
	err := conn.QueryRow(ctx, `SELECT coalesce(plugin, ''), coalesce(database, ''), active FROM pg_replication_slots WHERE slot_name = $1`, r.slot).Scan(&s.plugin, &s.database, &s.active)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, nil
	}
	s.exists = err == nil
	return s, err
}

// createSlot creates the pgoutput slot on the replication connection; with
// export, the result names a snapshot valid until the connection's next
// command.
func (r *Reader) createSlot(ctx context.Context, conn *pgconn.PgConn, export bool) (pglogrepl.CreateReplicationSlotResult, error) {
	action := "NOEXPORT_SNAPSHOT"
	if export {
		action = "EXPORT_SNAPSHOT"
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, conn, r.slot, "pgoutput", pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: action})
	return res, privilegeFromPg(err, "CREATE_REPLICATION_SLOT")
}

// ddlTags are the commands the DDL event trigger reports: the ones that
// change a table's columns, or make or remove a table.
const ddlTags = `'CREATE TABLE', 'ALTER TABLE', 'DROP TABLE'`

// ddlObjects are the names of what ddl: trigger creates: a function in
// schema public and two event triggers (database-wide names) calling it.
type ddlObjects struct {
	function, trigger, dropTrigger string
}

// ddlNames names a slot's DDL objects after it. A slot name too long for
// the suffixes (identifiers stop at 63 bytes) is cut and made unique again
// with a hash of the whole name.
func ddlNames(slot string) ddlObjects {
	const suffix = "_ddl_drop"
	base := slot
	if len(base)+len(suffix) > 63 {
		h := fnv.New32a()
		_, _ = h.Write([]byte(slot))
		base = fmt.Sprintf("%s_%08x", slot[:63-len(suffix)-9], h.Sum32())
	}
	return ddlObjects{function: base + "_ddl", trigger: base + "_ddl", dropTrigger: base + suffix}
}

// ddlFunctionBody is the PL/pgSQL body of the trigger function. At the end
// of each reported command it reads the catalog for every table the
// command created or altered (columns in order, type, not-null, place in
// the primary key, replica identity: what a relation message and the
// catalog give the stream), or names the tables a DROP TABLE removed, and
// writes it as a transactional logical decoding message with the prefix
// ddlPrefix: the stream meets it in commit order, with the catalog as the
// command left it. An error is turned into a warning: a report weir could
// not write must never fail a user's DDL (the table's next row change
// still shows its new shape).
func ddlFunctionBody(slot string) string {
	return `
DECLARE
  objs jsonb;
BEGIN
  IF TG_EVENT = 'sql_drop' THEN
    SELECT jsonb_agg(jsonb_build_object('tag', TG_TAG, 'type', d.object_type, 'identity', d.object_identity,
                                        'schema', d.schema_name, 'table', d.object_name, 'dropped', true))
      INTO objs FROM pg_event_trigger_dropped_objects() d WHERE d.object_type = 'table';
  ELSE
    SELECT jsonb_agg(jsonb_build_object('tag', c.command_tag, 'type', c.object_type, 'identity', c.object_identity,
             'schema', n.nspname, 'table', r.relname,
             'columns', (SELECT jsonb_agg(jsonb_build_object(
                   'name', a.attname, 'type', t.typname, 'type_oid', a.atttypid::int8, 'not_null', a.attnotnull,
                   'key', coalesce(array_position(pk.indkey::int2[], a.attnum) - array_lower(pk.indkey::int2[], 1) + 1, 0),
                   'identity', CASE r.relreplident WHEN 'f' THEN true
                                 WHEN 'd' THEN coalesce(a.attnum = ANY (pk.indkey::int2[]), false)
                                 WHEN 'i' THEN coalesce(a.attnum = ANY (ri.indkey::int2[]), false)
                                 ELSE false END) ORDER BY a.attnum)
                FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                LEFT JOIN pg_index pk ON pk.indrelid = r.oid AND pk.indisprimary
                LEFT JOIN pg_index ri ON ri.indrelid = r.oid AND ri.indisreplident
                WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped)))
      INTO objs
      FROM pg_event_trigger_ddl_commands() c
      JOIN pg_class r ON r.oid = c.objid
      JOIN pg_namespace n ON n.oid = r.relnamespace
      WHERE c.object_type = 'table';
  END IF;
  IF objs IS NOT NULL THEN
    PERFORM pg_logical_emit_message(true, ` + quoteLiteral(ddlPrefix) + `,
      jsonb_build_object('slot', ` + quoteLiteral(slot) + `, 'event', TG_EVENT, 'tag', TG_TAG, 'objects', objs)::text);
  END IF;
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'weir: the DDL report for slot % was not written: %', ` + quoteLiteral(slot) + `, SQLERRM;
END
`
}

// ensureDDL makes what the source's ddl setting asks for. With ddl:
// trigger it creates the trigger function and its event triggers (ON
// ddl_command_end, and ON sql_drop for DROP TABLE) unless they are there
// as weir makes them, so that a restart needs no privilege. Creating an
// event trigger needs a superuser: a refusal is a *PrivilegeError, and the
// transaction leaves nothing behind. With ddl: off, the objects an earlier
// start made are removed; when that is refused weir warns and goes on (they
// only write reports nobody asks for).
func (r *Reader) ensureDDL(ctx context.Context, conn *pgx.Conn) error {
	names := ddlNames(r.slot)
	if r.pg.DDL != config.DDLTrigger {
		removed, err := r.removeDDL(ctx, conn)
		switch {
		case err != nil:
			r.log.WarnContext(ctx, "ddl is off, but the DDL event triggers of an earlier start could not be removed; they keep writing reports to the WAL",
				"err", err, "sql", fmt.Sprintf("DROP EVENT TRIGGER %s; DROP EVENT TRIGGER %s; DROP FUNCTION public.%s();", quoteIdent(names.trigger), quoteIdent(names.dropTrigger), quoteIdent(names.function)))
		case len(removed) > 0:
			r.log.InfoContext(ctx, "ddl is off: removed the DDL event triggers of an earlier start", "removed", removed)
		}
		return nil
	}
	var version int
	var role string
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_version_num')::int, current_user`).Scan(&version, &role); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if version < 140000 {
		return fmt.Errorf("postgres: ddl: trigger needs PostgreSQL 14 or newer (pgoutput's messages option); this server is version %d: set ddl: off", version)
	}
	body := ddlFunctionBody(r.slot)
	var current bool
	err := conn.QueryRow(ctx, `
SELECT count(*) = 2 FROM pg_event_trigger e
JOIN pg_proc p ON p.oid = e.evtfoid
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE e.evtname IN ($1, $2) AND e.evtenabled <> 'D' AND n.nspname = 'public' AND p.proname = $3 AND p.prosrc = $4`,
		names.trigger, names.dropTrigger, names.function, body).Scan(&current)
	if err != nil {
		return fmt.Errorf("postgres: read event triggers: %w", err)
	}
	if current {
		return nil
	}
	fn := "public." + quoteIdent(names.function)
	stmts := []string{
		`CREATE OR REPLACE FUNCTION ` + fn + `() RETURNS event_trigger LANGUAGE plpgsql SET search_path = pg_catalog AS $weir$` + body + `$weir$`,
		`DROP EVENT TRIGGER IF EXISTS ` + quoteIdent(names.trigger),
		`DROP EVENT TRIGGER IF EXISTS ` + quoteIdent(names.dropTrigger),
		`CREATE EVENT TRIGGER ` + quoteIdent(names.trigger) + ` ON ddl_command_end WHEN TAG IN (` + ddlTags + `) EXECUTE FUNCTION ` + fn + `()`,
		`CREATE EVENT TRIGGER ` + quoteIdent(names.dropTrigger) + ` ON sql_drop WHEN TAG IN ('DROP TABLE') EXECUTE FUNCTION ` + fn + `()`,
	}
	if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == insufficientPrivilege {
			return &PrivilegeError{Role: role, Privilege: "superuser (ddl: trigger creates an event trigger, which only a superuser may)",
				Fix: fmt.Sprintf("ALTER ROLE %s WITH SUPERUSER; -- or set ddl: off, and weir sees a changed table at its next row change", quoteIdent(role))}
		}
		return fmt.Errorf("postgres: create the DDL event trigger: %w", err)
	}
	r.log.InfoContext(ctx, "created the DDL event triggers", "function", "public."+names.function, "triggers", []string{names.trigger, names.dropTrigger})
	return nil
}

// removeDDL drops the event triggers and the function of ddl: trigger
// when they are there, in one transaction, and names what it removed.
// Dropping an event trigger needs its owner or a superuser: a refusal is a
// *PrivilegeError.
func (r *Reader) removeDDL(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	names := ddlNames(r.slot)
	var removed []string
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, t := range []string{names.trigger, names.dropTrigger} {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM pg_event_trigger WHERE evtname = $1`, t).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				continue
			}
			if _, err := tx.Exec(ctx, `DROP EVENT TRIGGER IF EXISTS `+quoteIdent(t)); err != nil {
				return err
			}
			removed = append(removed, "event trigger "+t)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.proname = $1 AND p.prorettype = 'event_trigger'::regtype AND p.pronargs = 0`, names.function).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			if _, err := tx.Exec(ctx, `DROP FUNCTION IF EXISTS public.`+quoteIdent(names.function)+`()`); err != nil {
				return err
			}
			removed = append(removed, "function public."+names.function+"()")
		}
		return nil
	})
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == insufficientPrivilege {
			var role string
			_ = conn.QueryRow(ctx, `SELECT current_user`).Scan(&role)
			return nil, &PrivilegeError{Role: role, Privilege: "ownership of event trigger " + names.trigger + " (or superuser)",
				Fix: fmt.Sprintf("DROP EVENT TRIGGER %s; DROP EVENT TRIGGER %s; DROP FUNCTION public.%s(); -- as a superuser", quoteIdent(names.trigger), quoteIdent(names.dropTrigger), quoteIdent(names.function))}
		}
		return nil, fmt.Errorf("postgres: remove the DDL event triggers: %w", err)
	}
	return removed, nil
}
