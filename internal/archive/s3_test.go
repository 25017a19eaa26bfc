package archive

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"
)

// No S3 server runs on this machine, so the test uses gofakes3, an
// S3-compatible server that runs in the test process with its memory backend.
// The archiver talks to it over HTTP with the same client it uses in
// production.
func TestArchiverUploadsClosedSegments(t *testing.T) {
	t.Parallel()
	b := setup(t)
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	s3cfg := &S3Config{
		Endpoint:  strings.TrimPrefix(srv.URL, "http://"),
		Bucket:    "weir-archive",
		Prefix:    "/prod/events/",
		AccessKey: "test",
		SecretKey: "test-secret",
		Region:    "us-east-1",
	}
	cfg := Config{Dir: b.dir, S3: s3cfg, CloseAfter: time.Millisecond}

	// Events are filed three hours back, so their hour is over and their
	// segments close as soon as the archiver has caught up.
	shift := -3 * time.Hour
	a := b.start(t, cfg, func(a *Archiver) {
		a.eventTime = func(ts time.Time) time.Time { return ts.Add(shift) }
		a.uploadBackoff = 10 * time.Millisecond
	})

	types := []string{"order.created", "order.paid", "customer.deleted"}
	var last uint64
	for i := range 30 {
		last = publish(t, b.js, types[i%3], fmt.Sprintf("s3-%02d", i))
	}
	waitArchived(t, a, last)

	// The bucket does not exist yet: uploads fail, are counted, and are
	// retried; archiving is not held up.
	require.Eventually(t, func() bool { st := a.Status(); return st.Errors > 0 && st.PendingUploads == 3 && st.Segments == 0 },
		10*time.Second, 5*time.Millisecond)
	require.Contains(t, a.Status().LastError, "upload failed")
	require.NoError(t, backend.CreateBucket("weir-archive"))
	require.Eventually(t, func() bool { st := a.Status(); return st.Uploaded == 3 && st.PendingUploads == 0 },
		10*time.Second, 5*time.Millisecond)
	a.Stop(context.Background())

	pos, _, err := loadPosition(b.dir)
	require.NoError(t, err)
	require.Empty(t, pos.Files)
	require.Empty(t, pos.ToUpload)
	require.Len(t, pos.Uploaded, 3)

	client, err := s3cfg.client()
	require.NoError(t, err)
	ctx := context.Background()
	var keys []string
	for obj := range client.ListObjects(ctx, "weir-archive", minio.ListObjectsOptions{Recursive: true}) {
		require.NoError(t, obj.Err)
		keys = append(keys, obj.Key)
	}
	hour := hourOf(time.Now().Add(shift))
	var want []string
	for _, typ := range types {
		want = append(want, "prod/events/"+typ+"/"+hourPath(hour)+".ndjson.gz")
	}
	// The hour may have turned between the first event and the last.
	if len(keys) == 3 {
		require.ElementsMatch(t, want, keys)
	}
	local := segmentFiles(t, b.dir)
	require.Len(t, keys, len(local))
	for _, rel := range local {
		obj, err := client.GetObject(ctx, "weir-archive", "prod/events/"+rel, minio.GetObjectOptions{})
		require.NoError(t, err)
		got, err := io.ReadAll(obj)
		require.NoError(t, err)
		onDisk, err := os.ReadFile(filepath.Join(b.dir, rel))
		require.NoError(t, err)
		require.Equal(t, onDisk, got, "the object is the segment, byte for byte")
		require.NotEmpty(t, gzipWhole(t, got))
	}

	// With the local segments gone, Read takes them from the bucket.
	for _, rel := range local {
		require.NoError(t, os.Remove(filepath.Join(b.dir, rel)))
	}
	require.Empty(t, readAll(t, Config{Dir: b.dir}, time.Time{}, time.Time{}), "nothing on disk")
	recs := readAll(t, cfg, time.Time{}, time.Time{})
	require.Len(t, recs, 30)
	for i, r := range recs {
		require.Equal(t, fmt.Sprintf("s3-%02d", i), r.ID)
		require.Equal(t, types[i%3], r.Type)
	}
	require.Len(t, readAll(t, cfg, hour.Add(-time.Hour), hour.Add(2*time.Hour), "order.>"), 20)
	require.Empty(t, readAll(t, cfg, hour.Add(2*time.Hour), time.Time{}))

	// A segment both on disk and in the bucket is read once, from disk.
	onDisk := Config{Dir: t.TempDir(), S3: s3cfg}
	obj, err := client.GetObject(ctx, "weir-archive", "prod/events/"+local[0], minio.GetObjectOptions{})
	require.NoError(t, err)
	data, err := io.ReadAll(obj)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(onDisk.Dir, local[0])), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(onDisk.Dir, local[0]), data, 0o644))
	require.Len(t, readAll(t, onDisk, time.Time{}, time.Time{}), 30)
}
