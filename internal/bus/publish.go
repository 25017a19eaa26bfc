package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Header names weir sets on every event message, so that any NATS client can
// route on them without parsing the body.
const (
	HeaderEventID     = "Ce-Id"
	HeaderEventType   = "Ce-Type"
	HeaderEventSource = "Ce-Source"
)

// Published is JetStream's answer to a publish.
type Published struct {
	// Seq is the event's sequence in the EVENTS stream (the original's, for a duplicate).
	Seq uint64
	// Duplicate is true when JetStream already held a message with the same id
	// within StreamDuplicateWindow and stored nothing.
	Duplicate bool
}

// Publish stores msg on JetStream and waits for the ack, with msgID (when not
// empty) as Nats-Msg-Id. Concurrent callers share the connection's pipeline
// (asynchronous publish, one ack each), so JetStream can batch their writes. It
// returns ErrUnavailable (wrapped) when the bus is down or does not ack in time.
func (b *Bus) Publish(ctx context.Context, msg *nats.Msg, msgID string) (Published, error) {
	if !b.Connected() {
		return Published{}, ErrUnavailable
	}
	var opts []jetstream.PublishOpt
	opts = append(opts, jetstream.WithExpectStream(EventsStream), jetstream.WithStallWait(time.Second))
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	f, err := b.js.PublishMsgAsync(msg, opts...)
	if err != nil {
		return Published{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	select {
	case ack := <-f.Ok():
		return Published{Seq: ack.Sequence, Duplicate: ack.Duplicate}, nil
	case err := <-f.Err():
		return Published{}, classify(err)
	case <-ctx.Done():
		return Published{}, fmt.Errorf("%w: no ack: %v", ErrUnavailable, ctx.Err())
	}
}

// classify marks a failed publish as ErrUnavailable: every JetStream failure on
// this path (no quorum, no stream, timeout) is one a later retry may fix.
func classify(err error) error {
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// EventIDAt reads the event id stored at seq in the EVENTS stream; ingress uses
// it to answer a duplicate with the first event's id.
func (b *Bus) EventIDAt(ctx context.Context, seq uint64) (string, error) {
	m, err := b.events.GetMsg(ctx, seq)
	if err != nil {
		return "", err
	}
	return m.Header.Get(HeaderEventID), nil
}
