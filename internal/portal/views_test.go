package portal_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// threeViews is weir.yaml for two latest views (a: orders, b: payments) and
// a count of every type per minute, by type.
const threeViews = `
views:
  a:
    kind: latest
    types: ["order.*"]
    key: /id
    fields: {status: /status, total: /total}
  b:
    kind: latest
    types: ["payment.*"]
    key: /id
  per-minute:
    kind: count
    types: [">"]
    by: [type]
`

// linkBrowser signs a new browser in with a sign-in link of roles.
func linkBrowser(t *testing.T, n *node, roles ...string) *browser {
	t.Helper()
	status, out := api(t, n.base, http.MethodPost, "/v1/portal/links", adminSecret, map[string]any{"roles": roles, "ttl": "1h"})
	require.Equal(t, http.StatusCreated, status, out)
	_, secret, _ := strings.Cut(out["url"].(string), "#link=")
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(secret).status)
	return b
}

func TestViewPagesShowRowsSeriesAndRetool(t *testing.T) {
	t.Parallel()
	n := startWeir(t, threeViews)
	const evil = `<img src=x onerror=alert(1)>`
	sendEvent(t, n.base, adminSecret, "e-evil", "order.created", "/apps/shop", fmt.Sprintf(`{"id":%q,"status":"<b>new</b>","total":5}`, evil))
	for i := range 55 {
		sendEvent(t, n.base, adminSecret, fmt.Sprintf("e-%d", i), "order.created", "/apps/shop", fmt.Sprintf(`{"id":"%d","status":"paid","total":%d}`, 1000+i, i))
	}
	sendEvent(t, n.base, adminSecret, "p-1", "payment.captured", "/apps/billing", `{"id":"p1"}`)

	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(adminSecret).status)
	a := b.get("/ui/views")
	require.Equal(t, http.StatusOK, a.status)
	for _, name := range []string{"a", "b", "per-minute"} {
		has(t, a.body, `<a href="/ui/views/`+name+`">`+name+`</a>`)
	}

	// The first page: 50 rows, the key with markup shown as text.
	weirtest.EventuallyTrue(t, 20*time.Second, func() bool {
		a = b.get("/ui/views/a")
		return strings.Contains(a.body, "<code>1054</code>") || strings.Contains(a.body, "Next page")
	}, "the view never filled")
	require.Equal(t, http.StatusOK, a.status)
	has(t, a.body, "<code>"+html.EscapeString(evil)+"</code>")
	has(t, a.body, "<td>&lt;b&gt;new&lt;/b&gt;</td>")
	hasNot(t, a.body, evil)
	hasNot(t, a.body, "<b>new</b>")
	has(t, a.body, `<th scope="col">status</th><th scope="col">total</th>`)
	require.Equal(t, 50, strings.Count(a.body, `<tr><th scope="row">`))
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(a.body)
	require.NotNil(t, next, "a next page")
	a = b.get(html.UnescapeString(next[1]))
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, 6, strings.Count(a.body, `<tr><th scope="row">`), "the rest")
	has(t, a.body, "<code>1054</code>")
	// A prefix keeps its keys; a bad cursor is refused.
	a = b.get("/ui/views/a?prefix=" + url.QueryEscape("100"))
	require.Equal(t, 10, strings.Count(a.body, `<tr><th scope="row">`), a.body)
	has(t, a.body, `value="100"`)
	a = b.get("/ui/views/a?cursor=%3Cnot-a-cursor%3E")
	require.Equal(t, http.StatusBadRequest, a.status)
	has(t, a.body, "The cursor is not valid")

	// Use in Retool: the resource, the header, the queries and the binding.
	base := regexp.QuoteMeta(n.base)
	require.Regexp(t, `<pre id="retool-a">`+base+`</pre>`, a.body)
	has(t, a.body, "Authorization: Bearer &lt;a token with read:views:a&gt;")
	has(t, a.body, "/v1/views/a?limit=100")
	has(t, a.body, "{{ query1.data.items }}")
	has(t, a.body, "/v1/views/a/{{ encodeURIComponent(textInput1.value) }}")
	has(t, a.body, "Use in Appsmith")
	has(t, a.body, "{{ Api1.data.items }}")
	has(t, a.body, `data-copy="retool-c"`)
	has(t, a.body, `src="/ui/static/copy.js"`)

	// A count view: its chart and its last records, and the series query.
	weirtest.EventuallyTrue(t, 20*time.Second, func() bool {
		a = b.get("/ui/views/per-minute")
		return strings.Contains(a.body, "<code>type=order.created</code>")
	}, "the count view never counted")
	has(t, a.body, `<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-bars"`)
	has(t, a.body, "Total 57 over 60 minutes")
	has(t, a.body, `<td class="num">56</td>`)
	has(t, a.body, "/v1/views/per-minute/series?from={{ moment().subtract(1, &#39;hour&#39;).toISOString() }}")
	has(t, a.body, "x = bucket, y = count.")
	has(t, a.body, "{{ Api1.data.items.map(p =&gt; ({ x: p.bucket, y: p.count })) }}")

	// The home chart reads the count view, which covers every type.
	a = b.get("/ui/")
	has(t, a.body, "Source: the count view per-minute")
	has(t, a.body, "57 events in the last hour")
	o := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, o.signIn(ordersSecret).status)
	a = o.get("/ui/")
	has(t, a.body, "Source: the count view per-minute", "the view counts by type, so it is cut to order.*")
	has(t, a.body, "56 events in the last hour")
	hasNot(t, a.body, `href="/ui/views/per-minute"`, "the orders-app token may not read the view")

	// Rebuild: admins, with the CSRF token.
	a = b.post("/ui/views/a/rebuild", url.Values{})
	require.Equal(t, http.StatusForbidden, a.status)
	_, out := api(t, n.base, http.MethodGet, "/v1/views", adminSecret, nil)
	require.Contains(t, fmt.Sprint(out["items"]), "generation:1 ", "nothing rebuilt without the token")
	a = b.post("/ui/views/a/rebuild", url.Values{"csrf": {b.csrf("/ui/views/a")}})
	require.Equal(t, http.StatusSeeOther, a.status, a.body)
	has(t, b.get(a.header.Get("Location")).body, "Rebuild")
	weirtest.EventuallyTrue(t, 20*time.Second, func() bool {
		body := b.get("/ui/views/a").body
		return strings.Contains(body, "<dt>Generation</dt><dd>") && !strings.Contains(body, "<dt>Generation</dt><dd>1</dd>") && strings.Contains(body, "<dt>Rebuilding</dt><dd>no</dd>")
	}, "the rebuild never swapped in")
	has(t, b.get("/ui/views/a?prefix=1054").body, "<code>1054</code>", "the rebuilt view holds the rows")
}

