package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/weir-dev/weir/internal/cdc"
)

// ChunkSize is how many rows a snapshot or backfill reads per query; progress
// is saved after each chunk is confirmed.
var ChunkSize = 10000

// snapshotPos is a snapshot or backfill row's Position: its sequence number.
type snapshotPos int64

// snapshotPlan is what run reads before streaming: the slot's exported
// snapshot (name, valid while the creating connection is idle) and/or the
// progress of a snapshot cut short.
type snapshotPlan struct {
	name  string
	state *snapshotState
}

// snapshotState is the snapshot's progress, saved in the KV bucket.
type snapshotState struct {
	Pending bool                  `json:"pending,omitempty"`
	Done    bool                  `json:"done,omitempty"`
	Tables  map[string]*tableSnap `json:"tables,omitempty"`
}

// tableSnap is one table's snapshot progress: the last key read (its
// columns' text), the rows read, and whether the table is done.
type tableSnap struct {
	After []string `json:"after,omitempty"`
	Rows  int64    `json:"rows"`
	Done  bool     `json:"done,omitempty"`
}

func (r *Reader) saveSnapshot(ctx context.Context, st *snapshotState) error {
	b, _ := json.Marshal(st)
	if err := r.putKV(ctx, "snapshot", b); err != nil {
		return fmt.Errorf("postgres: save snapshot progress: %w", err)
	}
	return nil
}

func (r *Reader) loadSnapshot(ctx context.Context) (*snapshotState, error) {
	b, err := r.getKV(ctx, "snapshot")
	if err != nil {
		return nil, fmt.Errorf("postgres: read snapshot progress: %w", err)
	}
	if b == nil {
		return nil, nil
	}
	var st snapshotState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("postgres: snapshot progress: %w", err)
	}
	return &st, nil
}

// snapshot reads every configured table in key-ordered chunks, in the
// slot's exported snapshot when plan.name is set. After a crash the
// exported snapshot is gone and the remaining chunks are read fresh: a row
// read newer than the slot's start is also streamed afterwards (its change
// committed after the slot's consistent point), and the stream's change
// comes after the snapshot row, so the last word per key is still the
// table's.
func (r *Reader) snapshot(ctx context.Context, plan snapshotPlan) error {
	st := plan.state
	if st == nil {
		st = &snapshotState{}
	}
	if st.Tables == nil {
		st.Tables = map[string]*tableSnap{}
	}
	conn, err := r.db.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var q querier = conn
	if plan.name != "" {
		tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return err
		}
		defer tx.Rollback(context.Background())
		if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT "+quoteLiteral(plan.name)); err != nil {
			return fmt.Errorf("postgres: import snapshot: %w", err)
		}
		q = tx
	}
	for ti, t := range r.tableNames {
		ts := st.Tables[t]
		if ts == nil {
			ts = &tableSnap{}
			st.Tables[t] = ts
		}
		if ts.Done {
			r.setProgress(cdc.TableProgress{Table: t, Kind: "snapshot", Rows: ts.Rows, Estimate: ts.Rows, Done: true})
			continue
		}
		rel, err := r.catalogRelation(ctx, t)
		if err != nil {
			return err
		}
		if err := r.emitter.TableChanged(ctx, rel.table); err != nil {
			return err
		}
		est := r.estimate(ctx, rel)
		lastTable := ti == len(r.tableNames)-1
		err = r.readChunks(ctx, readWith(q), rel, "", ts.After, func(last []string, rows int64, done bool) error {
			ts.After, ts.Rows, ts.Done = last, ts.Rows+rows, done
			r.setProgress(cdc.TableProgress{Table: t, Kind: "snapshot", Rows: ts.Rows, Estimate: max(est, ts.Rows), Done: done})
			return r.saveSnapshot(ctx, st)
		}, func(done bool) string {
			if done && lastTable {
				return "last"
			}
			return "true"
		}, "snapshot")
		if err != nil {
			return err
		}
	}
	st.Done, st.Pending = true, false
	return r.saveSnapshot(ctx, st)
}

