package portal_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// orderSchema is a nested schema: an object inside an object, an array of
// objects, a $ref into $defs, an enum and a format.
const orderSchema = `{
  "type": "object",
  "required": ["order"],
  "properties": {
    "order": {
      "type": "object",
      "description": "The order that was placed.",
      "required": ["id", "lines"],
      "properties": {
        "id": {"type": "string", "description": "Order number.", "examples": ["ord_123"]},
        "status": {"type": "string", "enum": ["new", "paid"]},
        "lines": {"type": "array", "items": {"type": "object", "required": ["sku"],
          "properties": {"sku": {"type": "string", "description": "Stock keeping unit."}, "qty": {"type": "integer", "minimum": 1}}}}
      }
    },
    "customer": {"$ref": "#/$defs/customer"}
  },
  "$defs": {"customer": {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}}}
}`

// register adds a version of a contract through the API as admin.
func register(t *testing.T, n *node, typ, schema string, extra map[string]any) {
	t.Helper()
	body := map[string]any{"schema": json.RawMessage(schema)}
	for k, v := range extra {
		body[k] = v
	}
	status, out := api(t, n.base, http.MethodPost, "/v1/contracts/"+typ+"/versions", adminSecret, body)
	require.Contains(t, []int{http.StatusCreated, http.StatusOK}, status, out)
}

func signedIn(t *testing.T, n *node, secret string) *browser {
	t.Helper()
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(secret).status)
	return b
}

func TestCatalogListsTheTypesTheViewerMaySee(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	orders := signedIn(t, n, ordersSecret)

	a := orders.get("/ui/catalog")
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, "There is no contract for any event type you can see yet")
	require.Contains(t, a.body, "docs/contracts.md")
	// The shop source sends order.created, which has no contract.
	require.Contains(t, a.body, "Types without a contract")

	register(t, n, "order.placed", orderSchema, map[string]any{"owner": "team-orders", "description": "An order was placed."})
	register(t, n, "payment.settled", `{"type":"object"}`, map[string]any{"owner": "team-payments"})

	a = orders.get("/ui/catalog")
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, `href="/ui/catalog/order.placed"`)
	require.Contains(t, a.body, "team-orders")
	require.Contains(t, a.body, "An order was placed.")
	require.NotContains(t, a.body, "payment.settled")
	require.NotContains(t, a.body, "team-payments")

	admin := signedIn(t, n, adminSecret)
	a = admin.get("/ui/catalog")
	require.Contains(t, a.body, "payment.settled")
	require.NotContains(t, a.body, "deprecated</span>")
	status, out := api(t, n.base, http.MethodPost, "/v1/contracts/payment.settled/deprecate", adminSecret,
		map[string]any{"sunset": "2030-06-30", "policy": "reject", "note": "use payment.completed"})
	require.Equal(t, http.StatusOK, status, out)
	a = admin.get("/ui/catalog")
	require.Regexp(t, `<span class="pill deprecated">deprecated</span> <span class="hint">sunset <time datetime="2030-06-30T00:00:00Z">[^<]+</time>, then refused</span>`, a.body)
	require.Contains(t, admin.get("/ui/catalog/payment.settled").body, "use payment.completed")
	require.Contains(t, admin.get("/ui/catalog?q=payments").body, "payment.settled")
	require.NotContains(t, admin.get("/ui/catalog?q=payments").body, "order.placed")

	// A type the viewer may not see answers as an unknown one does.
	hidden := orders.get("/ui/catalog/payment.settled")
	unknown := orders.get("/ui/catalog/payment.unknown")
	require.Equal(t, http.StatusNotFound, hidden.status)
	require.Equal(t, http.StatusNotFound, unknown.status)
	require.Equal(t, http.StatusNotFound, orders.get("/ui/catalog/payment.settled/diff").status)
	check := orders.post("/ui/catalog/payment.settled/check", url.Values{"csrf": {orders.csrf("/ui/catalog")}, "schema": {"{}"}})
	require.Equal(t, http.StatusNotFound, check.status)
	require.Equal(t, http.StatusOK, admin.get("/ui/catalog/payment.settled").status)
}

