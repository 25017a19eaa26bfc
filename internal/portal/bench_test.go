package portal_test

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchEvents and benchDeadLetters are the state every page is served over:
// a stream that has seen real traffic and a dead-letter list that needs
// paging.
const (
	benchEvents      = 100_000
	benchDeadLetters = 1_000
)

// BenchmarkPages serves every portal page with 100,000 events in the stream
// and 1,000 open dead letters, and reports each page's p50 and p99 in ms.
// Run: go test -run '^$' -bench Pages -benchtime 200x ./internal/portal
func BenchmarkPages(b *testing.B) {
	n := startWeir(b, "")
	fill(b, n)
	br := newBrowser(b, n.base)
	require.Equal(b, http.StatusSeeOther, br.signIn(adminSecret).status)

	anonymous := newBrowser(b, n.base)
	for _, path := range benchPaths(b, n) {
		b.Run(path, func(b *testing.B) {
			who := br
			if path == "/ui/signin" {
				who = anonymous // a signed-in browser is sent on from it
			}
			times := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				a := who.get(path)
				times = append(times, time.Since(start))
				if a.status != http.StatusOK {
					b.Fatalf("%s: %d %s", path, a.status, a.body)
				}
			}
			slices.Sort(times)
			b.ReportMetric(ms(times[len(times)/2]), "p50-ms")
			b.ReportMetric(ms(times[len(times)*99/100]), "p99-ms")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// benchPaths are the pages served: every page of the portal, the ones about
// one thing pointed at a thing that exists.
func benchPaths(b *testing.B, n *node) []string {
	paths := []string{
		"/ui/", "/ui/signin",
		"/ui/catalog", "/ui/catalog/order.created", "/ui/catalog/order.created/diff?from=1&to=2",
		"/ui/sources", "/ui/sources/shop", "/ui/sources/new",
		"/ui/subscriptions", "/ui/subscriptions/new", "/ui/subscriptions/bench",
		"/ui/tail?types=order.*", "/ui/deadletters",
	}
	for _, extra := range morePaths {
		paths = append(paths, extra(b, n))
	}
	return paths
}

// morePaths name pages about one thing that the fill made: the newest
// dead letter, and the cause group with every one of them.
var morePaths = []func(b *testing.B, n *node) string{
	func(b *testing.B, n *node) string {
		status, out := api(b, n.base, http.MethodGet, "/v1/deadletters?limit=1", adminSecret, nil)
		require.Equal(b, http.StatusOK, status, out)
		list, _ := out["dead_letters"].([]any)
		require.NotEmpty(b, list, "no dead letter: %v", out)
		return "/ui/deadletters/" + list[0].(map[string]any)["id"].(string)
	},
	func(*testing.B, *node) string { return "/ui/deadletters?type=order.created" },
}

// fill publishes benchEvents events of a few types and quarantines
// benchDeadLetters events that break their contract, through the API.
func fill(b *testing.B, n *node) {
	b.Helper()
	status, out := api(b, n.base, http.MethodPost, "/v1/contracts/order.created/versions", adminSecret, map[string]any{
		"schema": map[string]any{"type": "object", "required": []string{"total"},
			"properties": map[string]any{"total": map[string]any{"type": "number"}, "customer": map[string]any{"type": "string"}}},
		"owner": "orders team", "description": "An order was placed.",
	})
	require.Equal(b, http.StatusCreated, status, out)
	status, out = api(b, n.base, http.MethodPost, "/v1/contracts/order.created/versions", adminSecret, map[string]any{
		"schema": map[string]any{"type": "object", "required": []string{"total"},
			"properties": map[string]any{"total": map[string]any{"type": "number"}, "customer": map[string]any{"type": "string"},
				"note": map[string]any{}}},
	})
	require.Equal(b, http.StatusCreated, status, out)
	status, out = api(b, n.base, http.MethodPost, "/v1/subscriptions", adminSecret,
		map[string]any{"name": "bench", "types": []string{"order.*"}, "filter": "data.total > 100", "pull": map[string]any{}})
	require.Equal(b, http.StatusCreated, status, out)
	types := []string{"order.created", "order.paid", "order.shipped", "payment.settled", "customer.updated"}
	const batch = 500
	for i := 0; i < benchEvents; i += batch {
		var body bytes.Buffer
		body.WriteString("[")
		for j := 0; j < batch; j++ {
			if j > 0 {
				body.WriteString(",")
			}
			k := i + j
			fmt.Fprintf(&body, `{"specversion":"1.0","id":"e-%d","source":"/bench/shop","type":%q,"datacontenttype":"application/json","data":{"total":%d.5,"customer":"c-%d"}}`,
				k, types[k%len(types)], k%997, k%50)
		}
		body.WriteString("]")
		postBatch(b, n, body.Bytes())
	}
	for i := 0; i < benchDeadLetters; i += 100 {
		var body bytes.Buffer
		body.WriteString("[")
		for j := 0; j < 100; j++ {
			if j > 0 {
				body.WriteString(",")
			}
			fmt.Fprintf(&body, `{"specversion":"1.0","id":"bad-%d","source":"/bench/shop","type":"order.created","datacontenttype":"application/json","data":{"total":"not a number %d"}}`, i+j, i+j)
		}
		body.WriteString("]")
		postBatch(b, n, body.Bytes())
	}
}

func postBatch(b *testing.B, n *node, body []byte) {
	b.Helper()
	req, err := http.NewRequest(http.MethodPost, n.base+"/v1/events", bytes.NewReader(body))
	require.NoError(b, err)
	req.Header.Set("Authorization", "Bearer "+adminSecret)
	req.Header.Set("Content-Type", "application/cloudevents-batch+json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(b, err)
	resp.Body.Close()
	require.Less(b, resp.StatusCode, 300, "batch answered %d", resp.StatusCode)
}
