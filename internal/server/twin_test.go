package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

// twinNode is analyticsConfig with a count view (per-minute: every 1m, by
// type, sum /total) and a latest view (orders), both covered by the sink.
func twinNode(t *testing.T, ch *weirtest.ClickHouse) *bundle {
	t.Helper()
	cfg := analyticsConfig(t, ch)
	cfg.Views = map[string]*config.View{
		"per-minute": {Kind: config.ViewCount, Types: []string{"order.*"}, Every: config.Duration(time.Minute),
			By: []string{"type"}, Sum: "/total"},
		"orders": {Kind: config.ViewLatest, Types: []string{"order.*"}, Key: "/id",
			Fields: map[string]string{"status": "/status", "total": "/total"}, DeleteWhen: `type == "order.deleted"`},
	}
	return start(t, cfg)
}

// publishEvents sends CloudEvents (JSON objects) through POST /v1/events in
// batches of 500. A batch weir refuses with 503 (the bus slow, or load shed
// on a busy machine) is sent again, as a client would: the ids make a
// second copy of what was stored a duplicate.
func publishEvents(t *testing.T, base string, events []string) {
	t.Helper()
	for i := 0; i < len(events); i += 500 {
		body := "[" + strings.Join(events[i:min(i+500, len(events))], ",") + "]"
		weirtest.Eventually(t, 2*time.Minute, func() error {
			r := do(t, apiRequest(t, "POST", base+"/v1/events", adminSecret, "application/cloudevents-batch+json", body))
			if r.status == http.StatusServiceUnavailable {
				return fmt.Errorf("503: %s", r.raw)
			}
			require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
			return nil
		})
	}
}

func orderEvent(id, typ, key string, at time.Time, data string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/apps/shop","type":%q,"time":%q,"data":{"id":%q%s}}`,
		id, typ, at.Format(time.RFC3339Nano), key, data)
}

// viewLive waits until the view has applied every event of the bus.
func viewLive(t *testing.T, base, name string) {
	t.Helper()
	weirtest.Eventually(t, time.Minute, func() error {
		r := do(t, apiRequest(t, "GET", base+"/v1/views", adminSecret, "", ""))
		for _, it := range r.body["items"].([]any) {
			v := it.(map[string]any)
			if v["name"] == name && v["state"] == "live" && v["lag"] == float64(0) {
				return nil
			}
		}
		return fmt.Errorf("view %s not caught up: %s", name, r.raw)
	})
}

type bucketCount struct {
	count int
	sum   float64
}

