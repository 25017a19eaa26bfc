package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// MigrationError is a change to a table that weir refuses to make, because
// it could lose or rewrite data: a column whose type differs from the
// config's, a column the config no longer maps, a table of another engine.
// Reason says what to do. A retry does not help until the config or the
// table changes.
type MigrationError struct {
	// Table is the table, as database.table.
	Table string
	// Column is the column at fault, or "" when the table as a whole is.
	Column string
	// Reason explains the refusal and what to do about it.
	Reason string
}

func (e *MigrationError) Error() string {
	if e.Column == "" {
		return "clickhouse: table " + e.Table + ": " + e.Reason
	}
	return "clickhouse: table " + e.Table + ", column " + e.Column + ": " + e.Reason
}

// column is one column weir writes: its name and its type as ClickHouse
// writes it in system.columns.
type column struct{ name, typ string }

// eventColumns is the events table's layout, in insert order. time is the
// event's time to the second (DateTime, as 18.16 has no DateTime64) and
// time_ms its milliseconds.
var eventColumns = []column{
	{"id", "String"},
	{"type", "String"},
	{"source", "String"},
	{"subject", "String"},
	{"time", "DateTime"},
	{"time_ms", "UInt16"},
	{"partitionkey", "String"},
	{"received_at", "DateTime"},
	{"data", "String"},
	{"dataschema", "String"},
	{"traceparent", "String"},
}

// tableDef is a table weir creates and keeps up to date.
type tableDef struct {
	name    string   // table name, without database
	cols    []column // in insert order
	engine  string   // the ENGINE clause before ORDER BY
	orderBy string
	// strict refuses ordinary columns that cols does not name: a per-type
	// table's columns are all the config's, so one it lacks was removed from
	// the config. The events table may carry the analysts' own columns.
	strict bool
	// twin is the view whose twin the table holds, or nil. A twin's columns
	// are the view's definition: one missing is refused rather than added,
	// since its place in the sorting key and the materialized view's
	// GROUP BY cannot be added.
	twin *twin
}

// mergeTree is the engine of the events table and of per-type tables.
const mergeTree = "ReplacingMergeTree PARTITION BY toYYYYMM(time)"

func (s *Sink) eventsDef() tableDef {
	return tableDef{name: s.events, cols: eventColumns, engine: mergeTree, orderBy: "type, time, id"}
}

func (t *typedTable) def() tableDef {
	cols := []column{{"id", "String"}, {"time", "DateTime"}, {"received_at", "DateTime"}}
	for _, c := range t.cols {
		cols = append(cols, column{c.name, c.typ.String()})
	}
	return tableDef{name: t.name, cols: cols, engine: mergeTree, orderBy: "time, id", strict: true}
}

// ensureSchema creates the database, the tables and the twins of views,
// and adds missing columns. It checks everything before it alters anything,
// so a refused migration changes nothing.
func (s *Sink) ensureSchema(ctx context.Context, conn driver.Conn) error {
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+quote(s.database)); err != nil {
		return fmt.Errorf("clickhouse: create database %s: %w", s.database, err)
	}
	defs := []tableDef{s.eventsDef()}
	for _, t := range s.tables {
		defs = append(defs, t.def())
	}
	for _, t := range s.twins {
		defs = append(defs, t.def())
	}
	type plan struct {
		def     tableDef
		create  bool
		missing []column
	}
	plans := make([]plan, 0, len(defs))
	created := map[string]bool{}
	var refused []error
	for _, d := range defs {
		p := plan{def: d}
		have, engine, err := s.describe(ctx, conn, d.name)
		if err != nil {
			return err
		}
		if engine == "" {
			p.create = true
			created[d.name] = true
		} else {
			var errs []error
			p.missing, errs = s.compare(d, have, engine)
			refused = append(refused, errs...)
		}
		plans = append(plans, p)
	}
	// What analysts read of a twin, once its table is there.
	var readers []string
	for _, t := range s.twins {
		create, errs, err := s.checkReader(ctx, conn, t)
		if err != nil {
			return err
		}
		refused = append(refused, errs...)
		if create {
			readers = append(readers, s.createReader(t, !created[t.rowsTable()]))
		}
	}
	if len(refused) > 0 {
		return errors.Join(refused...)
	}
	for _, p := range plans {
		if p.create {
			if err := conn.Exec(ctx, s.createTable(p.def)); err != nil {
				return fmt.Errorf("clickhouse: create table %s: %w", s.qualified(p.def.name), err)
			}
			continue
		}
		for _, c := range p.missing {
			stmt := "ALTER TABLE " + s.quoted(p.def.name) + " ADD COLUMN " + quote(c.name) + " " + c.typ
			if err := conn.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("clickhouse: add column %s to %s: %w", c.name, s.qualified(p.def.name), err)
			}
		}
	}
	for _, stmt := range readers {
		if err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("clickhouse: create a view's twin: %w", err)
		}
	}
	return nil
}

