package clickhouse

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weir-dev/weir/internal/sink"
)

// latestRows holds a latest twin's columns of one batch.
type latestRows struct {
	key, eventID, typ, fields []string
	time                      []time.Time
	timeMS                    []uint16
	seq, version              []uint64
	deleted                   []uint8
}

func (r *latestRows) reset() {
	r.key, r.eventID, r.typ, r.fields = r.key[:0], r.eventID[:0], r.typ[:0], r.fields[:0]
	r.time, r.timeMS, r.seq, r.version, r.deleted = r.time[:0], r.timeMS[:0], r.seq[:0], r.version[:0], r.deleted[:0]
}

// columns lists the buffers in latestColumns' order.
func (r *latestRows) columns() []any {
	return []any{r.key, r.time, r.timeMS, r.seq, r.deleted, r.eventID, r.typ, r.fields, r.version}
}

// countRows holds a count twin's columns of one batch.
type countRows struct {
	bucket []time.Time
	by     [][]string // one slice per by column
	id     []string
	value  []float64
}

func (r *countRows) reset(byCols int) {
	r.bucket, r.id, r.value = r.bucket[:0], r.id[:0], r.value[:0]
	if len(r.by) != byCols {
		r.by = make([][]string, byCols)
	}
	for i := range r.by {
		r.by[i] = r.by[i][:0]
	}
}

// columns lists the buffers in the count twin's column order.
func (r *countRows) columns() []any {
	out := make([]any, 0, len(r.by)+3)
	out = append(out, r.bucket)
	for _, b := range r.by {
		out = append(out, b)
	}
	return append(out, r.id, r.value)
}

// writeTwin inserts what the batch contributes to twin t, as the view on the
// bus takes it (view.Spec.Extract). Events the view does not take are left
// out; events it skips (no key, a filter that cannot judge) are left out
// too, and the view counts them in weir_view_skipped_total.
func (s *Sink) writeTwin(ctx context.Context, conn driver.Conn, t *twin, batch []sink.Record) error {
	lr, cr := &t.latest, &t.count
	lr.reset()
	cr.reset(len(t.byCols))
	rows, skipped := 0, 0
	var firstSkip error
	for i := range batch {
		rec := &batch[i]
		c, ok, err := t.spec.Extract(&rec.Event, rec.ReceivedAt)
		if err != nil {
			skipped++
			if firstSkip == nil {
				firstSkip = err
			}
			continue
		}
		if !ok {
			continue
		}
		rows++
		if !t.isLatest() {
			cr.bucket = append(cr.bucket, dateTime(c.Bucket))
			for j, k := range t.byKeys {
				cr.by[j] = append(cr.by[j], c.By[k])
			}
			cr.id = append(cr.id, rec.Event.ID)
			cr.value = append(cr.value, c.Sum)
			continue
		}
		tm, ms, _ := eventTime(c.Time, rec.ReceivedAt)
		lr.key = append(lr.key, c.Key)
		lr.time = append(lr.time, tm)
		lr.timeMS = append(lr.timeMS, ms)
		lr.seq = append(lr.seq, rec.Seq)
		lr.eventID = append(lr.eventID, rec.Event.ID)
		lr.typ = append(lr.typ, rec.Event.Type)
		lr.version = append(lr.version, version(tm, ms, rec.Seq))
		if c.Delete {
			lr.deleted = append(lr.deleted, 1)
			lr.fields = append(lr.fields, "")
			continue
		}
		lr.deleted = append(lr.deleted, 0)
		lr.fields = append(lr.fields, fieldsText(c.Fields, c.Data))
	}
	if skipped > 0 && s.log != nil {
		s.log.DebugContext(ctx, "a view's twin left out events the view skips too",
			slog.String("view", t.spec.Name), slog.Int("events", skipped), slog.Any("first", firstSkip))
	}
	if rows == 0 {
		return nil
	}
	cols := cr.columns()
	if t.isLatest() {
		cols = lr.columns()
	}
	return s.insert(ctx, conn, t.def(), func(b driver.Batch) error {
		for i, col := range cols {
			if err := b.Column(i).Append(col); err != nil {
				return err
			}
		}
		return nil
	})
}

// version orders the rows of one key of a latest twin as the view on the
// bus orders its updates: the later event time wins, then the higher stream
// sequence. The time, in milliseconds since 1970, fills the high 42 bits
// and the sequence's low 22 bits the rest, since 18.16's ReplacingMergeTree
// takes one unsigned integer and no tuple. Two events of one key in the same
// millisecond are therefore ordered by sequence unless their sequences lie
// on either side of a multiple of 2^22 (4,194,304).
func version(t time.Time, ms uint16, seq uint64) uint64 {
	return (uint64(t.Unix())*1000+uint64(ms))<<seqBits | seq&(1<<seqBits-1)
}

// fieldsText is a latest twin's fields column: the JSON object of the
// view's fields, or the whole data when the view declares none.
func fieldsText(fields map[string]json.RawMessage, data json.RawMessage) string {
	if fields == nil {
		return string(data)
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		// Extract gives valid JSON values; a failure here is a bug, and
		// the row keeps its key and version rather than stop the sink.
		return "{}"
	}
	return string(raw)
}
