package portal_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// The citizen developer's journey, in a real Chromium: a platform engineer
// hands over a link scoped to order.*, and the developer wires and watches
// an integration with nothing but the portal.
func TestCitizenJourneyInChromium(t *testing.T) {
	n := startWeir(t, "")
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

	require.Empty(t, c.consoleErrors(), "browser console errors")
}