// The done-when test of issue 14: a count view matches the ClickHouse
// materialized view for the same window; and a latest view's twin
// (weir_view_orders_current) matches GET /v1/views/orders.
func TestViewTwinsMatchTheViews(t *testing.T) {
	t.Parallel()
	ch := weirtest.StartClickHouse(t)
	b := twinNode(t, ch)
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

	t.Run("a count view matches the ClickHouse materialized view for the same window", func(t *testing.T) {
		// 3,000 events over ten minutes of event time, of two types.
		var events []string
		types := []string{"order.created", "order.paid"}
		for i := range 3000 {
			at := t0.Add(time.Duration(i) * 200 * time.Millisecond)
			events = append(events, orderEvent(fmt.Sprintf("c-%05d", i), types[i%3%2], fmt.Sprintf("k%d", i), at,
				fmt.Sprintf(`,"total":%d.25`, i%100)))
		}
		publishEvents(t, b.base, events)
		requireCounts(t, ch, map[string]int{"order.created": 2000, "order.paid": 1000}, 2*time.Minute)
		viewLive(t, b.base, "per-minute")

		from, to := t0.Add(2*time.Minute), t0.Add(8*time.Minute) // a window inside the events
		api := map[string]bucketCount{}
		q := url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}, "limit": {"1000"}}
		r := do(t, apiRequest(t, "GET", b.base+"/v1/views/per-minute/series?"+q.Encode(), adminSecret, "", ""))
		require.Equal(t, http.StatusOK, r.status, string(r.raw))
		require.Equal(t, "", r.body["next"])
		for _, it := range r.body["items"].([]any) {
			item := it.(map[string]any)
			bucket, err := time.Parse(time.RFC3339, item["bucket"].(string))
			require.NoError(t, err)
			key := bucket.Format(time.DateTime) + " " + item["by"].(map[string]any)["type"].(string)
			api[key] = bucketCount{int(item["count"].(float64)), item["sum"].(float64)}
		}
		require.Len(t, api, 12, "six minutes of two types")

		window := fmt.Sprintf("WHERE bucket >= toDateTime('%s') AND bucket < toDateTime('%s') GROUP BY bucket, type",
			from.Format(time.DateTime), to.Format(time.DateTime))
		weirtest.Eventually(t, time.Minute, func() error {
			mv, err := bucketCounts(ch, "SELECT bucket, type, uniqExactMerge(events), sumMerge(sum) FROM `weir_view_per-minute` "+window)
			if err != nil {
				return err
			}
			if fmt.Sprint(mv) != fmt.Sprint(api) {
				return fmt.Errorf("the materialized view has\n%v\nthe view's series\n%v", mv, api)
			}
			return nil
		})
		exact, err := bucketCounts(ch, "SELECT bucket, type, count(), sum(value) FROM `weir_view_per-minute_events` FINAL "+window)
		require.NoError(t, err)
		require.Equal(t, api, exact)
	})

	t.Run("a latest view matches weir_view_orders_current", func(t *testing.T) {
		var created, updated, late []string
		for i := range 300 {
			key := fmt.Sprintf("o-%03d", i)
			created = append(created, orderEvent("cr-"+key, "order.created", key, t0, `,"status":"new","total":1.5`))
			if i%3 == 0 {
				updated = append(updated, orderEvent("dl-"+key, "order.deleted", key, t0.Add(2*time.Minute), ""))
			} else {
				updated = append(updated, orderEvent("pd-"+key, "order.paid", key, t0.Add(2*time.Minute), `,"status":"paid","total":2.5`))
			}
			// Older than the update or the delete, and published after it.
			late = append(late, orderEvent("sh-"+key, "order.shipped", key, t0.Add(time.Minute), `,"status":"shipped"`))
		}
		publishEvents(t, b.base, created)
		publishEvents(t, b.base, updated)
		publishEvents(t, b.base, late)
		requireCounts(t, ch, map[string]int{"order.created": 2000 + 300, "order.deleted": 100, "order.shipped": 300}, 2*time.Minute)
		viewLive(t, b.base, "orders")

		api := map[string]string{}
		for cursor := ""; ; {
			r := do(t, apiRequest(t, "GET", b.base+"/v1/views/orders?limit=1000&cursor="+cursor, adminSecret, "", ""))
			require.Equal(t, http.StatusOK, r.status, string(r.raw))
			for _, it := range r.body["items"].([]any) {
				item := it.(map[string]any)
				fields, _ := json.Marshal(item["fields"])
				api[item["key"].(string)] = fmt.Sprintf("%s %s %s %v", fields, item["event_id"], item["type"], item["seq"])
			}
			if cursor = r.body["next"].(string); cursor == "" {
				break
			}
		}
		// 3,000 keys of the count test, and 200 orders paid.
		require.Len(t, api, 3200)
		require.Equal(t, `{"status":"paid","total":2.5} pd-o-001 order.paid`, api["o-001"][:len(`{"status":"paid","total":2.5} pd-o-001 order.paid`)])
		require.NotContains(t, api, "o-000", "deleted")

		weirtest.Eventually(t, time.Minute, func() error {
			out, err := ch.TryQuery("SELECT key, fields, event_id, type, seq FROM weir_view_orders_current FORMAT TSV")
			if err != nil {
				return err
			}
			got := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Split(line, "\t")
				var fields map[string]any
				if err := json.Unmarshal([]byte(strings.ReplaceAll(f[1], `\\`, `\`)), &fields); err != nil {
					return fmt.Errorf("fields %q: %w", f[1], err)
				}
				canonical, _ := json.Marshal(fields)
				got[f[0]] = fmt.Sprintf("%s %s %s %s", canonical, f[2], f[3], f[4])
			}
			if fmt.Sprint(got) != fmt.Sprint(api) {
				return fmt.Errorf("weir_view_orders_current has %d keys, the view %d, or they differ", len(got), len(api))
			}
			return nil
		})
	})
}

// bucketCounts reads "bucket type count sum" rows, keyed by "bucket type".
func bucketCounts(ch *weirtest.ClickHouse, sql string) (map[string]bucketCount, error) {
	out, err := ch.TryQuery(sql + " FORMAT TSV")
	if err != nil {
		return nil, err
	}
	got := map[string]bucketCount{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			continue
		}
		n, _ := strconv.Atoi(f[2])
		sum, _ := strconv.ParseFloat(f[3], 64)
		got[f[0]+" "+f[1]] = bucketCount{n, sum}
	}
	return got, nil
}