func TestCatalogTypePageShowsFieldsExampleProducersAndConsumers(t *testing.T) {
	t.Parallel()
	n := startWeir(t, `
subscriptions:
  order-mails:
    types: ["order.*"]
    pull: {}
  payments:
    types: ["payment.*"]
    pull: {}
`)
	register(t, n, "order.created", orderSchema, map[string]any{"owner": "team-orders"})
	orders := signedIn(t, n, ordersSecret)

	a := orders.get("/ui/catalog/order.created")
	require.Equal(t, http.StatusOK, a.status, a.body)
	body := html.UnescapeString(a.body)
	for _, want := range []string{
		"<code>/order</code>", "The order that was placed.",
		"<code>/order/id</code>", "Order number.", `"ord_123"`,
		"<code>/order/status</code>", `one of "new", "paid"`,
		"<code>/order/lines</code>", "array of object",
		"<code>/order/lines/*/sku</code>", "Stock keeping unit.",
		"<code>/order/lines/*/qty</code>", "at least 1",
		"<code>/customer/email</code>", "(email)",
	} {
		require.Contains(t, body, want)
	}
	// /order/id is required, /order/status is not.
	require.Regexp(t, `<code>/order/id</code></th>\s*<td>string</td>\s*<td><strong>yes</strong>`, a.body)
	require.Regexp(t, `<code>/order/status</code></th>\s*<td>string</td>\s*<td>no</td>`, a.body)

	// The example event is a CloudEvent made from the schema's examples.
	require.Contains(t, body, `"specversion": "1.0"`)
	require.Contains(t, body, `"type": "order.created"`)
	require.Contains(t, body, `"source": "/sources/shop"`)
	require.Contains(t, body, `"dataschema": "`+n.base+`/v1/contracts/order.created/versions/1"`)
	require.Contains(t, body, `"id": "ord_123"`)

	// The shop source sends the type; order-mails receives it; payments
	// does not match, and orders-app may not see it anyway.
	require.Contains(t, a.body, `href="/ui/sources/shop"`)
	require.Contains(t, a.body, `href="/ui/subscriptions/order-mails"`)
	require.NotContains(t, a.body, "/ui/subscriptions/payments")

	require.Equal(t, http.StatusNotFound, orders.get("/ui/catalog/order.created?version=2").status)
	require.Equal(t, http.StatusBadRequest, orders.get("/ui/catalog/order.created?version=two").status)
}

func TestCatalogDiffShowsAnAddedField(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	register(t, n, "order.shipped", `{"type":"object","properties":{"order":{"type":"string"}},"required":["order"],"additionalProperties":false}`, nil)
	register(t, n, "order.shipped", `{"type":"object","properties":{"order":{"type":"string"},"carrier":{"type":"string"}},"required":["order"],"additionalProperties":false}`, nil)
	orders := signedIn(t, n, ordersSecret)

	a := orders.get("/ui/catalog/order.shipped")
	require.Contains(t, a.body, `href="/ui/catalog/order.shipped/diff?from=1&amp;to=2"`)
	require.Contains(t, a.body, `<select id="diff-from" name="from">`)

	a = orders.get("/ui/catalog/order.shipped/diff?from=1&to=2")
	require.Equal(t, http.StatusOK, a.status, a.body)
	body := html.UnescapeString(a.body)
	require.Regexp(t, `<tr class="add">\s*<td class="num"></td>\s*<td class="num">\d+</td>\s*<td><span aria-label="added">\+</span></td>\s*<td><code class="line">\s*"carrier": \{</code>`, body)
	require.NotContains(t, a.body, `<tr class="del">`)
	require.Contains(t, a.body, "version 2 is compatible with version 1")

	// The other way round the field is removed, which BACKWARD refuses
	// on a closed object: events with a carrier would be refused.
	a = orders.get("/ui/catalog/order.shipped/diff?from=2&to=1")
	require.Contains(t, a.body, `<tr class="del">`)
	require.Contains(t, a.body, "version 1 is not compatible with version 2")
	require.Contains(t, a.body, "<code>/properties/carrier</code>")
	require.Equal(t, http.StatusNotFound, orders.get("/ui/catalog/order.shipped/diff?from=1&to=3").status)
}

