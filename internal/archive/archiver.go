package archive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
)

// ConsumerName is the archiver's durable consumer on the EVENTS stream.
const ConsumerName = "weir-archive"

const (
	// maxAckPending bounds the events delivered to the archiver and not yet
	// flushed; it is far above what one FlushEvery holds at a normal rate.
	maxAckPending = 100_000
	// A flush starts early once this much is buffered, to bound memory.
	maxBufferEvents = 20_000
	maxBufferBytes  = 16 << 20
	// defaultAckWait is how long the bus waits for an ack before delivering an
	// event again; a redelivery of a buffered event is recognised and dropped.
	defaultAckWait = time.Minute
	// idleSync is how often a quiet archiver checks that the consumer has
	// delivered nothing it has not archived (a delivery lost on the way).
	idleSync = 5 * time.Second
	// opTimeout bounds one request to the bus.
	opTimeout = 10 * time.Second
)

// ErrStarted means Start was called on an archiver that was already started
// or stopped.
var ErrStarted = errors.New("archive: the archiver was already started")

// Status is the archiver's progress, for the API and metrics.
type Status struct {
	// LastSeq is the stream sequence up to which every event is archived durably.
	LastSeq uint64 `json:"last_seq"`
	// LastEventTime is the stream time of the event at LastSeq.
	LastEventTime time.Time `json:"last_event_time,omitzero"`
	// Segments is the number of open segments (hours not yet closed).
	Segments int `json:"segments"`
	// PendingUploads is the number of closed segments not yet in S3.
	PendingUploads int `json:"pending_uploads"`
	// Uploaded counts the segments uploaded to S3 since Start.
	Uploaded int64 `json:"uploaded"`
	// Errors counts the errors since Start; each is also logged.
	Errors int64 `json:"errors"`
	// LastError describes the last of them.
	LastError string `json:"last_error,omitempty"`
}

// Archiver copies every event of the EVENTS stream into the archive.
type Archiver struct {
	js  jetstream.JetStream
	cfg Config
	log *slog.Logger
	s3  *minio.Client // nil without S3

	// Set only before Start, by tests.
	eventTime     func(time.Time) time.Time // the time an event is archived under, from its stream time
	beforeCommit  func()                    // after a flush's data is durable, before its position is saved
	ackWait       time.Duration
	uploadBackoff time.Duration

	posMu sync.Mutex
	pos   position // in memory; on disk as of the last successful save

	stMu sync.Mutex
	st   Status

	life     sync.Mutex
	started  bool
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	cancel   context.CancelFunc // ends the background context: a hard stop

	uploadWake chan struct{}

	// Owned by the run goroutine.
	stream    jetstream.Stream
	committed uint64 // every event up to here is archived and saved in position.json
	next      uint64 // every event below it is committed, or buffered, or written and not yet saved
	lastDseq  uint64 // consumer sequence of the last delivery; 0 when unknown
	lastFirst bool   // whether that delivery was a first one
	lastMsg   time.Time
	lastSync  time.Time
	buf       map[string][]line
	// The segment path of the last event added, which most events share
	// with the one before (same type, same hour).
	lastSubject string
	lastHour    time.Time
	lastRel     string
	bufN        int
	bufBytes    int
	bufLast     uint64
	bufTime     time.Time
	acks        []jetstream.Msg // to ack once the buffer is committed
	unsaved     []jetstream.Msg // written, waiting for a successful position save
}

// New prepares an archiver; Start runs it.
func New(js jetstream.JetStream, cfg Config, log *slog.Logger) (*Archiver, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	a := &Archiver{
		js:            js,
		cfg:           cfg,
		log:           log,
		eventTime:     func(t time.Time) time.Time { return t },
		ackWait:       defaultAckWait,
		uploadBackoff: time.Second,
		stop:          make(chan struct{}),
		uploadWake:    make(chan struct{}, 1),
		buf:           map[string][]line{},
	}
	if cfg.S3 != nil {
		c, err := cfg.S3.client()
		if err != nil {
			return nil, err
		}
		a.s3 = c
	}
	return a, nil
}

// Start repairs the local archive after a crash (cutting open segments to
// their committed length), then archives in the background until Stop. ctx
// bounds the start-up only: the background work runs under a context the
// archiver owns (keeping ctx's values) and ends in Stop. Start fails only when
// the local archive cannot be used; a bus or S3 that is down is retried,
// logged and counted in Status. An archiver starts once: a second Start, or a
// Start after Stop, returns ErrStarted.
func (a *Archiver) Start(ctx context.Context) error {
	a.life.Lock()
	defer a.life.Unlock()
	select {
	case <-a.stop:
		return ErrStarted
	default:
	}
	if a.started {
		return ErrStarted
	}
	pos, notes, err := repair(a.cfg.Dir)
	if err != nil {
		a.fail(ctx, "archive: cannot use the local archive", err)
		return fmt.Errorf("archive: %w", err)
	}
	for _, n := range notes {
		a.log.WarnContext(ctx, "archive: repaired after a crash", slog.String("detail", n))
	}
	a.started = true
	a.pos = pos
	a.committed, a.next = pos.LastSeq, pos.LastSeq+1
	a.posMu.Lock()
	a.savedLocked()
	a.posMu.Unlock()
	a.done = make(chan struct{})
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	go a.run(bg)
	return nil
}

