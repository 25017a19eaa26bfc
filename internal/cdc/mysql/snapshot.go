package mysql

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/cdc"
)

// snapshotChunk is how many rows one snapshot query reads.
const snapshotChunk = 1024

// snapshotState is what the KV bucket keeps under "<name>.snapshot": the
// binlog position the snapshot was taken at and, per table, the key of the
// last row the bus has confirmed.
//
// A resumed snapshot reads the rest of a table in a newer consistent view
// than the first attempt did. It stays correct because streaming then starts
// from the position recorded by the first attempt: every change committed
// after that position is read from the binlog after the snapshot rows, so
// the latest state of each key on the bus ends equal to the table, even for
// rows the resumed snapshot read later than that position.
type snapshotState struct {
	Position *Position                 `json:"position"`
	Tables   map[string]*tableSnapshot `json:"tables"`
}

type tableSnapshot struct {
	After []string `json:"after,omitempty"` // key of the last confirmed row, as text
	Rows  int64    `json:"rows"`
	Done  bool     `json:"done"`
}

// snapshotMark is the Position of a snapshot row.
type snapshotMark struct {
	Table string
	Key   []string
	Rows  int64
	Done  bool      // the table's last row
	Last  *Position // the snapshot's last row: streaming starts here
}

// snapshot reads every captured table in one consistent view and returns
// the position to stream from. MariaDB gives the binlog position of a
// START TRANSACTION WITH CONSISTENT SNAPSHOT without any lock.
func (r *Reader) snapshot(ctx context.Context) (*Position, error) {
	st, err := r.loadSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := r.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	for _, s := range []string{"SET SESSION time_zone = '+00:00'", "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"} {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("snapshot: %s: %w", s, err)
		}
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK") //nolint:errcheck // read only
	if st.Position == nil {
		var name, file string
		var pos uint32
		if err := conn.QueryRowContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_file'").Scan(&name, &file); err != nil {
			return nil, fmt.Errorf("snapshot: binlog_snapshot_file: %w", err)
		}
		if err := conn.QueryRowContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_position'").Scan(&name, &pos); err != nil {
			return nil, fmt.Errorf("snapshot: binlog_snapshot_position: %w", err)
		}
		p := &Position{File: file, Pos: pos}
		if err := conn.QueryRowContext(ctx, "SELECT COALESCE(BINLOG_GTID_POS(?, ?), '')", file, pos).Scan(&p.GTID); err != nil {
			return nil, fmt.Errorf("snapshot: BINLOG_GTID_POS: %w", err)
		}
		st.Position = p
		b, _ := json.Marshal(st)
		if _, err := r.kv.Put(ctx, r.snapshotKey(), b); err != nil {
			return nil, fmt.Errorf("snapshot: save its position: %w", err)
		}
	}
	r.log.InfoContext(ctx, "snapshot", "gtid", st.Position.GTID)
	names := make([]string, 0, len(r.spec.Tables))
	for k := range r.spec.Tables {
		names = append(names, k)
	}
	sort.Strings(names)
	var held *cdc.Change
	emit := func(c *cdc.Change) error {
		if held != nil {
			if err := r.emitter.Emit(ctx, held); err != nil {
				return err
			}
		}
		held = c
		return nil
	}
	for _, k := range names {
		ts := st.Tables[k]
		if ts == nil {
			ts = &tableSnapshot{}
			st.Tables[k] = ts
		}
		r.setProgress(k, ts.Rows, ts.Done)
		if ts.Done {
			continue
		}
		db, name, _ := strings.Cut(k, ".")
		t, err := r.tableDef(ctx, db, name, -1)
		if err != nil {
			return nil, err
		}
		if t == nil {
			return nil, fmt.Errorf("snapshot: table %s does not exist", k)
		}
		if err := r.readTable(ctx, conn, k, t, ts, emit); err != nil {
			return nil, err
		}
		if held != nil && held.Position.(*snapshotMark).Table == k {
			held.Position.(*snapshotMark).Done = true
		}
	}
	if held == nil { // nothing to confirm: the snapshot is done now
		if err := r.savePosition(ctx, st.Position); err != nil {
			return nil, err
		}
		return st.Position, nil
	}
	held.Position.(*snapshotMark).Last = st.Position
	held.Value.Source.Snapshot = "last"
	if err := r.emitter.Emit(ctx, held); err != nil {
		return nil, err
	}
	return st.Position, nil
}

