package view

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/field"
)

// Bounds of one read.
const (
	// DefaultLimit is a page's size when the request names none.
	DefaultLimit = 100
	// MaxLimit is the largest page.
	MaxLimit = 1000
	// maxScan bounds the records one page reads: a prefix that few keys
	// have ends a page early, with a cursor to go on, rather than reading the
	// whole bucket in one request.
	maxScan = 10 * MaxLimit
	// MaxPageBytes bounds the items of one page: a page whose next item
	// would pass it ends early, with a cursor to go on (a page always holds
	// at least one item, however large).
	MaxPageBytes = 4 << 20
	// MaxBuckets bounds the time buckets of one series request.
	MaxBuckets = 10000
)

// reader is the current generation's bucket of view name. A read that
// finds it gone (a rebuild swapped meanwhile) asks again, once.
func (m *Manager) reader(name string) (*Spec, *store, error) {
	spec := m.specs[name]
	if spec == nil {
		return nil, nil, ErrUnknownView
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.views[name]
	if v == nil || v.read == nil {
		return spec, nil, bus.Unavailable("read view "+name, errors.New("the view is starting"))
	}
	return spec, v.read, nil
}

// retried runs read on the current generation, and once more if it failed
// while a rebuild swapped generations (the old bucket is deleted then, and a
// read of it fails in whatever way the bus answers: no responders, no
// stream, no bucket).
func (m *Manager) retried(name string, read func(*Spec, *store) error) error {
	for try := 0; ; try++ {
		spec, st, err := m.reader(name)
		if err != nil {
			return err
		}
		err = read(spec, st)
		if err == nil || errors.Is(err, ErrUnknownKey) || isField(err) {
			return err
		}
		if _, now, _ := m.reader(name); try == 0 && now != st {
			continue
		}
		return bus.Unavailable("read view "+name, err)
	}
}

func isField(err error) bool {
	var fe *field.Error
	return errors.As(err, &fe)
}

// Get is key of latest view name, as stored: {"key", "fields" or "data",
// "time", "event_id", "type", "seq"}.
func (m *Manager) Get(ctx context.Context, name, key string) (json.RawMessage, error) {
	var out json.RawMessage
	err := m.retried(name, func(spec *Spec, st *store) error {
		if spec.Config.Kind != config.ViewLatest || key == "" || len(key) > MaxKeyLen {
			return ErrUnknownKey
		}
		raw, _, found, err := st.read(ctx, EncodeKey(key))
		if err != nil {
			return err
		}
		if !found || tombstone(raw) {
			return ErrUnknownKey
		}
		out = raw
		return nil
	})
	return out, err
}

// tombstone reports whether a stored item marks a deleted key.
func tombstone(raw []byte) bool {
	// Items are written by json.Marshal, which puts "deleted" last and only
	// when true; a full decode per item would cost more than the read.
	return strings.HasSuffix(string(raw), `"deleted":true}`)
}

// Page is one page of a view's records ordered by when they were last
// written: items, and the cursor of the next page ("" at the end). prefix
// keeps the keys that start with it (latest views). A record written while
// a client pages may show up again on a later page, never go missing.
func (m *Manager) Page(ctx context.Context, name, prefix, cur string, limit int) (items []json.RawMessage, next string, err error) {
	c, err := parseCursor(cur)
	if err != nil {
		return nil, "", field.Wrap("cursor", err)
	}
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		return nil, "", field.Errorf("limit", "%d is out of range 1..%d", limit, MaxLimit)
	}
	if len(prefix) > MaxKeyLen {
		return nil, "", field.Errorf("prefix", "longer than a key can be (%d bytes)", MaxKeyLen)
	}
	err = m.retried(name, func(spec *Spec, st *store) error {
		items, next = nil, ""
		size := 0
		want := "$KV." + st.bucket + "." + EncodeKey(prefix)
		seq := max(c.seq, 1)
		for scanned := 0; ; scanned++ {
			if scanned == maxScan {
				next = cursor{seq: seq}.String()
				return nil
			}
			msg, err := st.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject("$KV."+st.bucket+".>"))
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			if marker(msg) || !strings.HasPrefix(msg.Subject, want) || tombstone(msg.Data) {
				seq = msg.Sequence + 1
				continue
			}
			if len(items) > 0 && size+len(msg.Data) > MaxPageBytes {
				next = cursor{seq: msg.Sequence}.String()
				return nil
			}
			seq = msg.Sequence + 1
			size += len(msg.Data)
			items = append(items, msg.Data)
			if len(items) == limit {
				next = cursor{seq: seq}.String()
				return nil
			}
		}
	})
	return items, next, err
}

