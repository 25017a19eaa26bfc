package bus

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func embeddedConfig(dir string) Config {
	return Config{StoreDir: dir, Replicas: 1, MaxAge: time.Hour, DedupeWindow: time.Hour, MaxPayload: 8 << 20, Name: "keys-test"}
}

// TestRecallSeesKeysFromBeforeARestart: the embedded bus in the process keeps
// keys in the local store, and they are still there after a restart.
func TestRecallSeesKeysFromBeforeARestart(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	ctx := context.Background()

	b, err := Open(ctx, cfg, quietLog())
	require.NoError(t, err)
	require.IsType(t, &diskKeys{}, b.keys, "the embedded bus in the process uses the local store")
	require.NoError(t, b.Remember("key-1", []byte("event-1")))
	_, _, found, err := b.Recall(ctx, "key-2")
	require.NoError(t, err)
	require.False(t, found)
	b.Close()

	b, err = Open(ctx, cfg, quietLog())
	require.NoError(t, err)
	defer b.Close()
	v, created, found, err := b.Recall(ctx, "key-1")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "event-1", string(v))
	require.WithinDuration(t, time.Now(), created, time.Minute)

	_, err = b.JetStream().KeyValue(ctx, DedupeBucket)
	require.ErrorIs(t, err, jetstream.ErrBucketNotFound, "no bucket holds the keys' index in memory")
}

// TestBucketKeysMoveToTheLocalStore: keys an earlier version kept in the
// bucket are copied with their times, and the bucket is deleted.
func TestBucketKeysMoveToTheLocalStore(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t.TempDir())
	ctx := context.Background()

	b, err := Open(ctx, cfg, quietLog())
	require.NoError(t, err)
	kv, err := b.JetStream().CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: DedupeBucket, TTL: time.Hour, History: 1})
	require.NoError(t, err)
	_, err = kv.Put(ctx, "old-key", []byte("old-event"))
	require.NoError(t, err)
	b.Close()

	b, err = Open(ctx, cfg, quietLog())
	require.NoError(t, err)
	defer b.Close()
	v, _, found, err := b.Recall(ctx, "old-key")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "old-event", string(v))
	_, err = b.JetStream().KeyValue(ctx, DedupeBucket)
	require.ErrorIs(t, err, jetstream.ErrBucketNotFound)
}

func TestDiskKeysExpireAfterTheWindow(t *testing.T) {
	t.Parallel()
	d, err := openDiskKeys(t.TempDir(), time.Hour, quietLog())
	require.NoError(t, err)
	defer d.close()
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	d.now = func() time.Time { return now }

	require.NoError(t, d.remember("old", []byte("1")))
	require.NoError(t, d.remember("again", []byte("2")))
	now = now.Add(40 * time.Minute)
	require.NoError(t, d.remember("new", []byte("3")))
	require.NoError(t, d.remember("again", []byte("4"))) // a retry seen again renews it

	now = now.Add(21 * time.Minute) // "old" is 61 minutes old
	_, _, found, err := d.recall(ctx, "old")
	require.NoError(t, err)
	require.False(t, found, "past the window even before expiry ran")

	n, err := d.expire()
	require.NoError(t, err)
	require.Equal(t, 1, n, "only the record past the window is deleted")
	v, _, found, err := d.recall(ctx, "again")
	require.NoError(t, err)
	require.True(t, found, "the renewed record survives the expiry of its first entry")
	require.Equal(t, "4", string(v))
	_, _, found, err = d.recall(ctx, "new")
	require.NoError(t, err)
	require.True(t, found)

	now = now.Add(time.Hour)
	n, err = d.expire()
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = d.expire()
	require.NoError(t, err)
	require.Zero(t, n, "nothing left to expire")
	_, closer, err := d.db.Get(recordKey("again"))
	if err == nil {
		closer.Close()
	}
	require.ErrorIs(t, err, pebble.ErrNotFound, "the record itself was deleted, not only hidden")
}

func TestDiskKeysExpireInBatches(t *testing.T) {
	t.Parallel()
	d, err := openDiskKeys(t.TempDir(), time.Minute, quietLog())
	require.NoError(t, err)
	defer d.close()
	now := time.Unix(1_700_000_000, 0)
	d.now = func() time.Time { return now }
	keys := 2*expiryBatch + 7
	for i := range keys {
		require.NoError(t, d.remember("k"+strconv.Itoa(i), []byte("v")))
	}
	now = now.Add(2 * time.Minute)
	for i := range 5 {
		require.NoError(t, d.remember("fresh"+strconv.Itoa(i), []byte("v")))
	}
	n, err := d.expire()
	require.NoError(t, err)
	require.Equal(t, keys, n)
	it, err := d.db.NewIter(nil)
	require.NoError(t, err)
	var left []string
	for it.First(); it.Valid(); it.Next() {
		left = append(left, string(it.Key()))
	}
	require.NoError(t, it.Close())
	require.Equal(t, []string{"kfresh0", "kfresh1", "kfresh2", "kfresh3", "kfresh4"}, left,
		"every expired record is gone, the live ones stay")
}

// BenchmarkDiskKeys measures the request path: a lookup of a new id (the
// filter answers) and the record written after the publish.
func BenchmarkDiskKeys(b *testing.B) {
	d, err := openDiskKeys(b.TempDir(), time.Hour, quietLog())
	require.NoError(b, err)
	defer d.close()
	ctx := context.Background()
	value := []byte("01KB0000000000000000000000")
	i := 0
	for b.Loop() {
		key := strconv.Itoa(i) + "-bench-key-of-about-forty-three-characters"
		if _, _, found, err := d.recall(ctx, key); err != nil || found {
			b.Fatal(found, err)
		}
		if err := d.remember(key, value); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
