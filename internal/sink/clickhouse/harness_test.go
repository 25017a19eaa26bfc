package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/sink"
	"github.com/weir-dev/weir/internal/view"
	"github.com/weir-dev/weir/internal/weirtest"
)

// Harness is a ClickHouse sink on a private server, for the sink
// conformance suite and this package's tests.
type Harness struct {
	// Sink is built but not started.
	Sink *Sink
	// Server is the private ClickHouse.
	Server *weirtest.ClickHouse
	// Observer counts the values the sink stored as defaults.
	Observer *countingObserver
	// Copies is how many rows of the events table have the id, read with
	// FINAL (the reader's way of de-duplicating): 1 after any number of
	// writes of one event.
	Copies func(t testing.TB, id string) int
	// Break makes the store unavailable (kills the server); Mend brings it
	// back on the same ports and data.
	Break, Mend func()
	// Poison changes the events table so that the server refuses one kind of
	// row, and returns such a row (see poisonColumn).
	Poison func(t testing.TB) sink.Record
}

// NewHarness starts a private server and builds a sink of spec on it
// (spec.ClickHouse.Addr is set to the server's); spec may be nil for the
// default table only.
func NewHarness(t testing.TB, spec *config.Sink) *Harness {
	t.Helper()
	return newViewsHarness(t, spec, nil)
}

// newViewsHarness is NewHarness with the server's compiled views, whose
// twins the sink keeps when it covers them.
func newViewsHarness(t testing.TB, spec *config.Sink, views map[string]*view.Spec) *Harness {
	t.Helper()
	srv := weirtest.StartClickHouse(t)
	if spec == nil {
		spec = &config.Sink{Types: []string{">"}, ClickHouse: &config.ClickHouseSink{}}
	}
	spec.ClickHouse.Addr = srv.NativeAddr
	obs := &countingObserver{}
	s, err := New(spec, sink.Deps{Name: "analytics", Observer: obs, Views: views})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	h := &Harness{Sink: s, Server: srv, Observer: obs, Break: srv.Stop, Mend: srv.Start}
	h.Copies = func(t testing.TB, id string) int {
		out := srv.Query(t, fmt.Sprintf("SELECT count() FROM %s FINAL WHERE id = '%s'", s.quoted(s.events), strings.ReplaceAll(id, "'", `\'`)))
		n, err := strconv.Atoi(strings.TrimSpace(out))
		require.NoError(t, err)
		return n
	}
	h.Poison = func(t testing.TB) sink.Record {
		srv.Query(t, "ALTER TABLE "+s.quoted(s.events)+" ADD COLUMN "+poisonColumn)
		return record("poisoned", "order.created", `{"order_id":"o-1","currency":"EURO"}`)
	}
	return h
}

// poisonColumn is a realistic analyst's column that makes the server refuse
// a row: a currency code kept as FixedString(3), computed on insert from the
// data. An event whose data.currency is longer than three bytes fails the
// whole insert with code 131 (TOO_LARGE_STRING_SIZE, "String too long for
// type FixedString(3)"); an event without a currency stores "" and passes.
const poisonColumn = "currency FixedString(3) MATERIALIZED toFixedString(visitParamExtractString(data, 'currency'), 3)"

// countingObserver counts Defaulted calls by table.column.
type countingObserver struct {
	mu     sync.Mutex
	counts map[string]int
}

func (o *countingObserver) Defaulted(sinkName, table, column string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.counts == nil {
		o.counts = map[string]int{}
	}
	o.counts[sinkName+"/"+table+"."+column]++
}

func (o *countingObserver) count(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[key]
}

// record is a sink record of an event with JSON data.
func record(id, typ, data string) sink.Record {
	e := event.Event{
		ID:          id,
		Source:      "/shop",
		SpecVersion: event.SpecVersion,
		Type:        typ,
		Time:        time.Date(2026, 3, 1, 12, 30, 45, 678_000_000, time.UTC),
		Data:        json.RawMessage(data),
	}
	raw, _ := json.Marshal(e)
	return sink.Record{Seq: 1, Event: e, Raw: raw, ReceivedAt: time.Date(2026, 3, 1, 12, 30, 46, 0, time.UTC)}
}

func start(t testing.TB, s *Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, s.Start(ctx))
}

func write(t testing.TB, s *Sink, batch ...sink.Record) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.Write(ctx, batch)
}

// freeAddr is a 127.0.0.1 address nothing listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}
