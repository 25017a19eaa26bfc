package archive

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/weir-dev/weir/internal/event"
)

// Record is one archived event.
type Record struct {
	// Type is the event's type (its subject after "events.").
	Type string
	// ID is the event's id attribute.
	ID string
	// Time is when the bus stored the event (its stream timestamp).
	Time time.Time
	// Event is the CloudEvent JSON, exactly as the bus held it.
	Event json.RawMessage
}

// Read calls fn for every archived event with from <= Time < to whose type
// matches one of patterns, oldest first across types; a zero from or to leaves
// that end open. Patterns are NATS wildcards over the dot-separated type: "*"
// is one element, ">" one or more at the end; none means every type. An event
// that a segment holds twice (same id and time) is passed once. Read takes
// the local segments, and with cfg.S3 the segments that are only in the
// bucket; an open segment is read up to its committed length, so Read can
// run beside the archiver. An error from fn stops Read and is returned.
func Read(ctx context.Context, cfg Config, from, to time.Time, patterns []string, fn func(Record) error) error {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	w := window{from: from, to: to}
	sources, err := localSegments(cfg.Dir, w, patterns)
	if err != nil {
		return err
	}
	var client *minio.Client
	if cfg.S3 != nil {
		if client, err = cfg.S3.client(); err != nil {
			return err
		}
		if err := s3Segments(ctx, client, cfg.S3, w, patterns, sources); err != nil {
			return err
		}
	}
	byHour := map[time.Time][]*source{}
	for _, s := range sources {
		byHour[s.hour] = append(byHour[s.hour], s)
	}
	hours := make([]time.Time, 0, len(byHour))
	for h := range byHour {
		hours = append(hours, h)
	}
	slices.SortFunc(hours, func(a, b time.Time) int { return a.Compare(b) })
	for _, h := range hours {
		if err := readHour(ctx, client, cfg.S3, byHour[h], w, fn); err != nil {
			return err
		}
	}
	return nil
}

// window is Read's time range.
type window struct{ from, to time.Time }

// overlaps reports whether [start, end) meets the window.
func (w window) overlaps(start, end time.Time) bool {
	return (w.from.IsZero() || end.After(w.from)) && (w.to.IsZero() || start.Before(w.to))
}

func (w window) holds(t time.Time) bool {
	return (w.from.IsZero() || !t.Before(w.from)) && (w.to.IsZero() || t.Before(w.to))
}

// matchType reports whether typ matches one of patterns (all, when none).
func matchType(patterns []string, typ string) bool {
	return len(patterns) == 0 || slices.ContainsFunc(patterns, func(p string) bool { return event.MatchType(p, typ) })
}

// source is one segment to read: a local file or an object.
type source struct {
	rel   string
	typ   string
	hour  time.Time
	file  string // local path; empty for an object
	limit int64  // committed length of an open local segment; -1: the whole file
}