// Stop flushes what the archiver holds, makes it durable, acknowledges it and
// waits for every goroutine the archiver started. If ctx ends first, the
// background work is cancelled (each bus or S3 request it is in gives up) and
// Stop returns ctx's error without waiting further. It is safe to call more
// than once, and before Start (then Start can no longer start it).
func (a *Archiver) Stop(ctx context.Context) error {
	a.stopOnce.Do(func() { close(a.stop) })
	a.life.Lock()
	done, cancel := a.done, a.cancel
	a.life.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		cancel()
		return nil
	case <-ctx.Done():
		cancel()
		return ctx.Err()
	}
}

// Status reports the archiver's progress.
func (a *Archiver) Status() Status {
	a.stMu.Lock()
	defer a.stMu.Unlock()
	return a.st
}

// savedLocked publishes the saved position in Status; posMu is held.
func (a *Archiver) savedLocked() {
	a.stMu.Lock()
	a.st.LastSeq, a.st.LastEventTime = a.pos.LastSeq, a.pos.LastTime
	a.st.Segments, a.st.PendingUploads = len(a.pos.Files), len(a.pos.ToUpload)
	a.stMu.Unlock()
}

// fail logs an error and counts it; the archiver goes on.
func (a *Archiver) fail(ctx context.Context, msg string, err error, attrs ...any) {
	a.stMu.Lock()
	a.st.Errors++
	a.st.LastError = msg + ": " + err.Error()
	a.stMu.Unlock()
	a.log.ErrorContext(ctx, msg, append(attrs, slog.Any("error", err))...)
}

func (a *Archiver) run(ctx context.Context) {
	defer close(a.done)
	// ctx ends only on a hard stop (Stop's ctx ended): a soft stop closes
	// a.stop, and the final flush below runs to its end.
	opCtx := ctx

	upCtx, upCancel := context.WithCancel(opCtx)
	var uploads sync.WaitGroup
	if a.s3 != nil {
		uploads.Go(func() { a.uploadLoop(upCtx) })
	}
	defer func() {
		upCancel()
		uploads.Wait()
	}()

	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	msgs := make(chan jetstream.Msg, 1024)
	go a.receive(rctx, msgs)

	tick := time.NewTicker(a.cfg.FlushEvery)
	defer tick.Stop()
	in := msgs
loop:
	for {
		select {
		case m, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			a.handle(opCtx, m)
			if a.bufN >= maxBufferEvents || a.bufBytes >= maxBufferBytes {
				a.flush(opCtx)
			}
		case <-tick.C:
			// lastSync is zero until the consumer exists.
			if now := time.Now(); !a.lastSync.IsZero() && now.Sub(a.lastMsg) >= idleSync && now.Sub(a.lastSync) >= idleSync && a.connected() {
				a.syncDelivered(opCtx)
			}
			a.flush(opCtx)
			a.closeSegments(opCtx)
		case <-a.stop:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	rcancel()
	for m := range msgs { // what was delivered before the stop is archived too
		a.handle(opCtx, m)
	}
	a.flush(opCtx)
	if a.connected() {
		_ = a.js.Conn().FlushTimeout(time.Second) // the acks
	}
}

func (a *Archiver) connected() bool {
	nc := a.js.Conn()
	return nc != nil && nc.IsConnected()
}

// receive reads the consumer into out until ctx ends, recreating it when it
// fails. A nil message tells handle that a new delivery session started.
func (a *Archiver) receive(ctx context.Context, out chan<- jetstream.Msg) {
	defer close(out)
	delay := time.Duration(0)
	for {
		if delay > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
		}
		delay = min(max(2*delay, 250*time.Millisecond), 30*time.Second)
		if ctx.Err() != nil {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		cons, err := a.js.CreateOrUpdateConsumer(cctx, bus.EventsStream, jetstream.ConsumerConfig{
			Durable:       ConsumerName,
			Description:   "weir: the archive of every event",
			FilterSubject: bus.EventsPrefix + ">",
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       a.ackWait,
			MaxAckPending: maxAckPending,
			MaxDeliver:    -1,
		})
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				a.fail(ctx, "archive: cannot create the consumer "+ConsumerName, err)
			}
			continue
		}
		it, err := cons.Messages(jetstream.PullMaxMessages(1000))
		if err != nil {
			a.fail(ctx, "archive: cannot read the consumer "+ConsumerName, err)
			continue
		}
		select {
		case out <- nil:
		case <-ctx.Done():
			it.Stop()
			return
		}
		for {
			m, err := it.Next(jetstream.NextContext(ctx))
			if err != nil {
				it.Stop()
				if ctx.Err() != nil {
					return
				}
				a.fail(ctx, "archive: reading the consumer "+ConsumerName, err)
				break
			}
			delay = 0
			select {
			case out <- m:
			case <-ctx.Done():
				it.Stop()
				return
			}
		}
	}
}