// querier is a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// chunkReader runs one chunk's query and returns its rows, each column's
// text (nil for null).
type chunkReader func(ctx context.Context, sql string, args ...any) ([][][]byte, error)

// readWith is a chunkReader querying q.
func readWith(q querier) chunkReader {
	return func(ctx context.Context, sql string, args ...any) ([][][]byte, error) {
		rows, err := q.Query(ctx, sql, append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, args...)...)
		if err != nil {
			return nil, err
		}
		return collectRows(rows)
	}
}

func collectRows(rows pgx.Rows) ([][][]byte, error) {
	defer rows.Close()
	var batch [][][]byte
	for rows.Next() {
		raw := rows.RawValues()
		row := make([][]byte, len(raw))
		for i, v := range raw {
			if v != nil {
				row[i] = append([]byte{}, v...)
			}
		}
		batch = append(batch, row)
	}
	return batch, rows.Err()
}

// catalogRelation is a configured table's shape from the catalog.
func (r *Reader) catalogRelation(ctx context.Context, t string) (*relation, error) {
	schema, name := splitTable(t)
	oid, names, cat, err := loadCatalog(ctx, r.db, schema, name)
	if err != nil {
		return nil, err
	}
	oids := make([]uint32, len(names))
	for i, n := range names {
		oids[i] = cat[n].typeOID
	}
	return buildRelation(oid, schema, name, names, oids, nil, cat, r.exclude[t]), nil
}