// readTable reads one table in key order from where its progress stands.
func (r *Reader) readTable(ctx context.Context, conn *sql.Conn, k string, t *table, ts *tableSnapshot, emit func(*cdc.Change) error) error {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = quoteName(c.Name)
	}
	keys := make([]string, len(t.Keys))
	for i, ki := range t.Keys {
		keys[i] = quoteName(t.Columns[ki].Name)
	}
	from := quoteName(t.DB) + "." + quoteName(t.Name)
	after := ts.After
	rows := ts.Rows
	for {
		q := "SELECT " + strings.Join(cols, ",") + " FROM " + from
		var args []any
		if len(keys) > 0 {
			if after != nil {
				q += " WHERE (" + strings.Join(keys, ",") + ") > (" + strings.TrimSuffix(strings.Repeat("?,", len(keys)), ",") + ")"
				for _, a := range after {
					args = append(args, a)
				}
			}
			q += " ORDER BY " + strings.Join(keys, ",") + " LIMIT " + strconv.Itoa(snapshotChunk)
		}
		res, err := conn.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", k, err)
		}
		n := 0
		raw := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		for res.Next() {
			if err := res.Scan(ptrs...); err != nil {
				res.Close()
				return err
			}
			n++
			rows++
			vals := make([]any, len(cols))
			for i, c := range t.Columns {
				if raw[i] != nil {
					vals[i] = r.dec.text(c, raw[i])
				}
			}
			keyText := make([]string, len(t.Keys))
			key := make([]any, len(t.Keys))
			for i, ki := range t.Keys {
				keyText[i], key[i] = string(raw[ki]), vals[ki]
			}
			after = keyText
			now := time.Now()
			c := &cdc.Change{
				ID:    r.name + ":snapshot:" + k + ":" + keyID(key),
				Table: r.shapes[k], Key: key, Time: now, EndOfTx: true,
				Position: &snapshotMark{Table: k, Key: keyText, Rows: rows},
				Value: cdc.Value{After: rowJSON(t, vals), Op: cdc.OpRead, TsMs: now.UnixMilli(),
					Source: cdc.Source{Connector: Connector, Name: r.name, TsMs: now.UnixMilli(), Snapshot: "true", DB: t.DB, Table: t.Name}},
			}
			if err := emit(c); err != nil {
				res.Close()
				return err
			}
		}
		res.Close()
		if err := res.Err(); err != nil {
			return fmt.Errorf("snapshot %s: %w", k, err)
		}
		r.setProgress(k, rows, false)
		if len(keys) == 0 || n < snapshotChunk {
			r.setProgress(k, rows, true)
			return nil
		}
	}
}

func keyID(key []any) string {
	if len(key) == 1 {
		return fmt.Sprint(key[0])
	}
	b, _ := json.Marshal(key)
	return string(b)
}

func quoteName(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func (r *Reader) loadSnapshot(ctx context.Context) (*snapshotState, error) {
	st := &snapshotState{Tables: map[string]*tableSnapshot{}}
	e, err := r.kv.Get(ctx, r.snapshotKey())
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot: read progress: %w", err)
	}
	if err := json.Unmarshal(e.Value(), st); err != nil {
		return nil, fmt.Errorf("snapshot: saved progress: %w", err)
	}
	if st.Tables == nil {
		st.Tables = map[string]*tableSnapshot{}
	}
	r.mu.Lock()
	r.snap = st
	r.mu.Unlock()
	return st, nil
}

func (r *Reader) savePosition(ctx context.Context, p *Position) error {
	b, _ := json.Marshal(p)
	if _, err := r.kv.Put(ctx, r.positionKey(), b); err != nil {
		return fmt.Errorf("save position: %w", err)
	}
	r.mu.Lock()
	r.confirmed = p
	r.mu.Unlock()
	return nil
}

// confirmSnapshot records a confirmed snapshot row; the saver writes it.
func (r *Reader) confirmSnapshot(m *snapshotMark) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.snap == nil {
		r.snap = &snapshotState{Tables: map[string]*tableSnapshot{}}
	}
	r.snap.Tables[m.Table] = &tableSnapshot{After: m.Key, Rows: m.Rows, Done: m.Done}
	if m.Last != nil {
		r.snap.Position = m.Last
		r.confirmed = m.Last
	}
	r.snapDirty = true
}

// flushSnapshot writes confirmed snapshot progress.
func (r *Reader) flushSnapshot(ctx context.Context) {
	r.mu.Lock()
	if !r.snapDirty || r.snap == nil || r.snap.Position == nil {
		r.mu.Unlock()
		return
	}
	b, _ := json.Marshal(r.snap)
	r.snapDirty = false
	r.mu.Unlock()
	if _, err := r.kv.Put(ctx, r.snapshotKey(), b); err != nil {
		r.fail(ctx, fmt.Errorf("save snapshot progress: %w", err))
	}
}

func (r *Reader) setProgress(table string, rows int64, done bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.progress {
		if r.progress[i].Table == table {
			r.progress[i].Rows, r.progress[i].Done = rows, done
			return
		}
	}
	r.progress = append(r.progress, cdc.TableProgress{Table: table, Kind: "snapshot", Rows: rows, Done: done})
}

// text maps a value of the text protocol (a snapshot read) the way cell
// maps the binlog's.
func (d decoder) text(c *column, raw []byte) any {
	s := string(raw)
	switch c.DataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year":
		if c.Unsigned {
			if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				return u
			}
		} else if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
		return s
	case "decimal", "numeric":
		if d.numericNumber {
			return json.Number(s)
		}
		return s
	case "float", "double", "real":
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return finite(f)
		}
		return s
	case "bit":
		var b [8]byte
		copy(b[8-min(8, len(raw)):], raw)
		return binary.BigEndian.Uint64(b[:])
	case "datetime", "timestamp":
		return strings.Replace(s, " ", "T", 1) + "Z"
	case "date", "time", "enum", "set":
		return s
	}
	return c.bytesValue(raw)
}
