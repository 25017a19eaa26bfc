package clickhouse

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/sink"
	"github.com/weir-dev/weir/internal/weirtest"
)

func TestWriteReadBackWithFinal(t *testing.T) {
	t.Parallel()
	h := NewHarness(t, nil)
	start(t, h.Sink)

	full := record("e1", "order.created", `{"total":12.5}`)
	full.Event.Subject = "orders/1042"
	full.Event.DataSchema = "https://example.com/order.json"
	full.Event.Extensions = map[string]any{"partitionkey": "c-7", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	text := record("e2", "note.added", `"plain text"`)
	text.Event.DataContentType = "text/plain"
	bin := record("e3", "file.uploaded", "")
	bin.Event.Data, bin.Event.DataBase64 = nil, []byte{0, 1, 2, 0xff}
	untimed := record("e4", "order.created", `{}`)
	untimed.Event.Time = time.Time{}
	ancient := record("e5", "order.created", `{}`)
	ancient.Event.Time = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, write(t, h.Sink, full, text, bin, untimed, ancient))

	require.Equal(t, ""+
		"e1\torder.created\t/shop\torders/1042\t2026-03-01 12:30:45\t678\tc-7\t2026-03-01 12:30:46\t{\"total\":12.5}\thttps://example.com/order.json\t00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\n"+
		"e2\tnote.added\t/shop\t\t2026-03-01 12:30:45\t678\t\t2026-03-01 12:30:46\t\"plain text\"\t\t\n"+
		"e3\tfile.uploaded\t/shop\t\t2026-03-01 12:30:45\t678\t\t2026-03-01 12:30:46\tAAEC/w==\t\t\n"+
		"e4\torder.created\t/shop\t\t2026-03-01 12:30:46\t0\t\t2026-03-01 12:30:46\t{}\t\t\n"+
		"e5\torder.created\t/shop\t\t0000-00-00 00:00:00\t0\t\t2026-03-01 12:30:46\t{}\t\t\n",
		h.Server.Query(t, "SELECT * FROM weir_events FINAL ORDER BY id"))
	require.Equal(t, 1, h.Observer.count("analytics/weir_events.time"), "the time before 1970 is counted")
}

func TestWriteTwiceLeavesOneRow(t *testing.T) {
	t.Parallel()
	h := NewHarness(t, nil)
	start(t, h.Sink)
	batch := []sink.Record{record("a", "order.created", `{}`), record("b", "order.paid", `{}`)}
	require.NoError(t, write(t, h.Sink, batch...))
	require.NoError(t, write(t, h.Sink, batch...))
	require.NoError(t, write(t, h.Sink, batch[1]))
	require.Equal(t, 1, h.Copies(t, "a"))
	require.Equal(t, 1, h.Copies(t, "b"))
	require.Equal(t, "2\n", h.Server.Query(t, "SELECT count() FROM weir_events FINAL"))
}

func TestWriteTypedTable(t *testing.T) {
	t.Parallel()
	h := NewHarness(t, ordersSpec(""))
	start(t, h.Sink)
	require.NoError(t, write(t, h.Sink,
		record("o1", "order.created", `{"total": 1234.567, "items": [{"qty": 3}], "paid": true, "placed_at": "2026-03-01T23:30:00-02:00", "customer": {"name": "Ada"}}`),
		record("o2", "order.created", `{"total": "99.99", "items": [{"qty": "7"}], "paid": 0, "placed_at": 1772368245}`),
		// Bad values: each becomes its column's default, and is counted.
		record("o3", "order.created", `{"total": "lots", "items": [{"qty": -1}], "paid": "yes", "placed_at": "yesterday", "customer": {"name": 7}}`),
		record("o4", "order.created", `{"total": 12345678901.5}`),
		record("p1", "order.paid", `{"total": 1}`),
	))
	require.Equal(t, ""+
		"o1\t2026-03-01 12:30:45\t1234.57\t3\t1\t2026-03-02 01:30:00\t2026-03-02\tAda\n"+
		"o2\t2026-03-01 12:30:45\t99.99\t7\t0\t2026-03-01 12:30:45\t2026-03-01\t\\N\n"+
		"o3\t2026-03-01 12:30:45\t0.00\t0\t0\t0000-00-00 00:00:00\t0000-00-00\t7\n"+
		"o4\t2026-03-01 12:30:45\t0.00\t0\t0\t0000-00-00 00:00:00\t0000-00-00\t\\N\n",
		// 18.16 shows the zero DateTime and Date (the epoch) as 0000-00-00.
		h.Server.Query(t, "SELECT id, time, total, qty, paid, placed, day, customer FROM orders FINAL ORDER BY id"))
	for col, n := range map[string]int{"total": 2, "qty": 1, "paid": 1, "placed": 1, "day": 1, "customer": 0} {
		require.Equal(t, n, h.Observer.count("analytics/orders."+col), col)
	}
	require.Equal(t, "5\n", h.Server.Query(t, "SELECT count() FROM weir_events FINAL"), "every event is in the events table too")
}

func TestWriteWhileTheServerIsDown(t *testing.T) {
	t.Parallel()
	h := NewHarness(t, nil)
	start(t, h.Sink)
	require.NoError(t, write(t, h.Sink, record("a", "order.created", `{}`)))

	h.Break()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := h.Sink.Write(ctx, []sink.Record{record("b", "order.created", `{}`)})
	require.Error(t, err)
	_, refused := sink.Refused(err)
	require.False(t, refused, "an unavailable server is not a refusal: %v", err)

	h.Mend()
	// The pool may hand out a connection that died with the server first;
	// the Runner writes the same batch again, as this does.
	weirtest.Eventually(t, 30*time.Second, func() error {
		return write(t, h.Sink, record("b", "order.created", `{}`))
	})
	require.Equal(t, 1, h.Copies(t, "a"))
	require.Equal(t, 1, h.Copies(t, "b"))
}

func TestPoisonedRowIsRefused(t *testing.T) {
	t.Parallel()
	h := NewHarness(t, nil)
	start(t, h.Sink)
	poisoned := h.Poison(t)
	var batch []sink.Record
	for i := range 10 {
		batch = append(batch, record(fmt.Sprintf("ok-%d", i), "order.created", `{"currency":"EUR"}`))
	}
	withPoison := append(append([]sink.Record{}, batch[:5]...), poisoned)
	withPoison = append(withPoison, batch[5:]...)

	err := write(t, h.Sink, withPoison...)
	r, refused := sink.Refused(err)
	require.True(t, refused, "%v", err)
	require.Contains(t, r.Reason, "String too long for type FixedString(3)")
	require.Equal(t, "0\n", h.Server.Query(t, "SELECT count() FROM weir_events"), "a refused insert stores nothing")

	require.NoError(t, write(t, h.Sink, batch...))
	require.Equal(t, "10\tEUR\n", h.Server.Query(t, "SELECT count(), any(currency) FROM weir_events FINAL"))
}

func TestTableDroppedBehindTheSinksBack(t *testing.T) {
	t.Parallel()
	h := NewHarness(t, nil)
	start(t, h.Sink)
	h.Server.Query(t, "DROP TABLE weir_events")
	err := write(t, h.Sink, record("a", "order.created", `{}`))
	require.Error(t, err)
	_, refused := sink.Refused(err)
	require.False(t, refused)
	require.NoError(t, write(t, h.Sink, record("a", "order.created", `{}`)), "the next Write creates the table again")
	require.Equal(t, 1, h.Copies(t, "a"))
}
