package delivery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
)

// ReplaysStream holds replayed events until their subscription has them, on
// replay.<subscription>. Replays used to republish copies onto EVENTS, which
// then grew with every replay (20 replays of 31 events took a 67-message stream
// to 687) and kept the copies for the whole retention. This stream is a work
// queue instead: an event leaves it once the subscription acknowledged it, and
// its limits (discard new) make a replay wait rather than grow it.
const ReplaysStream = "WEIR_REPLAYS"

// ReplaysPrefix is the subject prefix of ReplaysStream: replay.<subscription>.
const ReplaysPrefix = "replay."

// replayConsumerPrefix starts the name of a subscription's consumer on
// ReplaysStream.
const replayConsumerPrefix = "replay-"

// headerEventsSeq carries a replayed event's sequence in EVENTS (0 for one read
// from the archive), for its dead letter.
const headerEventsSeq = "Weir-Events-Seq"

// Limits of ReplaysStream, in force unless Config.Replays says otherwise.
const (
	// DefaultReplayWindow is how many replayed events may wait for one
	// subscription: a replay pauses while its subscription has that many.
	DefaultReplayWindow = 1000
	// DefaultReplayMaxBytes bounds the whole stream.
	DefaultReplayMaxBytes = 256 << 20
	// DefaultReplayMaxAge bounds how long a replayed event waits for an app that
	// never takes it (a pull app gone for good).
	DefaultReplayMaxAge = 7 * 24 * time.Hour
)

func openReplays(ctx context.Context, js jetstream.JetStream, l ReplayLimits, replicas int) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        ReplaysStream,
		Description: "weir: replayed events waiting for their subscription, on replay.<subscription>",
		Subjects:    []string{ReplaysPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.WorkQueuePolicy,
		Discard:     jetstream.DiscardNew,
		// One subject per subscription: the per-subject limit is each
		// subscription's window, so one slow app cannot take every place.
		MaxMsgsPerSubject:    int64(l.Window),
		DiscardNewPerSubject: true,
		MaxMsgs:              int64(l.Window) * int64(max(l.Total, 1)),
		MaxBytes:             l.MaxBytes,
		MaxAge:               l.MaxAge,
		Replicas:             replicas,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", ReplaysStream, err)
	}
	return nil
}

// replayConsumerConfig is the consumer a subscription reads its replayed
// events with; it is acknowledged like the subscription's own.
func replayConsumerConfig(name string, main jetstream.ConsumerConfig) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       replayConsumerPrefix + name,
		Description:   "weir replays of subscription " + name,
		FilterSubject: ReplaysPrefix + name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxDeliver:    -1,
		AckWait:       main.AckWait,
		MaxAckPending: main.MaxAckPending,
	}
}

// publishReplay hands one event to a subscription through ReplaysStream,
// waiting while the subscription's window (or the stream) is full.
func (m *Manager) publishReplay(ctx context.Context, name, typ, id string, seq uint64, event []byte) error {
	msg := nats.NewMsg(ReplaysPrefix + name)
	msg.Header.Set(bus.HeaderEventID, id)
	msg.Header.Set(bus.HeaderEventType, typ)
	msg.Header.Set("Content-Type", "application/cloudevents+json")
	if seq > 0 {
		msg.Header.Set(headerEventsSeq, strconv.FormatUint(seq, 10))
	}
	msg.Data = event
	wait := 50 * time.Millisecond
	// The app may take events between a refusal and the look at the
	// stream's state, so a refusal the state does not explain is tried
	// again a few times before the store counts as broken.
	unexplained := 0
	for {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := m.js.PublishMsg(pctx, msg, jetstream.WithExpectStream(ReplaysStream))
		cancel()
		if err == nil {
			return nil
		}
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode != jsErrStoreFailed {
			return err
		}
		if !m.replaysFull(ctx, name, storedSize(msg)) {
			if unexplained++; unexplained > maxUnexplainedRefusals {
				return err
			}
		} else {
			unexplained = 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// jsErrStoreFailed is the server's code for a message it did not store
// (JSStreamStoreFailedF in nats-server's errors.json); nats.go has no name for it.
const jsErrStoreFailed jetstream.ErrorCode = 10077

// maxUnexplainedRefusals is how many refusals in a row that the stream's
// state does not explain as full a replay tries again before it fails.
const maxUnexplainedRefusals = 5

// storedSize is about what msg takes in a stream: subject, headers, data,
// and the record's own few dozen bytes.
func storedSize(msg *nats.Msg) int {
	n := len(msg.Subject) + len(msg.Data) + 64
	for k, vs := range msg.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// replaysFull reports whether a size-byte event for subscription name finds
// the stream at one of its limits (discard new), which is worth waiting for,
// as opposed to a broken store, which is not. The server gives every storage
// failure the same code, so the stream's state decides, never the error's
// text.
func (m *Manager) replaysFull(ctx context.Context, name string, size int) bool {
	s, serr := m.js.Stream(ctx, ReplaysStream)
	if serr != nil {
		return false
	}
	subject := ReplaysPrefix + name
	info, serr := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if serr != nil {
		return false
	}
	c, st := info.Config, info.State
	return c.MaxMsgs > 0 && int64(st.Msgs) >= c.MaxMsgs ||
		c.MaxBytes > 0 && int64(st.Bytes)+int64(size) > c.MaxBytes ||
		c.MaxMsgsPerSubject > 0 && int64(st.Subjects[subject]) >= c.MaxMsgsPerSubject
}

// eventsSeq is the event's sequence in EVENTS, for a message read from either
// stream.
func eventsSeq(msg jetstream.Msg, meta *jetstream.MsgMetadata) uint64 {
	if meta.Stream != ReplaysStream {
		return meta.Sequence.Stream
	}
	n, _ := strconv.ParseUint(msg.Headers().Get(headerEventsSeq), 10, 64)
	return n
}

// dropReplays removes a deleted subscription's replay consumer and the events
// still waiting for it.
func (m *Manager) dropReplays(ctx context.Context, name string) {
	_ = m.js.DeleteConsumer(ctx, ReplaysStream, replayConsumerPrefix+name)
	if s, err := m.js.Stream(ctx, ReplaysStream); err == nil {
		_ = s.Purge(ctx, jetstream.WithPurgeSubject(ReplaysPrefix+name))
	}
}

// dropUndeclaredReplays removes the replay consumers (and waiting events) of
// subscriptions no longer declared anywhere, as Start does for their own
// consumers.
func (m *Manager) dropUndeclaredReplays(ctx context.Context, want map[string]bool) error {
	stream, err := m.js.Stream(ctx, ReplaysStream)
	if err != nil {
		return err
	}
	names := stream.ConsumerNames(ctx)
	var gone []string
	for c := range names.Name() {
		if name, ok := strings.CutPrefix(c, replayConsumerPrefix); ok && !want[name] {
			gone = append(gone, name)
		}
	}
	if err := names.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return err
	}
	for _, name := range gone {
		m.dropReplays(ctx, name)
	}
	return nil
}
