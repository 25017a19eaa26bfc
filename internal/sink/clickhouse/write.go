package clickhouse

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/sink"
)

// Write inserts the batch into the events table, then the records of each
// per-type table's type into that table, then what the batch contributes to
// each view's twin, one insert per table. An insert
// that fails leaves the tables it already wrote: the Runner writes the whole
// batch again, and the ReplacingMergeTree keeps one copy of each row.
func (s *Sink) Write(ctx context.Context, batch []sink.Record) error {
	if len(batch) == 0 {
		return nil
	}
	conn, err := s.connection()
	if err != nil {
		return err
	}
	if s.stale.Load() {
		if err := s.ensureSchema(ctx, conn); err != nil {
			return err
		}
		s.stale.Store(false)
	}
	if err := s.writeEvents(ctx, conn, batch); err != nil {
		return err
	}
	for _, t := range s.tables {
		if err := s.writeTyped(ctx, conn, t, batch); err != nil {
			return err
		}
	}
	for _, t := range s.twins {
		if err := s.writeTwin(ctx, conn, t, batch); err != nil {
			return err
		}
	}
	return nil
}

// eventRows holds the events table's columns of one batch. Writing them a
// column at a time spares the driver an interface value per cell.
type eventRows struct {
	id, typ, source, subject, partitionkey, data, dataschema, traceparent []string
	time, receivedAt                                                      []time.Time
	timeMS                                                                []uint16
}

func (r *eventRows) reset() {
	r.id, r.typ, r.source, r.subject = r.id[:0], r.typ[:0], r.source[:0], r.subject[:0]
	r.partitionkey, r.data, r.dataschema, r.traceparent = r.partitionkey[:0], r.data[:0], r.dataschema[:0], r.traceparent[:0]
	r.time, r.receivedAt, r.timeMS = r.time[:0], r.receivedAt[:0], r.timeMS[:0]
}

// columns lists the buffers in eventColumns' order.
func (r *eventRows) columns() []any {
	return []any{r.id, r.typ, r.source, r.subject, r.time, r.timeMS, r.partitionkey, r.receivedAt, r.data, r.dataschema, r.traceparent}
}

func (s *Sink) writeEvents(ctx context.Context, conn driver.Conn, batch []sink.Record) error {
	r := &s.rows
	r.reset()
	for i := range batch {
		rec := &batch[i]
		e := &rec.Event
		t, ms, ok := eventTime(e.Time, rec.ReceivedAt)
		if !ok {
			s.defaulted(s.events, "time")
		}
		r.id = append(r.id, e.ID)
		r.typ = append(r.typ, e.Type)
		r.source = append(r.source, e.Source)
		r.subject = append(r.subject, e.Subject)
		r.time = append(r.time, t)
		r.timeMS = append(r.timeMS, ms)
		r.partitionkey = append(r.partitionkey, extString(e, "partitionkey"))
		r.receivedAt = append(r.receivedAt, dateTime(rec.ReceivedAt))
		r.data = append(r.data, dataText(e))
		r.dataschema = append(r.dataschema, e.DataSchema)
		r.traceparent = append(r.traceparent, extString(e, "traceparent"))
	}
	return s.insert(ctx, conn, s.eventsDef(), func(b driver.Batch) error {
		for i, col := range r.columns() {
			if err := b.Column(i).Append(col); err != nil {
				return err
			}
		}
		return nil
	})
}

// insert prepares one INSERT with its column list, fills it and sends it.
func (s *Sink) insert(ctx context.Context, conn driver.Conn, d tableDef, fill func(driver.Batch) error) error {
	b, err := conn.PrepareBatch(ctx, s.insertStatement(d))
	if err != nil {
		return s.classify(d.name, err)
	}
	if err := fill(b); err != nil {
		_ = b.Abort()
		// The driver refused a value before sending it: the content is at
		// fault, and the same value fails the same way again.
		return &sink.RefusedError{Reason: err.Error(), Err: err}
	}
	return s.classify(d.name, b.Send())
}

// eventTime is the DateTime and the milliseconds of an event's time. An
// event without a time gets the time the bus received it, so that it still
// sorts and partitions by when it happened, near enough. A time DateTime
// cannot hold (before 1970, after 2106) is the epoch, and ok is false.
func eventTime(t, receivedAt time.Time) (time.Time, uint16, bool) {
	if t.IsZero() {
		t = receivedAt
	}
	sec := t.Unix()
	if sec < 0 || sec > maxDateTime {
		return epoch, 0, false
	}
	return time.Unix(sec, 0).UTC(), uint16(t.Nanosecond() / int(time.Millisecond)), true
}

// dateTime is t to the second, or the epoch when DateTime cannot hold it.
func dateTime(t time.Time) time.Time {
	t, _, _ = eventTime(t, epoch)
	return t
}

// dataText is the data column: the JSON data as it is (a JSON string when
// the data was text), or the base64 of binary data.
func dataText(e *event.Event) string {
	switch {
	case e.Data != nil:
		return string(e.Data)
	case e.DataBase64 != nil:
		return base64.StdEncoding.EncodeToString(e.DataBase64)
	}
	return ""
}

// extString is a string extension attribute, or "".
func extString(e *event.Event, name string) string {
	s, _ := e.Extensions[name].(string)
	return s
}

func (s *Sink) writeTyped(ctx context.Context, conn driver.Conn, t *typedTable, batch []sink.Record) error {
	n := 0
	for i := range batch {
		if batch[i].Event.Type == t.eventType {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return s.insert(ctx, conn, t.def(), func(b driver.Batch) error {
		row := make([]any, 3+len(t.cols))
		for i := range batch {
			rec := &batch[i]
			if rec.Event.Type != t.eventType {
				continue
			}
			tm, _, _ := eventTime(rec.Event.Time, rec.ReceivedAt) // counted for the events table
			row[0], row[1], row[2] = rec.Event.ID, tm, dateTime(rec.ReceivedAt)
			data, ok := decodeData(rec.Event.Data)
			for j, c := range t.cols {
				var v any
				var present bool
				if ok {
					v, present = c.ptr.lookup(data)
				}
				val, defaulted := c.typ.convert(v, present)
				if defaulted {
					s.defaulted(t.name, c.name)
				}
				row[3+j] = val
			}
			if err := b.Append(row...); err != nil {
				return err
			}
		}
		return nil
	})
}

// decodeData decodes JSON data for pointers to look into, keeping numbers as
// their text so that none loses digits on the way to a Decimal or an Int64.
func decodeData(raw []byte) (any, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}
