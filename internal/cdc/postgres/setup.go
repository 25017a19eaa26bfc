package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
	// <db>", "ownership of <table>" or "SELECT on <table>".
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

// privilegeFromPg wraps a permission error the server gave.
func privilegeFromPg(err error, what string) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" {
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
