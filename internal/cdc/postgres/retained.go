package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weir-dev/weir/internal/config"
)

// RetainedCheckEvery is how often a running reader measures the WAL its
// slot keeps, and warns when it is above max_retained_wal.
var RetainedCheckEvery = time.Minute

// retainedWarnEvery is how often the warning is logged again while the
// slot stays above max_retained_wal.
const retainedWarnEvery = 15 * time.Minute

// maxRetained is the source's max_retained_wal.
func (r *Reader) maxRetained() int64 {
	if r.pg.MaxRetainedWAL > 0 {
		return r.pg.MaxRetainedWAL
	}
	return config.DefaultMaxRetainedWAL
}

// retainedBytes is the WAL the slot keeps (pg_current_wal_lsn() minus its
// restart_lsn); false when it cannot be read.
func (r *Reader) retainedBytes(ctx context.Context, db *pgxpool.Pool) (int64, bool) {
	var n *int64
	err := db.QueryRow(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::int8 FROM pg_replication_slots WHERE slot_name = $1`, r.slot).Scan(&n)
	if err != nil || n == nil {
		return 0, false
	}
	return *n, true
}

// watchRetained measures the retained WAL every RetainedCheckEvery until
// ctx ends, warning when it passes max_retained_wal (again every
// retainedWarnEvery while it stays above, and once when it is back under),
// whether or not anyone reads the status.
func (r *Reader) watchRetained(ctx context.Context, db *pgxpool.Pool) {
	t := time.NewTicker(RetainedCheckEvery)
	defer t.Stop()
	var warnedAt time.Time
	over := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, ok := r.retainedBytes(qctx, db)
		cancel()
		if !ok {
			continue
		}
		limit := r.maxRetained()
		switch {
		case n > limit && (!over || time.Since(warnedAt) >= retainedWarnEvery):
			r.log.WarnContext(ctx, "the replication slot keeps more WAL than max_retained_wal: the database's disk fills while it does; see GET /v1/cdc/"+r.name,
				"slot", r.slot, "retained_bytes", n, "max_retained_wal", limit)
			over, warnedAt = true, time.Now()
		case n <= limit && over:
			r.log.InfoContext(ctx, "the replication slot keeps less WAL than max_retained_wal again", "slot", r.slot, "retained_bytes", n, "max_retained_wal", limit)
			over = false
		}
	}
}
