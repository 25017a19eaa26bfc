// Package cdc turns row changes of operational databases into events on the
// bus: PostgreSQL through logical replication (internal/cdc/postgres) and
// MariaDB/MySQL through the row-based binlog (internal/cdc/mysql).
//
// A Reader (one per database kind) follows its database's log and hands
// Changes, in commit order, to an Emitter. The Emitter (this package's
// Publisher) publishes each change as a CloudEvent whose data is the
// Debezium change-event value, waits for the bus to acknowledge every change
// up to the end of a transaction, and only then calls Reader.Confirm with
// that transaction's position, so that the database's slot or the saved
// binlog position never moves past a change the bus has not stored.
//
// Ids are derived from log positions (Change.ID): a change read again after a
// crash has the id it had the first time, and the bus's de-duplication drops
// the second copy.
package cdc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Debezium operations (the envelope's "op").
const (
	OpCreate   = "c"
	OpUpdate   = "u"
	OpDelete   = "d"
	OpRead     = "r" // a row read by a snapshot or a backfill
	OpTruncate = "t"
)

// Unavailable is how Debezium marks a value it was not sent: PostgreSQL does
// not send an unchanged TOASTed column in an update. The value of such a column
// in "after" is this string (Debezium's default unavailable.value.placeholder).
const Unavailable = "__debezium_unavailable_value"

// Source is the Debezium envelope's "source" block.
type Source struct {
	// Version is weir's version.
	Version string `json:"version"`
	// Connector is "postgresql" or "mysql".
	Connector string `json:"connector"`
	// Name is the cdc source's name (cdc.<name> in weir.yaml).
	Name string `json:"name"`
	// TsMs is when the change was committed, in ms since the epoch.
	TsMs int64 `json:"ts_ms"`
	// Snapshot is "true" (a snapshot row), "last" (the last row of a
	// snapshot), "incremental" (a backfill row) or "false".
	Snapshot string `json:"snapshot"`
	// DB is the database.
	DB string `json:"db"`
	// Schema is the schema (PostgreSQL); Table the table.
	Schema string `json:"schema,omitempty"`
	Table  string `json:"table"`
	// TxID is the transaction id (PostgreSQL xid).
	TxID int64 `json:"txId,omitempty"`
	// LSN is the change's log sequence number (PostgreSQL).
	LSN int64 `json:"lsn,omitempty"`
	// ServerID, File, Pos and GTID place the change in a MySQL binlog.
	ServerID int64  `json:"server_id,omitempty"`
	File     string `json:"file,omitempty"`
	Pos      int64  `json:"pos,omitempty"`
	GTID     string `json:"gtid,omitempty"`
	// Row is the row's index within its binlog event (MySQL).
	Row int `json:"row,omitempty"`
}

// Value is the Debezium change-event value: the event's data.
type Value struct {
	// Before is the row before the change: set for updates and deletes when
	// the database sends it (PostgreSQL: REPLICA IDENTITY FULL, else the key
	// only), null for creates and snapshot reads.
	Before json.RawMessage `json:"before"`
	// After is the row after the change; null for deletes and truncates.
	After json.RawMessage `json:"after"`
	// Source says where the change comes from.
	Source Source `json:"source"`
	// Op is one of the Op constants.
	Op string `json:"op"`
	// TsMs is when weir read the change, in ms since the epoch.
	TsMs int64 `json:"ts_ms"`
	// Compact is set by a reader whose Before and After are valid JSON
	// exactly as encoding/json would write them (compact, HTML-escaped):
	// AppendJSON then copies them instead of checking and compacting them.
	Compact bool `json:"-"`
}

// Column is one column of a captured table, as the reader knows it.
type Column struct {
	// Name of the column.
	Name string
	// Type is the database's type name (PostgreSQL: "int4", "text",
	// "numeric", "jsonb", "_int4" for arrays; MySQL: "int", "varchar", ...).
	Type string
	// Key is true for the columns of the primary key (or replica identity).
	Key bool
	// NotNull is true when the column cannot be null (a contract's required).
	NotNull bool
}

// Table is a captured table's shape, as the reader saw it last.
type Table struct {
	// Schema (PostgreSQL) or database (MySQL), and the table's name.
	Schema, Name string
	// Columns in the table's order.
	Columns []Column
}

// Change is one row change (or a truncate) that a reader hands on.
type Change struct {
	// ID is derived from the change's place in the log, e.g.
	// "<slot>:<commit lsn>:<index in transaction>" (PostgreSQL) or
	// "<server uuid>:<gtid seq>:<index>" (MySQL): the same change always
	// gets the same id. Snapshot and backfill rows get ids derived from the
	// snapshot's or backfill's id and the row's key.
	ID string
	// Table is the table's shape when the change was read.
	Table *Table
	// Key is the primary key's values, in key order; the event's subject is
	// the one value as text, or the JSON array of several.
	Key []any
	// Value is the Debezium value (the event's data).
	Value Value
	// Time is the commit time (the event's time).
	Time time.Time
	// Tx names the change's transaction in the log, uniquely even across a
	// restored or re-created database (PostgreSQL "<slot>:<commit lsn>:<commit
	// time>:<TablesTag>", MariaDB "<name>:<gtid>:<time>:<TablesTag>"), and
	// TxIndex is the change's place in it, as in ID; Tx is empty for changes
	// outside such numbering (snapshot and backfill rows). With Tx the publisher keeps one de-duplication record
	// per transaction, saying how far into it the bus has stored, instead of
	// one per change (see mark.go).
	Tx      string
	TxIndex int
	// EndOfTx is true on the last change of a transaction (and on every
	// snapshot row): Confirm is called with Position once every change up to
	// and including this one is on the bus.
	EndOfTx bool
	// Position is the reader's own position after this change; the Emitter
	// hands it back to Confirm unchanged.
	Position any
}

// Emitter takes changes in commit order.
type Emitter interface {
	// Emit hands one change on. It blocks while too many changes are waiting
	// for the bus (backpressure) and returns an error only when ctx ends or
	// the change can never be published (a bug, not an outage: a bus outage
	// makes Emit wait).
	Emit(ctx context.Context, c *Change) error
	// TableChanged tells the emitter a table's shape is new or changed, before
	// the first change that has it, so that its contract can be registered.
	TableChanged(ctx context.Context, t *Table) error
}

// Reader follows one database's log. Start begins reading (creating the
// slot, publication or position it needs) and returns once reading runs or
// fails; the reader hands changes to the Emitter it was built with. Stop
// ends reading and waits for it. Confirm tells the reader every change up to
// and including the one that carried pos is stored on the bus; the reader may
// then let its database forget them (PostgreSQL: the slot's confirmed flush
// LSN; MySQL: the saved GTID set or file and position).
type Reader interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Confirm(pos any)
	// Status is the reader's current position, lag and progress for the API.
	Status(ctx context.Context) Status
}

