package sink

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/delivery/filter"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/lifecycle"
)

// fillSlice is the longest fetch while a batch fills: how long Stop may
// wait for the batch in hand to stop growing.
const fillSlice = 100 * time.Millisecond

// pending is one event in hand: its bus message and its record.
type pending struct {
	msg jetstream.Msg
	rec Record
	// got is when the runner took the event, set on a batch's first only:
	// the bus's AckWait of the whole batch runs out first for it.
	got time.Time
}

// fill reads events until the batch holds MaxRows of them or MaxBytes of
// their bytes, its first has waited MaxWait, or Stop asks for the batch in
// hand. Events the filter skips are acknowledged at once; events that
// cannot be read or judged become dead letters.
func (r *Runner) fill() []pending {
	var batch []pending
	var deadline time.Time
	size := 0      // bytes of the events in batch
	empty := false // the last fetch brought nothing
	for len(batch) < r.batch.MaxRows && size < r.batch.MaxBytes && r.soft.Err() == nil {
		var msgs jetstream.MessageBatch
		var err error
		cancel := func() {}
		if len(batch) == 0 {
			// An empty batch asks for one event, so that the first to come
			// starts the batch's clock at once. Stop ends this wait.
			var ctx context.Context
			ctx, cancel = context.WithTimeout(r.soft, idlePoll)
			msgs, err = r.cons.Fetch(1, jetstream.FetchContext(ctx))
		} else {
			// Then the rest, until the clock runs out, in slices of at
			// most fillSlice. The bus ends each of these fetches itself,
			// after the last event it sent: a fetch ended by the client's
			// clock drops the events on their way, which the bus then
			// holds back until AckWait.
			wait := min(time.Until(deadline), fillSlice)
			if wait < time.Millisecond {
				break
			}
			//
			// A fetch asks for no more bytes than the batch has room for:
			// every event it hands over is kept. The bus ends a fetch
			// whose next event does not fit, at once and empty; so after
			// an empty fetch the next one asks for one event whatever
			// its size, which is the most a batch passes its budget by.
			if empty {
				msgs, err = r.cons.Fetch(1, jetstream.FetchMaxWait(wait))
			} else {
				msgs, err = r.cons.Fetch(r.batch.MaxRows-len(batch), jetstream.FetchMaxWait(wait),
					jetstream.FetchMaxBytes(r.batch.MaxBytes-size))
			}
		}
		if err == nil {
			n := len(batch)
			r.take(msgs, &batch, &size, &deadline)
			empty = len(batch) == n
			err = msgs.Error()
		}
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && !errors.Is(err, nats.ErrTimeout) {
			r.cfg.Progress.failed(err)
			r.log.Warn("cannot read the sink's events from the bus; trying again", slog.Any("error", err))
			lifecycle.Sleep(r.soft, time.Second)
		}
	}
	return batch
}

// take adds a fetch's events to batch, and their bytes to size, until the
// fetch ends; the first event starts the batch's clock. Stop ends an idle fetch at once (its
// context) and a filling one within fillSlice; take still reads it to its
// end, so that no event is left with a fetch nobody reads.
func (r *Runner) take(msgs jetstream.MessageBatch, batch *[]pending, size *int, deadline *time.Time) {
	for msg := range msgs.Messages() {
		if p, ok := r.admit(msg); ok {
			if len(*batch) == 0 {
				p.got = time.Now()
				*deadline = p.got.Add(r.batch.MaxWait)
			}
			*batch = append(*batch, p)
			*size += len(p.rec.Raw)
		}
	}
}

// admit turns a message into a record the batch takes, or settles it
// (skipped by the filter, or a dead letter) and returns false.
func (r *Runner) admit(msg jetstream.Msg) (pending, bool) {
	p := pending{msg: msg, rec: Record{Raw: msg.Data()}}
	if meta, err := msg.Metadata(); err == nil {
		p.rec.Seq, p.rec.ReceivedAt = meta.Sequence.Stream, meta.Timestamp
	}
	ev, err := event.Decode(msg.Data())
	if err != nil {
		r.deadLetter(r.hard, p, "the event stored on the bus cannot be read as a CloudEvent: "+err.Error(),
			"The bus holds an event weir cannot read, so no sink can store it. Resolve this dead letter; if it keeps happening, something other than weir publishes on the bus's events subjects.", err)
		return pending{}, false
	}
	p.rec.Event = ev
	ok, err := r.filter.Match(&ev)
	if err != nil && (errors.Is(err, filter.ErrLimit) || errors.Is(err, filter.ErrData)) {
		r.deadLetter(r.hard, p, "the sink's filter could not judge the event: "+err.Error(),
			"The sink's filter cannot decide on this event (its data is not JSON the filter can read, or the filter does too much work on it). Make the filter simpler or fix the sender, then replay the sink from before the event and resolve this dead letter; resolve it alone if the sink should not have it.", err)
		return pending{}, false
	}
	if !ok {
		_ = msg.Ack()
		return pending{}, false
	}
	return p, true
}