// localSegments lists the local segments in the window of the types asked for.
func localSegments(dir string, w window, patterns []string) (map[string]*source, error) {
	out := map[string]*source{}
	pos, _, err := loadPosition(dir)
	if err != nil {
		return nil, err
	}
	types, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, t := range types {
		if !t.IsDir() {
			continue
		}
		typ, err := unescapeType(t.Name())
		if err != nil || !matchType(patterns, typ) {
			continue
		}
		err = walkHours(filepath.Join(dir, t.Name()), w, func(hour time.Time, name string) {
			rel := segmentPath(typ, hour)
			limit, open := pos.Files[rel]
			if !open {
				limit = -1
			}
			out[rel] = &source{rel: rel, typ: typ, hour: hour, file: name, limit: limit}
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// walkHours calls fn for each segment file under a type's directory whose
// hour meets the window, skipping years, months and days outside it.
func walkHours(typeDir string, w window, fn func(hour time.Time, name string)) error {
	years, err := readDirNames(typeDir)
	if err != nil {
		return err
	}
	for _, y := range years {
		yn, err := strconv.Atoi(y)
		if err != nil || len(y) != 4 {
			continue
		}
		ys := time.Date(yn, 1, 1, 0, 0, 0, 0, time.UTC)
		if !w.overlaps(ys, ys.AddDate(1, 0, 0)) {
			continue
		}
		months, err := readDirNames(filepath.Join(typeDir, y))
		if err != nil {
			return err
		}
		for _, m := range months {
			mn, err := strconv.Atoi(m)
			if err != nil || len(m) != 2 || mn < 1 || mn > 12 {
				continue
			}
			ms := time.Date(yn, time.Month(mn), 1, 0, 0, 0, 0, time.UTC)
			if !w.overlaps(ms, ms.AddDate(0, 1, 0)) {
				continue
			}
			days, err := readDirNames(filepath.Join(typeDir, y, m))
			if err != nil {
				return err
			}
			for _, d := range days {
				dn, err := strconv.Atoi(d)
				if err != nil || len(d) != 2 {
					continue
				}
				ds := time.Date(yn, time.Month(mn), dn, 0, 0, 0, 0, time.UTC)
				if ds.Month() != time.Month(mn) || !w.overlaps(ds, ds.AddDate(0, 0, 1)) {
					continue
				}
				files, err := readDirNames(filepath.Join(typeDir, y, m, d))
				if err != nil {
					return err
				}
				for _, f := range files {
					hour, ok := parseHour(y, m, d, strings.TrimSuffix(f, segmentExt))
					if !ok || !strings.HasSuffix(f, segmentExt) || !w.overlaps(hour, hour.Add(time.Hour)) {
						continue
					}
					fn(hour, filepath.Join(typeDir, y, m, d, f))
				}
			}
		}
	}
	return nil
}

func readDirNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

// s3Segments adds to out the segments in the window of the types asked for
// that are in the bucket and not on disk.
func s3Segments(ctx context.Context, c *minio.Client, s *S3Config, w window, patterns []string, out map[string]*source) error {
	base := s.keyPrefix()
	var typeDirs []string
	for obj := range c.ListObjects(ctx, s.Bucket, minio.ListObjectsOptions{Prefix: base}) {
		if obj.Err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", s.Bucket, base, obj.Err)
		}
		name, ok := strings.CutSuffix(strings.TrimPrefix(obj.Key, base), "/")
		if !ok {
			continue
		}
		if typ, err := unescapeType(name); err == nil && matchType(patterns, typ) {
			typeDirs = append(typeDirs, name)
		}
	}
	for _, td := range typeDirs {
		opts := minio.ListObjectsOptions{Prefix: base + td + "/", Recursive: true}
		if !w.from.IsZero() {
			// Keys sort by hour; this one sorts just before the first hour wanted.
			opts.StartAfter = base + td + "/" + hourPath(hourOf(w.from))
		}
		if err := listType(ctx, c, s, opts, w, out); err != nil {
			return err
		}
	}
	return nil
}

func listType(ctx context.Context, c *minio.Client, s *S3Config, opts minio.ListObjectsOptions, w window, out map[string]*source) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	base := s.keyPrefix()
	for obj := range c.ListObjects(ctx, s.Bucket, opts) {
		if obj.Err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", s.Bucket, opts.Prefix, obj.Err)
		}
		rel := strings.TrimPrefix(obj.Key, base)
		typ, hour, ok := parseSegmentPath(rel)
		if !ok {
			continue
		}
		if !w.to.IsZero() && !hour.Before(w.to) {
			return nil // keys sort by hour: the rest is later still
		}
		if _, local := out[rel]; local || !w.overlaps(hour, hour.Add(time.Hour)) {
			continue
		}
		out[rel] = &source{rel: rel, typ: typ, hour: hour, limit: -1}
	}
	return nil
}

// readHour merges one hour's segments into time order and hands their events
// in the window to fn, each once.
func readHour(ctx context.Context, c *minio.Client, s *S3Config, sources []*source, w window, fn func(Record) error) error {
	var h cursors
	defer func() {
		for _, cur := range h {
			cur.r.close()
		}
	}()
	for _, src := range sources {
		r, err := openSegment(ctx, c, s, src)
		if err != nil {
			return err
		}
		cur := &cursor{r: r}
		ok, err := cur.advance()
		if err != nil {
			r.close()
			return err
		}
		if !ok {
			r.close()
			continue
		}
		h = append(h, cur)
	}
	heap.Init(&h)
	seen := map[string]struct{}{}
	for len(h) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		cur := h[0]
		rec := cur.rec
		key := rec.Type + "\x00" + rec.ID + "\x00" + strconv.FormatInt(rec.Time.UnixNano(), 10)
		if rec.ID == "" {
			key += "\x00" + string(rec.Event)
		}
		if _, dup := seen[key]; !dup && w.holds(rec.Time) {
			seen[key] = struct{}{}
			if err := fn(rec); err != nil {
				return err
			}
		}
		ok, err := cur.advance()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
			cur.r.close()
		}
	}
	return nil
}

// cursor is a segment's next record in the merge.
type cursor struct {
	r   *segReader
	rec Record
	seq uint64
}

func (c *cursor) advance() (bool, error) {
	rec, seq, ok, err := c.r.next()
	c.rec, c.seq = rec, seq
	return ok, err
}

type cursors []*cursor

func (h cursors) Len() int { return len(h) }
func (h cursors) Less(i, j int) bool {
	a, b := h[i], h[j]
	if c := a.rec.Time.Compare(b.rec.Time); c != 0 {
		return c < 0
	}
	if a.seq != b.seq {
		return a.seq < b.seq
	}
	return a.rec.Type < b.rec.Type
}
func (h cursors) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursors) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *cursors) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
