package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A payload breaking a keyword whose explanation used to crash the request
// (multipleOf, exclusiveMinimum, minProperties, uniqueItems, not, a $ref
// loop, a number math/big refuses) is quarantined with guidance, or refused
// with 422 by a source that rejects, never answered with an empty reply.
func TestContractKeywordViolationsAreQuarantined(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	strict := cfg.Sources["shop"]
	strict.OnInvalid = "reject"
	cfg.Sources["strict"] = strict
	b := start(t, cfg)
	js := b.srv.Bus().JetStream()

	register := func(typ, schema string) {
		r := do(t, apiRequest(t, "POST", b.base+"/v1/contracts/"+typ+"/versions", adminSecret, "application/json", `{"schema":`+schema+`}`))
		require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	}
	register("order.created", `{"type":"object","properties":{
		"qty":{"type":"integer","multipleOf":5},
		"price":{"exclusiveMinimum":0},
		"tags":{"uniqueItems":true},
		"meta":{"minProperties":1},
		"code":{"not":{"const":"x"}}}}`)
	// A loop met by a field's value: only events with that field reach it.
	register("loop.thing", `{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"properties":{"x":{"$ref":"#/$defs/a"}}}`)
	// A loop met by every event is refused at registration.
	r := do(t, apiRequest(t, "POST", b.base+"/v1/contracts/loop.root/versions", adminSecret, "application/json", `{"schema":{"$ref":"#"}}`))
	require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	require.Equal(t, "https://weir.dev/problems/invalid-schema", r.body["type"])
	require.Contains(t, r.body["detail"], "the schema refers to itself in a loop: #/$ref refers back to # without checking anything")

	quarantined := func(r response) map[string]string {
		t.Helper()
		require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
		require.Equal(t, "quarantined", r.body["status"], string(r.raw))
		dl := getJSON(t, b.base+"/v1/deadletters/"+r.body["dead_letter_id"].(string))
		require.Equal(t, http.StatusOK, dl.status, string(dl.raw))
		got := map[string]string{}
		for _, v := range dl.body["violations"].([]any) {
			m := v.(map[string]any)
			got[m["pointer"].(string)+" "+m["rule"].(string)] = m["message"].(string)
		}
		return got
	}

	got := quarantined(b.sendShop(t, `{"qty":7}`, "k1"))
	require.Equal(t, map[string]string{"/qty multipleOf": "the field qty must be a multiple of 5, but it is 7."}, got)

	got = quarantined(b.sendShop(t, `{"qty":5,"price":0,"tags":["a","a"],"meta":{},"code":"x"}`, "k2"))
	require.Equal(t, map[string]string{
		"/price exclusiveMinimum": "the field price must be greater than 0, but it is 0.",
		"/tags uniqueItems":       "the field tags must not repeat an item, but items 0 and 1 are equal.",
		"/meta minProperties":     "the field meta must have at least 1 fields, but it has 0.",
		"/code not":               "the field code matches a shape the contract forbids (not).",
	}, got)

	// Ingress refuses a number beyond a float64 (I-JSON) before any contract
	// sees it; a long one that is in range meets the contract's own bound.
	r = b.sendShop(t, `{"qty":1e99999999}`, "k3")
	require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	require.Equal(t, "https://weir.dev/problems/number-out-of-range", r.body["type"])
	got = quarantined(b.sendShop(t, `{"qty":1`+strings.Repeat("0", 100)+`}`, "k3b"))
	require.Contains(t, got["/qty number"], "which weir cannot check against the contract")

	got = quarantined(do(t, signedRequest(t, b.base, "open", shopScheme, []byte(`{"kind":"loop.thing","ref":"k4","x":1}`), "k4", time.Now())))
	require.Len(t, got, 1)
	require.Contains(t, got["/x $ref"], "the contract's owner must fix the schema")

	require.Empty(t, storedEvents(t, js, "events.>"), "a quarantined event is not published")

	// A source that rejects answers 422 naming the field and the rule.
	r = do(t, signedRequest(t, b.base, "strict", shopScheme, []byte(`{"qty":7}`), "k5", time.Now()))
	require.Equal(t, http.StatusUnprocessableEntity, r.status, string(r.raw))
	require.Equal(t, "https://weir.dev/problems/contract-violation", r.body["type"])
	require.Equal(t, "data/qty", r.body["field"])
	errs := r.body["errors"].([]any)
	require.Len(t, errs, 1)
	require.Equal(t, "multipleOf", errs[0].(map[string]any)["rule"])
	require.Equal(t, "the field qty must be a multiple of 5, but it is 7.", errs[0].(map[string]any)["detail"])
}
