package archive

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
)

// closeSegments closes the open segments whose hour ended CloseAfter ago,
// once no more events of that hour can come: the archive has passed the hour,
// or nothing is left to read. With S3 they are queued for upload.
func (a *Archiver) closeSegments(ctx context.Context) {
	if a.bufN > 0 || len(a.unsaved) > 0 || a.committed != a.next-1 {
		return // a flush did not complete; closing waits for it
	}
	now := time.Now()
	a.posMu.Lock()
	var due []string
	for rel := range a.pos.Files {
		if _, hour, ok := parseSegmentPath(rel); ok && !now.Before(hour.Add(time.Hour+a.cfg.CloseAfter)) {
			due = append(due, rel)
		}
	}
	last := a.pos.LastTime
	a.posMu.Unlock()
	if len(due) == 0 {
		return
	}
	slices.Sort(due)
	caughtUp, checked := false, false
	var closing []string
	for _, rel := range due {
		_, hour, _ := parseSegmentPath(rel)
		if last.Before(hour.Add(time.Hour)) {
			if !checked {
				caughtUp, checked = a.caughtUp(ctx), true
			}
			if !caughtUp {
				continue
			}
		}
		closing = append(closing, rel)
	}
	if len(closing) == 0 {
		return
	}
	a.posMu.Lock()
	before := a.pos.clone()
	for _, rel := range closing {
		n := a.pos.Files[rel]
		delete(a.pos.Files, rel)
		if a.s3 != nil && n > 0 {
			a.pos.ToUpload = append(slices.Clone(a.pos.ToUpload), rel)
		}
	}
	err := a.pos.save(a.cfg.Dir)
	if err != nil {
		a.pos = before
	} else {
		a.savedLocked()
	}
	a.posMu.Unlock()
	if err != nil {
		a.fail(ctx, "archive: closing segments failed; retrying", err)
		return
	}
	for _, rel := range closing {
		a.log.DebugContext(ctx, "archive: segment closed", slog.String("segment", rel))
	}
	if a.s3 != nil {
		select {
		case a.uploadWake <- struct{}{}:
		default:
		}
	}
}

// caughtUp reports whether the stream holds no event after the committed one.
func (a *Archiver) caughtUp(ctx context.Context) bool {
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if a.stream == nil {
		s, err := a.js.Stream(cctx, bus.EventsStream)
		if err != nil {
			return false
		}
		a.stream = s
	}
	_, err := a.stream.GetMsg(cctx, a.committed+1, jetstream.WithGetMsgSubject(bus.EventsPrefix+">"))
	return errors.Is(err, jetstream.ErrMsgNotFound)
}
