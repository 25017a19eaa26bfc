package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/minio/minio-go/v7"
)

// maxUploadBackoff is the longest wait before a failed upload is tried again.
const maxUploadBackoff = 5 * time.Minute

// uploadLoop uploads closed segments until ctx ends. It runs beside the
// archiving, which never waits for it: a bucket that is down only makes the
// list of segments to upload longer.
func (a *Archiver) uploadLoop(ctx context.Context) {
	type retry struct {
		at    time.Time
		delay time.Duration
	}
	retries := map[string]*retry{}
	for {
		a.posMu.Lock()
		todo := slices.Clone(a.pos.ToUpload)
		a.posMu.Unlock()

		wait := time.Minute
		for _, rel := range todo {
			if ctx.Err() != nil {
				return
			}
			r := retries[rel]
			if r != nil && time.Now().Before(r.at) {
				wait = min(wait, time.Until(r.at))
				continue
			}
			err := a.upload(ctx, rel)
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, fs.ErrNotExist) {
				// Nothing left to upload; retrying would not change that.
				a.fail(ctx, "archive: a closed segment to upload is gone", err, slog.String("segment", rel))
				a.uploadDone(ctx, rel, false)
				continue
			}
			if err != nil {
				if r == nil {
					r = &retry{delay: a.uploadBackoff}
					retries[rel] = r
				} else {
					r.delay = min(2*r.delay, maxUploadBackoff)
				}
				r.at = time.Now().Add(r.delay)
				wait = min(wait, r.delay)
				a.fail(ctx, "archive: upload failed; it is retried", err, slog.String("segment", rel), slog.Duration("retry_in", r.delay))
				continue
			}
			delete(retries, rel)
			a.uploadDone(ctx, rel, true)
		}
		for rel := range retries {
			if !slices.Contains(todo, rel) {
				delete(retries, rel)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-a.uploadWake:
		case <-t.C:
		}
		t.Stop()
	}
}

// upload puts the closed segment at rel into the bucket.
func (a *Archiver) upload(ctx context.Context, rel string) error {
	f, err := os.Open(a.segmentFile(rel))
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	uctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	key := a.cfg.S3.key(rel)
	// Only the length it has now: an event that reopens the segment meanwhile
	// cannot make the object a torn one, and the segment is uploaded again
	// after it closes again.
	_, err = a.s3.PutObject(uctx, a.cfg.S3.Bucket, key, io.NewSectionReader(f, 0, st.Size()), st.Size(),
		minio.PutObjectOptions{ContentType: "application/gzip"})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", a.cfg.S3.Bucket, key, err)
	}
	return nil
}

// uploadDone takes rel off the upload list and, when uploaded, records it.
func (a *Archiver) uploadDone(ctx context.Context, rel string, uploaded bool) {
	a.posMu.Lock()
	i := slices.Index(a.pos.ToUpload, rel)
	if i < 0 { // reopened meanwhile; it is queued again when it closes
		a.posMu.Unlock()
		return
	}
	a.pos.ToUpload = slices.Delete(slices.Clone(a.pos.ToUpload), i, i+1)
	if uploaded {
		a.pos.Uploaded = append(a.pos.Uploaded, rel)
		if n := len(a.pos.Uploaded); n > keepUploaded {
			a.pos.Uploaded = slices.Clone(a.pos.Uploaded[n-keepUploaded:])
		}
	}
	// A failed save leaves the change for the next one; at worst a restart
	// uploads the segment again, which replaces the object with the same bytes.
	err := a.pos.save(a.cfg.Dir)
	if err == nil {
		a.savedLocked()
	}
	a.posMu.Unlock()
	if err != nil {
		a.fail(ctx, "archive: recording an upload failed", err, slog.String("segment", rel))
	}
	if uploaded {
		a.stMu.Lock()
		a.st.Uploaded++
		a.stMu.Unlock()
		a.log.DebugContext(ctx, "archive: segment uploaded", slog.String("segment", rel), slog.String("key", a.cfg.S3.key(rel)))
	}
}
