package portal_test

import (
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// The live tail in a real Chromium: tail.js follows the stream, shows an
// event's JSON on click, holds events while paused, and shows a refusal next
// to the pattern box, all under the portal's Content-Security-Policy.
func TestLiveTailInChromium(t *testing.T) {
	n := startWeir(t, "")
	c := newChrome(t)
	c.do(chromedp.Navigate(n.base+"/ui/signin"),
		chromedp.SendKeys(chromedp.ID("token"), ordersSecret),
		chromedp.Submit(chromedp.ID("token")))
	c.waitText("main h1", regexp.MustCompile(`^Home$`))

	c.do(chromedp.Navigate(n.base + "/ui/tail?types=order.*"))
	c.waitText("#tail-status", regexp.MustCompile(`Connected`))
	sendEvent(t, n.base, adminSecret, "o-1", "order.created", "/apps/shop", `{"note":"<img src=x onerror=alert(1)>"}`)
	c.waitText("#tail-list li .tail-id", regexp.MustCompile(`^o-1$`))
	require.Equal(t, 0, c.count("#tail-list img"), "event data is text, never markup")
	c.do(chromedp.Click(chromedp.CSS("#tail-list li button")))
	c.waitText("#tail-list li pre", regexp.MustCompile(`onerror=alert`))
	c.shoot("tail")

	c.do(chromedp.Click(chromedp.ID("tail-pause")))
	sendEvent(t, n.base, adminSecret, "o-2", "order.created", "/apps/shop", `{}`)
	c.waitText("#tail-status", regexp.MustCompile(`1 new event held`))
	require.Equal(t, 1, c.count("#tail-list li"), "paused: nothing added")
	c.do(chromedp.Click(chromedp.ID("tail-pause")))
	c.waitText("#tail-list li:first-child .tail-id", regexp.MustCompile(`^o-2$`))

	// A fifth tail of the token is refused with 429 and the reason shows by
	// the box (four are the cap, held by other connections).
	c.do(chromedp.Navigate(n.base + "/ui/"))
	weirtest.Eventually(t, 10*time.Second, func() error {
		if a := n.srv.Tails().Active(); a != 0 {
			return fmt.Errorf("%d tails still open after the page was left", a)
		}
		return nil
	})
	for range 4 {
		ctxStream := openStream(t, t.Context(), newBrowserAs(t, n, ordersSecret), "types=order.*", nil)
		require.Equal(t, http.StatusOK, ctxStream.resp.StatusCode)
	}
	c.do(chromedp.Navigate(n.base + "/ui/tail?types=order.created"))
	c.waitText("#types-error", regexp.MustCompile(`already has 4 live tails open`))
	// The browser logs the refused requests themselves; anything else is a
	// script error or a CSP violation.
	for _, e := range c.consoleErrors() {
		require.Contains(t, e, "status of 429 (Too Many Requests)", "no script error and no CSP violation")
	}
}

// newBrowserAs is a browser signed in with secret.
func newBrowserAs(t *testing.T, n *node, secret string) *browser {
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(secret).status)
	return b
}
