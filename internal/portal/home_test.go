package portal_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// sendEvent stores one event through POST /v1/events with token secret.
func sendEvent(t testing.TB, base, secret, id, typ, source, data string) {
	t.Helper()
	ev := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":%q,"type":%q,"data":%s}`, id, source, typ, data)
	req, err := http.NewRequest(http.MethodPost, base+"/v1/events", strings.NewReader(ev))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/cloudevents+json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Less(t, resp.StatusCode, 300, string(raw))
}

// pushTo is weir.yaml for a push subscription of order.* to u that gives up
// after one failed attempt, so that a refused event becomes a dead letter.
func pushTo(u string) string {
	return `
delivery: {allow: ["127.0.0.0/8"]}
subscriptions:
  orders-hook:
    types: ["order.*"]
    push: {url: "` + u + `", secret: "` + shopSecret + `", max_attempts: 1, retry: {initial: 20ms, max: 100ms}}
`
}

// has fails the test when body lacks want, showing only the start of a
// page full of charts.
func has(t *testing.T, body, want string, why ...any) {
	t.Helper()
	if !strings.Contains(body, want) {
		t.Fatalf("the page lacks %q %v; it starts:\n%.3000s", want, why, body)
	}
}

// hasNot fails the test when body holds bad, showing where.
func hasNot(t *testing.T, body, bad string, why ...any) {
	t.Helper()
	if i := strings.Index(body, bad); i >= 0 {
		t.Fatalf("the page holds %q %v: …%s…", bad, why, body[max(0, i-200):min(len(body), i+200)])
	}
}

func TestHomeChartsWhatTheViewerMaySee(t *testing.T) {
	t.Parallel()
	// The receiver takes every event but the one with id "refuse".
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		if strings.Contains(string(raw), `"id":"refuse"`) {
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	t.Cleanup(rc.Close)
	n := startWeir(t, pushTo(rc.URL))
	sendEvent(t, n.base, adminSecret, "o-1", "order.created", "/apps/shop", `{"total":1}`)
	sendEvent(t, n.base, adminSecret, "refuse", "order.created", "/apps/shop", `{"total":2}`)
	sendEvent(t, n.base, adminSecret, "p-1", "payment.captured", "/apps/billing", `{"amount":3}`)

	admin := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, admin.signIn(adminSecret).status)
	var a answer
	weirtest.Eventually(t, 15*time.Second, func() error {
		a = admin.get("/ui/")
		if !strings.Contains(a.body, "<code>delivered</code>") || !strings.Contains(a.body, "<strong>1</strong> open dead letter") {
			return fmt.Errorf("no delivery or dead letter counted yet")
		}
		return nil
	})
	require.Equal(t, http.StatusOK, a.status)
	has(t, a.body, `<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-bars"`)
	has(t, a.body, "order.created: events per minute over the last hour")
	has(t, a.body, "payment.captured: events per minute over the last hour")
	has(t, a.body, "<code>/apps/billing</code>", "an admin sees every source")
	has(t, a.body, "3 events in the last hour")
	has(t, a.body, "Source: this node's counters since it started", "no count view: the counters")
	has(t, a.body, `id="deliveries-h"`)
	has(t, a.body, "<strong>1</strong> open dead letter you can handle")
	has(t, a.body, `href="/ui/deadletters"`)
	has(t, a.body, "orders-hook", "the subscriptions stay on the page")

	orders := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, orders.signIn(ordersSecret).status)
	o := orders.get("/ui/")
	require.Equal(t, http.StatusOK, o.status)
	has(t, o.body, "order.created: events per minute over the last hour")
	hasNot(t, o.body, "payment.captured", "payment.* is outside the orders-app token's roles")
	hasNot(t, o.body, "/apps/billing")
	has(t, o.body, "2 events in the last hour")
	has(t, o.body, "yours is bound to none", "no source figures without source bindings")
	has(t, o.body, "Only admins see deliveries by outcome")
	hasNot(t, o.body, "<code>delivered</code>")
	has(t, o.body, "<strong>1</strong> open dead letter you can handle",
		"the dead letter of its own subscription is the orders-app token's to handle")
}

func TestHomeFirstRunSaysWhatToDo(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(adminSecret).status)
	a := b.get("/ui/")
	require.Equal(t, http.StatusOK, a.status)
	has(t, a.body, "No event has reached weir since this node started")
	has(t, a.body, "No delivery since this node started")
	has(t, a.body, "No open dead letter you can handle")
	has(t, a.body, "No subscription you can see yet")
	hasNot(t, a.body, "<svg", "no chart without figures")

	orders := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, orders.signIn(ordersSecret).status)
	o := orders.get("/ui/")
	has(t, o.body, "No event of the types your roles cover (subscribe:order.*, publish:order.*)")
}

func TestHomeEscapesWhatSendersChose(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	const script = "<script>alert(1)</script>"
	const img = "<img src=x onerror=alert(1)>"
	// Types and sources are validated: a type with markup is refused, and so
	// is a source with < or a space (it must be a URI reference); what a
	// URI reference may still hold (quotes, &, a javascript: scheme) is tried.
	for _, ev := range []string{
		`{"specversion":"1.0","id":"x-0","source":"/s","type":"order.<script>","data":{}}`,
		`{"specversion":"1.0","id":"x-0","source":"/apps/` + script + `","type":"order.created","data":{}}`,
		`{"specversion":"1.0","id":"x-0","source":"/apps/` + img + `","type":"order.created","data":{}}`,
	} {
		req, err := http.NewRequest(http.MethodPost, n.base+"/v1/events", strings.NewReader(ev))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+adminSecret)
		req.Header.Set("Content-Type", "application/cloudevents+json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, ev)
	}
	sendEvent(t, n.base, adminSecret, "x-1", "order.created", `/apps/it's&co=(x)`, `{"note":"`+script+`"}`)
	sendEvent(t, n.base, adminSecret, "x-2", "order.created", "javascript:alert(1)", `{"note":"`+img+`"}`)
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(adminSecret).status)
	a := b.get("/ui/")
	require.Equal(t, http.StatusOK, a.status)
	has(t, a.body, "<code>/apps/it&#39;s&amp;co=(x)</code>", "the source is shown, as text")
	has(t, a.body, "<title id=\"sources-h-0-title\">/apps/it&#39;s&amp;co=(x): events", "and so is the chart's title")
	hasNot(t, a.body, `it's&co`)
	hasNot(t, a.body, `href="javascript:`)
	hasNot(t, a.body, script)
	hasNot(t, a.body, img)
}
