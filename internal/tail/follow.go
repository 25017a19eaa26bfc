package tail

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/event"
)

// inactive is how long the bus keeps a tail's consumer after its reader went
// away without deleting it (nats.go's ordered consumer leaves it behind on
// Stop). Shorter than nats.go's five minutes, as tails come and go with page
// views; a reader that is alive keeps a pull request open, so a live tail is
// never idle for the server.
const inactive = time.Minute

// Tail follows the events of req.Patterns: Open, then Run until ctx ends or
// the client goes, then Close.
func (t *Tailer) Tail(ctx context.Context, req Request, send func(seq uint64, data []byte) error, heartbeat func() error) error {
	f, err := t.Open(ctx, req)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Run(send, heartbeat)
}

// Follow is one open tail. Open it, answer the client (headers) once Open
// succeeded, Run it, and Close it.
type Follow struct {
	ctx      context.Context
	cancel   context.CancelFunc
	it       jetstream.MessagesContext
	patterns []string
	exact    bool
	hb       time.Duration
	close    func()
}

// Open checks req (the errors of Check), takes one of the token's and the
// node's tail slots (a *LimitError, or ErrClosed when the node stops) and
// opens the reader. The tail lives until ctx ends, the tailer closes, or
// Close; Close must be called in every case.
func (t *Tailer) Open(ctx context.Context, req Request) (*Follow, error) {
	if err := t.Check(req); err != nil {
		return nil, err
	}
	release, err := t.acquire(req.Token.Name)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(t.stop, cancel)
	f := &Follow{ctx: ctx, cancel: cancel, patterns: req.Patterns, hb: t.limits.Heartbeat}
	f.close = sync.OnceFunc(func() {
		if f.it != nil {
			f.it.Stop()
		}
		unhook()
		cancel()
		release()
	})
	filters, exact := filterSubjects(req.Patterns)
	f.exact = exact
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: filters, DeliverPolicy: jetstream.DeliverNewPolicy, InactiveThreshold: inactive}
	if req.Since > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, req.Since+1
	}
	cons, err := t.js.OrderedConsumer(ctx, bus.EventsStream, cfg)
	if err == nil {
		f.it, err = cons.Messages()
	}
	if err != nil {
		f.Close()
		if t.stop.Err() != nil {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("tail: open a reader: %w", err)
	}
	return f, nil
}

// Close ends the tail and gives its slot back; it may be called more than once.
func (f *Follow) Close() { f.close() }

// Run calls send with each event's stream sequence and CloudEvent JSON, in
// stream order, from the calling goroutine. When nothing was sent for
// Limits.Heartbeat it calls heartbeat instead, so that the caller can show the
// connection is alive. It returns nil when the tail ends (its context, the
// tailer's Close, or Follow.Close), or the first error of send or heartbeat
// (the client is gone).
func (f *Follow) Run(send func(seq uint64, data []byte) error, heartbeat func() error) error {
	ctx := f.ctx
	lastWrite := time.Now()
	beat := func() error {
		lastWrite = time.Now()
		return heartbeat()
	}
	for {
		wait, stopWait := context.WithTimeout(ctx, f.hb)
		msg, err := f.it.Next(jetstream.NextContext(wait))
		stopWait()
		switch {
		case ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed):
			return nil
		case errors.Is(err, context.DeadlineExceeded):
			if err := beat(); err != nil {
				return err
			}
			continue
		case err != nil:
			return fmt.Errorf("tail: read: %w", err)
		}
		if !f.exact && !event.MatchAnyType(f.patterns, strings.TrimPrefix(msg.Subject(), bus.EventsPrefix)) {
			// Events the tail does not want still count as silence.
			if time.Since(lastWrite) >= f.hb {
				if err := beat(); err != nil {
					return err
				}
			}
			continue
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("tail: read: %w", err)
		}
		if err := send(meta.Sequence.Stream, msg.Data()); err != nil {
			return err
		}
		lastWrite = time.Now()
	}
}

// filterSubjects turns patterns into the consumer's filter subjects. The bus
// refuses filters that overlap, so duplicates and patterns another one covers
// are dropped; if two still overlap (order.* and *.created), the consumer
// reads every event and exact is false: the caller matches each type itself.
func filterSubjects(patterns []string) (subjects []string, exact bool) {
	kept := event.ReducePatterns(patterns)
	for i := range kept {
		for j := i + 1; j < len(kept); j++ {
			if event.PatternsOverlap(kept[i], kept[j]) {
				return []string{bus.EventsPrefix + ">"}, false
			}
		}
	}
	for _, p := range kept {
		subjects = append(subjects, bus.EventsPrefix+p)
	}
	slices.Sort(subjects)
	return subjects, true
}
