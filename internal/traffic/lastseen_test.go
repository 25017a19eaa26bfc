package traffic_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/traffic"
	"github.com/weir-dev/weir/internal/weirtest"
)

func TestLastSeenReadsTheBusAndCachesBriefly(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{StoreDir: t.TempDir(), Name: "traffic-test", MaxAge: time.Hour}, weirtest.Logger(t))
	require.NoError(t, err)
	t.Cleanup(b.Close)
	events, err := b.JetStream().Stream(ctx, bus.EventsStream)
	require.NoError(t, err)
	tc, clk := setup(t, traffic.Options{Events: events, LastSeenTTL: 10 * time.Second})
	// The fake clock stands far in the past, so what this node counted never
	// hides what the bus says.
	clk.add(-24 * 365 * time.Hour)

	stored := func() time.Time {
		ack, err := b.JetStream().Publish(ctx, bus.EventsPrefix+"order.created", []byte(`{}`))
		require.NoError(t, err)
		msg, err := events.GetMsg(ctx, ack.Sequence)
		require.NoError(t, err)
		return msg.Time
	}
	first := stored()
	seen, err := tc.LastSeen(ctx, []string{"order.created", "never.stored"})
	require.NoError(t, err)
	require.Equal(t, map[string]time.Time{"order.created": first}, seen)

	second := stored()
	require.NotEqual(t, first, second)
	seen, err = tc.LastSeen(ctx, []string{"order.created"})
	require.NoError(t, err)
	require.Equal(t, first, seen["order.created"], "within the TTL the answer is reused")

	clk.add(11 * time.Second)
	seen, err = tc.LastSeen(ctx, []string{"order.created"})
	require.NoError(t, err)
	require.Equal(t, second, seen["order.created"], "past the TTL the bus is asked again")
}
