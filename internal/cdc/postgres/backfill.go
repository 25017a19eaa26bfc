package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/oklog/ulid/v2"

	"github.com/weir-dev/weir/internal/cdc"
)

// BackfillStatementTimeout bounds each query of a backfill (its
// statement_timeout): the condition is an administrator's SQL, and a chunk
// holds the stream back while it is read.
var BackfillStatementTimeout = 30 * time.Second

// maxBackfills is how many finished backfills Status keeps showing.
const maxBackfills = 16

// Backfill reads the rows of a captured table that match where (a SQL
// condition, empty for every row) again, in key-ordered chunks while
// streaming goes on, and emits them as op "r" with source.snapshot
// "incremental" and ids "<slot>:backfill:<id>:<schema.table>:<key>". It
// checks the table and the condition, then returns the backfill's id at
// once; Status().Snapshot shows its progress (Kind "backfill").
//
// where is an administrator's SQL: each query runs in a READ ONLY
// transaction with a statement_timeout of BackfillStatementTimeout. One
// backfill runs at a time (cdc.ErrBackfillRunning).
func (r *Reader) Backfill(ctx context.Context, table, where string) (string, error) {
	schema, name := splitTable(table)
	q := schema + "." + name
	if !slices.Contains(r.tableNames, q) {
		return "", &cdc.BackfillError{Field: "table", Reason: fmt.Sprintf("%s is not captured by this source (it captures %s)", q, strings.Join(r.tableNames, ", "))}
	}
	r.mu.Lock()
	running, db, runCtx := r.cancel != nil, r.db, r.runCtx
	busy := r.backfilling
	r.mu.Unlock()
	if !running {
		return "", cdc.ErrPaused
	}
	if busy {
		return "", cdc.ErrBackfillRunning
	}
	rel, err := r.catalogRelation(ctx, q)
	if err != nil {
		return "", fmt.Errorf("postgres: backfill %s: %w", q, err)
	}
	read := r.readOnly(db)
	if where != "" {
		// The condition is checked before the answer: a typo is the
		// caller's 400, not a backfill that fails later.
		if _, err := read(ctx, "SELECT 1 FROM "+rel.quoted()+" WHERE ("+where+") LIMIT 0"); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				return "", &cdc.BackfillError{Field: "where", Reason: "PostgreSQL refuses it: " + pe.Message, Err: err}
			}
			return "", fmt.Errorf("postgres: backfill %s: %w", q, err)
		}
	}
	id := strings.ToLower(ulid.Make().String())
	r.mu.Lock()
	if r.cancel == nil {
		r.mu.Unlock()
		return "", cdc.ErrPaused
	}
	if r.backfilling {
		r.mu.Unlock()
		return "", cdc.ErrBackfillRunning
	}
	r.backfilling = true
	r.backfills.Add(1)
	r.mu.Unlock()
	r.setProgress(cdc.TableProgress{Table: q, Kind: "backfill", ID: id, Where: where, Estimate: r.estimate(ctx, rel)})
	go func() {
		defer r.backfills.Done()
		r.backfill(runCtx, rel, id, where, read)
		r.mu.Lock()
		r.backfilling = false
		r.mu.Unlock()
	}()
	return id, nil
}

// backfill reads and emits the rows, recording progress.
func (r *Reader) backfill(ctx context.Context, rel *relation, id, where string, read chunkReader) {
	p := cdc.TableProgress{Table: rel.qualified(), Kind: "backfill", ID: id, Where: where, Estimate: r.estimate(ctx, rel)}
	r.log.Info("backfill started", "id", id, "table", p.Table, "where", where)
	err := r.emitter.TableChanged(ctx, rel.table)
	if err == nil {
		err = r.readChunks(ctx, read, rel, where, nil, func(_ []string, rows int64, done bool) error {
			p.Rows += rows
			p.Estimate = max(p.Estimate, p.Rows)
			p.Done = done
			r.setProgress(p)
			return nil
		}, func(bool) string { return "incremental" }, "backfill:"+id)
	}
	if err != nil {
		if ctx.Err() != nil {
			err = errors.New("weir stopped or the source was paused before the backfill was done")
		}
		p.Error = err.Error()
		r.setProgress(p)
		r.log.Warn("backfill stopped", "id", id, "table", p.Table, "rows", p.Rows, "err", err)
		return
	}
	r.log.Info("backfill done", "id", id, "table", p.Table, "rows", p.Rows)
}

// readOnly is a chunkReader that runs each query in its own READ ONLY
// transaction with BackfillStatementTimeout.
func (r *Reader) readOnly(db interface {
	BeginTx(context.Context, pgx.TxOptions) (pgx.Tx, error)
}) chunkReader {
	return func(ctx context.Context, sql string, args ...any) ([][][]byte, error) {
		tx, err := db.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
		if err != nil {
			return nil, err
		}
		defer tx.Rollback(context.Background())
		ms := max(BackfillStatementTimeout.Milliseconds(), 1)
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", ms)); err != nil {
			return nil, err
		}
		return readWith(tx)(ctx, sql, args...)
	}
}
