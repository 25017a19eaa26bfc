package portal_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/weirtest"
)

// totalSchema requires a number total.
const totalSchema = `{"type": "object", "properties": {"total": {"type": "number"}}, "required": ["total"]}`

// paySource is a second webhook source whose events are payment.* ones,
// which the orders-app token does not cover.
const paySource = `
  pay:
    verify: {scheme: standard-webhooks, secrets: ["` + shopSecret + `"]}
    type: payment.made
`

// startDL runs weir with the pay source and the contracts that make
// invalid order.created and payment.made events quarantined.
func startDL(t *testing.T) *node {
	t.Helper()
	n := startWeir(t, paySource)
	register(t, n, "order.created", totalSchema, nil)
	register(t, n, "payment.made", totalSchema, nil)
	return n
}

// sendTo posts a signed webhook to a source and returns the status.
func sendTo(t *testing.T, n *node, source, body, id string) int {
	t.Helper()
	return postSigned(t, n.base+"/in/"+source, shopSecret, body, id)
}

// deadLetterIDs lists the ids of the dead letters a query selects, as admin.
func deadLetterIDs(t *testing.T, n *node, query string) []string {
	t.Helper()
	status, out := api(t, n.base, http.MethodGet, "/v1/deadletters?"+query, adminSecret, nil)
	require.Equal(t, http.StatusOK, status, out)
	var ids []string
	for _, d := range out["dead_letters"].([]any) {
		ids = append(ids, d.(map[string]any)["id"].(string))
	}
	return ids
}

// dlStatus is a dead letter's status, as the API has it.
func dlStatus(t *testing.T, n *node, id string) map[string]any {
	t.Helper()
	status, out := api(t, n.base, http.MethodGet, "/v1/deadletters/"+id, adminSecret, nil)
	require.Equal(t, http.StatusOK, status, out)
	return out
}

// follow loads the page a 303 points at.
func follow(t *testing.T, b *browser, a answer) answer {
	t.Helper()
	require.Equal(t, http.StatusSeeOther, a.status, a.body)
	return b.get(a.header.Get("Location"))
}

var failingTotal = regexp.MustCompile(`<span class="line hl">(<span class="sr-only">failing: </span>)?\s*&#34;total&#34;: &#34;[^&]*&#34;`)

