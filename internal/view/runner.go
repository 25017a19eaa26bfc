package view

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/lifecycle"
)

// errRunnerStarted means a runner was started twice or after Stop.
var errRunnerStarted = errors.New("view runner: already started or stopped")

// fetchBatch is how many events one read from the bus asks for; the
// position is saved after each.
const fetchBatch = 256

// runner keeps one generation of a view up to date: it reads the events of
// the view's types in stream order, from just after its saved position,
// and applies them one at a time.
//
// It reads with an ordered consumer and its own position, not a durable
// consumer with acks: "a record at sequence s has every earlier event
// applied" holds only if events are applied in stream order with no gap.
// A durable consumer breaks that after a stop or a crash: the events that
// were delivered and not acked come back only after the ack wait, while
// newer ones are delivered at once, so a record would move past an event
// not yet applied and then skip it as already counted.
type runner struct {
	spec    *Spec
	gen     uint64
	st      *store
	js      jetstream.JetStream
	states  jetstream.KeyValue
	log     *slog.Logger
	metrics *Metrics
	// caughtUp is called whenever the runner has applied every event the
	// bus holds (a rebuild swaps then).
	caughtUp func(gen uint64)
	// serving is set while this generation is the one reads use; only then
	// does it report weir_view_lag.
	serving atomic.Bool

	lag  atomic.Int64 // -1 until known
	live atomic.Bool  // caught up at least once
	once lifecycle.Once
}

func newRunner(spec *Spec, gen uint64, st *store, js jetstream.JetStream, states jetstream.KeyValue, m *Metrics, log *slog.Logger, caughtUp func(uint64)) *runner {
	r := &runner{spec: spec, gen: gen, st: st, js: js, states: states, metrics: m, caughtUp: caughtUp,
		log: log.With(slog.String("view", spec.Name), slog.Uint64("generation", gen))}
	r.lag.Store(-1)
	return r
}

// Start begins following the bus; ctx bounds nothing but the start.
func (r *runner) Start(ctx context.Context) error {
	return r.once.Start(ctx, errRunnerStarted, func(bg context.Context) (func(), error) {
		return func() { r.run(bg) }, nil
	})
}

// Stop ends the reading and waits for it (at most one bus read, 1 s).
func (r *runner) Stop(ctx context.Context) error { return r.once.Stop(ctx) }

// positionKey is where a generation's position is saved in the states
// bucket.
func positionKey(view string, gen uint64) string { return view + "." + strconv.FormatUint(gen, 10) }

func (r *runner) run(ctx context.Context) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := r.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		r.log.WarnContext(ctx, "a view stopped reading the bus; it resumes from its saved position", slog.Any("error", err), slog.Duration("retry_in", wait))
		if !lifecycle.Sleep(ctx, wait) {
			return
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// follow reads and applies until ctx ends or the bus fails.
func (r *runner) follow(ctx context.Context) error {
	pos, err := r.position(ctx)
	if err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: r.spec.Subjects(), DeliverPolicy: jetstream.DeliverAllPolicy}
	if pos > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = pos + 1
	}
	cons, err := r.js.OrderedConsumer(ctx, bus.EventsStream, cfg)
	if err != nil {
		return err
	}
	saved := pos
	for ctx.Err() == nil {
		batch, err := cons.Fetch(fetchBatch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		var ok bool
		pos, ok, err = r.drain(ctx, batch, pos)
		if pos != saved {
			if err := r.save(ctx, pos); err != nil {
				return err
			}
			saved = pos
		}
		if err != nil || !ok {
			return err
		}
	}
	return nil
}

// drain applies the events of one fetch and returns the position reached.
// ok is false when ctx ended. A fetch that ended on an error (the consumer
// deleted, a leadership change, a server shutting down, no responders)
// is returned as such: it says nothing of how far behind the view is, so it
// must not count as caught up, which would let a rebuild swap in a
// generation that has not applied everything.
func (r *runner) drain(ctx context.Context, batch jetstream.MessageBatch, pos uint64) (uint64, bool, error) {
	n := 0
	for msg := range batch.Messages() {
		meta, err := msg.Metadata()
		if err != nil {
			return pos, true, err
		}
		n++
		if !r.apply(ctx, msg, meta) {
			return pos, false, nil
		}
		pos = meta.Sequence.Stream
		r.setLag(int64(meta.NumPending))
	}
	if err := batch.Error(); err != nil {
		return pos, true, err
	}
	if n == 0 {
		r.setLag(0)
	}
	return pos, true, nil
}

// setLag records the lag and tells the manager when it reaches 0.
func (r *runner) setLag(n int64) {
	r.lag.Store(n)
	if r.serving.Load() {
		r.metrics.lag.WithLabelValues(r.spec.Name).Set(float64(n))
	}
	if n == 0 {
		r.live.Store(true)
		if r.caughtUp != nil {
			r.caughtUp(r.gen)
		}
	}
}

// apply applies one event, retrying until it is written or ctx ends (false).
// An event the view cannot use is skipped and counted, never retried.
func (r *runner) apply(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata) bool {
	ev, err := event.Decode(msg.Data())
	if err != nil {
		r.metrics.skipped.WithLabelValues(r.spec.Name, "undecodable").Inc()
		return true
	}
	c, ok, err := r.spec.Extract(&ev, meta.Timestamp)
	switch {
	case errors.Is(err, ErrNoKey):
		r.metrics.skipped.WithLabelValues(r.spec.Name, "no-key").Inc()
		return true
	case err != nil:
		r.metrics.skipped.WithLabelValues(r.spec.Name, "unjudged").Inc()
		return true
	case !ok:
		return true
	}
	seq := meta.Sequence.Stream
	wait := 50 * time.Millisecond
	for {
		if r.spec.Config.Kind == config.ViewCount {
			err = r.st.applyCount(ctx, c, r.byNames(), seq)
		} else {
			err = r.st.applyLatest(ctx, c, ev.ID, ev.Type, seq)
		}
		if err == nil {
			r.metrics.applied.WithLabelValues(r.spec.Name).Inc()
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		r.log.WarnContext(ctx, "a view could not write an event; retrying", slog.Uint64("seq", seq), slog.Any("error", err))
		if !lifecycle.Sleep(ctx, wait) {
			return false
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func (r *runner) byNames() []string {
	out := make([]string, len(r.spec.Config.By))
	for i, b := range r.spec.Config.By {
		out[i] = config.ByName(b)
	}
	return out
}

// position is the stream sequence of the last event applied, as saved.
func (r *runner) position(ctx context.Context) (uint64, error) {
	e, err := r.states.Get(ctx, positionKey(r.spec.Name, r.gen))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(e.Value()) != 8 {
		return 0, nil
	}
	return binary.BigEndian.Uint64(e.Value()), nil
}

// save writes the position. Saving it behind what was applied is harmless:
// an event applied again changes nothing.
func (r *runner) save(ctx context.Context, pos uint64) error {
	_, err := r.states.Put(ctx, positionKey(r.spec.Name, r.gen), binary.BigEndian.AppendUint64(nil, pos))
	return err
}
