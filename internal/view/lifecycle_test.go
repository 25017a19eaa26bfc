package view

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// TestManagerLifecycle: the start's context ending does not stop the views;
// Stop twice, and Stop before Start, are harmless.
func TestManagerLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m, err := New(b.JetStream(), Config{Views: orders, Replicas: 1}, nil, weirtest.Logger(t))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, m.Start(ctx))
	cancel()
	publish(t, b, "1", "order.created", time.Now(), map[string]any{"id": "k1"})
	weirtestEventuallyGet(t, m, "orders", "k1")
	require.Error(t, m.Start(context.Background()), "started twice")
	require.NoError(t, m.Stop(context.Background()))
	require.NoError(t, m.Stop(context.Background()))

	never, err := New(b.JetStream(), Config{Views: orders}, nil, weirtest.Logger(t))
	require.NoError(t, err)
	require.NoError(t, never.Stop(context.Background()))
	require.Error(t, never.Start(context.Background()))
}
