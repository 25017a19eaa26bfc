package delivery

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	fielderr "github.com/weir-dev/weir/internal/field"
)

// publishData stores one event of type typ whose data is data.
func publishData(t *testing.T, b *bus.Bus, typ, id, data string) {
	t.Helper()
	msg := nats.NewMsg(bus.EventsPrefix + typ)
	msg.Header.Set(bus.HeaderEventID, id)
	msg.Header.Set(bus.HeaderEventType, typ)
	msg.Data = fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"/t","type":%q,"data":%s}`, id, typ, data)
	_, err := b.Publish(t.Context(), msg, "")
	require.NoError(t, err)
}

// previewSetup runs a manager whose preview limits lim changes, on a bus
// holding 30 order.created events (total 0..29) with an invoice.sent
// between each two.
func previewSetup(t *testing.T, lim func(*previewLimits)) (*bus.Bus, *Manager) {
	t.Helper()
	b, m := startManager(t, Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), func(m *Manager) {
		if lim != nil {
			lim(&m.previewLimits)
		}
	})
	for i := range 30 {
		publishData(t, b, "order.created", fmt.Sprintf("o%02d", i), fmt.Sprintf(`{"total":%d}`, i))
		publishData(t, b, "invoice.sent", fmt.Sprintf("i%02d", i), `{"total":1000}`)
	}
	return b, m
}

func TestPreviewFilterCountsTheLatestN(t *testing.T) {
	t.Parallel()
	_, m := previewSetup(t, nil)
	for _, c := range []struct {
		types             []string
		n                 int
		examined, matched int
		first             string
	}{
		{[]string{"order.*"}, 5, 5, 5, "o29"},    // totals 25..29
		{[]string{"order.*"}, 15, 15, 10, "o29"}, // totals 15..29
		{[]string{"order.created", "order.*", "order.>"}, 15, 15, 10, "o29"},
		{[]string{"order.created"}, 0, 30, 10, "o29"},      // the default, 50, is more than there are
		{[]string{"order.*", "invoice.*"}, 4, 4, 4, "i29"}, // two of each
		{[]string{"nothing.here"}, 50, 0, 0, ""},
	} {
		p, err := m.PreviewFilter(t.Context(), c.types, "data.total >= 20", c.n)
		require.NoError(t, err, "%v", c)
		require.Equal(t, c.examined, p.Examined, "%v", c)
		require.Equal(t, c.matched, p.Matched, "%v", c)
		require.False(t, p.Truncated, "%v", c)
		if c.first != "" {
			require.Equal(t, c.first, p.MatchedIDs[0], "newest first: %v", c)
		}
	}

	// A field the payload lacks is not a match, and the preview says why.
	p, err := m.PreviewFilter(t.Context(), []string{"order.*"}, "data.missing == 1", 3)
	require.NoError(t, err)
	require.Equal(t, 3, p.Examined)
	require.Zero(t, p.Matched)
	require.NotEmpty(t, p.Errors)
	require.Contains(t, p.Errors[0], "missing")

	// Bad input is a field error naming the field.
	for _, c := range []struct {
		types []string
		expr  string
		path  string
	}{
		{[]string{"order.*"}, "data.total >", "filter"},
		{[]string{"order.*"}, "totl > 1", "filter"},
		{[]string{"order.*"}, "data.total", ""}, // dyn: judged per event, not refused
		{nil, "true", "types"},
		{[]string{"order.*", "bad pattern"}, "true", "types[1]"},
	} {
		_, err := m.PreviewFilter(t.Context(), c.types, c.expr, 5)
		if c.path == "" {
			require.NoError(t, err)
			continue
		}
		var fe *fielderr.Error
		require.True(t, errors.As(err, &fe), "%v: %v", c, err)
		require.Equal(t, c.path, fe.Path)
	}
}

func TestPreviewFilterBounds(t *testing.T) {
	t.Parallel()
	// n is capped at PreviewMax.
	b, m := previewSetup(t, nil)
	for i := range PreviewMax + 10 {
		publishData(t, b, "order.created", fmt.Sprintf("x%03d", i), `{"total":1}`)
	}
	p, err := m.PreviewFilter(t.Context(), []string{"order.*"}, "true", 1000)
	require.NoError(t, err)
	require.Equal(t, PreviewMax, p.Examined)
	require.Equal(t, PreviewMax, p.Matched)

	// The bytes read are capped: each event here is about 90 bytes.
	_, small := previewSetup(t, func(l *previewLimits) { l.bytes = 500 })
	p, err = small.PreviewFilter(t.Context(), []string{"order.*"}, "true", 20)
	require.NoError(t, err)
	require.True(t, p.Truncated, "%+v", p)
	require.Positive(t, p.Examined)
	require.Less(t, p.Examined, 20)

	// Only the window's latest sequences are searched: 60 events are stored,
	// the last 10 of them hold 5 orders.
	_, narrow := previewSetup(t, func(l *previewLimits) { l.window = 10 })
	p, err = narrow.PreviewFilter(t.Context(), []string{"order.*"}, "true", 20)
	require.NoError(t, err)
	require.Equal(t, 5, p.Examined)
	require.Equal(t, "o29", p.MatchedIDs[0])

	// Every consumer a preview made is gone.
	s, err := b.JetStream().Stream(t.Context(), bus.EventsStream)
	require.NoError(t, err)
	for name := range s.ListConsumers(t.Context()).Info() {
		require.Failf(t, "a consumer is left behind", "%v", name.Name)
	}
}