// marker reports whether a bucket's message marks a deleted or expired key.
func marker(msg *jetstream.RawStreamMsg) bool {
	return msg.Header.Get("KV-Operation") != "" || msg.Header.Get(jetstream.MarkerReasonHeader) != ""
}

// SeriesQuery asks a count view for its buckets from From (inclusive) to To
// (exclusive), keeping the records whose by-values equal By's.
type SeriesQuery struct {
	From, To time.Time
	By       map[string]string
	Cursor   string
	Limit    int
}

// Point is one record of a series.
type Point struct {
	Bucket time.Time         `json:"bucket"`
	By     map[string]string `json:"by"`
	Count  int64             `json:"count"`
	Sum    float64           `json:"sum"`
}

// Series reads a count view's records bucket by bucket. The range holds at
// most MaxBuckets buckets; a page at most Limit points, with the cursor of
// the next.
func (m *Manager) Series(ctx context.Context, name string, q SeriesQuery) (points []Point, next string, err error) {
	spec := m.specs[name]
	if spec == nil {
		return nil, "", ErrUnknownView
	}
	if spec.Config.Kind != config.ViewCount {
		return nil, "", ErrNotCount
	}
	c, err := parseCursor(q.Cursor)
	if err != nil {
		return nil, "", field.Wrap("cursor", err)
	}
	if q.Limit == 0 {
		q.Limit = MaxLimit
	}
	if q.Limit < 1 || q.Limit > MaxBuckets {
		return nil, "", field.Errorf("limit", "%d is out of range 1..%d", q.Limit, MaxBuckets)
	}
	every := int64(spec.Config.Every.D() / time.Second)
	from, to := q.From.Unix(), q.To.Unix()
	from -= ((from % every) + every) % every
	if to <= from {
		return nil, "", field.Errorf("to", "%s is not after from %s", q.To.UTC().Format(time.RFC3339), q.From.UTC().Format(time.RFC3339))
	}
	if (to-from+every-1)/every > MaxBuckets {
		return nil, "", field.Errorf("to", "the range holds %d buckets of %s; the limit is %d", (to-from+every-1)/every, spec.Config.Every.D(), MaxBuckets)
	}
	names := map[string]bool{}
	for _, b := range spec.Config.By {
		names[config.ByName(b)] = true
	}
	for k := range q.By {
		if !names[k] {
			return nil, "", field.Errorf(k, "the view counts by no %q", k)
		}
	}
	start, seq := from, uint64(1)
	if c.seq != 0 {
		if c.bucket < from || c.bucket >= to {
			return nil, "", field.Errorf("cursor", "the cursor is outside from..to: send the same from and to with it")
		}
		start, seq = c.bucket, c.seq
	}
	err = m.retried(name, func(_ *Spec, st *store) error {
		points, next = nil, ""
		for b := start; b < to; b += every {
			subj := "$KV." + st.bucket + "." + strconv.FormatInt(b, 10)
			if len(spec.Config.By) > 0 {
				subj += ".>"
			}
			if b != start {
				seq = 1
			}
			for {
				msg, err := st.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
				if errors.Is(err, jetstream.ErrMsgNotFound) {
					break
				}
				if err != nil {
					return err
				}
				seq = msg.Sequence + 1
				if marker(msg) {
					continue
				}
				var rec Count
				if err := json.Unmarshal(msg.Data, &rec); err != nil {
					return fmt.Errorf("a record of %s does not decode: %w", st.bucket, err)
				}
				if !matches(rec.By, q.By) {
					continue
				}
				points = append(points, Point{Bucket: rec.Bucket, By: rec.By, Count: rec.Count, Sum: rec.Sum})
				if len(points) == q.Limit {
					next = cursor{seq: seq, bucket: b}.String()
					return nil
				}
			}
		}
		return nil
	})
	return points, next, err
}

func matches(by, want map[string]string) bool {
	for k, v := range want {
		if by[k] != v {
			return false
		}
	}
	return true
}
