package cdc

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
)

// standIn is a Reader stand-in (the real readers are tested in their
// packages against real databases): it counts starts and stops.
type standIn struct {
	starts, stops *atomic.Int32
}

func (s standIn) Start(context.Context) error { s.starts.Add(1); return nil }
func (s standIn) Stop(context.Context) error  { s.stops.Add(1); return nil }
func (standIn) Confirm(any)                   {}
func (standIn) Status(context.Context) Status {
	return Status{Connector: "postgresql", State: "streaming", RetainedBytes: 1 << 20}
}

type standInFactory struct{ starts, stops atomic.Int32 }

func (*standInFactory) Kind() string { return "postgres" }
func (f *standInFactory) New(string, *config.CDC, Deps) (Reader, error) {
	return standIn{&f.starts, &f.stops}, nil
}

func TestManagerPausesResumesAndRefuses(t *testing.T) {
	t.Parallel()
	b, _ := setup(t)
	ctx := context.Background()
	f := &standInFactory{}
	spec := &config.CDC{Postgres: &config.PostgresCDC{DSN: "x", Tables: map[string]*config.CDCTable{"orders": {}}}}
	spec.WithDefaults("shop")
	m := NewManager(b, ManagerConfig{Sources: map[string]*config.CDC{"shop": spec}, Registry: NewRegistry(f)})
	require.NoError(t, m.Start(ctx))
	t.Cleanup(func() { _ = m.Stop(ctx) })

	st, err := m.Status(ctx, "shop")
	require.NoError(t, err)
	require.Equal(t, "postgres", st.Kind)
	require.Equal(t, "streaming", st.State)
	require.Equal(t, int64(1<<20), m.Statuses(ctx)["shop"].RetainedBytes)
	_, err = m.Status(ctx, "nope")
	require.ErrorIs(t, err, ErrNotFound)

	_, err = m.Backfill(ctx, "shop", "public.orders", "")
	require.ErrorIs(t, err, ErrUnsupported, "the stand-in cannot backfill")
	_, err = m.Drop(ctx, "shop")
	require.ErrorIs(t, err, ErrNotPaused)

	st, err = m.Pause(ctx, "shop")
	require.NoError(t, err)
	require.True(t, st.Paused)
	require.Equal(t, int32(1), f.stops.Load())
	_, err = m.Backfill(ctx, "shop", "public.orders", "")
	require.ErrorIs(t, err, ErrPaused)
	_, err = m.Drop(ctx, "shop")
	require.ErrorIs(t, err, ErrUnsupported, "the stand-in cannot drop")

	// A paused source stays paused across a restart.
	again := NewManager(b, ManagerConfig{Sources: map[string]*config.CDC{"shop": spec}, Registry: NewRegistry(f)})
	require.NoError(t, again.Start(ctx))
	require.Equal(t, int32(1), f.starts.Load())
	st, err = again.Resume(ctx, "shop")
	require.NoError(t, err)
	require.False(t, st.Paused)
	require.Equal(t, int32(2), f.starts.Load())
	require.NoError(t, again.Stop(ctx))
	require.NoError(t, again.Stop(ctx), "stop twice")
}

func TestCheckConfigNamesTheKind(t *testing.T) {
	t.Parallel()
	err := CheckConfig(NewRegistry(), map[string]*config.CDC{"shop": {MySQL: &config.MySQLCDC{}}})
	require.ErrorIs(t, err, ErrUnknownKind)
	require.ErrorContains(t, err, "cdc.shop.mysql")
	require.NoError(t, CheckConfig(NewRegistry(&standInFactory{}), map[string]*config.CDC{"shop": {Postgres: &config.PostgresCDC{}}}))
}