// Status is what GET /v1/cdc/{name} shows of a reader.
type Status struct {
	// Connector is "postgresql" or "mysql".
	Connector string `json:"connector"`
	// State is "starting", "snapshot", "streaming", "paused" or "failing".
	State string `json:"state"`
	// Position is the last confirmed position, as text (an LSN, a GTID set).
	Position string `json:"position"`
	// LagSeconds is how far behind the database's newest commit the reader is.
	LagSeconds float64 `json:"lag_seconds"`
	// RetainedBytes is the WAL the slot keeps (PostgreSQL), -1 when unknown.
	RetainedBytes int64 `json:"retained_bytes"`
	// MaxRetainedBytes is the source's max_retained_wal (PostgreSQL);
	// RetainedOverMax is true while RetainedBytes is above it, which weir
	// also logs and shows on the portal's home.
	MaxRetainedBytes int64 `json:"max_retained_bytes,omitempty"`
	RetainedOverMax  bool  `json:"retained_over_max,omitempty"`
	// Snapshot is the snapshot's or backfill's progress, when one runs or ran.
	Snapshot []TableProgress `json:"snapshot,omitempty"`
	// LastError and LastErrorAt are the last failure.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// TableProgress is a snapshot's or backfill's progress over one table.
type TableProgress struct {
	// Table is schema.table.
	Table string `json:"table"`
	// Kind is "snapshot" or "backfill"; ID and Where the backfill's id (as
	// POST /v1/cdc/{name}/backfill answered) and condition.
	Kind  string `json:"kind"`
	ID    string `json:"id,omitempty"`
	Where string `json:"where,omitempty"`
	// Rows read so far, and an estimate of the total.
	Rows     int64 `json:"rows"`
	Estimate int64 `json:"estimate"`
	// Done is true once the table is read.
	Done bool `json:"done"`
	// Error is why a backfill stopped before it was done.
	Error string `json:"error,omitempty"`
}

// TablesTag is a short fingerprint of a source's captured tables, which
// readers put in Change.Tx: a change's index in its transaction counts only
// captured tables' changes, so a transaction's record must not be read
// against a different list.
func TablesTag[V any](tables map[string]V) string {
	names := slices.Sorted(maps.Keys(tables))
	sum := sha256.Sum256([]byte(strings.Join(names, "\x00")))
	return hex.EncodeToString(sum[:6])
}

// MarshalJSON writes the value as encoding/json would from its tags, byte for
// byte, without reflection: the publisher writes one per change.
func (v Value) MarshalJSON() ([]byte, error) {
	return v.AppendJSON(make([]byte, 0, 256+len(v.Before)+len(v.After)))
}

// AppendJSON appends the value's JSON to b; it fails when Before or After is
// not valid JSON.
func (v *Value) AppendJSON(b []byte) ([]byte, error) {
	var err error
	raw := appendRaw
	if v.Compact {
		raw = appendFinal
	}
	b = append(b, `{"before":`...)
	if b, err = raw(b, v.Before); err != nil {
		return nil, err
	}
	b = append(b, `,"after":`...)
	if b, err = raw(b, v.After); err != nil {
		return nil, err
	}
	b = append(b, `,"source":`...)
	b = v.Source.appendJSON(b)
	b = append(b, `,"op":`...)
	b = AppendJSONString(b, v.Op)
	b = append(b, `,"ts_ms":`...)
	b = strconv.AppendInt(b, v.TsMs, 10)
	return append(b, '}'), nil
}

func (s *Source) appendJSON(b []byte) []byte {
	b = append(b, `{"version":`...)
	b = AppendJSONString(b, s.Version)
	b = append(b, `,"connector":`...)
	b = AppendJSONString(b, s.Connector)
	b = append(b, `,"name":`...)
	b = AppendJSONString(b, s.Name)
	b = append(b, `,"ts_ms":`...)
	b = strconv.AppendInt(b, s.TsMs, 10)
	b = append(b, `,"snapshot":`...)
	b = AppendJSONString(b, s.Snapshot)
	b = append(b, `,"db":`...)
	b = AppendJSONString(b, s.DB)
	if s.Schema != "" {
		b = append(b, `,"schema":`...)
		b = AppendJSONString(b, s.Schema)
	}
	b = append(b, `,"table":`...)
	b = AppendJSONString(b, s.Table)
	if s.TxID != 0 {
		b = append(b, `,"txId":`...)
		b = strconv.AppendInt(b, s.TxID, 10)
	}
	if s.LSN != 0 {
		b = append(b, `,"lsn":`...)
		b = strconv.AppendInt(b, s.LSN, 10)
	}
	if s.ServerID != 0 {
		b = append(b, `,"server_id":`...)
		b = strconv.AppendInt(b, s.ServerID, 10)
	}
	if s.File != "" {
		b = append(b, `,"file":`...)
		b = AppendJSONString(b, s.File)
	}
	if s.Pos != 0 {
		b = append(b, `,"pos":`...)
		b = strconv.AppendInt(b, s.Pos, 10)
	}
	if s.GTID != "" {
		b = append(b, `,"gtid":`...)
		b = AppendJSONString(b, s.GTID)
	}
	if s.Row != 0 {
		b = append(b, `,"row":`...)
		b = strconv.AppendInt(b, int64(s.Row), 10)
	}
	return append(b, '}')
}

// appendRaw appends raw JSON compacted and HTML-escaped, as encoding/json
// writes a json.RawMessage: null when nil, an error when empty or invalid.
func appendRaw(b []byte, raw json.RawMessage) ([]byte, error) {
	if raw == nil {
		return append(b, "null"...), nil
	}
	buf := bytes.NewBuffer(b)
	if !needsHTMLEscape(raw) {
		if err := json.Compact(buf, raw); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, err
	}
	json.HTMLEscape(buf, compact.Bytes())
	return buf.Bytes(), nil
}

// appendFinal appends raw JSON a reader wrote final (Value.Compact): null
// when nil.
func appendFinal(b []byte, raw json.RawMessage) ([]byte, error) {
	if raw == nil {
		return append(b, "null"...), nil
	}
	return append(b, raw...), nil
}

// needsHTMLEscape is true when raw holds what json.HTMLEscape changes: <, >,
// & or U+2028 and U+2029.
func needsHTMLEscape(raw []byte) bool {
	return bytes.ContainsAny(raw, "<>&\u2028\u2029")
}

// AppendJSONString appends s as a JSON string the way encoding/json writes
// it (including its HTML escaping); plain ASCII takes the short way.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
