package portal_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRootAndPagesSendTheBrowserToSignIn(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	b := newBrowser(t, n.base)

	a := b.get("/")
	require.Equal(t, http.StatusSeeOther, a.status)
	require.Equal(t, "/ui/", a.header.Get("Location"))

	a = b.get("/ui/catalog?x=1")
	require.Equal(t, http.StatusSeeOther, a.status)
	require.Equal(t, "/ui/signin?next="+url.QueryEscape("/ui/catalog?x=1"), a.header.Get("Location"))

	a = b.get("/ui/signin")
	require.Equal(t, http.StatusOK, a.status)
	csp := a.header.Get("Content-Security-Policy")
	require.Contains(t, csp, "script-src 'self'")
	require.Contains(t, csp, "default-src 'none'")
	require.NotContains(t, csp, "unsafe-inline")
	require.NotContains(t, a.body, "<script>", "no inline script")
	require.Equal(t, "nosniff", a.header.Get("X-Content-Type-Options"))
}

func TestSignInWithATokenSetsAStrictCookie(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	b := newBrowser(t, n.base)

	a := b.signIn("not-a-token-at-all")
	require.Equal(t, http.StatusUnauthorized, a.status)
	require.Contains(t, a.body, "That token is not valid")
	require.Contains(t, a.body, `aria-invalid="true"`)

	a = b.signIn(adminSecret)
	require.Equal(t, http.StatusSeeOther, a.status, a.body)
	require.Equal(t, "/ui/", a.header.Get("Location"))
	cookie := a.header.Get("Set-Cookie")
	require.Contains(t, cookie, "weir_session=")
	require.Contains(t, cookie, "HttpOnly")
	require.Contains(t, cookie, "SameSite=Strict")
	require.Contains(t, cookie, "Expires=")
	require.NotContains(t, cookie, adminSecret, "the cookie never holds the token")

	a = b.get("/ui/")
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, "<h1>Home</h1>")
	require.Contains(t, a.body, ">admin<")

	// Sign-out ends the session.
	a = b.post("/ui/signout", url.Values{"csrf": {b.csrf("/ui/")}})
	require.Equal(t, http.StatusSeeOther, a.status)
	require.Equal(t, http.StatusSeeOther, b.get("/ui/").status)
}

func TestFormsWithoutTheirCSRFTokenAreRefused(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(adminSecret).status)

	a := b.post("/ui/signout", url.Values{})
	require.Equal(t, http.StatusForbidden, a.status)
	require.Contains(t, a.body, "security token")
	a = b.post("/ui/signout", url.Values{"csrf": {"forged"}})
	require.Equal(t, http.StatusForbidden, a.status)

	// Another browser's token does not pass either.
	other := newBrowser(t, n.base)
	a = b.post("/ui/signout", url.Values{"csrf": {other.csrf("/ui/signin")}})
	require.Equal(t, http.StatusForbidden, a.status)
	require.Equal(t, http.StatusOK, b.get("/ui/").status, "still signed in")
}

func TestAForgedCookieSendsTheBrowserToSignIn(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	b := newBrowser(t, n.base)
	a := b.signIn(ordersSecret)
	require.Equal(t, http.StatusSeeOther, a.status)
	var value string
	for _, c := range b.c.Jar.Cookies(mustURL(t, n.base+"/ui/")) {
		if c.Name == "weir_session" {
			value = c.Value
		}
	}
	require.NotEmpty(t, value)
	payload, sig, _ := strings.Cut(value, ".")
	// A payload that claims admin, with the old signature.
	forged := strings.Replace(payload, "k", "K", 1) + "." + sig
	for _, v := range []string{forged, "garbage", payload + ".AAAA", ""} {
		c := newBrowser(t, n.base)
		req, _ := http.NewRequest(http.MethodGet, n.base+"/ui/", nil)
		req.AddCookie(&http.Cookie{Name: "weir_session", Value: v})
		a := c.do(req)
		require.Equal(t, http.StatusSeeOther, a.status, v)
		require.True(t, strings.HasPrefix(a.header.Get("Location"), "/ui/signin"), v)
	}
}

func TestAPortalLinkSignsInOnceWithItsRoles(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")

	status, out := api(t, n.base, http.MethodPost, "/v1/portal/links", ordersSecret, map[string]any{"roles": []string{"admin"}})
	require.Equal(t, http.StatusForbidden, status, out)
	status, out = api(t, n.base, http.MethodPost, "/v1/portal/links", adminSecret, map[string]any{"roles": []string{"subscribe:order.*"}, "ttl": "forever"})
	require.Equal(t, http.StatusBadRequest, status, out)
	require.Equal(t, "ttl", out["field"])
	status, out = api(t, n.base, http.MethodPost, "/v1/portal/links", adminSecret, map[string]any{"roles": []string{"read:everything"}})
	require.Equal(t, http.StatusBadRequest, status, out)
	require.Equal(t, "roles[0]", out["field"])
	status, out = api(t, n.base, http.MethodPost, "/v1/portal/links", adminSecret, map[string]any{"roles": []string{"subscribe:order.*"}, "ttl": "1h"})
	require.Equal(t, http.StatusCreated, status, out)
	link, _ := out["url"].(string)
	require.True(t, strings.HasPrefix(link, n.base+"/ui/signin#link=weirlink_"), link)
	_, secret, _ := strings.Cut(link, "#link=")

	b := newBrowser(t, n.base)
	a := b.signIn(secret)
	require.Equal(t, http.StatusSeeOther, a.status, a.body)
	a = b.get("/ui/")
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, "subscribe:order.*")

	// A second use, from anyone, is refused.
	again := newBrowser(t, n.base)
	a = again.signIn(secret)
	require.Equal(t, http.StatusUnauthorized, a.status)
	require.Contains(t, a.body, "already used")
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

// A form body is bounded: one over 1 MiB is refused before anything reads
// it further, with or without a session.
func TestAFormBodyOverOneMiBIsRefused(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(adminSecret).status)
	huge := strings.Repeat("a", 1<<20+1)
	for _, path := range []string{"/ui/signin", "/ui/subscriptions/new", "/ui/filters/preview"} {
		a := b.post(path, url.Values{"csrf": {b.csrf("/ui/")}, "filter": {huge}})
		require.Equal(t, http.StatusBadRequest, a.status, path)
		require.Contains(t, a.body, "larger than 1 MiB", path)
	}
}
