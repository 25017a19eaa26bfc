package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/delivery/backoff"
	"github.com/weir-dev/weir/internal/delivery/filter"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/lifecycle"
)

// ConsumerPrefix starts the durable consumer name of every sink: sink-<name>.
const ConsumerPrefix = "sink-"

// idlePoll is how long one fetch waits for the first event of a batch.
// It bounds nothing a user sees (a batch starts as soon as an event comes);
// it only spaces the fetches of an idle sink.
const idlePoll = 5 * time.Second

// DefaultBackoff is the retry schedule of a sink's writes and of its
// Start: from 100 ms, doubling, at most 30 s, ±20%. A store that is down
// for an hour is tried twice a minute; one that blinked is tried again at once.
var DefaultBackoff = backoff.Policy{Initial: 100 * time.Millisecond, Max: 30 * time.Second}

// ErrStarted means Start was called on a runner or manager that was already
// started or stopped.
var ErrStarted = errors.New("sink: already started")

// RunnerConfig are a runner's settings.
type RunnerConfig struct {
	// Name is the sink's name; its bus consumer is sink-<Name>.
	Name string
	// Spec is the sink's definition with its defaults filled in: its
	// types, filter and start are the runner's.
	Spec *config.Sink
	// Sink is the store's side.
	Sink Sink
	// DeadLetters keeps the events the store refuses and those that cannot
	// be read.
	DeadLetters *deadletter.Store
	// Metrics, when not nil, count what the runner does.
	Metrics *Metrics
	// Progress, when not nil, keeps what the runner does beyond its life
	// (the manager keeps one per sink across pauses and changes); nil
	// starts a new one.
	Progress *Progress
	// AckWait is how long the bus waits for the ack of an event it handed
	// out before it hands the event out again (to this node or another).
	// Zero is the sink's MaxWait plus 30 s. While a batch is written or
	// waits to be written again, the runner tells the bus every AckWait/3
	// that it is still at work on it; so AckWait only matters after a
	// crash, as how soon the events the dead node held go elsewhere.
	AckWait time.Duration
	// Backoff is the retry schedule of writes and of Start; zero is
	// DefaultBackoff.
	Backoff backoff.Policy
	// Log receives the runner's logs.
	Log *slog.Logger
}

// Runner reads one sink's events from its durable bus consumer in batches
// and hands them to the sink; there is one per sink on each node, and the
// bus shares the events out among the nodes.
//
// At-least-once: the events of a batch are acknowledged only after the
// sink's Write returned nil. A crash between the two hands the batch again
// (after AckWait), which the Sink contract makes harmless. One batch fills
// while the one before it is written; they are written in order.
type Runner struct {
	cfg     RunnerConfig
	js      jetstream.JetStream
	filter  *filter.Filter
	batch   Batching
	log     *slog.Logger
	backoff backoff.Policy

	mu      sync.Mutex
	started bool
	stopped bool
	cons    jetstream.Consumer
	hard    context.Context    // every call to the bus and the store; cancelled to kill
	kill    context.CancelFunc // cancels hard
	soft    context.Context    // fetching; cancelled by Stop, which then flushes
	drain   context.CancelFunc // cancels soft
	done    chan struct{}
}

