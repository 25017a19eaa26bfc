package bus

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestKeyFilterHasNoFalseNegatives(t *testing.T) {
	t.Parallel()
	f := newKeyFilter(time.Hour)
	for i := range 3 * filterCapacity / 2 { // spans two generations
		f.add("k" + strconv.Itoa(i))
	}
	for i := range 3 * filterCapacity / 2 {
		require.True(t, f.mayHold("k"+strconv.Itoa(i)))
	}
	falsePositives := 0
	for i := range 100_000 {
		if f.mayHold("other" + strconv.Itoa(i)) {
			falsePositives++
		}
	}
	require.Less(t, falsePositives, 1000, "under 1 %% of new keys cost a lookup")
}

func TestKeyFilterForgetsGenerationsPastTheWindow(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	f := newKeyFilter(time.Hour)
	f.now = func() time.Time { return now }
	for i := range filterCapacity {
		f.add("old" + strconv.Itoa(i))
	}
	now = now.Add(30 * time.Minute)
	f.add("new")
	require.Len(t, f.gens, 2)
	require.True(t, f.mayHold("old1"), "still within the window")

	now = now.Add(31 * time.Minute) // old keys expired from the bucket
	f.add("newer")
	require.Len(t, f.gens, 1, "the generation of expired keys is dropped")
	require.True(t, f.mayHold("new"))
	require.True(t, f.mayHold("newer"))
}

// TestRecallSeesKeysFromBeforeARestart: the filter is rebuilt from the bucket
// when the embedded bus starts again, so what was remembered is still found.
func TestRecallSeesKeysFromBeforeARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := Config{StoreDir: dir, Replicas: 1, MaxAge: time.Hour, DedupeWindow: time.Hour, MaxPayload: 8 << 20, Name: "seen-test"}
	ctx := context.Background()

	b, err := Open(ctx, cfg, log)
	require.NoError(t, err)
	require.NotNil(t, b.filter, "the embedded bus in the process uses the filter")
	require.NoError(t, b.Remember("key-1", []byte("event-1")))
	require.Eventually(t, func() bool {
		_, err := b.dedupe.Get(ctx, "key-1")
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	_, _, found, err := b.Recall(ctx, "key-2")
	require.NoError(t, err)
	require.False(t, found)
	b.Close()

	b, err = Open(ctx, cfg, log)
	require.NoError(t, err)
	defer b.Close()
	v, _, found, err := b.Recall(ctx, "key-1")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "event-1", string(v))
}
