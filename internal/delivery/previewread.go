package delivery

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
)

// previewReader reads the latest n events of some subjects, oldest first.
//
// The stream has no way to read a filtered subject backwards, and walking
// back one message at a time costs a request per message of any type. A
// consumer, though, says at creation how many messages of its subjects lie
// from its start sequence on (NumPending). So the reader looks for the
// start with exactly n of them after it by bisection over the latest
// `window` sequences, each probe a consumer made and dropped (about 17
// probes for a window of 100,000), then reads forward from there: only the
// events it needs cross the wire.
type previewReader struct {
	js       jetstream.JetStream
	subjects []string
	c        jetstream.Consumer // the reading consumer, from open
	name     string
	batch    jetstream.MessageBatch
	fetched  int // messages the current batch gave
	left     int // messages still to read
	// bytesLeft is what may still be read, in event bytes.
	bytesLeft int
}

// probeIdle is how long the server keeps a preview's consumer that its
// reader failed to delete (weir stopped meanwhile).
const probeIdle = 30 * time.Second

// open finds where the latest n events of the subjects start within the
// window's latest sequences and leaves a consumer there.
func (r *previewReader) open(ctx context.Context, window uint64, n int) error {
	s, err := r.js.Stream(ctx, bus.EventsStream)
	if err != nil {
		return err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	st := info.State
	if st.Msgs == 0 {
		return nil
	}
	lo := st.FirstSeq
	if st.LastSeq >= window && st.LastSeq-window+1 > lo {
		lo = st.LastSeq - window + 1
	}
	c, count, err := r.probe(ctx, s, lo)
	if err != nil {
		return err
	}
	if count > n {
		// Bisect: count(lo) > n here, count(hi) < n, and the count drops
		// by at most one per sequence.
		r.drop(c)
		hi := st.LastSeq + 1
		for hi-lo > 1 {
			mid := lo + (hi-lo)/2
			c, count, err = r.probe(ctx, s, mid)
			if err != nil {
				return err
			}
			r.drop(c)
			if count >= n {
				lo = mid
			} else {
				hi = mid
			}
		}
		if c, count, err = r.probe(ctx, s, lo); err != nil {
			return err
		}
	}
	r.c, r.name, r.left = c, c.CachedInfo().Name, min(count, n)
	return nil
}

// probe makes a consumer of the subjects starting at seq, and says how many
// of their messages it has to deliver.
func (r *previewReader) probe(ctx context.Context, s jetstream.Stream, seq uint64) (jetstream.Consumer, int, error) {
	c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubjects:    r.subjects,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       seq,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: probeIdle,
		MemoryStorage:     true,
		Replicas:          1,
	})
	if err != nil {
		return nil, 0, err
	}
	return c, int(c.CachedInfo().NumPending), nil
}

// drop deletes a consumer; one left behind goes after probeIdle.
func (r *previewReader) drop(c jetstream.Consumer) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.js.DeleteConsumer(ctx, bus.EventsStream, c.CachedInfo().Name)
}

// next returns the next event's data, oldest first; ok is false at the
// end, and cut says the end came from a bound (the bytes, the time) rather
// than from the events running out.
func (r *previewReader) next(ctx context.Context) (data []byte, ok, cut bool, err error) {
	for r.c != nil && r.left > 0 {
		if r.bytesLeft <= 0 {
			return nil, false, true, nil
		}
		if r.batch == nil {
			// A fetch by bytes: the server sends no more than the budget
			// (and refuses a single event larger than what is left).
			b, err := r.c.FetchBytes(r.bytesLeft, jetstream.FetchContext(ctx))
			if err != nil {
				if ctx.Err() != nil {
					return nil, false, true, nil
				}
				return nil, false, false, err
			}
			r.batch, r.fetched = b, 0
		}
		if m, more := <-r.batch.Messages(); more {
			r.left--
			r.fetched++
			r.bytesLeft -= len(m.Data())
			return m.Data(), true, false, nil
		}
		// A batch that ends before its events did was cut short: by the
		// bytes budget (the server sends nothing, or refuses, when the next
		// event is larger than what is left), by the preview's time, or by
		// events removed meanwhile. What was read stands.
		err := r.batch.Error()
		empty := r.fetched == 0
		r.batch = nil
		if empty || ctx.Err() != nil || (err != nil && !errors.Is(err, jetstream.ErrNoMessages)) {
			return nil, false, true, nil
		}
	}
	return nil, false, false, nil
}

// close drops the reading consumer.
func (r *previewReader) close() {
	if r.c != nil {
		r.drop(r.c)
	}
}