func TestDeadLetterCorrectAndRedrive(t *testing.T) {
	t.Parallel()
	n := startDL(t)
	status, out := api(t, n.base, http.MethodPost, "/v1/subscriptions", adminSecret, map[string]any{
		"name": "orders-pull", "types": []string{"order.created"}, "pull": map[string]any{}})
	require.Equal(t, http.StatusCreated, status, out)
	require.Equal(t, http.StatusAccepted, sendShop(t, n, `{"note": "first", "total": "twelve"}`, "q1"))
	ids := deadLetterIDs(t, n, "kind=quarantined")
	require.Len(t, ids, 1, "the invalid event is quarantined")
	id := ids[0]
	b := signedIn(t, n, adminSecret)

	// The list: the row with its guidance, and its cause group linking to it.
	a := b.get("/ui/deadletters")
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, `href="/ui/deadletters/`+id+`"`)
	require.Contains(t, a.body, "The sender&#39;s payload differs from the published contract")
	require.Contains(t, a.body, "the payload breaks the contract at /total (type)")
	group := `href="/ui/deadletters?cause=contract%3Atype%3A%2Ftotal"`
	require.Contains(t, a.body, group)
	a = b.get("/ui/deadletters?cause=contract%3Atype%3A%2Ftotal")
	require.Contains(t, a.body, id, "the group's link lists its dead letters")
	require.NotContains(t, b.get("/ui/deadletters?cause=http%3A401").body, `href="/ui/deadletters/`+id+`"`)

	// The page: the failing line highlighted, the violation next to its value.
	a = b.get("/ui/deadletters/" + id)
	require.Equal(t, http.StatusOK, a.status)
	require.Regexp(t, failingTotal, a.body)
	require.NotRegexp(t, `<span class="line hl">\s*&#34;note&#34;`, a.body, "only the failing key is highlighted")
	require.Contains(t, a.body, "<code>/total</code>")
	require.Contains(t, a.body, "<code>&#34;twelve&#34;</code>")
	require.Contains(t, a.body, `name="data"`)

	// A fix that still breaks the contract: 422 with the reason, still open.
	csrf := b.csrf("/ui/deadletters/" + id)
	a = b.post("/ui/deadletters/"+id+"/redrive", url.Values{"csrf": {csrf}, "action": {"correct"}, "data": {`{"note": "first", "total": "12"}`}})
	require.Equal(t, http.StatusUnprocessableEntity, a.status, a.body)
	require.Contains(t, a.body, `id="data-error"`)
	require.Contains(t, a.body, "/total (type)")
	require.Contains(t, a.body, `aria-invalid="true"`)
	require.Contains(t, a.body, "&#34;12&#34;", "the box keeps what was typed")
	require.Equal(t, "open", dlStatus(t, n, id)["status"])
	a = b.post("/ui/deadletters/"+id+"/redrive", url.Values{"csrf": {csrf}, "action": {"correct"}, "data": {`{"total": `}})
	require.Equal(t, http.StatusBadRequest, a.status, "data that is not JSON is refused")
	require.Equal(t, "open", dlStatus(t, n, id)["status"])

	// A good fix: redriven, and the corrected event is on the bus.
	a = follow(t, b, b.post("/ui/deadletters/"+id+"/redrive", url.Values{"csrf": {csrf}, "action": {"correct"}, "data": {`{"note": "first", "total": 12}`}}))
	require.Contains(t, a.body, "Redriven with the corrected data")
	require.Equal(t, "redriven", dlStatus(t, n, id)["status"])
	weirtest.EventuallyTrue(t, 10*time.Second, func() bool {
		_, out := api(t, n.base, http.MethodGet, "/v1/subscriptions/orders-pull/events?max=10", adminSecret, nil)
		raw, _ := json.Marshal(out)
		return strings.Contains(string(raw), `"total":12`)
	}, "the corrected event reaches the pull subscription")
	require.NotContains(t, a.body, `name="data"`, "a closed dead letter offers no more actions")
	a = b.post("/ui/deadletters/"+id+"/redrive", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusConflict, a.status, "a dead letter is redriven once")
}

func TestDeadLetterResolveAndBulkRedrive(t *testing.T) {
	t.Parallel()
	n := startDL(t)
	for i := range 3 {
		require.Equal(t, http.StatusAccepted, sendShop(t, n, fmt.Sprintf(`{"total": "t%d"}`, i), fmt.Sprintf("b%d", i)))
	}
	ids := deadLetterIDs(t, n, "kind=quarantined")
	require.Len(t, ids, 3)
	b := signedIn(t, n, adminSecret)

	// Resolve needs a reason.
	csrf := b.csrf("/ui/deadletters/" + ids[0])
	a := b.post("/ui/deadletters/"+ids[0]+"/resolve", url.Values{"csrf": {csrf}, "reason": {"  "}})
	require.Equal(t, http.StatusUnprocessableEntity, a.status)
	require.Contains(t, a.body, `id="reason-error"`)
	require.Equal(t, "open", dlStatus(t, n, ids[0])["status"])
	a = follow(t, b, b.post("/ui/deadletters/"+ids[0]+"/resolve", url.Values{"csrf": {csrf}, "reason": {"test order"}}))
	require.Contains(t, a.body, "Resolved")
	d := dlStatus(t, n, ids[0])
	require.Equal(t, "resolved", d["status"])
	require.Equal(t, "test order", d["resolution"])
	require.Equal(t, "admin", d["closed_by"])

	// The contract now takes a text total; the other two can go on.
	register(t, n, "order.created", `{"type": "object", "properties": {"total": {"type": ["number", "string"]}}, "required": ["total"]}`, nil)
	form := url.Values{"csrf": {csrf}, "kind": {"quarantined"}}
	a = b.post("/ui/deadletters/redrive", form)
	require.Equal(t, http.StatusOK, a.status, a.body)
	require.Contains(t, a.body, "2 would be redriven")
	require.Contains(t, a.body, `name="confirm" value="yes"`)
	require.Len(t, deadLetterIDs(t, n, "kind=quarantined"), 2, "the dry run changes nothing")
	form.Set("confirm", "yes")
	a = follow(t, b, b.post("/ui/deadletters/redrive", form))
	require.Contains(t, a.body, "2 redriven, 0 refused.")
	require.Empty(t, deadLetterIDs(t, n, "kind=quarantined"))
	require.Len(t, deadLetterIDs(t, n, "status=redriven"), 2)
	require.Contains(t, a.body, "No dead letter matches this filter")
}