func TestCatalogCheckExplainsABreakingSchema(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	register(t, n, "order.paid", `{"type":"object","properties":{"total":{"type":"number"}},"required":["total"]}`, nil)
	orders := signedIn(t, n, ordersSecret)
	csrf := orders.csrf("/ui/catalog/order.paid")

	breaking := `{"type":"object","properties":{"total":{"type":"string"}},"required":["total"]}`
	a := orders.post("/ui/catalog/order.paid/check", url.Values{"csrf": {csrf}, "schema": {breaking}})
	require.Equal(t, http.StatusOK, a.status, a.body)
	require.Contains(t, a.body, "Not compatible under <code>BACKWARD</code>")
	require.Contains(t, a.body, "<code>/properties/total/type</code>")
	require.Contains(t, a.body, "Fix:")
	// The explanation is the API's, word for word.
	status, out := api(t, n.base, http.MethodPost, "/v1/contracts/order.paid/compatibility", ordersSecret, map[string]any{"schema": json.RawMessage(breaking)})
	require.Equal(t, http.StatusOK, status)
	issue := out["issues"].([]any)[0].(map[string]any)
	require.Contains(t, html.UnescapeString(a.body), issue["message"].(string))
	require.Contains(t, html.UnescapeString(a.body), issue["fix"].(string))
	// The pasted text is shown again.
	require.Contains(t, html.UnescapeString(a.body), breaking)

	a = orders.post("/ui/catalog/order.paid/check", url.Values{"csrf": {csrf}, "schema": {`{"type":"object","properties":{"total":{"type":"number"}},"required":["total"]}`}})
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, "Compatible: this schema could be registered as version 2")

	// A mode other than the contract's.
	a = orders.post("/ui/catalog/order.paid/check", url.Values{"csrf": {csrf}, "schema": {breaking}, "compatibility": {"NONE"}})
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, "Compatible")
	a = orders.post("/ui/catalog/order.paid/check", url.Values{"csrf": {csrf}, "schema": {breaking}, "compatibility": {"SIDEWAYS"}})
	require.Equal(t, http.StatusUnprocessableEntity, a.status)
	require.Contains(t, a.body, `id="compatibility-error"`)

	// Without the CSRF token nothing is checked.
	require.Equal(t, http.StatusForbidden, orders.post("/ui/catalog/order.paid/check", url.Values{"schema": {breaking}}).status)
}

func TestCatalogCheckRefusesAnInvalidSchemaNextToTheField(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	register(t, n, "order.paid", `{"type":"object"}`, nil)
	orders := signedIn(t, n, ordersSecret)
	csrf := orders.csrf("/ui/catalog/order.paid")

	for name, schema := range map[string]string{
		"not JSON":    `{"type": "object",`,
		"not schema":  `{"type": "banana"}`,
		"not object":  `[1, 2]`,
		"empty":       `   `,
		"over bound":  `{"description": "` + strings.Repeat("x", 256<<10) + `"}`,
		"huge number": `{"minimum": 1e999999}`,
	} {
		a := orders.post("/ui/catalog/order.paid/check", url.Values{"csrf": {csrf}, "schema": {schema}})
		require.Equal(t, http.StatusUnprocessableEntity, a.status, name)
		require.Contains(t, a.body, `id="schema-error"`, name)
		require.Regexp(t, `<textarea id="schema"[^>]*aria-invalid="true" aria-describedby="schema-error schema-hint"`, a.body, name)
		require.Contains(t, a.body, `class="field-error"`, name)
	}
	a := orders.post("/ui/catalog/order.paid/check", url.Values{"csrf": {csrf}, "schema": {`{"type": "object",`}})
	require.Contains(t, a.body, "not a valid JSON Schema")
}

