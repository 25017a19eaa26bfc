package server

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

// analyticsConfig is testConfig with a ClickHouse sink of every order.* and
// shipment.* event into weir_events, and a per-type table of order.created.
func analyticsConfig(t *testing.T, ch *weirtest.ClickHouse) *config.Config {
	t.Helper()
	cfg := testConfig(t)
	cfg.Sinks = map[string]*config.Sink{
		"warehouse": {
			Types: []string{"order.*", "shipment.*"},
			ClickHouse: &config.ClickHouseSink{
				Addr:  ch.NativeAddr,
				Batch: config.SinkBatch{MaxRows: 5000, MaxWait: config.Duration(200 * time.Millisecond)},
				Tables: map[string]*config.ClickHouseTable{
					"orders": {Type: "order.created", Columns: map[string]*config.ClickHouseColumn{
						"total":    {Pointer: "/total", Type: "Decimal(12,2)"},
						"customer": {Pointer: "/customer/name", Type: "String"},
						"items":    {Pointer: "/items", Type: "UInt32"},
					}},
				},
			},
		},
	}
	return cfg
}

// publishBatches sends n events through POST /v1/events in batches of 500,
// types taken in turn, and returns how many were accepted per type.
func publishBatches(t *testing.T, base, prefix string, n int, types []string) map[string]int {
	t.Helper()
	accepted := map[string]int{}
	for start := 0; start < n; start += 500 {
		var b strings.Builder
		b.WriteByte('[')
		end := min(start+500, n)
		for i := start; i < end; i++ {
			if i > start {
				b.WriteByte(',')
			}
			typ := types[i%len(types)]
			fmt.Fprintf(&b, `{"specversion":"1.0","id":"%s-%06d","source":"/apps/shop","type":%q,"subject":"o-%d","data":{"total":%d.25,"customer":{"name":"c%d"},"items":%d}}`,
				prefix, i, typ, i, i%1000, i%97, i%7)
		}
		b.WriteByte(']')
		r := do(t, apiRequest(t, "POST", base+"/v1/events", adminSecret, "application/cloudevents-batch+json", b.String()))
		require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
		for i := start; i < end; i++ {
			accepted[types[i%len(types)]]++
		}
	}
	return accepted
}

// countsByType reads count() FINAL of weir_events per type.
func countsByType(ch *weirtest.ClickHouse) (map[string]int, error) {
	out, err := ch.TryQuery("SELECT type, count() FROM weir_events FINAL GROUP BY type ORDER BY type")
	if err != nil {
		return nil, err
	}
	got := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		typ, n, _ := strings.Cut(line, "\t")
		got[typ], _ = strconv.Atoi(n)
	}
	return got, nil
}

func requireCounts(t *testing.T, ch *weirtest.ClickHouse, want map[string]int, within time.Duration) {
	t.Helper()
	weirtest.Eventually(t, within, func() error {
		got, err := countsByType(ch)
		if err != nil {
			return err
		}
		for typ, n := range want {
			if got[typ] != n {
				return fmt.Errorf("weir_events FINAL has %v, want %v", got, want)
			}
		}
		return nil
	})
}

// Every event accepted through ingress is in weir_events, per type, and the
// per-type table has its mapped columns with typed values.
func TestClickHouseSinkLoadsEveryAcceptedEvent(t *testing.T) {
	t.Parallel()
	ch := weirtest.StartClickHouse(t)
	b := start(t, analyticsConfig(t, ch))
	types := []string{"order.created", "order.paid", "shipment.sent"}
	accepted := publishBatches(t, b.base, "load", 50_000, types)
	requireCounts(t, ch, accepted, 2*time.Minute)

	cols := ch.Query(t, "SELECT name, type FROM system.columns WHERE database = 'default' AND table = 'orders' ORDER BY name FORMAT TSV")
	require.Contains(t, cols, "total\tDecimal(12, 2)")
	require.Contains(t, cols, "customer\tString")
	require.Contains(t, cols, "items\tUInt32")
	require.Equal(t, strconv.Itoa(accepted["order.created"])+"\n", ch.Query(t, "SELECT count() FROM orders FINAL"))
	require.Equal(t, "3.25\tc3\t3\n", ch.Query(t, "SELECT total, customer, items FROM orders FINAL WHERE id = 'load-000003'"))
}