func (r *Reader) estimate(ctx context.Context, rel *relation) int64 {
	var n float64
	_ = r.db.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = $1`, rel.oid).Scan(&n)
	return max(int64(n), 0)
}

func (r *Reader) setProgress(p cdc.TableProgress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.progress {
		if r.progress[i].Table == p.Table && r.progress[i].Kind == p.Kind && r.progress[i].ID == p.ID {
			r.progress[i] = p
			return
		}
	}
	r.progress = append(r.progress, p)
	// Only the latest backfills are kept: a source may be backfilled
	// many times over its life.
	n := 0
	for _, q := range r.progress {
		if q.Kind == "backfill" {
			n++
		}
	}
	for i := 0; n > maxBackfills && i < len(r.progress); {
		if r.progress[i].Kind == "backfill" {
			r.progress = slices.Delete(r.progress, i, i+1)
			n--
			continue
		}
		i++
	}
}

// readChunks reads rel's rows after the key after (nil: from the start),
// ChunkSize at a time in key order, filtered by where, and emits each as op
// "r" with an id starting "<slot>:<idPrefix>:". After each chunk is
// confirmed it calls saved with the chunk's last key. A table without a
// primary key is read in one pass.
//
// Each chunk is read and emitted holding emitMu, which the stream holds
// from a transaction's first change to its commit: the chunk is read after
// every change the stream handed on and before any it hands on next. A row
// read can thus only be newer than what came before it on the bus, and a
// change committed after the read comes after it, so the last event per
// key stays the table's while streaming goes on.
func (r *Reader) readChunks(ctx context.Context, read chunkReader, rel *relation, where string, after []string,
	saved func(last []string, rows int64, done bool) error, snapMark func(done bool) string, idPrefix string) error {
	cols := make([]string, len(rel.cols))
	for i, c := range rel.cols {
		cols[i] = quoteIdent(c.name)
	}
	var keyCols, keyParams []string
	for j, i := range rel.keyIdx {
		keyCols = append(keyCols, quoteIdent(rel.cols[i].name))
		keyParams = append(keyParams, fmt.Sprintf("$%d::text::%s", j+1, rel.cols[i].sqlType))
	}
	for {
		var conds []string
		var args []any
		if where != "" {
			conds = append(conds, "("+where+")")
		}
		limit := ""
		if len(keyCols) > 0 {
			if after != nil {
				conds = append(conds, "("+strings.Join(keyCols, ", ")+") > ("+strings.Join(keyParams, ", ")+")")
				for _, a := range after {
					args = append(args, a)
				}
			}
			limit = fmt.Sprintf(" ORDER BY %s LIMIT %d", strings.Join(keyCols, ", "), ChunkSize+1)
		}
		sql := "SELECT " + strings.Join(cols, ", ") + " FROM " + rel.quoted()
		if len(conds) > 0 {
			sql += " WHERE " + strings.Join(conds, " AND ")
		}
		sql += limit
		last, n, seq, done, err := r.chunk(ctx, read, rel, sql, args, len(keyCols) == 0, snapMark, idPrefix)
		if err != nil {
			return err
		}
		if n > 0 {
			if err := r.waitSnapConfirmed(ctx, seq); err != nil {
				return err
			}
			after = last
		}
		if err := saved(after, n, done); err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// chunk reads and emits one chunk under emitMu (see readChunks) and answers
// its last key, its row count, the last row's sequence and whether the
// table is done.
func (r *Reader) chunk(ctx context.Context, read chunkReader, rel *relation, sql string, args []any, onePass bool,
	snapMark func(done bool) string, idPrefix string) (last []string, n int64, seq int64, done bool, err error) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	batch, err := read(ctx, sql, args...)
	if err != nil {
		return nil, 0, 0, false, fmt.Errorf("postgres: %s %s: %w", idPrefix, rel.qualified(), err)
	}
	done = onePass || len(batch) <= ChunkSize
	if !done {
		batch = batch[:ChunkSize]
	}
	for i, row := range batch {
		mark := snapMark(false)
		if done && i == len(batch)-1 {
			mark = snapMark(true)
		}
		seq = r.snapSeq.Add(1)
		if last, err = r.emitRow(ctx, rel, row, mark, idPrefix, snapshotPos(seq)); err != nil {
			return nil, 0, 0, false, err
		}
	}
	return last, int64(len(batch)), seq, done, nil
}

// emitRow emits one snapshot or backfill row and returns its key as text.
// The caller holds emitMu.
func (r *Reader) emitRow(ctx context.Context, rel *relation, raw [][]byte, mark, idPrefix string, pos snapshotPos) ([]string, error) {
	t := &pglogrepl.TupleData{Columns: make([]*pglogrepl.TupleDataColumn, len(raw))}
	for i, v := range raw {
		if v == nil {
			t.Columns[i] = &pglogrepl.TupleDataColumn{DataType: pglogrepl.TupleDataTypeNull}
		} else {
			t.Columns[i] = &pglogrepl.TupleDataColumn{DataType: pglogrepl.TupleDataTypeText, Data: v}
		}
	}
	after, err := r.row(rel, t, nil, false)
	if err != nil {
		return nil, err
	}
	key, err := r.key(rel, t)
	if err != nil {
		return nil, err
	}
	var keyText []string
	for _, i := range rel.keyIdx {
		keyText = append(keyText, string(raw[i]))
	}
	id := strings.Join(keyText, ",")
	if len(keyText) > 1 {
		b, _ := json.Marshal(keyText)
		id = string(b)
	}
	now := time.Now()
	c := &cdc.Change{
		ID: r.slot + ":" + idPrefix + ":" + rel.qualified() + ":" + id, Table: rel.table, Key: key, Time: now, EndOfTx: true, Position: pos,
		Value: cdc.Value{Before: nullable(nil), After: after, Op: cdc.OpRead, TsMs: now.UnixMilli(),
			Source: cdc.Source{Connector: Connector, Name: r.name, DB: r.dbName, Schema: rel.schema, Table: rel.name, TsMs: now.UnixMilli(), Snapshot: mark}},
	}
	if err := r.emitter.Emit(ctx, c); err != nil {
		return nil, fmt.Errorf("postgres: emit %s: %w", c.ID, err)
	}
	return keyText, nil
}

// waitSnapConfirmed waits until Confirm was given snapshot row seq.
func (r *Reader) waitSnapConfirmed(ctx context.Context, seq int64) error {
	for r.snapConfirmed.Load() < seq {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.confirmSignal:
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}