func TestDeadLetterPaging(t *testing.T) {
	t.Parallel()
	n := startDL(t)
	const count = 53 // a page and a bit
	for i := range count {
		require.Equal(t, http.StatusAccepted, sendShop(t, n, fmt.Sprintf(`{"total": "p%d"}`, i), fmt.Sprintf("p%d", i)))
	}
	b := signedIn(t, n, adminSecret)
	a := b.get("/ui/deadletters")
	require.Equal(t, http.StatusOK, a.status)
	rows := regexp.MustCompile(`href="/ui/deadletters/[0-9A-Z]+"`)
	first := rows.FindAllString(a.body, -1)
	require.Len(t, first, 50)
	require.Contains(t, a.body, "<td class=\"num\">53</td>", "the group counts them all")
	next := regexp.MustCompile(`href="/ui/deadletters\?(cursor=[^"]+)" rel="next"`).FindStringSubmatch(a.body)
	require.NotNil(t, next, "a next page link")
	a = b.get("/ui/deadletters?" + strings.ReplaceAll(next[1], "&amp;", "&"))
	second := rows.FindAllString(a.body, -1)
	require.Len(t, second, count-50)
	for _, r := range second {
		require.NotContains(t, first, r)
	}
	require.NotContains(t, a.body, `rel="next"`)
	require.Equal(t, http.StatusBadRequest, b.get("/ui/deadletters?status=lost").status)
	require.Equal(t, http.StatusBadRequest, b.get("/ui/deadletters?from=yesterday").status)
}

func TestDeadLettersScopedToTheViewer(t *testing.T) {
	t.Parallel()
	n := startDL(t)
	require.Equal(t, http.StatusAccepted, sendTo(t, n, "pay", `{"total": "x"}`, "pay1"))
	require.Equal(t, http.StatusAccepted, sendShop(t, n, `{"total": "y"}`, "ord1"))
	pay := deadLetterIDs(t, n, "type=payment.made")
	order := deadLetterIDs(t, n, "type=order.created")
	require.Len(t, pay, 1)
	require.Len(t, order, 1)

	b := signedIn(t, n, ordersSecret)
	a := b.get("/ui/deadletters")
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, order[0])
	require.NotContains(t, a.body, pay[0])
	require.NotContains(t, a.body, "payment.made")
	require.NotContains(t, b.get("/ui/deadletters?type=payment.*").body, pay[0])
	require.Equal(t, http.StatusNotFound, b.get("/ui/deadletters/"+pay[0]).status)
	require.Equal(t, http.StatusNotFound, b.get("/ui/deadletters/01JUNKJUNKJUNKJUNKJUNKJUNK").status)
	csrf := b.csrf("/ui/deadletters")
	for _, what := range []string{"redrive", "resolve"} {
		a = b.post("/ui/deadletters/"+pay[0]+"/"+what, url.Values{"csrf": {csrf}, "reason": {"mine now"}})
		require.Equal(t, http.StatusNotFound, a.status, what)
	}
	require.Equal(t, "open", dlStatus(t, n, pay[0])["status"])
	a = b.post("/ui/deadletters/redrive", url.Values{"csrf": {csrf}, "type": {"payment.*"}})
	require.Contains(t, a.body, "0 would be redriven")

	// The orders app may correct an event that came through webhook
	// ingress from shop, whose one type it publishes: it manages that source
	// (ingress.MayManageSource) and could sign anything through it.
	a = b.post("/ui/deadletters/"+order[0]+"/redrive", url.Values{"csrf": {csrf}, "action": {"correct"}, "data": {`{"total": 1}`}})
	require.NotEqual(t, http.StatusForbidden, a.status, a.body)
}