// existing is a column a table has: its type and its default kind ("" for
// an ordinary column, else DEFAULT, MATERIALIZED or ALIAS).
type existing struct{ typ, defaultKind string }

// describe reads a table's columns and engine; engine is "" when the table
// does not exist.
func (s *Sink) describe(ctx context.Context, conn driver.Conn, table string) (map[string]existing, string, error) {
	var engine string
	rows, err := conn.Query(ctx, "SELECT engine FROM system.tables WHERE database = ? AND name = ?", s.database, table)
	if err != nil {
		return nil, "", fmt.Errorf("clickhouse: read system.tables: %w", err)
	}
	for rows.Next() {
		if err := rows.Scan(&engine); err != nil {
			rows.Close()
			return nil, "", err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || engine == "" {
		return nil, "", err
	}
	rows, err = conn.Query(ctx, "SELECT name, type, default_kind FROM system.columns WHERE database = ? AND table = ?", s.database, table)
	if err != nil {
		return nil, "", fmt.Errorf("clickhouse: read system.columns: %w", err)
	}
	defer rows.Close()
	have := map[string]existing{}
	for rows.Next() {
		var name string
		var e existing
		if err := rows.Scan(&name, &e.typ, &e.defaultKind); err != nil {
			return nil, "", err
		}
		have[name] = e
	}
	return have, engine, rows.Err()
}

// compare returns the columns to add and the changes it refuses.
func (s *Sink) compare(d tableDef, have map[string]existing, engine string) (missing []column, refused []error) {
	table := s.qualified(d.name)
	if d.twin != nil {
		return nil, s.compareTwin(d, have, engine)
	}
	if !strings.HasSuffix(engine, "ReplacingMergeTree") {
		refused = append(refused, &MigrationError{Table: table, Reason: fmt.Sprintf(
			"the table's engine is %s, but weir writes an event again after a crash or a replay and relies on a ReplacingMergeTree to keep one copy; "+
				"rename or drop the table and weir creates it, or name another table in the sink's config", engine)})
	}
	want := map[string]bool{}
	for _, c := range d.cols {
		want[c.name] = true
		e, ok := have[c.name]
		switch {
		case !ok:
			missing = append(missing, c)
		case !sameType(e.typ, c.typ):
			refused = append(refused, &MigrationError{Table: table, Column: c.name, Reason: fmt.Sprintf(
				"the table has it as %s but the sink writes %s; weir does not change a column's type, since converting stored values can fail or lose data. "+
					"Keep %s in the config, map the values to a new column name, or change the column yourself (ALTER TABLE %s MODIFY COLUMN %s %s)",
				e.typ, c.typ, e.typ, table, c.name, c.typ)})
		case e.defaultKind != "":
			refused = append(refused, &MigrationError{Table: table, Column: c.name, Reason: fmt.Sprintf(
				"the table computes it (%s), so weir cannot insert into it; drop that column or name another table", e.defaultKind)})
		}
	}
	if d.strict {
		names := make([]string, 0, len(have))
		for name := range have {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			if e := have[name]; !want[name] && e.defaultKind == "" {
				refused = append(refused, &MigrationError{Table: table, Column: name, Reason: fmt.Sprintf(
					"the table has this column but the sink's config no longer maps it; weir never drops a column, which would lose its data. "+
						"Put the column back in the config, or drop it yourself (ALTER TABLE %s DROP COLUMN %s)", table, name)})
			}
		}
	}
	return missing, refused
}

func (s *Sink) createTable(d tableDef) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS " + s.quoted(d.name) + " (")
	for i, c := range d.cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(c.name) + " " + c.typ)
	}
	b.WriteString(") ENGINE = " + d.engine + " ORDER BY (" + d.orderBy + ")")
	return b.String()
}

// insertStatement is the INSERT with its explicit column list, which the
// native protocol needs on 18.16.
func (s *Sink) insertStatement(d tableDef) string {
	names := make([]string, len(d.cols))
	for i, c := range d.cols {
		names[i] = quote(c.name)
	}
	return "INSERT INTO " + s.quoted(d.name) + " (" + strings.Join(names, ", ") + ")"
}

// qualified is database.table, for messages.
func (s *Sink) qualified(table string) string { return s.database + "." + table }

// quoted is `database`.`table`, for statements.
func (s *Sink) quoted(table string) string { return quote(s.database) + "." + quote(table) }

// quote backquotes a name. Names are checked against identifier first, or
// are view names (letters, digits, - and _), so none holds a backquote.
func quote(name string) string { return "`" + name + "`" }
