package delivery

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/deadletter"
	fielderr "github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/weirtest"
)

// clock is the replays' clock: real time, moved forward by hand.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

type replayBundle struct {
	bus   *bus.Bus
	m     *Manager
	clock *clock
}

// startManager runs a manager with cfg on an embedded bus; before, when not
// nil, sees the manager before it starts. Both stop when the test ends.
func startManager(t *testing.T, cfg Config, log *slog.Logger, before func(*Manager)) (*bus.Bus, *Manager) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{StoreDir: t.TempDir(), Name: "delivery-test", MaxAge: time.Hour}, log)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	cfg.DeadLetters, err = deadletter.Open(ctx, b.JetStream(), time.Hour, 1)
	require.NoError(t, err)
	m, err := New(b, cfg, NewMetrics(prometheus.NewRegistry()), log)
	require.NoError(t, err)
	if before != nil {
		before(m)
	}
	require.NoError(t, m.Start(ctx))
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	return b, m
}

// publish stores one order.created event with the given id.
func publish(t *testing.T, b *bus.Bus, id string) {
	t.Helper()
	msg := nats.NewMsg(bus.EventsPrefix + "order.created")
	msg.Header.Set(bus.HeaderEventID, id)
	msg.Header.Set(bus.HeaderEventType, "order.created")
	msg.Data = fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"/t","type":"order.created","data":{}}`, id)
	_, err := b.Publish(t.Context(), msg, "")
	require.NoError(t, err)
}

// setupReplays runs a manager on an embedded bus with a pull subscription "p"
// of order.created, created after n such events were stored.
func setupReplays(t *testing.T, limits ReplayLimits, n int) *replayBundle {
	t.Helper()
	c := &clock{}
	b, m := startManager(t, Config{Replays: limits}, slog.New(slog.NewTextHandler(io.Discard, nil)), func(m *Manager) { m.now = c.now })
	for i := range n {
		publish(t, b, fmt.Sprintf("ev%d", i))
	}
	// Created after the events: it has them only by replay.
	require.NoError(t, m.Create(t.Context(), "p", &config.Subscription{Types: []string{"order.created"}, Pull: &config.Pull{}}, false, Creator{Token: "admin", Trusted: true}))
	return &replayBundle{bus: b, m: m, clock: c}
}

func (rb *replayBundle) replay(t *testing.T, req ReplayRequest) string {
	t.Helper()
	if req.From.IsZero() {
		req.From = time.Now().Add(-time.Hour)
	}
	r, err := rb.m.StartReplay("p", req)
	require.NoError(t, err)
	return r.ID
}

func (rb *replayBundle) state(t *testing.T, id string) string {
	t.Helper()
	r, err := rb.m.Replay(id)
	require.NoError(t, err)
	return r.State
}

func TestReplayJobsArePruned(t *testing.T) {
	t.Parallel()
	rb := setupReplays(t, ReplayLimits{KeepFor: time.Hour, KeepLast: 2}, 3)
	var ids []string
	for range 3 {
		id := rb.replay(t, ReplayRequest{})
		weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return rb.state(t, id) == ReplayDone }, "the replay finishes")
		ids = append(ids, id)
	}
	_, err := rb.m.Replay(ids[0])
	require.ErrorIs(t, err, ErrNoReplay, "only the last KeepLast finished replays are kept")
	require.Equal(t, ReplayDone, rb.state(t, ids[1]))

	// A slow replay is running when the clock passes KeepFor: it stays.
	running := rb.replay(t, ReplayRequest{Rate: 1})
	rb.clock.advance(2 * time.Hour)
	for _, id := range ids[1:] {
		_, err := rb.m.Replay(id)
		require.ErrorIs(t, err, ErrNoReplay, "a finished replay is forgotten after KeepFor")
	}
	require.Equal(t, ReplayRunning, rb.state(t, running), "a running replay is never pruned")
	rb.m.mu.Lock()
	held := len(rb.m.replays)
	rb.m.mu.Unlock()
	require.Equal(t, 1, held)
	_, err = rb.m.CancelReplay(running)
	require.NoError(t, err)
}

func TestReplayWaitsForRoomInItsWindow(t *testing.T) {
	t.Parallel()
	rb := setupReplays(t, ReplayLimits{Window: 2}, 5)
	id := rb.replay(t, ReplayRequest{})
	progress := func() int64 {
		r, err := rb.m.Replay(id)
		require.NoError(t, err)
		return r.Replayed
	}
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return progress() == 2 }, "the window fills")
	ctx := context.Background()
	s, err := rb.bus.JetStream().Stream(ctx, ReplaysStream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, info.State.Msgs, "the replay stream holds no more than the window")
	require.Equal(t, ReplayRunning, rb.state(t, id), "the replay waits for the app")

	var got []string
	weirtest.EventuallyTrue(t, 20*time.Second, func() bool {
		pulled, err := rb.m.Fetch(ctx, "p", 10, 100*time.Millisecond)
		require.NoError(t, err)
		var acks []AckAction
		for _, p := range pulled {
			got = append(got, string(p.Event))
			acks = append(acks, AckAction{AckID: p.AckID})
		}
		if len(acks) > 0 {
			require.NoError(t, rb.m.Ack(ctx, "p", acks))
		}
		return len(got) == 5
	}, "the app takes every replayed event, two at most waiting at a time")
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return rb.state(t, id) == ReplayDone }, "the replay finishes")
	for i, ev := range got {
		require.Contains(t, ev, fmt.Sprintf(`"id":"ev%d"`, i))
	}
	info, err = s.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, info.State.Msgs)
}

func TestReplayCapsAndErrors(t *testing.T) {
	t.Parallel()
	rb := setupReplays(t, ReplayLimits{PerSubscription: 1, Total: 1}, 5)
	first := rb.replay(t, ReplayRequest{Rate: 1})
	_, err := rb.m.StartReplay("p", ReplayRequest{From: time.Now().Add(-time.Hour)})
	require.ErrorIs(t, err, ErrTooManyReplays)
	_, err = rb.m.CancelReplay(first)
	require.NoError(t, err)
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return rb.state(t, first) == ReplayCancelled }, "cancelled")

	for req, field := range map[*ReplayRequest]string{
		{}: "from",
		{From: time.Now(), To: time.Now().Add(-time.Hour)}: "to",
		{From: time.Now(), FromArchive: true}:              "from_archive",
	} {
		_, err := rb.m.StartReplay("p", *req)
		var fe *fielderr.Error
		require.ErrorAs(t, err, &fe)
		require.Equal(t, field, fe.Path)
	}
	_, err = rb.m.StartReplay("p", ReplayRequest{From: time.Now(), FromArchive: true})
	require.ErrorIs(t, err, ErrNoArchive)
}

func TestDeletingASubscriptionDropsItsReplays(t *testing.T) {
	t.Parallel()
	rb := setupReplays(t, ReplayLimits{Window: 2}, 5)
	id := rb.replay(t, ReplayRequest{})
	ctx := context.Background()
	s, err := rb.bus.JetStream().Stream(ctx, ReplaysStream)
	require.NoError(t, err)
	msgs := func() uint64 {
		info, err := s.Info(ctx)
		require.NoError(t, err)
		return info.State.Msgs
	}
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return msgs() == 2 }, "the window fills")

	require.NoError(t, rb.m.Delete(ctx, "p"))
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool { return rb.state(t, id) == ReplayCancelled }, "the replay is cancelled")
	require.Zero(t, msgs(), "the events waiting for the subscription are removed")
	_, err = rb.bus.JetStream().Consumer(ctx, ReplaysStream, replayConsumerPrefix+"p")
	require.Error(t, err, "and its replay consumer")
}

// TestReplayHandsOnWhatItsFilterCannotRead: an event stored before ingress
// refused repeated names does not decode; a replay must not skip it as "not
// matched" but hand it on, so that the subscription's reader makes it a dead
// letter as it would live.
func TestReplayHandsOnWhatItsFilterCannotRead(t *testing.T) {
	t.Parallel()
	b, m := startManager(t, Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	msg := nats.NewMsg(bus.EventsPrefix + "order.created")
	msg.Header.Set(bus.HeaderEventID, "old")
	msg.Header.Set(bus.HeaderEventType, "order.created")
	msg.Data = []byte(`{"specversion":"1.0","id":"old","source":"/t","type":"order.created","data":{"total":5,"total":6}}`)
	_, err := b.Publish(t.Context(), msg, "")
	require.NoError(t, err)
	publish(t, b, "new")
	require.NoError(t, m.Create(t.Context(), "p", &config.Subscription{Types: []string{"order.created"}, Filter: "data.total > 1", Pull: &config.Pull{}},
		false, Creator{Token: "admin", Trusted: true}))

	r, err := m.StartReplay("p", ReplayRequest{From: time.Now().Add(-time.Hour)})
	require.NoError(t, err)
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool {
		got, err := m.Replay(r.ID)
		require.NoError(t, err)
		return got.State == ReplayDone
	}, "the replay finishes")
	got, err := m.Replay(r.ID)
	require.NoError(t, err)
	require.EqualValues(t, 1, got.Replayed, "the undecodable event is handed on; the other is filtered out")

	weirtest.EventuallyTrue(t, 10*time.Second, func() bool {
		_, err := m.Fetch(t.Context(), "p", 10, 100*time.Millisecond)
		require.NoError(t, err)
		dls, _, err := m.dead.List(t.Context(), deadletter.Filter{Subscription: "p"})
		require.NoError(t, err)
		return len(dls) == 1 && dls[0].EventID == "old"
	}, "the subscription's reader makes it a dead letter")
}
