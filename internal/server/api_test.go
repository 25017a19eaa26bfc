package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func apiRequest(t *testing.T, method, url, tok, ctype, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return req
}

func TestPublishAPIModes(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))
	url := b.base + "/v1/events"

	structured := `{"specversion":"1.0","id":"e-1","source":"/apps/orders","type":"order.shipped","data":{"order":1}}`
	r := do(t, apiRequest(t, "POST", url, pubSecret, "application/cloudevents+json", structured))
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
	require.Equal(t, "e-1", r.body["id"])

	r = do(t, apiRequest(t, "POST", url, pubSecret, "application/cloudevents+json", structured))
	require.Equal(t, http.StatusOK, r.status, "the same (source, id) is a duplicate")
	require.Equal(t, "duplicate", r.body["status"])

	bin := apiRequest(t, "POST", url, pubSecret, "application/json", `{"order":2}`)
	bin.Header.Set("ce-specversion", "1.0")
	bin.Header.Set("ce-id", "e-2")
	bin.Header.Set("ce-source", "/apps/orders")
	bin.Header.Set("ce-type", "order.shipped")
	r = do(t, bin)
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))

	batch := `[{"specversion":"1.0","id":"e-3","source":"/apps/orders","type":"order.shipped","data":{"order":3}},
	           {"specversion":"1.0","id":"e-4","source":"/apps/orders","type":"order.cancelled","data":{"order":4}}]`
	r = do(t, apiRequest(t, "POST", url, pubSecret, "application/cloudevents-batch+json", batch))
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
	require.Len(t, r.body["results"], 2)

	evs := storedEvents(t, b.srv.Bus().JetStream(), "events.order.>")
	require.Len(t, evs, 4)
	for _, ev := range evs {
		require.NotEmpty(t, ev["traceparent"], "every event carries a trace context")
		require.NotEmpty(t, ev["time"])
	}
}

func TestPublishAPIRefusals(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))
	url := b.base + "/v1/events"
	ok := `{"specversion":"1.0","id":"x","source":"/a","type":"order.shipped"}`

	r := do(t, apiRequest(t, "POST", url, "", "application/cloudevents+json", ok))
	require.Equal(t, http.StatusUnauthorized, r.status)
	require.Equal(t, "Authorization", r.body["field"])
	r = do(t, apiRequest(t, "POST", url, "not-a-real-token-at-all", "application/cloudevents+json", ok))
	require.Equal(t, http.StatusUnauthorized, r.status)

	r = do(t, apiRequest(t, "POST", url, pubSecret, "application/cloudevents+json",
		`{"specversion":"1.0","id":"x","source":"/a","type":"invoice.paid"}`))
	require.Equal(t, http.StatusForbidden, r.status, "publish:order.* does not cover invoice.paid")
	require.Equal(t, "type", r.body["field"])

	r = do(t, apiRequest(t, "POST", url, pubSecret, "application/cloudevents+json", `{"specversion":"1.0","id":"x","source":"/a"}`))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "type", r.body["field"])

	r = do(t, apiRequest(t, "POST", url, pubSecret, "application/cloudevents+json", `{"specversion":`))
	require.Equal(t, http.StatusBadRequest, r.status)

	// One bad event refuses the whole batch, and nothing of it is stored.
	batch := `[{"specversion":"1.0","id":"b1","source":"/a","type":"order.shipped"},
	           {"specversion":"1.0","id":"b2","source":"/a","type":"order.shipped","time":"yesterday"}]`
	r = do(t, apiRequest(t, "POST", url, adminSecret, "application/cloudevents-batch+json", batch))
	require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	require.Equal(t, "[1].time", r.body["field"])
	batch = `[{"specversion":"1.0","id":"b1","source":"/a","type":"order.shipped"},
	           {"specversion":"1.0","id":"b2","source":"/a","type":"invoice.paid"}]`
	r = do(t, apiRequest(t, "POST", url, pubSecret, "application/cloudevents-batch+json", batch))
	require.Equal(t, http.StatusForbidden, r.status)
	require.Equal(t, "[1].type", r.body["field"])
	require.Empty(t, storedEvents(t, b.srv.Bus().JetStream(), "events.>"))

	r = do(t, apiRequest(t, "GET", b.base+"/v1/nothing-here", adminSecret, "", ""))
	require.Equal(t, http.StatusNotFound, r.status)
	r = do(t, apiRequest(t, "GET", b.base+"/v1/whoami", adminSecret, "", ""))
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "admin", r.body["name"])
}

func TestBootstrapAdminTokenShownOnce(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Tokens = nil
	b := start(t, cfg)
	out := b.out.String()
	require.Contains(t, out, "weir_")
	var secret string
	for f := range strings.FieldsSeq(out) {
		if strings.HasPrefix(f, "weir_") {
			secret = f
		}
	}
	r := do(t, apiRequest(t, "GET", b.base+"/v1/whoami", secret, "", ""))
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	require.NoError(t, b.srv.Stop(t.Context()))

	b2 := start(t, cfg)
	require.NotContains(t, b2.out.String(), "weir_", "the token is shown only on the first start")
	r = do(t, apiRequest(t, "GET", b2.base+"/v1/whoami", secret, "", ""))
	require.Equal(t, http.StatusOK, r.status, "and keeps working after a restart")
}

func TestOperationsEndpoints(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))
	require.Equal(t, http.StatusOK, do(t, mustGet(t, b.base+"/healthz")).status)
	r := do(t, mustGet(t, b.base+"/readyz"))
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "ready", r.body["status"])

	b.sendShop(t, `{"a":1}`, "m-metrics")
	do(t, rawRequest(t, b.base+"/in/nope", "application/json", "{}"))
	r = do(t, mustGet(t, b.base+"/metrics"))
	require.Equal(t, http.StatusOK, r.status)
	text := string(r.raw)
	require.Contains(t, text, `weir_ingress_requests_total{outcome="accepted",source="shop"} 1`)
	require.Contains(t, text, `weir_ingress_requests_total{outcome="unknown_source",source="_unknown"} 1`)
	require.Contains(t, text, "weir_bus_publish_seconds_bucket")
	require.Contains(t, text, "weir_bus_connected 1")
}
