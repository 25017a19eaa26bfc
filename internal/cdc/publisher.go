package cdc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/contract"
	"github.com/weir-dev/weir/internal/lifecycle"
)

// Defaults of a Publisher.
const (
	// DefaultMaxPending is how many changes may wait for the bus's ack
	// before Emit blocks.
	DefaultMaxPending = 4096
	// DefaultConfirmEvery is the most often Confirm is called while changes
	// keep coming; an idle publisher confirms at once.
	DefaultConfirmEvery = 100 * time.Millisecond
)

// Errors of a Publisher.
var (
	// ErrStopped means the publisher is stopping or stopped: Emit takes no
	// more changes.
	ErrStopped = errors.New("cdc: the publisher is stopped")
	// ErrPublisherStarted means Start was called twice, or after Stop.
	ErrPublisherStarted = errors.New("cdc: the publisher was already started")
)

// Contracts is what the publisher needs of the contract registry
// (*contract.Registry): registering a table's schema as a new version.
type Contracts interface {
	Register(ctx context.Context, typ string, schema, example []byte, meta contract.Meta) (*contract.Registered, error)
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// Name is the cdc source's name: events come from /cdc/<name>.
	Name string
	// Prefix starts every event type (config.CDC.Prefix, default "db").
	Prefix string
	// Numeric is "string" or "number": how exact numbers appear in
	// contracts (config.CDC.Numeric).
	Numeric string
	// Contracts registers the tables' contracts; nil registers none.
	Contracts Contracts
	// Confirm is the reader's Confirm: called, in order, with the position
	// of the last change of a transaction once every change up to it is
	// stored on the bus.
	Confirm func(pos any)
	// KV is the weir-cdc bucket, where the published-up-to mark is kept
	// (see mark.go); nil keeps none, leaving de-duplication to the stream's
	// own window.
	KV jetstream.KeyValue
	// Metrics counts what the publisher does; nil counts nothing.
	Metrics *Metrics
	// Log receives warnings (retries, incompatible schema changes).
	Log *slog.Logger
	// MaxPending bounds the changes waiting for the bus. Default 4096.
	MaxPending int
	// ConfirmEvery spaces Confirm calls under load. Default 100 ms.
	ConfirmEvery time.Duration
	// AckTimeout is how long the bus may take to ack a change before it is
	// sent again. Default 5s.
	AckTimeout time.Duration
}

// Publisher is the Emitter of one cdc source: it publishes changes as
// CloudEvents asynchronously and in order, and confirms transactions to the
// reader once the bus has stored them. Emit must be called from one
// goroutine at a time (changes come in commit order).
type Publisher struct {
	bus  *bus.Bus
	cfg  PublisherConfig
	life lifecycle.Once

	// slots holds a token per change waiting for the bus; Emit blocks when
	// it is full.
	slots chan struct{}

	// Emit's own state (one caller at a time).
	loadedMark   time.Time // the previous run's mark: changes at or before it are looked up
	savedMark    time.Time // the mark stored in this run
	maxPublished time.Time // the latest commit time published in this run
	lookupTx     bool      // the current transaction's changes are looked up
	lookedTx     string    // the transaction whose record was read last
	lookedIndex  int       // how far into lookedTx the bus had stored; -1: none
	inTx         bool      // the previous change did not end its transaction

	mu       sync.Mutex
	queue    []*entry      // in Emit order; the head is the oldest unacked
	wake     chan struct{} // signals the acker that the queue grew or stopping began
	failing  bool          // a publish failed: the acker republishes from the head
	stopping bool
	started  bool
	drained  chan struct{} // closed by the acker once stopping and the queue is empty

	tables tables // contracts registered per table (contracts.go)

	// types caches the event type of each table shape Emit saw (Emit's own).
	types map[*Table]string

	// streamDedupe sets Nats-Msg-Id on every message; tests switch it off
	// to stand for a stream window that has passed.
	streamDedupe bool
}

// entry is one change on its way to the bus.
type entry struct {
	c    *Change
	msg  *nats.Msg
	key  string
	fut  jetstream.PubAckFuture // nil: not (re)published yet
	done bool                   // known to be stored (a duplicate found by lookup)
}