func TestCatalogEscapesWhatContractsSay(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	const script, img = `<script>alert(1)</script>`, `<img src=x onerror=alert(1)>`
	schema := fmt.Sprintf(`{"type":"object","properties":{%q:{"type":"string","description":%q,"examples":[%q]}}}`, img, script, script)
	register(t, n, "order.evil", schema, map[string]any{"owner": img, "description": script, "example": map[string]any{"x": script}})
	admin := signedIn(t, n, adminSecret)

	for _, path := range []string{"/ui/catalog", "/ui/catalog/order.evil", "/ui/catalog/order.evil/diff"} {
		a := admin.get(path)
		require.Equal(t, http.StatusOK, a.status, path)
		require.NotContains(t, a.body, script, path)
		require.NotContains(t, a.body, img, path)
		require.NotContains(t, a.body, "<img", path)
	}
	a := admin.get("/ui/catalog/order.evil")
	require.Contains(t, a.body, "&lt;script&gt;alert(1)&lt;/script&gt;")
	a = admin.post("/ui/catalog/order.evil/check", url.Values{"csrf": {admin.csrf("/ui/catalog")}, "schema": {`{"description":"` + script + `"`}})
	require.Equal(t, http.StatusUnprocessableEntity, a.status)
	require.NotContains(t, a.body, script)
}

func TestCatalogBoundsAHugeSchema(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	// 3000 fields, and 60 levels of nesting.
	var props []string
	for i := range 3000 {
		props = append(props, fmt.Sprintf(`"f%d":{"type":"string"}`, i))
	}
	deep := `{"type":"string"}`
	for range 60 {
		deep = `{"type":"object","properties":{"d":` + deep + `}}`
	}
	register(t, n, "order.huge", `{"type":"object","properties":{`+strings.Join(props, ",")+`,"deep":`+deep+`}}`, nil)
	orders := signedIn(t, n, ordersSecret)

	a := orders.get("/ui/catalog/order.huge")
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, "the table stops at 500 fields or 16 levels")
	require.Equal(t, 500, strings.Count(a.body, `<th scope="row"><code>/`))
	require.Contains(t, a.body, "<code>/f499</code>")
	require.NotContains(t, a.body, "<code>/f500</code>")
}

func TestCatalogAsyncAPIDownloadIsTheAPIsDocument(t *testing.T) {
	t.Parallel()
	n := startWeir(t, `
subscriptions:
  payments:
    types: ["payment.*"]
    pull: {}
`)
	register(t, n, "order.placed", orderSchema, nil)
	register(t, n, "payment.settled", orderSchema, nil)
	orders := signedIn(t, n, ordersSecret)

	a := orders.get("/ui/asyncapi.json")
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.header.Get("Content-Disposition"), "weir-asyncapi.json")
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(a.body), &doc))
	require.Equal(t, "3.0.0", doc["asyncapi"])
	require.Contains(t, doc["channels"], "order.placed")
	require.NotContains(t, a.body, `"payments"`, "a subscription the token may not see stays out, as on the API")
	require.NotContains(t, a.body, "payment.settled", "a type the catalog hides stays out of the download")

	y := orders.get("/ui/asyncapi.yaml")
	require.Equal(t, http.StatusOK, y.status)
	require.Contains(t, y.body, "asyncapi: 3.0.0")
	require.Contains(t, y.body, "order.placed:")
	require.Contains(t, y.body, "minimum: 1\n")

	require.Equal(t, http.StatusSeeOther, newBrowser(t, n.base).get("/ui/asyncapi.json").status, "needs a session")
}

// The type's page shows its live traffic next to its contract: events per
// minute from the home page's counters and when one was last stored.
func TestCatalogTypePageShowsLiveTraffic(t *testing.T) {
	t.Parallel()
	n := startWeir(t, "")
	register(t, n, "order.created", `{"type":"object"}`, nil)
	b := signedIn(t, n, ordersSecret)
	a := b.get("/ui/catalog/order.created")
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, a.body, `id="traffic-h"`)
	require.Contains(t, a.body, "never: no event of this type is stored")

	require.Equal(t, http.StatusAccepted, sendShop(t, n, `{"total": 1}`, "live-1"))
	weirtest.Eventually(t, 20*time.Second, func() error {
		a = b.get("/ui/catalog/order.created")
		if strings.Contains(a.body, "never: no event") || !strings.Contains(a.body, "1 events accepted by this node") {
			return errors.New("the page does not show the event yet")
		}
		return nil
	})
	require.Contains(t, a.body, "<svg")
	require.Contains(t, a.body, `<time datetime="`)
}
