package view

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

// setup opens an embedded bus for a test.
func setup(t *testing.T) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{StoreDir: t.TempDir(), Name: "view-test", MaxAge: time.Hour}, weirtest.Logger(t))
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

// startViews runs a manager of views on b until the test ends.
func startViews(t *testing.T, b *bus.Bus, views map[string]*config.View) *Manager {
	t.Helper()
	m, err := New(b.JetStream(), Config{Views: views, Replicas: 1, TombstoneTTL: time.Hour}, nil, weirtest.Logger(t))
	require.NoError(t, err)
	require.NoError(t, m.Start(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, m.Stop(ctx))
	})
	return m
}

// publish stores an event of typ at time at with data on the bus.
func publish(t testing.TB, b *bus.Bus, id, typ string, at time.Time, data any) {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"specversion": "1.0", "id": id, "source": "/test", "type": typ,
		"time": at.UTC().Format(time.RFC3339Nano), "data": data})
	require.NoError(t, err)
	_, err = b.JetStream().Publish(context.Background(), bus.EventsPrefix+typ, raw)
	require.NoError(t, err)
}

// caughtUp waits until view name has applied everything the bus holds.
func caughtUp(t *testing.T, m *Manager, name string) {
	t.Helper()
	weirtest.Eventually(t, 60*time.Second, func() error {
		i, err := m.Info(name)
		if err != nil {
			return err
		}
		if i.Lag != 0 || i.State != "live" || i.Rebuilding != nil {
			return fmt.Errorf("view %s: %+v", name, i)
		}
		return nil
	})
}