// NewRunner checks cfg and builds a runner; Start makes it run.
func NewRunner(js jetstream.JetStream, cfg RunnerConfig) (*Runner, error) {
	if cfg.Spec == nil || cfg.Sink == nil || cfg.DeadLetters == nil {
		return nil, errors.New("sink: a runner needs a spec, a sink and a dead-letter store")
	}
	f, err := filter.Compile(cfg.Spec.Filter)
	if err != nil {
		return nil, err
	}
	b := cfg.Sink.Batching()
	if b.MaxRows < 1 || b.MaxWait <= 0 {
		return nil, fmt.Errorf("sink %s: batching %+v: max rows and max wait must be positive", cfg.Name, b)
	}
	if b.MaxBytes <= 0 {
		b.MaxBytes = DefaultMaxBytes
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = b.MaxWait + 30*time.Second
	}
	if cfg.Backoff == (backoff.Policy{}) {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Progress == nil {
		cfg.Progress = &Progress{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Runner{cfg: cfg, js: js, filter: f, batch: b, backoff: cfg.Backoff,
		log: cfg.Log.With(slog.String("sink", cfg.Name))}, nil
}

// ConsumerConfig is the durable consumer behind sink name: its types'
// subjects (a pattern another covers is left out, as the bus refuses
// overlapping filters), explicit acks, no limit on redeliveries (the runner
// decides what becomes a dead letter), room for two full batches in flight,
// and the start the spec asks for.
func ConsumerConfig(name string, spec *config.Sink, b Batching, ackWait time.Duration) jetstream.ConsumerConfig {
	filters := make([]string, 0, len(spec.Types))
	for _, t := range event.ReducePatterns(spec.Types) {
		filters = append(filters, bus.EventsPrefix+t)
	}
	slices.Sort(filters)
	c := jetstream.ConsumerConfig{
		Durable:        ConsumerPrefix + name,
		Description:    "weir sink " + name,
		FilterSubjects: slices.Compact(filters),
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        ackWait,
		MaxDeliver:     -1,
		MaxAckPending:  max(2*b.MaxRows, 1000),
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	}
	if spec.Start == "all" {
		c.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	return c
}

// ensureConsumer creates the consumer of cc, or updates it keeping where an
// existing one stands: start only says where a new sink begins.
func ensureConsumer(ctx context.Context, js jetstream.JetStream, cc jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	if existing, err := js.Consumer(ctx, bus.EventsStream, cc.Durable); err == nil {
		info := existing.CachedInfo()
		cc.DeliverPolicy, cc.OptStartSeq, cc.OptStartTime = info.Config.DeliverPolicy, info.Config.OptStartSeq, info.Config.OptStartTime
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, bus.EventsStream, cc)
	if err != nil {
		return nil, bus.Unavailable("creating the sink's consumer", err)
	}
	return cons, nil
}

// Start creates or updates the sink's consumer and starts reading; the
// sink's own Start runs in the background, retried with backoff until it
// succeeds, so that a store that is down does not keep weir from starting
// (the events wait on the bus meanwhile). ctx bounds the consumer's
// creation only. A second Start, or one after Stop, returns ErrStarted.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.stopped {
		return ErrStarted
	}
	r.started = true
	cons, err := ensureConsumer(ctx, r.js, ConsumerConfig(r.cfg.Name, r.cfg.Spec, r.batch, r.cfg.AckWait))
	if err != nil {
		return err
	}
	r.cons = cons
	r.hard, r.kill = context.WithCancel(context.WithoutCancel(ctx))
	r.soft, r.drain = context.WithCancel(r.hard)
	r.done = make(chan struct{})
	go r.run()
	return nil
}

// Stop stops reading, writes the batches in hand (the one being written
// and the one filled behind it, retrying while ctx lets it), stops the sink
// and waits for all of it. If ctx ends first, whatever is in hand is
// abandoned unacknowledged (the bus hands it out again after AckWait) and
// Stop returns ctx's error; a ctx already ended is thus a hard stop that
// writes nothing more. Stop is safe to call twice, and before Start.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	r.stopped = true
	done, kill, drain := r.done, r.kill, r.drain
	r.mu.Unlock()
	if done == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		// A hard stop: nothing more is written or acknowledged, and the
		// runner ends on its own at once.
		kill()
		drain()
		return err
	}
	drain()
	select {
	case <-done:
		kill()
		return nil
	case <-ctx.Done():
		kill()
		return ctx.Err()
	}
}

// Consumer is the runner's bus consumer (nil before Start), for its lag.
func (r *Runner) Consumer() jetstream.Consumer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cons
}

// Progress is what the runner did.
func (r *Runner) Progress() *Progress { return r.cfg.Progress }

func (r *Runner) run() {
	defer close(r.done)
	if !r.startSink() {
		return
	}
	defer func() {
		// The store's connections are released even after a kill.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.hard), 10*time.Second)
		defer cancel()
		if err := r.cfg.Sink.Stop(ctx); err != nil {
			r.log.Warn("the sink did not stop cleanly", slog.Any("error", err))
		}
	}()
	// One batch is written while the next one fills, so that reading the
	// bus and the store's insert overlap. The channel holds nothing: at
	// most one batch is being written and one waits for it, which the
	// consumer's MaxAckPending (two batches) leaves room for.
	batches := make(chan held)
	var writer sync.WaitGroup
	writer.Go(func() {
		for h := range batches {
			r.write(r.hard, h.batch)
			h.release()
		}
	})
	defer writer.Wait()
	defer close(batches)
	for {
		batch := r.fill()
		if len(batch) > 0 {
			// The bus is told the batch is at work from now on, while it
			// waits for the writer too.
			h := held{batch: batch, release: r.holding(r.hard, batch)}
			select {
			case batches <- h:
			case <-r.hard.Done():
				h.release() // killed: nothing more is written
				return
			}
		}
		if r.soft.Err() != nil {
			return
		}
	}
}

// held is a filled batch on its way to the writer, and what stops telling
// the bus it is at work.
type held struct {
	batch   []pending
	release func()
}

// startSink calls the sink's Start until it succeeds (true) or the runner
// stops (false).
func (r *Runner) startSink() bool {
	for attempt := 1; ; attempt++ {
		err := r.cfg.Sink.Start(r.soft)
		if err == nil {
			r.cfg.Progress.recovered()
			return true
		}
		if r.soft.Err() != nil {
			return false
		}
		r.cfg.Progress.failed(err)
		d := r.backoff.Delay(attempt, nil)
		r.log.Warn("the sink cannot start; trying again", slog.Any("error", err), slog.Duration("retry_in", d))
		if !lifecycle.Sleep(r.soft, d) {
			return false
		}
	}
}