var sinkLag = regexp.MustCompile(`(?m)^weir_sink_lag\{sink="warehouse"\} (\d+)`)

func lagMetric(t *testing.T, base string) int {
	t.Helper()
	m := sinkLag.FindStringSubmatch(string(do(t, mustGet(t, base+"/metrics")).raw))
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// ClickHouse stopped for 30 s: events keep being accepted, the backlog stays
// on the bus and the lag metric rises; once ClickHouse is back it drains and
// the lag falls to zero.
func TestClickHouseSinkDrainsAfterAnOutage(t *testing.T) {
	t.Parallel()
	ch := weirtest.StartClickHouse(t)
	b := start(t, analyticsConfig(t, ch))
	types := []string{"order.paid", "shipment.sent"}
	first := publishBatches(t, b.base, "before", 1000, types)
	requireCounts(t, ch, first, time.Minute)

	ch.Stop()
	stopped := time.Now()
	during := publishBatches(t, b.base, "during", 3000, types)
	weirtest.EventuallyTrue(t, time.Minute, func() bool { return lagMetric(t, b.base) > 0 }, "the sink's lag never rose while ClickHouse was down")
	if rest := 30*time.Second - time.Since(stopped); rest > 0 {
		time.Sleep(rest) // the outage itself, not a synchronisation
	}
	ch.Start()
	want := map[string]int{}
	for typ := range first {
		want[typ] = first[typ] + during[typ]
	}
	requireCounts(t, ch, want, 2*time.Minute)
	weirtest.EventuallyTrue(t, time.Minute, func() bool { return lagMetric(t, b.base) == 0 }, "the sink's lag did not fall back to zero")
}

// A batch with one row ClickHouse refuses: the other rows land, and the
// refused one becomes a dead letter of kind sink carrying ClickHouse's reason.
func TestClickHouseSinkIsolatesAPoisonedRow(t *testing.T) {
	t.Parallel()
	ch := weirtest.StartClickHouse(t)
	b := start(t, analyticsConfig(t, ch))
	first := publishBatches(t, b.base, "warm", 10, []string{"order.paid"})
	requireCounts(t, ch, first, time.Minute)
	// An analyst's column: a currency code of exactly three letters, computed
	// from the data on insert. ClickHouse refuses a whole insert holding a
	// longer one (code 131).
	ch.Query(t, "ALTER TABLE weir_events ADD COLUMN currency FixedString(3) MATERIALIZED toFixedString(visitParamExtractString(data, 'currency'), 3)")

	var batch strings.Builder
	batch.WriteByte('[')
	for i := range 200 {
		if i > 0 {
			batch.WriteByte(',')
		}
		currency := "EUR"
		if i == 117 {
			currency = "EURO"
		}
		fmt.Fprintf(&batch, `{"specversion":"1.0","id":"p-%03d","source":"/apps/shop","type":"order.paid","data":{"total":1,"currency":%q}}`, i, currency)
	}
	batch.WriteByte(']')
	r := do(t, apiRequest(t, "POST", b.base+"/v1/events", adminSecret, "application/cloudevents-batch+json", batch.String()))
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))

	requireCounts(t, ch, map[string]int{"order.paid": 10 + 199}, time.Minute)
	require.Equal(t, "0\n", ch.Query(t, "SELECT count() FROM weir_events FINAL WHERE id = 'p-117'"))
	var dl map[string]any
	weirtest.Eventually(t, time.Minute, func() error {
		r := do(t, apiRequest(t, "GET", b.base+"/v1/deadletters?kind=sink", adminSecret, "", ""))
		items, _ := r.body["dead_letters"].([]any)
		if len(items) != 1 {
			return fmt.Errorf("%d sink dead letters: %s", len(items), r.raw)
		}
		dl = items[0].(map[string]any)
		return nil
	})
	require.Equal(t, "p-117", dl["event_id"])
	require.Equal(t, "warehouse", dl["sink"])
	require.Contains(t, dl["reason"], "FixedString(3)", "the reason is ClickHouse's own")
	require.NotEmpty(t, dl["guidance"])
	weirtest.EventuallyTrue(t, time.Minute, func() bool { return lagMetric(t, b.base) == 0 }, "the sink is stuck behind the poisoned row")
}
