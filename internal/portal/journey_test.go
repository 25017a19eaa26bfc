package portal_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// The citizen developer's journey, in a real Chromium: a platform engineer
// hands over a link scoped to order.*, and the developer wires and watches
// an integration with nothing but the portal.
func TestCitizenJourneyInChromium(t *testing.T) {
	// The developer's app listens on loopback, which delivery lets only
	// admins reach unless the platform engineer allows it.
	// The views are the developer's read models; the sink's store is not
	// there (its page shows it failing, which needs no ClickHouse).
	n := startWeir(t, `
delivery:
  allow: ["127.0.0.1/32"]
views:
  orders: {kind: latest, types: ["order.*"], key: /note, fields: {total: /total}}
  events-per-minute: {kind: count, types: [">"], by: [type]}
sinks:
  warehouse:
    types: ["order.*"]
    clickhouse: {addr: "127.0.0.1:1", password: "s3cret-pw"}
`)
	app := newReceiver(t, "")
	c := newChrome(t)

	// The sign-in page, as someone without a link sees it.
	c.do(chromedp.Navigate(n.base + "/"))
	require.Contains(t, c.location(), "/ui/signin")
	c.shoot("signin")

	// 1. Sign in with a portal link scoped to order.*.
	status, out := api(t, n.base, http.MethodPost, "/v1/portal/links", adminSecret,
		map[string]any{"roles": []string{"subscribe:order.*", "publish:order.*", "read:views:orders"}, "ttl": "1h"})
	require.Equal(t, http.StatusCreated, status, out)
	c.do(chromedp.Navigate(out["url"].(string)))
	c.waitText("main h1", regexp.MustCompile(`^Home$`))
	require.True(t, strings.HasSuffix(c.location(), "/ui/"), "the fragment is gone from the address bar: %s", c.location())
	require.Contains(t, c.text(".who"), "link:")
	c.shoot("home")

	// 2. A source from the form, for the developer's own shop: its secret is
	// shown once, with a curl sample to copy.
	c.do(chromedp.Navigate(n.base+"/ui/sources/new"),
		chromedp.SendKeys(chromedp.ID("name"), "myshop"),
		chromedp.SendKeys(chromedp.ID("description"), "The shop's order webhooks"),
		chromedp.SetValue(chromedp.ID("scheme"), "standard-webhooks"),
		chromedp.SendKeys(chromedp.ID("type"), "order.created"))
	c.shoot("source-new")
	c.do(chromedp.Submit(chromedp.ID("name")))
	c.waitText("main h1", regexp.MustCompile(`myshop`))
	secret := c.text("#secret-value")
	require.Regexp(t, `^whsec_`, secret)
	curl := c.text("#curl-sample")
	require.Contains(t, curl, n.base+"/in/myshop")
	c.shoot("source")

	// 3. A signed webhook: the copied curl, run as the developer would.
	require.Contains(t, runCurlSample(t, curl, secret), "202")
	// And one from the shop, with an order total (before the subscription:
	// the replay brings it later).
	require.Equal(t, http.StatusAccepted, sendShop(t, n, `{"total": 250, "note": "first"}`, "order-1"))

	// 4. A push subscription from the form, with a filter.
	c.do(chromedp.Navigate(n.base+"/ui/subscriptions/new"),
		chromedp.SendKeys(chromedp.ID("name"), "fulfillment"),
		chromedp.SendKeys(chromedp.ID("types"), "order.*"),
		chromedp.SendKeys(chromedp.ID("filter"), "has(data.total) && data.total > 100"),
		chromedp.SendKeys(chromedp.ID("url"), app.URL+"/hooks"))
	c.waitText("#filter-preview", regexp.MustCompile(`^matches 1 of the last 2 order\.\* events`))
	c.shoot("subscription-new")
	c.do(chromedp.Submit(chromedp.ID("name")))
	c.waitText("main h1", regexp.MustCompile(`fulfillment`))
	require.Regexp(t, `^whsec_`, c.text("#secret-value"))
	c.shoot("subscription-created")

	// 5. A new event shows in the live tail as it arrives, with its JSON on
	// click; it reaches the app, and its attempt is on the subscription's page.
	c.do(chromedp.Navigate(n.base + "/ui/tail?types=order.*"))
	c.waitText("#tail-status", regexp.MustCompile(`Connected`))
	require.Equal(t, http.StatusAccepted, sendShop(t, n, `{"total": 300, "note": "<script>window.x=1</script><img src=x onerror=alert(1)>"}`, "order-2"))
	c.waitText("#tail-list li", regexp.MustCompile(`order\.created`))
	c.do(chromedp.Click(chromedp.CSS("#tail-list li button")))
	c.waitText("#tail-list li pre", regexp.MustCompile(`onerror=alert\(1\)`))
	require.Equal(t, 0, c.count("#tail-list img"), "the payload is text, never markup")
	c.shoot("tail")
	waitDelivered(t, app, `"total":300`)
	c.do(chromedp.Navigate(n.base + "/ui/subscriptions/fulfillment"))
	c.waitText("#attempts-h + ul, section[aria-labelledby=attempts-h]", regexp.MustCompile(`delivered`))
	c.shoot("subscription")

	// 7. Replay from the start of the stream, and watch it finish.
	c.do(chromedp.SendKeys(chromedp.ID("replay-from-seq"), "1"),
		chromedp.Submit(chromedp.ID("replay-from-seq")))
	c.waitText("main h1", regexp.MustCompile(`Replay to fulfillment`))
	c.waitText("main dl", regexp.MustCompile(`done|finished|completed`))
	c.shoot("replay")
	waitDelivered(t, app, `"note":"first"`)

	// 6. A quarantined event: its guidance, the failing field highlighted,
	// fixed in the page and redriven.
	register(t, n, "order.created", `{"type":"object","required":["total"],"properties":{"total":{"type":"number"},"note":{"type":"string"}}}`, nil)
	require.Equal(t, http.StatusAccepted, sendShop(t, n, `{"total": "three hundred", "note": "fix me"}`, "order-3"))
	c.do(chromedp.Navigate(n.base + "/ui/deadletters"))
	c.waitText("main", regexp.MustCompile(`/total`))
	c.shoot("deadletters")
	c.do(chromedp.Click(chromedp.CSS("section[aria-labelledby=list-h] tbody a")))
	c.waitText("main h1", regexp.MustCompile(`.+`))
	require.Contains(t, c.text(".payload .hl"), `"total"`, "the failing line is highlighted")
	c.shoot("deadletter")
	c.do(chromedp.SetValue(chromedp.ID("data"), `{"total": 300, "note": "fixed"}`),
		chromedp.Submit(chromedp.ID("data")))
	c.waitText("main", regexp.MustCompile(`redriven|Redriven`))
	c.shoot("deadletter-redriven")
	waitDelivered(t, app, `"note":"fixed"`)

	// A bad filter is answered next to the box, while typing and on submit.
	c.expect4xx("/ui/subscriptions/new")
	c.do(chromedp.Navigate(n.base+"/ui/subscriptions/new"),
		chromedp.SendKeys(chromedp.ID("name"), "broken"),
		chromedp.SendKeys(chromedp.ID("types"), "order.*"),
		chromedp.SendKeys(chromedp.ID("filter"), "data.total >"))
	c.waitText("#filter-preview", regexp.MustCompile(`^filter: `))
	c.do(chromedp.Click(chromedp.CSS("input[name=mode][value=pull]")), chromedp.Submit(chromedp.ID("name")))
	c.waitText("#filter-error", regexp.MustCompile(`.+`))
	c.shoot("subscription-bad-filter")

	// Scoped to order.*: payment.* is not there to see or to act on.
	register(t, n, "payment.settled", `{"type":"object"}`, nil)
	c.do(chromedp.Navigate(n.base + "/ui/catalog"))
	c.waitText("main", regexp.MustCompile(`order\.created|No event type`))
	require.NotContains(t, c.text("main"), "payment.settled")
	c.expect4xx("/ui/catalog/payment.settled")
	c.do(chromedp.Navigate(n.base + "/ui/catalog/payment.settled"))
	c.waitText("main h1", regexp.MustCompile(`Not Found`))
	status, out = api(t, n.base, http.MethodPost, "/v1/subscriptions", adminSecret,
		map[string]any{"name": "payments", "types": []string{"payment.*"}, "pull": map[string]any{}})
	require.Equal(t, http.StatusCreated, status, out)
	c.do(chromedp.Navigate(n.base + "/ui/subscriptions"))
	require.NotContains(t, c.text("main"), "payments")
	c.expect4xx("/ui/subscriptions/payments")
	c.do(chromedp.Navigate(n.base + "/ui/subscriptions/payments"))
	c.waitText("main h1", regexp.MustCompile(`Not Found`))

	// Every other page, as this developer sees it, for the record.
	for _, pg := range []struct{ name, path, h1 string }{
		{"home-live", "/ui/", `^Home$`},
		{"catalog", "/ui/catalog", `Catalog`},
		{"catalog-type", "/ui/catalog/order.created", `order\.created`},
		{"catalog-diff", "/ui/catalog/order.created/diff?from=1&to=1", `order\.created`},
		{"sources", "/ui/sources", `Sources`},
		{"subscriptions", "/ui/subscriptions", `Subscriptions`},
		{"views", "/ui/views", `Views`},
	} {
		c.do(chromedp.Navigate(n.base + pg.path))
		c.waitText("main h1", regexp.MustCompile(pg.h1))
		c.shoot(pg.name)
	}
	// 8. The view of the orders: the row the first order set, the payload
	// with markup as text, and how to read it from Retool.
	c.do(chromedp.Navigate(n.base + "/ui/views/orders"))
	c.waitText("table.view-rows", regexp.MustCompile(`first[\s\S]*250`))
	require.Contains(t, c.text("table.view-rows"), "<script>window.x=1</script>", "a key with markup is text")
	require.Equal(t, 0, c.count("main img"))
	require.Contains(t, c.text("#retool-e"), "/v1/views/orders/{{ encodeURIComponent(textInput1.value) }}")
	c.shoot("view")
	c.expect4xx("/ui/views/events-per-minute")
	c.do(chromedp.Navigate(n.base + "/ui/views/events-per-minute"))
	c.waitText("main h1", regexp.MustCompile(`Not Found`))

	// 9. The platform engineer, signed in with the admin token, sees the
	// sink beside the subscriptions, its page, the count view and the home
	// chart drawn from it.
	c.do(chromedp.Click(chromedp.CSS(".signout button")))
	c.waitText("main h1", regexp.MustCompile(`Sign in`))
	c.do(chromedp.SendKeys(chromedp.ID("token"), adminSecret), chromedp.Submit(chromedp.ID("token")))
	c.waitText("main h1", regexp.MustCompile(`^Home$`))
	c.waitText(".chart-source", regexp.MustCompile(`count view events-per-minute`))
	c.shoot("home-admin")
	c.do(chromedp.Navigate(n.base + "/ui/subscriptions"))
	c.do(chromedp.Click(chromedp.CSS(`a[href="/ui/sinks/warehouse"]`)))
	c.waitText("main h1", regexp.MustCompile(`Sink warehouse`))
	require.NotContains(t, c.text("main"), "s3cret-pw")
	c.shoot("sink")
	c.do(chromedp.Navigate(n.base + "/ui/views/events-per-minute"))
	c.waitText("#buckets-h + div, main", regexp.MustCompile(`order\.\*|count`))
	c.shoot("view-count")

	c.expect4xx("/ui/nowhere")
	c.do(chromedp.Navigate(n.base + "/ui/nowhere"))
	c.waitText("main h1", regexp.MustCompile(`Not Found`))
	c.shoot("not-found")

	require.Empty(t, c.consoleErrors(), "browser console errors")
}

// waitDelivered waits until app got an event whose JSON holds s.
func waitDelivered(t *testing.T, app *receiver, s string) {
	t.Helper()
	weirtest.EventuallyTrue(t, 30*time.Second, func() bool {
		raw, _ := json.Marshal(app.events())
		return strings.Contains(string(raw), s)
	}, "the app never got "+s)
}

// sendShop posts a signed webhook to the shop source and returns the status.
func sendShop(t *testing.T, n *node, body, id string) int {
	t.Helper()
	return postSigned(t, n.base+"/in/shop", shopSecret, body, id)
}