// NewPublisher builds the Emitter of a cdc source on b. Start it before the
// reader, stop it after.
func NewPublisher(b *bus.Bus, cfg PublisherConfig) *Publisher {
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.ConfirmEvery <= 0 {
		cfg.ConfirmEvery = DefaultConfirmEvery
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 5 * time.Second
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "db"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Confirm == nil {
		cfg.Confirm = func(any) {}
	}
	return &Publisher{
		bus: b, cfg: cfg,
		slots:        make(chan struct{}, cfg.MaxPending),
		wake:         make(chan struct{}, 1),
		drained:      make(chan struct{}),
		streamDedupe: true,
	}
}

var _ Emitter = (*Publisher)(nil)

// Start reads the previous run's published-up-to mark and starts the
// goroutine that follows the bus's acks.
func (p *Publisher) Start(ctx context.Context) error {
	return p.life.Start(ctx, ErrPublisherStarted, func(bg context.Context) (func(), error) {
		m, err := loadMark(ctx, p.cfg.KV, p.cfg.Name)
		if err != nil {
			return nil, err
		}
		p.loadedMark, p.savedMark = m, m
		p.mu.Lock()
		p.started = true
		p.mu.Unlock()
		return func() { p.ack(bg) }, nil
	})
}

// Stop takes no more changes, waits until every change taken is stored and
// confirmed (or ctx ends), then stops the acker. Stop the reader first.
func (p *Publisher) Stop(ctx context.Context) error {
	p.mu.Lock()
	p.stopping = true
	started := p.started
	p.mu.Unlock()
	p.signal()
	if started {
		select {
		case <-p.drained:
		case <-ctx.Done():
		}
	}
	return p.life.Stop(ctx)
}

func (p *Publisher) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Pending is the number of changes waiting for the bus.
func (p *Publisher) Pending() int { return len(p.slots) }

// Emit publishes c. It blocks while MaxPending changes wait for the bus, and
// while the bus is down (the change waits in line and is retried). It fails
// with ErrBadChange for a change that can never be published, ErrStopped
// once Stop began, or ctx's error.
func (p *Publisher) Emit(ctx context.Context, c *Change) error {
	typ, err := p.eventType(c.Table)
	if err != nil {
		return err
	}
	ev, err := buildEventOf(p.cfg.Name, typ, c)
	if err != nil {
		return err
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	e := &entry{c: c, msg: message(ev), key: DedupeKey(p.cfg.Name, c.ID)}
	e.msg.Header.Set(jetstream.ExpectedStreamHeader, bus.EventsStream)
	if p.streamDedupe {
		e.msg.Header.Set(jetstream.MsgIDHeader, e.key)
	}
	if err := p.prepare(ctx, e); err != nil {
		<-p.slots
		return err
	}
	p.mu.Lock()
	if p.stopping {
		p.mu.Unlock()
		<-p.slots
		return ErrStopped
	}
	if !e.done && !p.failing {
		if err := p.publish(e); err != nil {
			p.failing = true // the acker republishes from the head, in order
		}
	}
	p.queue = append(p.queue, e)
	p.mu.Unlock()
	p.cfg.Metrics.pending(p.cfg.Name, len(p.slots))
	p.signal()
	return nil
}

// eventType is EventType, kept per table shape: readers hand the same
// *Table for every change of a table until its shape changes.
func (p *Publisher) eventType(t *Table) (string, error) {
	if t == nil {
		return "", fmt.Errorf("%w: no table", ErrBadChange)
	}
	if typ, ok := p.types[t]; ok {
		return typ, nil
	}
	typ, err := EventType(p.cfg.Prefix, t)
	if err != nil {
		return "", err
	}
	if p.types == nil || len(p.types) >= 4096 {
		p.types = map[*Table]string{} // shapes a reader replaced are let go
	}
	p.types[t] = typ
	return typ, nil
}

// prepare looks the change up when it may have been published before (see
// mark.go) and moves the mark on before the change is published past it.
func (p *Publisher) prepare(ctx context.Context, e *entry) error {
	c := e.c
	if !p.inTx {
		p.lookupTx = c.Time.IsZero() || !c.Time.After(p.loadedMark) || c.Time.Before(p.maxPublished)
	}
	p.inTx = !c.EndOfTx
	if p.lookupTx {
		found := false
		if c.Tx != "" {
			if c.Tx != p.lookedTx || c.TxIndex == 0 {
				// Once per transaction (and again when it is read anew).
				v, _, ok, err := p.recall(ctx, txKey(p.cfg.Name, c.Tx))
				if err != nil {
					return err
				}
				p.lookedTx, p.lookedIndex = c.Tx, -1
				if n, perr := strconv.Atoi(string(v)); ok && perr == nil {
					p.lookedIndex = n
				}
			}
			found = c.TxIndex <= p.lookedIndex
		}
		if !found {
			// A change's own record: changes without Tx, and those an
			// earlier version recorded one by one.
			_, _, ok, err := p.recall(ctx, e.key)
			if err != nil {
				return err
			}
			found = ok
		}
		e.done = found
	}
	if c.Time.After(p.maxPublished) {
		p.maxPublished = c.Time
	}
	if !c.Time.IsZero() && c.Time.After(p.savedMark) {
		next := c.Time.Add(markLease)
		if err := p.retry(ctx, "save the published-up-to mark", func() error {
			return saveMark(ctx, p.cfg.KV, p.cfg.Name, next)
		}); err != nil {
			return err
		}
		p.savedMark = next
	}
	return nil
}

// recall looks a key up in the bus's long window, waiting out an outage.
func (p *Publisher) recall(ctx context.Context, key string) (v []byte, created time.Time, found bool, err error) {
	err = p.retry(ctx, "look the change up", func() error {
		var e error
		v, created, found, e = p.bus.Recall(ctx, key)
		return e
	})
	return v, created, found, err
}

// retry runs f until it succeeds or ctx ends, backing off between failures.
func (p *Publisher) retry(ctx context.Context, doing string, f func() error) error {
	wait := 50 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		p.cfg.Log.WarnContext(ctx, "cdc: "+doing+" failed; retrying", slog.String("source", p.cfg.Name), slog.Any("error", err))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", doing, ctx.Err())
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// stallWait bounds how long a publish waits for room among the connection's
// unacknowledged publishes.
var stallWait = jetstream.WithStallWait(time.Second)

// publish hands e to JetStream without waiting for the ack; the caller holds mu.
func (p *Publisher) publish(e *entry) error {
	// A fresh message each time: JetStream sets its reply subject, which a
	// second publish of the same message refuses. The headers that the
	// options WithExpectStream and WithMsgID would set are in e.msg already
	// (Emit), so every publish shares them.
	m := &nats.Msg{Subject: e.msg.Subject, Header: e.msg.Header, Data: e.msg.Data}
	fut, err := p.bus.JetStream().PublishMsgAsync(m, stallWait)
	if err != nil {
		e.fut = nil
		return err
	}
	e.fut = fut
	return nil
}