// write writes batch, retrying a transient failure with backoff until it
// succeeds or ctx ends, and splitting a refused batch in halves until the
// refused records stand alone; those become dead letters. Each event is
// acknowledged once it is stored or dead-lettered, never before. The
// caller tells the bus the batch is at work meanwhile (holding).
func (r *Runner) write(ctx context.Context, batch []pending) {
	recs := make([]Record, len(batch))
	for i, p := range batch {
		recs[i] = p.rec
	}
	for attempt := 1; ctx.Err() == nil; attempt++ {
		start := time.Now()
		err := r.cfg.Sink.Write(ctx, recs)
		r.cfg.Metrics.wrote(r.cfg.Name, time.Since(start), err)
		if err == nil {
			r.ack(ctx, batch)
			r.cfg.Progress.wrote(len(batch))
			r.cfg.Metrics.rows(r.cfg.Name, len(batch))
			return
		}
		if ctx.Err() != nil {
			return // killed: what the store did is unknown, and nothing is acknowledged
		}
		if refused, ok := Refused(err); ok {
			if len(batch) == 1 {
				r.deadLetter(ctx, batch[0], "the store refused the event: "+refused.Reason, deadletter.SinkGuidance, err)
				return
			}
			half := len(batch) / 2
			r.write(ctx, batch[:half])
			r.write(ctx, batch[half:])
			return
		}
		r.cfg.Progress.failed(err)
		d := r.backoff.Delay(attempt, nil)
		r.log.Warn("the sink's store did not take the batch; writing it again", slog.Int("rows", len(batch)),
			slog.Int("attempt", attempt), slog.Duration("retry_in", d), slog.Any("error", err))
		if !lifecycle.Sleep(ctx, d) {
			return
		}
	}
}

// holding tells the bus every AckWait/3 that batch is still being worked
// on, until release is called, so that a slow store or a long backoff does
// not have the bus hand the same events to another node meanwhile.
func (r *Runner) holding(ctx context.Context, batch []pending) (release func()) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		// The bus's AckWait runs from when each event was handed out, the
		// batch's first earliest: the first signal is due a third of it after
		// that event, not after the batch was filled, which took up to
		// max_wait already.
		every := r.cfg.AckWait / 3
		next := time.Now().Add(every)
		if got := batch[0].got; !got.IsZero() {
			next = got.Add(every)
		}
		t := time.NewTimer(time.Until(next))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				for _, p := range batch {
					_ = p.msg.InProgress()
				}
				t.Reset(every)
			}
		}
	})
	return func() {
		close(stop)
		wg.Wait()
	}
}

// ack acknowledges a stored batch. Every ack but the last is sent without
// waiting; the last is a double ack, which waits for the bus to confirm it.
// The bus handles one connection's acks in order, so its confirmation says
// the batch's earlier acks were taken too: one round trip per batch instead
// of one per event, which matters at 10,000 events a batch. An ack that is
// lost only means the event is written again (at-least-once), never lost.
func (r *Runner) ack(ctx context.Context, batch []pending) {
	for _, p := range batch[:len(batch)-1] {
		_ = p.msg.Ack()
	}
	// The store took the batch: its acks go out even when the runner is
	// being stopped.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := batch[len(batch)-1].msg.DoubleAck(actx); err != nil {
		r.log.Warn("the bus did not confirm the acks of a stored batch; its events may be written again", slog.Int("rows", len(batch)), slog.Any("error", err))
	}
}

// deadLetter keeps p as a dead letter of kind sink, retrying the store
// with backoff until ctx ends, then acknowledges it.
func (r *Runner) deadLetter(ctx context.Context, p pending, reason, guidance string, cause error) {
	d := &deadletter.DeadLetter{
		Kind:      deadletter.KindSink,
		Sink:      r.cfg.Name,
		EventID:   p.rec.Event.ID,
		EventType: p.rec.Event.Type,
		StreamSeq: p.rec.Seq,
		Event:     p.rec.Raw,
		Reason:    reason,
		Guidance:  guidance,
		LastError: cause.Error(),
	}
	if d.EventID == "" {
		d.EventID = p.msg.Headers().Get(bus.HeaderEventID)
		d.EventType = p.msg.Headers().Get(bus.HeaderEventType)
	}
	if len(d.Event) > 0 && !jsonValid(d.Event) {
		// The dead letter is JSON; bytes that are not are kept as a string.
		d.Event = quoteJSON(d.Event)
	}
	for attempt := 1; ; attempt++ {
		err := r.cfg.DeadLetters.Add(ctx, d)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("cannot store a dead letter; trying again", slog.String("event_id", d.EventID), slog.Any("error", err))
		if !lifecycle.Sleep(ctx, r.backoff.Delay(attempt, nil)) {
			return
		}
	}
	r.log.Info("an event became a dead letter of the sink", slog.String("event_id", d.EventID), slog.String("reason", reason))
	r.cfg.Progress.deadLettered()
	r.cfg.Metrics.deadLettered(r.cfg.Name)
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = p.msg.DoubleAck(actx)
}