func TestDeadLetterPagesEscapeThePayload(t *testing.T) {
	t.Parallel()
	n := startDL(t)
	const xss, xssImg = `<script>alert(1)</script>`, `<img src=x onerror=alert(1)>`
	body, _ := json.Marshal(map[string]any{"total": xss, xssImg: xss + xssImg})
	require.Equal(t, http.StatusAccepted, sendShop(t, n, string(body), "x1"))
	ids := deadLetterIDs(t, n, "kind=quarantined")
	require.Len(t, ids, 1)
	b := signedIn(t, n, adminSecret)
	for _, path := range []string{
		"/ui/deadletters",
		"/ui/deadletters?type=" + url.QueryEscape(xss) + "&cause=" + url.QueryEscape(xssImg),
		"/ui/deadletters/" + ids[0],
	} {
		a := b.get(path)
		require.NotContains(t, a.body, xss, path)
		require.NotContains(t, a.body, xssImg, path)
	}
	a := b.get("/ui/deadletters/" + ids[0])
	require.Contains(t, a.body, "&lt;script&gt;alert(1)&lt;/script&gt;")
	require.Regexp(t, `<span class="line hl">(<span class="sr-only">failing: </span>)?\s*&#34;total&#34;: &#34;&lt;script&gt;`, a.body)
	csrf := b.csrf("/ui/deadletters/" + ids[0])
	a = b.post("/ui/deadletters/"+ids[0]+"/redrive", url.Values{"csrf": {csrf}, "action": {"correct"}, "data": {`{"total": "` + xssImg + `"}`}})
	require.Equal(t, http.StatusUnprocessableEntity, a.status)
	require.NotContains(t, a.body, xssImg)
}

// A sink's dead letter cannot be redriven on its own: its page offers no
// redrive, and says how to load it again (the sink's page, from its
// sequence).
func TestSinkDeadLetterPageOffersALoadAgain(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	ctx := t.Context()
	store, err := deadletter.Open(ctx, n.srv.Bus().JetStream(), 30*24*time.Hour, 1)
	require.NoError(t, err)
	d := &deadletter.DeadLetter{ID: "01SINKDEADLETTER0000000000", Kind: deadletter.KindSink, Sink: "warehouse",
		EventID: "o-1", EventType: "order.created", StreamSeq: 42, Event: []byte(`{"specversion":"1.0","id":"o-1","source":"/s","type":"order.created","data":{}}`),
		Reason: "the store refused the event: String too long for type FixedString(3)", Guidance: "Fix the column.",
		CreatedAt: time.Now(), Status: "open"}
	require.NoError(t, store.Add(ctx, d))
	b := signedIn(t, n, adminSecret)
	a := b.get("/ui/deadletters/" + d.ID)
	require.Equal(t, http.StatusOK, a.status, a.body)
	require.NotContains(t, a.body, `action="/ui/deadletters/`+d.ID+`/redrive"`)
	require.Contains(t, a.body, `href="/ui/sinks/warehouse"`)
	require.Contains(t, a.body, "from sequence 42")
	require.Contains(t, a.body, `action="/ui/deadletters/`+d.ID+`/resolve"`)
}
