package postgres

import (
	"context"
	"encoding/json"

	"github.com/jackc/pglogrepl"

	"github.com/weir-dev/weir/internal/cdc"
)

// Logical decoding does not carry DDL: a relation message shows a changed
// table only before its next row change, which may come much later or
// never. With ddl: trigger an event trigger (see ensureDDL) writes a
// transactional logical decoding message at the end of each CREATE, ALTER
// or DROP TABLE, and the stream, which asks pgoutput for messages, meets it
// in commit order. The report carries the table's columns as the catalog
// stood inside the DDL's own transaction: reading the catalog when the
// stream meets the message could see it before the commit is visible
// (PostgreSQL sends a transaction once its commit is in the WAL), or after
// later DDL when the stream is behind.
//
// A report changes no position: the DDL's transaction has no row changes,
// so its end moves the slot only as an empty transaction's does (see
// flushPosition), after the contract is registered.

// ddlPrefix is the prefix of the messages the event trigger writes; the
// stream ignores messages with any other prefix.
const ddlPrefix = "weir.ddl"

// ddlReport is the content of one ddlPrefix message.
type ddlReport struct {
	// Slot is the slot of the source whose trigger wrote it: every
	// source's slot on the database receives every source's reports.
	Slot string `json:"slot"`
	// Event is the event trigger's event (ddl_command_end, sql_drop) and
	// Tag its command tag ("ALTER TABLE").
	Event   string      `json:"event"`
	Tag     string      `json:"tag"`
	Objects []ddlObject `json:"objects"`
}

// ddlObject is one table a command made, altered or dropped.
type ddlObject struct {
	// Tag is the command's tag; Type the object's type ("table").
	Tag  string `json:"tag"`
	Type string `json:"type"`
	// Identity is the object's identity ("public.orders"), Schema and
	// Table its parts.
	Identity string `json:"identity"`
	Schema   string `json:"schema"`
	Table    string `json:"table"`
	// Dropped is true for a table DROP TABLE removed (no columns).
	Dropped bool `json:"dropped"`
	// Columns are the table's columns in order after the command.
	Columns []ddlColumn `json:"columns"`
}

// ddlColumn is a column as the catalog stood at the end of the command.
type ddlColumn struct {
	Name    string `json:"name"`
	Type    string `json:"type"` // pg_type.typname
	TypeOID uint32 `json:"type_oid"`
	NotNull bool   `json:"not_null"`
	// Key is the column's place in the primary key, 0 when not in it;
	// Identity is true when the column is part of the replica identity (a
	// relation message's key flag).
	Key      int  `json:"key"`
	Identity bool `json:"identity"`
}

// ddl handles a DDL report: each captured table the command changed gets
// its new shape registered at once, through the path a relation message
// takes (an incompatible change warns the same way); a dropped captured
// table is logged.
func (s *streamer) ddl(ctx context.Context, m *pglogrepl.LogicalDecodingMessage) error {
	r := s.r
	var rep ddlReport
	if err := json.Unmarshal(m.Content, &rep); err != nil {
		r.log.WarnContext(ctx, "cdc: a "+ddlPrefix+" message is not a DDL report; ignored", "lsn", m.LSN, "err", err)
		return nil
	}
	if rep.Slot != r.slot {
		return nil
	}
	for _, o := range rep.Objects {
		q := o.Schema + "." + o.Table
		ex, captured := r.exclude[q]
		if !captured || o.Type != "table" {
			continue
		}
		if o.Dropped {
			r.log.WarnContext(ctx, "cdc: a captured table was dropped; a table created again under its name is captured from weir's next start",
				"table", q, "tag", o.Tag, "lsn", m.LSN)
			continue
		}
		t := o.shape(ex)
		changed := !sameShape(s.shapes[q], t)
		r.log.InfoContext(ctx, "cdc: DDL on a captured table", "table", q, "tag", o.Tag, "lsn", m.LSN, "shape_changed", changed)
		if !changed {
			continue
		}
		if err := r.emitter.TableChanged(ctx, t); err != nil {
			return err
		}
		s.shapes[q] = t
	}
	return nil
}

// shape is the table as a relation message and the catalog would make it
// (buildRelation), so that the table's next row change finds the same
// shape and registers nothing more.
func (o ddlObject) shape(exclude map[string]bool) *cdc.Table {
	names := make([]string, len(o.Columns))
	oids := make([]uint32, len(o.Columns))
	idents := make([]bool, len(o.Columns))
	cat := make(map[string]catalogColumn, len(o.Columns))
	for i, c := range o.Columns {
		names[i], oids[i], idents[i] = c.Name, c.TypeOID, c.Identity
		cat[c.Name] = catalogColumn{typeName: c.Type, typeOID: c.TypeOID, notNull: c.NotNull, keyPos: c.Key}
	}
	return buildRelation(0, o.Schema, o.Table, names, oids, idents, cat, exclude).table
}
