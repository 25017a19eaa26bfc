package postgres

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
)

// statusWriter sends standby status updates on one replication connection,
// from the stream's goroutine and from its keeper. The mutex keeps two
// updates from interleaving on the socket; reads (the stream's) need no
// lock, a net.Conn being safe for one reader and one writer at once.
type statusWriter struct {
	conn *pgconn.PgConn

	mu     sync.Mutex
	sent   pglogrepl.LSN // the flush position last reported
	sentAt time.Time
}

// send reports flush, or what was reported before when that is further: a
// position once reported stays safe, and the slot never goes back.
func (w *statusWriter) send(ctx context.Context, flush pglogrepl.LSN, reply bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	flush = max(flush, w.sent)
	err := pglogrepl.SendStandbyStatusUpdate(ctx, w.conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: flush, WALFlushPosition: flush, WALApplyPosition: flush, ReplyRequested: reply,
	})
	if err != nil {
		return fmt.Errorf("postgres: status update: %w", err)
	}
	w.sent, w.sentAt = flush, time.Now()
	return nil
}

// last is the position last reported and when.
func (w *statusWriter) last() (pglogrepl.LSN, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sent, w.sentAt
}

// keep sends a status update every statusEvery while the stream's goroutine
// is busy with one message for longer than that: Emit blocks while the bus
// is behind, a backfill's chunk holds emitMu, a contract waits for the
// registry. Without it the server ends the connection after
// wal_sender_timeout (60 s by default), and the reader starts over. The
// position is only ever what Confirm was given (or what was reported
// before), never a keepalive's: the stream is in the middle of a
// transaction. busy is when the stream began its current message (Unix
// ns), 0 between messages. keep returns when ctx ends.
func (w *statusWriter) keep(ctx context.Context, busy *atomic.Int64, confirmed *atomic.Uint64) {
	t := time.NewTicker(statusEvery / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		since := busy.Load()
		if since == 0 || time.Since(time.Unix(0, since)) < statusEvery {
			continue
		}
		if _, at := w.last(); time.Since(at) < statusEvery {
			continue
		}
		// A failed write shows in the stream's next read, which ends it.
		_ = w.send(ctx, pglogrepl.LSN(confirmed.Load()), false)
	}
}
