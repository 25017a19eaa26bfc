package portal_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// warehouseSink is weir.yaml for a ClickHouse sink whose server is not
// there (nothing listens on port 1): it runs, fails and says why, which is
// what its page shows without a ClickHouse.
const warehouseSink = `
sinks:
  warehouse:
    types: ["order.*"]
    clickhouse: {addr: "127.0.0.1:1", password: "s3cret-pw", batch: {max_rows: 100, max_wait: 100ms}}
`

func TestSinksAreForAdminsOnly(t *testing.T) {
	t.Parallel()
	n := startWeir(t, warehouseSink)
	admin := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, admin.signIn(adminSecret).status)
	a := admin.get("/ui/subscriptions")
	require.Equal(t, http.StatusOK, a.status)
	has(t, a.body, `id="sinks-h">Sinks</h2>`)
	has(t, a.body, `<a href="/ui/sinks/warehouse">warehouse</a>`)

	orders := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, orders.signIn(ordersSecret).status)
	o := orders.get("/ui/subscriptions")
	require.Equal(t, http.StatusOK, o.status)
	hasNot(t, o.body, "Sinks", "a non-admin does not learn that sinks exist")
	hasNot(t, o.body, "warehouse")
	o = orders.get("/ui/sinks/warehouse")
	require.Equal(t, http.StatusNotFound, o.status)
	has(t, o.body, "There is no page at /ui/sinks/warehouse.", "the same answer as for a page that is not there")
	require.Equal(t, orders.get("/ui/sinks/nowhere").status, http.StatusNotFound)
	csrf := orders.csrf("/ui/subscriptions")
	for _, action := range []string{"pause", "resume", "replay"} {
		o = orders.post("/ui/sinks/warehouse/"+action, url.Values{"csrf": {csrf}, "from_seq": {"1"}})
		require.Equal(t, http.StatusNotFound, o.status, action)
	}
	status, out := api(t, n.base, http.MethodGet, "/v1/sinks/warehouse", adminSecret, nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "active", out["state"], "the non-admin's pause changed nothing")
}

func TestSinkPageShowsStateAndActs(t *testing.T) {
	t.Parallel()
	n := startWeir(t, warehouseSink)
	sendEvent(t, n.base, adminSecret, "o-1", "order.created", "/apps/shop", `{"total":1}`)
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(adminSecret).status)
	var a answer
	weirtest.EventuallyTrue(t, 20*time.Second, func() bool {
		a = b.get("/ui/sinks/warehouse")
		return a.status == http.StatusOK && strings.Contains(a.body, `<span class="pill failing">failing</span>`)
	}, "the sink never reported its failing store")
	has(t, a.body, "<h1>Sink warehouse</h1>")
	has(t, a.body, "<dt>Kind</dt><dd>clickhouse</dd>")
	has(t, a.body, `<span class="error-text">`, "the last error is shown")
	has(t, a.body, "127.0.0.1:1")
	has(t, a.body, `&#34;password&#34;: &#34;********&#34;`)
	hasNot(t, a.body, "s3cret-pw")
	has(t, a.body, `href="/ui/deadletters?cause=sink%3Awarehouse&amp;kind=sink"`)
	has(t, a.body, "<dt>Rows written</dt><dd>0 in 0 batches")
	has(t, a.body, "everything of its types stored since then is loaded again")
	require.Equal(t, http.StatusOK, b.get("/ui/deadletters?kind=sink&cause=sink%3Awarehouse").status, "the list takes kind=sink")

	// Every form needs its CSRF token; without it nothing changes.
	for _, action := range []string{"pause", "resume", "replay"} {
		a = b.post("/ui/sinks/warehouse/"+action, url.Values{"from_seq": {"1"}})
		require.Equal(t, http.StatusForbidden, a.status, action)
	}
	status, out := api(t, n.base, http.MethodGet, "/v1/sinks/warehouse", adminSecret, nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "active", out["state"])

	csrf := b.csrf("/ui/sinks/warehouse")
	a = b.post("/ui/sinks/warehouse/pause", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, a.status, a.body)
	a = b.get(a.header.Get("Location"))
	has(t, a.body, "Paused: the batch in hand is written")
	has(t, a.body, `<span class="pill disabled">disabled</span>`)
	has(t, a.body, "paused in the portal by token admin")
	has(t, a.body, `action="/ui/sinks/warehouse/resume"`)
	_, out = api(t, n.base, http.MethodGet, "/v1/sinks/warehouse", adminSecret, nil)
	require.Equal(t, "disabled", out["state"])

	// The replay form refuses what is not one start, next to its field.
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{}, "Give the time to load again from"},
		{url.Values{"from": {"2026-01-02T10:00"}, "from_seq": {"3"}}, "not both"},
		{url.Values{"from_seq": {"zero"}}, "whole number from 1"},
		{url.Values{"from_seq": {"0"}}, "whole number from 1"},
		{url.Values{"from": {"yesterday"}}, "Give a time as"},
	} {
		c.form.Set("csrf", csrf)
		a = b.post("/ui/sinks/warehouse/replay", c.form)
		require.Equal(t, http.StatusUnprocessableEntity, a.status, c.form)
		has(t, a.body, c.want)
		has(t, a.body, `aria-invalid="true"`)
	}
	a = b.post("/ui/sinks/warehouse/replay", url.Values{"csrf": {csrf}, "from_seq": {"1"}})
	require.Equal(t, http.StatusSeeOther, a.status, a.body)
	a = b.get(a.header.Get("Location"))
	has(t, a.body, "Loading again from sequence 1: 1 events to load.")
	has(t, a.body, "including those already loaded")
	a = b.post("/ui/sinks/warehouse/replay", url.Values{"csrf": {csrf}, "from": {"2026-01-02T10:00"}})
	require.Equal(t, http.StatusSeeOther, a.status, a.body)
	has(t, b.get(a.header.Get("Location")).body, "Loading again from 2026-01-02 10:00:00 UTC")

	a = b.post("/ui/sinks/warehouse/resume", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, a.status, a.body)
	has(t, b.get(a.header.Get("Location")).body, `<span class="pill active">active</span>`)
	_, out = api(t, n.base, http.MethodGet, "/v1/sinks/warehouse", adminSecret, nil)
	require.Equal(t, "active", out["state"])
}
