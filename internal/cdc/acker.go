package cdc

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/lifecycle"
)

// rememberBatch is the most de-duplication records the acker writes at once.
const rememberBatch = 512

// recordsEvery is how often at most the acker writes records while it waits
// for the bus under load; a confirm writes them at once in any case.
const recordsEvery = 10 * time.Millisecond

// ack follows the bus's acks in Emit order until Stop. A change counts as
// stored only once it and every change before it are acked; the position of
// the latest stored end of transaction is handed to Confirm, at most every
// ConfirmEvery while changes keep coming and at once when none wait.
//
// A failed publish (the bus down, no ack in time) is retried with the same
// message id, and so is every change after it that was already sent: the
// stream's de-duplication drops those it had stored, and the order on the
// bus is kept except for changes the bus stored before the one that failed
// (a stored change cannot be taken back).
func (p *Publisher) ack(ctx context.Context) {
	var (
		remember    []bus.Record // stored changes whose de-duplication records are not written yet
		tx          string       // the transaction of the last stored change with a Tx
		txIndex     int          // how far into tx the bus has stored
		txDirty     bool         // tx's record is not written yet
		confirmable any          // the position to confirm next
		dirty       bool         // confirmable was not handed to Confirm yet
		lastConfirm time.Time
		lastFlush   time.Time
		wait        = 50 * time.Millisecond
	)
	// Records are written in batches: before a confirm, every rememberBatch
	// changes, and when the acker waits, at most every recordsEvery. Only
	// after the ack: a failed publish leaves no record behind.
	flushRecords := func() {
		lastFlush = time.Now()
		if txDirty {
			remember = append(remember, txRecord(p.cfg.Name, tx, txIndex))
			txDirty = false
		}
		_ = p.bus.RememberAll(remember)
		clear(remember)
		remember = remember[:0]
	}
	confirm := func() {
		flushRecords()
		if dirty {
			p.cfg.Confirm(confirmable)
			dirty = false
		}
		// Also when there was nothing to confirm (a long transaction): the
		// records are not written again before ConfirmEvery has passed.
		lastConfirm = time.Now()
	}
	defer confirm()
	for {
		head, retrying, stopping := p.head()
		if head == nil {
			confirm()
			if stopping {
				close(p.drained)
				return
			}
			select {
			case <-p.wake:
			case <-ctx.Done():
				return
			}
			continue
		}
		if retrying {
			if !p.republish() {
				flushRecords() // the local store may take them while the bus is down
				if !lifecycle.Sleep(ctx, wait) {
					return
				}
				wait = min(wait*2, 5*time.Second)
				continue
			}
		}
		stored := head.done
		if !stored {
			// Most heads are acked already under load: take the ack without
			// timers; otherwise write the records while waiting (not every
			// time: a transaction's record would be written again and again).
			select {
			case <-head.fut.Ok():
				stored = true
				wait = 50 * time.Millisecond
			default:
				if time.Since(lastFlush) >= recordsEvery {
					flushRecords()
				}
			}
		}
		if !stored {
			var flush <-chan time.Time
			if dirty {
				flush = time.After(max(0, p.cfg.ConfirmEvery-time.Since(lastConfirm)))
			}
			timeout := time.NewTimer(p.cfg.AckTimeout)
			select {
			case <-head.fut.Ok():
				stored = true
				wait = 50 * time.Millisecond
			case err := <-head.fut.Err():
				p.cfg.Log.WarnContext(ctx, "cdc: change not stored; retrying it and the changes after it", slog.String("source", p.cfg.Name), slog.String("id", head.c.ID), slog.Any("error", err))
				p.setFailing()
			case <-flush:
				confirm()
			case <-timeout.C:
				p.cfg.Log.WarnContext(ctx, "cdc: no ack from the bus in time; retrying", slog.String("source", p.cfg.Name), slog.String("id", head.c.ID))
				p.setFailing()
			case <-ctx.Done():
				timeout.Stop()
				return
			}
			timeout.Stop()
			if !stored {
				continue
			}
		}
		if !head.done {
			p.cfg.Metrics.published(p.cfg.Name)
			switch c := head.c; {
			case c.Tx == "":
				remember = append(remember, bus.Record{Key: head.key})
			case txDirty && c.Tx != tx:
				remember = append(remember, txRecord(p.cfg.Name, tx, txIndex))
				fallthrough
			default:
				// Changes are stored in order: every change of the
				// transaction up to this one is on the bus.
				tx, txIndex, txDirty = c.Tx, c.TxIndex, true
			}
			if len(remember) >= rememberBatch {
				flushRecords()
			}
		}
		if head.c.EndOfTx {
			confirmable, dirty = head.c.Position, true
		}
		if p.pop() == 0 || time.Since(lastConfirm) >= p.cfg.ConfirmEvery {
			confirm()
		}
	}
}

// txRecord is the de-duplication record saying that every change of
// transaction tx up to index is stored.
func txRecord(name, tx string, index int) bus.Record {
	return bus.Record{Key: txKey(name, tx), Value: strconv.AppendInt(nil, int64(index), 10)}
}

// txKey is the record key of a transaction; change ids never hold a NUL, so
// it is never a change's key.
func txKey(name, tx string) string { return DedupeKey(name, "tx\x00"+tx) }

// head is the oldest change waiting, whether the acker must republish from
// it, and whether Stop began.
func (p *Publisher) head() (*entry, bool, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		return nil, false, p.stopping
	}
	return p.queue[0], p.failing || (p.queue[0].fut == nil && !p.queue[0].done), p.stopping
}

// pop removes the head, frees its slot and returns how many remain.
func (p *Publisher) pop() int {
	p.mu.Lock()
	p.queue[0] = nil
	p.queue = p.queue[1:]
	n := len(p.queue)
	p.mu.Unlock()
	<-p.slots
	p.cfg.Metrics.pending(p.cfg.Name, len(p.slots))
	return n
}

func (p *Publisher) setFailing() {
	p.mu.Lock()
	p.failing = true
	p.mu.Unlock()
}

// republish sends every waiting change again, in order; false when one
// failed at once (the bus is down), leaving the publisher failing.
func (p *Publisher) republish() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.queue {
		if e.done {
			continue
		}
		if err := p.publish(e); err != nil {
			p.failing = true
			return false
		}
	}
	p.failing = false
	return true
}
