package lifecycle

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var errStarted = errors.New("started")

func TestOnceStartsOnceAndStopsOnce(t *testing.T) {
	t.Parallel()
	var o Once
	ran := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, o.Start(ctx, errStarted, func(bg context.Context) (func(), error) {
		return func() { close(ran); <-bg.Done() }, nil
	}))
	cancel() // the start-up context ending does not stop the part
	<-ran
	require.ErrorIs(t, o.Start(context.Background(), errStarted, nil), errStarted)
	require.NoError(t, o.Stop(context.Background()))
	require.NoError(t, o.Stop(context.Background()), "a second Stop is harmless")
}

func TestOnceStoppedFirstNeverStarts(t *testing.T) {
	t.Parallel()
	var o Once
	require.NoError(t, o.Stop(context.Background()))
	require.ErrorIs(t, o.Start(context.Background(), errStarted, nil), errStarted)
}

func TestOnceStartErrorCancelsItsContext(t *testing.T) {
	t.Parallel()
	var o Once
	var bg context.Context
	err := o.Start(context.Background(), errStarted, func(c context.Context) (func(), error) {
		bg = c
		return nil, errors.New("no bucket")
	})
	require.EqualError(t, err, "no bucket")
	require.Error(t, bg.Err())
	require.NoError(t, o.Stop(context.Background()))
}

func TestOnceStopGivesUpWithItsContext(t *testing.T) {
	t.Parallel()
	var o Once
	release := make(chan struct{})
	require.NoError(t, o.Start(context.Background(), errStarted, func(context.Context) (func(), error) {
		return func() { <-release }, nil // ignores cancellation
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, o.Stop(ctx), context.DeadlineExceeded)
	close(release)
	require.NoError(t, o.Stop(context.Background()), "the work has ended by now, or Stop waits for it")
}

func TestSleepEndsWithItsContext(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("a short sleep with a live context returned false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("a sleep with an ended context returned true")
	}
}
