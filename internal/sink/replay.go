package sink

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/lifecycle"
)

// ReplayFrom is where a replay starts: at a time, or at a sequence of the
// EVENTS stream. Exactly one is set.
type ReplayFrom struct {
	// Time: the first event stored at or after it.
	Time time.Time
	// Seq: the event of that sequence, or the next one the stream holds.
	Seq uint64
}

// Replayed is what a replay did.
type Replayed struct {
	// Sink replayed.
	Sink string `json:"sink"`
	// From and FromSeq are where its consumer now starts.
	From    time.Time `json:"from,omitzero"`
	FromSeq uint64    `json:"from_seq,omitempty"`
	// Pending is how many events the sink will load again (its lag now).
	Pending uint64 `json:"pending"`
	// Note says what a replay does to the store.
	Note string `json:"note"`
}

// replayNote is what a replay does, told to whoever asks for one.
const replayNote = "the sink's consumer now starts here: every event of its types stored since then is loaded again, including those already loaded; the store's de-duplication (ReplacingMergeTree by event id for ClickHouse) keeps one copy of each"

// Replay re-positions a sink's durable consumer: this node's runner
// writes the batch in hand and stops, the consumer is deleted and created
// again at from, and the runner starts again (if the sink is not paused).
// Every event since from is loaded again, those loaded already included;
// the Sink contract makes that harmless. Runners of other nodes read from
// the consumer by its name and carry on with the new one. Errors:
// ErrNotFound, a *field.Error for from or from_seq, bus.ErrUnavailable.
func (m *Manager) Replay(ctx context.Context, name string, from ReplayFrom) (*Replayed, error) {
	switch {
	case from.Time.IsZero() && from.Seq == 0:
		return nil, field.Errorf("from", "give from (an RFC 3339 time) or from_seq (a stream sequence, from 1)")
	case !from.Time.IsZero() && from.Seq != 0:
		return nil, field.Errorf("from_seq", "give from or from_seq, not both")
	}
	m.changeMu.Lock()
	defer m.changeMu.Unlock()
	m.mu.Lock()
	e := m.sinks[name]
	m.mu.Unlock()
	if e == nil {
		return nil, ErrNotFound
	}
	if _, err := m.bucket(); err != nil {
		return nil, err
	}
	m.stopRunner(e)
	cc := ConsumerConfig(name, e.spec, Batching{MaxRows: maxRows(e), MaxWait: time.Second}, m.ackWait(e))
	out := &Replayed{Sink: name, Note: replayNote}
	if from.Seq != 0 {
		cc.DeliverPolicy, cc.OptStartSeq, out.FromSeq = jetstream.DeliverByStartSequencePolicy, from.Seq, from.Seq
	} else {
		t := from.Time.UTC()
		cc.DeliverPolicy, cc.OptStartTime, out.From = jetstream.DeliverByStartTimePolicy, &t, t
	}
	// The runner starts again whatever happens below, with a context of
	// its own: ctx may have ended.
	defer func() {
		rctx, cancel := context.WithTimeout(m.background(), stopWait)
		defer cancel()
		m.restart(rctx, e)
	}()
	err := m.js.DeleteConsumer(ctx, bus.EventsStream, cc.Durable)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, bus.Unavailable("deleting the sink's consumer", err)
	}
	cons, err := m.recreate(ctx, cc)
	if err != nil {
		return nil, bus.Unavailable("creating the sink's consumer", err)
	}
	out.Pending = cons.CachedInfo().NumPending
	return out, nil
}

// recreate creates the consumer a replay deleted, retrying until it is
// created or ctx ends. Once the old consumer is gone, giving up would have
// the restarted runner create it again at the sink's start (new events
// only, by default) and skip what the replay was to load; so after ctx
// ends it is tried a little longer on the manager's own context.
func (m *Manager) recreate(ctx context.Context, cc jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	try := func(ctx context.Context) (jetstream.Consumer, error) {
		for attempt := 1; ; attempt++ {
			cons, err := m.js.CreateConsumer(ctx, bus.EventsStream, cc)
			if err == nil || ctx.Err() != nil {
				return cons, err
			}
			m.log.Warn("a replay could not create the sink's consumer again; trying again", slog.String("consumer", cc.Durable), slog.Any("error", err))
			if !lifecycle.Sleep(ctx, DefaultBackoff.Delay(attempt, nil)) {
				return nil, err
			}
		}
	}
	cons, err := try(ctx)
	if err == nil {
		return cons, nil
	}
	last, cancel := context.WithTimeout(m.background(), stopWait)
	defer cancel()
	if cons, lerr := try(last); lerr == nil {
		return cons, nil
	}
	return nil, err
}

// restart starts e's runner again unless the sink is paused.
func (m *Manager) restart(ctx context.Context, e *entry) {
	m.mu.Lock()
	paused := e.state.State == StateDisabled || m.stopped
	m.mu.Unlock()
	if paused {
		return
	}
	if err := m.startRunner(ctx, e); err != nil {
		m.log.Error("sink not restarted after its replay", slog.String("sink", e.name), slog.Any("error", err))
	}
}

// maxRows is e's batch size as its consumer needs it (MaxAckPending).
func maxRows(e *entry) int {
	if e.spec.ClickHouse != nil {
		return e.spec.ClickHouse.Batch.MaxRows
	}
	return 10000
}

// ackWait is what a runner of e would use (RunnerConfig.AckWait).
func (m *Manager) ackWait(e *entry) time.Duration {
	if m.cfg.AckWait > 0 {
		return m.cfg.AckWait
	}
	if e.spec.ClickHouse != nil {
		return e.spec.ClickHouse.Batch.MaxWait.D() + 30*time.Second
	}
	return 31 * time.Second
}
