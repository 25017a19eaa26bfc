package bus

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// openKeyStore opens a key store kept under dir that remembers keys for
// window. Opening the same dir again after close is a restart.
type openKeyStore func(t *testing.T, dir string, window time.Duration) keyIndex

// TestKeyStores runs the one key-store suite against every implementation.
func TestKeyStores(t *testing.T) {
	t.Parallel()
	t.Run("diskKeys", func(t *testing.T) {
		t.Parallel()
		testKeyStore(t, func(t *testing.T, dir string, window time.Duration) keyIndex {
			d, err := openDiskKeys(filepath.Join(dir, DedupeDir), window, quietLog())
			require.NoError(t, err)
			t.Cleanup(func() { _ = d.close() })
			return d
		})
	})
	t.Run("bucketKeys", func(t *testing.T) {
		t.Parallel()
		testKeyStore(t, openBucketKeys)
	})
}

// busBucketKeys is the bucket store with the bus it lives on: closing it
// closes the bus, as stopping the node does.
type busBucketKeys struct {
	bucketKeys
	bus *Bus
}

func (k busBucketKeys) close() error {
	k.bus.Close()
	return nil
}

// openBucketKeys opens an embedded bus that other processes may reach
// (bus.listen), which keeps keys in the shared bucket, and sets the bucket's
// window (Open raises it to at least StreamDuplicateWindow).
func openBucketKeys(t *testing.T, dir string, window time.Duration) keyIndex {
	ctx := context.Background()
	cfg := embeddedConfig(dir)
	cfg.DedupeWindow = window
	cfg.Listen = "127.0.0.1:0"
	cfg.Credentials = Credentials{User: "weir", Password: "a-password-of-some-length"}
	b, err := Open(ctx, cfg, quietLog())
	require.NoError(t, err)
	t.Cleanup(b.Close)
	keys, ok := b.keys.(bucketKeys)
	require.True(t, ok, "an exposed bus keeps keys in the bucket, got %T", b.keys)
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: DedupeBucket, TTL: window, History: 1, Storage: jetstream.FileStorage, Replicas: 1})
	require.NoError(t, err)
	keys.kv = kv
	return busBucketKeys{bucketKeys: keys, bus: b}
}

// testKeyStore is the contract every key store keeps, whatever holds the
// keys: a key is absent until remembered; once remembered it is found with
// its value (a bucket's write is asynchronous, so the suite polls for it);
// remembering it again keeps the newest value; it is forgotten after the
// window; it survives a restart; a closed store answers with errors.
func testKeyStore(t *testing.T, open openKeyStore) {
	ctx := context.Background()
	within := 15 * time.Second

	// foundWith polls until key holds want.
	foundWith := func(t *testing.T, k keyIndex, key, want string) {
		t.Helper()
		weirtest.Eventually(t, within, func() error {
			v, created, found, err := k.recall(ctx, key)
			switch {
			case err != nil:
				return err
			case !found:
				return fmt.Errorf("%s not found", key)
			case string(v) != want:
				return fmt.Errorf("%s holds %q, want %q", key, v, want)
			case created.IsZero():
				return fmt.Errorf("%s has no creation time", key)
			}
			return nil
		})
	}
	absent := func(t *testing.T, k keyIndex, key string) {
		t.Helper()
		_, _, found, err := k.recall(ctx, key)
		require.NoError(t, err)
		require.False(t, found, key)
	}

	t.Run("CreateIfAbsent", func(t *testing.T) {
		t.Parallel()
		k := open(t, t.TempDir(), time.Hour)
		absent(t, k, "key-1")
		require.NoError(t, k.remember("key-1", []byte("event-1")))
		foundWith(t, k, "key-1", "event-1")
		absent(t, k, "key-2")
	})

	t.Run("RememberAllRecordsEveryKey", func(t *testing.T) {
		t.Parallel()
		k := open(t, t.TempDir(), time.Hour)
		recs := make([]Record, 300)
		for i := range recs {
			recs[i] = Record{Key: fmt.Sprintf("batch-%d", i), Value: []byte(fmt.Sprintf("event-%d", i))}
		}
		failed, err := k.rememberAll(recs)
		require.NoError(t, err)
		require.Zero(t, failed)
		for i := range recs {
			foundWith(t, k, recs[i].Key, fmt.Sprintf("event-%d", i))
		}
		absent(t, k, "batch-300")
		_, err = k.rememberAll([]Record{{Key: "empty"}})
		require.NoError(t, err)
		foundWith(t, k, "empty", "")
	})

	t.Run("DuplicateKeepsTheNewestValue", func(t *testing.T) {
		t.Parallel()
		k := open(t, t.TempDir(), time.Hour)
		require.NoError(t, k.remember("key-1", []byte("event-1")))
		foundWith(t, k, "key-1", "event-1")
		require.NoError(t, k.remember("key-1", []byte("event-2")))
		foundWith(t, k, "key-1", "event-2")
		require.NoError(t, k.remember("other", []byte("event-3")))
		foundWith(t, k, "other", "event-3")
		foundWith(t, k, "key-1", "event-2")
	})

	t.Run("ForgottenAfterTheWindow", func(t *testing.T) {
		t.Parallel()
		k := open(t, t.TempDir(), 2*time.Second)
		require.NoError(t, k.remember("key-1", []byte("event-1")))
		foundWith(t, k, "key-1", "event-1")
		weirtest.Eventually(t, within, func() error {
			_, _, found, err := k.recall(ctx, "key-1")
			if err != nil {
				return err
			}
			if found {
				return errors.New("key-1 still found after the window")
			}
			return nil
		})
	})

	t.Run("SurvivesARestart", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		k := open(t, dir, time.Hour)
		require.NoError(t, k.remember("key-1", []byte("event-1")))
		foundWith(t, k, "key-1", "event-1")
		require.NoError(t, k.close())

		k = open(t, dir, time.Hour)
		foundWith(t, k, "key-1", "event-1")
		absent(t, k, "key-2")
	})

	t.Run("ClosedStoreAnswersWithErrors", func(t *testing.T) {
		t.Parallel()
		k := open(t, t.TempDir(), time.Hour)
		require.NoError(t, k.close())
		require.NoError(t, k.close(), "a second close is harmless")
		require.Error(t, k.remember("key-1", nil))
		failed, err := k.rememberAll([]Record{{Key: "key-1"}, {Key: "key-2"}})
		require.Error(t, err)
		require.Equal(t, 2, failed)
		_, _, _, err = k.recall(ctx, "key-1")
		require.ErrorIs(t, err, ErrUnavailable)
	})
}
