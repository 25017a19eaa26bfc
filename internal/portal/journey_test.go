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

	"github.com/weir-dev/weir/internal/verify"
	"github.com/weir-dev/weir/internal/weirtest"
)

// The citizen developer's journey, in a real Chromium: a platform engineer
// hands over a link scoped to order.*, and the developer wires and watches
// an integration with nothing but the portal.
func TestCitizenJourneyInChromium(t *testing.T) {
	// The developer's app listens on loopback, which delivery lets only
	// admins reach unless the platform engineer allows it.
	n := startWeir(t, `
delivery:
  allow: ["127.0.0.1/32"]
`)
	app := newReceiver(t, "")
	c := newChrome(t)

	// The sign-in page, as someone without a link sees it.
	c.do(chromedp.Navigate(n.base + "/"))
	require.Contains(t, c.location(), "/ui/signin")
	c.shoot("signin")

	// 1. Sign in with a portal link scoped to order.*.
	status, out := api(t, n.base, http.MethodPost, "/v1/portal/links", adminSecret,
		map[string]any{"roles": []string{"subscribe:order.*", "publish:order.*"}, "ttl": "1h"})
	require.Equal(t, http.StatusCreated, status, out)
	c.do(chromedp.Navigate(out["url"].(string)))
	c.waitText("main h1", regexp.MustCompile(`^Home$`))
	require.True(t, strings.HasSuffix(c.location(), "/ui/"), "the fragment is gone from the address bar: %s", c.location())
	require.Contains(t, c.text(".who"), "link:")
	c.shoot("home")

	// 3. A signed webhook arrives (before the subscription: replay brings it later).
	require.Equal(t, http.StatusAccepted, sendShop(t, n, `{"total": 250, "note": "first"}`, "order-1"))

	// 4. A push subscription from the form, with a filter.
	c.do(chromedp.Navigate(n.base+"/ui/subscriptions/new"),
		chromedp.SendKeys(chromedp.ID("name"), "fulfillment"),
		chromedp.SendKeys(chromedp.ID("types"), "order.*"),
		chromedp.SendKeys(chromedp.ID("filter"), "data.total > 100"),
		chromedp.SendKeys(chromedp.ID("url"), app.URL+"/hooks"))
	c.shoot("subscription-new")
	c.do(chromedp.Submit(chromedp.ID("name")))
	c.waitText("main h1", regexp.MustCompile(`fulfillment`))
	require.Regexp(t, `^whsec_`, c.text("#secret-value"))
	c.shoot("subscription-created")

	// 5. A new event reaches the app, and its attempt is on the subscription's page.
	require.Equal(t, http.StatusAccepted, sendShop(t, n, `{"total": 300}`, "order-2"))
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
	req, err := http.NewRequest(http.MethodPost, n.base+"/in/shop", strings.NewReader(body))
	require.NoError(t, err)
	h, err := verify.Sign(verify.Config{Scheme: "standard-webhooks", Secrets: []string{shopSecret}}, []byte(body), time.Now(), id)
	require.NoError(t, err)
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}