func TestViewsAreForTheirReaders(t *testing.T) {
	t.Parallel()
	n := startWeir(t, threeViews)
	reader := linkBrowser(t, n, "read:views:a")
	a := reader.get("/ui/views")
	require.Equal(t, http.StatusOK, a.status)
	has(t, a.body, `<a href="/ui/views/a">a</a>`)
	hasNot(t, a.body, `/ui/views/b"`)
	hasNot(t, a.body, "per-minute")
	require.Equal(t, http.StatusOK, reader.get("/ui/views/a").status)
	for _, name := range []string{"b", "per-minute", "nowhere"} {
		a = reader.get("/ui/views/" + name)
		require.Equal(t, http.StatusNotFound, a.status, name)
		has(t, a.body, "There is no view named "+name+" that you may read")
	}
	a = reader.get("/ui/views/a")
	hasNot(t, a.body, `action="/ui/views/a/rebuild"`, "only admins get the button")
	a = reader.post("/ui/views/a/rebuild", url.Values{"csrf": {reader.csrf("/ui/views/a")}})
	require.Equal(t, http.StatusForbidden, a.status)
	has(t, a.body, "Only admins may rebuild a view")
	hasNot(t, reader.get("/ui/subscriptions").body, "Sinks")

	none := linkBrowser(t, n, "subscribe:order.*")
	a = none.get("/ui/views")
	has(t, a.body, "may read none of the views")
	require.Equal(t, http.StatusNotFound, none.get("/ui/views/a").status)
}
