package server

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
)

const warehouseSecret = "test-warehouse-token-0123456789"

// withWarehouse adds a token bound to the source prefix /apps/warehouse.
func withWarehouse(t *testing.T) *config.Config {
	t.Helper()
	cfg := testConfig(t)
	cfg.Tokens = append(cfg.Tokens, config.Token{
		Name: "warehouse", Secret: warehouseSecret,
		Roles: []string{"publish:order.*"}, Sources: []string{"/apps/warehouse"},
	})
	return cfg
}

// TestPublisherCannotSuppressAnothersEvents: de-duplication on /v1/events is
// scoped to the publishing token, so an event sent first by another token
// with the same (source, id) does not turn the real one into a duplicate.
func TestPublisherCannotSuppressAnothersEvents(t *testing.T) {
	t.Parallel()
	b := start(t, withWarehouse(t))
	url := b.base + "/v1/events"
	ev := `{"specversion":"1.0","id":"ship-1","source":"/apps/warehouse","type":"order.created","data":{"by":"%s"}}`

	r := do(t, apiRequest(t, "POST", url, pubSecret, "application/cloudevents+json", fmt.Sprintf(ev, "squatter")))
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
	r = do(t, apiRequest(t, "POST", url, warehouseSecret, "application/cloudevents+json", fmt.Sprintf(ev, "warehouse")))
	require.Equal(t, http.StatusAccepted, r.status, "another token's (source, id) is not this one's duplicate: %s", r.raw)
	require.Equal(t, "accepted", r.body["status"])
	r = do(t, apiRequest(t, "POST", url, warehouseSecret, "application/cloudevents+json", fmt.Sprintf(ev, "warehouse")))
	require.Equal(t, http.StatusOK, r.status, "the same token's retry is still a duplicate")
	require.Equal(t, "duplicate", r.body["status"])

	evs := storedEvents(t, b.srv.Bus().JetStream(), "events.order.created")
	require.Len(t, evs, 2)
	require.Equal(t, map[string]any{"by": "warehouse"}, evs[1]["data"])
}

// TestPublishOriginRules: a token bound to source prefixes publishes only
// under them; /sources/ and the deliveryid extension belong to webhook
// ingress whatever the token; dataschema is weir's, never the producer's.
func TestPublishOriginRules(t *testing.T) {
	t.Parallel()
	b := start(t, withWarehouse(t))
	url := b.base + "/v1/events"
	one := func(tok, body string) response {
		return do(t, apiRequest(t, "POST", url, tok, "application/cloudevents+json", body))
	}
	refused := func(r response, status int, kind, field string) {
		t.Helper()
		require.Equal(t, status, r.status, string(r.raw))
		require.Equal(t, "https://weir.dev/problems/"+kind, r.body["type"], string(r.raw))
		require.Equal(t, field, r.body["field"], string(r.raw))
	}

	refused(one(warehouseSecret, `{"specversion":"1.0","id":"1","source":"/apps/billing","type":"order.created"}`), 403, "forbidden", "source")
	refused(one(warehouseSecret, `{"specversion":"1.0","id":"1","source":"/apps/warehouse2","type":"order.created"}`), 403, "forbidden", "source")
	refused(one(warehouseSecret, `{"specversion":"1.0","id":"1","source":"/apps/warehouse/../billing","type":"order.created"}`), 403, "forbidden", "source")
	r := one(warehouseSecret, `{"specversion":"1.0","id":"1","source":"/apps/warehouse/eu","type":"order.created"}`)
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))

	for _, src := range []string{"/sources/shop", "/sources", "/apps/../sources/shop", "/%73ources/shop"} {
		refused(one(adminSecret, `{"specversion":"1.0","id":"2","source":"`+src+`","type":"order.created"}`), 403, "reserved-attribute", "source")
	}
	refused(one(adminSecret, `{"specversion":"1.0","id":"3","source":"/apps/a","type":"order.created","deliveryid":"msg_1"}`), 403, "reserved-attribute", "deliveryid")
	batch := `[{"specversion":"1.0","id":"4","source":"/apps/a","type":"order.created"},
	           {"specversion":"1.0","id":"5","source":"/sources/shop","type":"order.created"}]`
	r = do(t, apiRequest(t, "POST", url, adminSecret, "application/cloudevents-batch+json", batch))
	refused(r, 403, "reserved-attribute", "[1].source")
	bin := apiRequest(t, "POST", url, adminSecret, "application/json", `{}`)
	for k, v := range map[string]string{"ce-specversion": "1.0", "ce-id": "6", "ce-source": "/apps/a", "ce-type": "order.created", "ce-deliveryid": "x"} {
		bin.Header.Set(k, v)
	}
	refused(do(t, bin), 403, "reserved-attribute", "deliveryid")

	// A type without a contract: the producer's dataschema is dropped, since
	// weir checked nothing against it.
	r = one(adminSecret, `{"specversion":"1.0","id":"7","source":"/apps/a","type":"order.noted","dataschema":"https://evil.example/schema.json","data":{}}`)
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
	evs := storedEvents(t, b.srv.Bus().JetStream(), "events.order.noted")
	require.Len(t, evs, 1)
	require.NotContains(t, evs[0], "dataschema")
	require.Len(t, storedEvents(t, b.srv.Bus().JetStream(), "events.>"), 2, "nothing refused is stored")
}

// TestPublishRefusesDataThatIsNotIJSON: /v1/events refuses a repeated member
// name or a huge number in data, in every content mode, naming the member.
func TestPublishRefusesDataThatIsNotIJSON(t *testing.T) {
	t.Parallel()
	b := start(t, testConfig(t))
	url := b.base + "/v1/events"
	r := do(t, apiRequest(t, "POST", url, pubSecret, "application/cloudevents+json",
		`{"specversion":"1.0","id":"d1","source":"/apps/a","type":"order.created","data":{"type":"dup.a","type":"dup.b"}}`))
	require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	require.Equal(t, "https://weir.dev/problems/duplicate-key", r.body["type"])
	require.Equal(t, "data/type", r.body["field"])

	batch := `[{"specversion":"1.0","id":"d2","source":"/apps/a","type":"order.created","data":{}},
	           {"specversion":"1.0","id":"d3","source":"/apps/a","type":"order.created","data":{"n":[1e999999]}}]`
	r = do(t, apiRequest(t, "POST", url, pubSecret, "application/cloudevents-batch+json", batch))
	require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	require.Equal(t, "https://weir.dev/problems/number-out-of-range", r.body["type"])
	require.Equal(t, "[1].data/n/0", r.body["field"])

	bin := apiRequest(t, "POST", url, pubSecret, "application/json", `{"a":{"b":1,"b":2}}`)
	for k, v := range map[string]string{"ce-specversion": "1.0", "ce-id": "d4", "ce-source": "/apps/a", "ce-type": "order.created"} {
		bin.Header.Set(k, v)
	}
	r = do(t, bin)
	require.Equal(t, http.StatusBadRequest, r.status, string(r.raw))
	require.Equal(t, "data/a/b", r.body["field"])
	require.Empty(t, storedEvents(t, b.srv.Bus().JetStream(), "events.>"))
}

// TestCorrectingAQuarantinedEventKeepsItsOrigin: a corrected payload is
// published under the quarantined event's own source, so a token may send
// one only where it could publish itself; an event from webhook ingress
// (/sources/...) is corrected by an admin, or by a token that manages that
// source (one fixed type it publishes, no source binding).
func TestCorrectingAQuarantinedEventKeepsItsOrigin(t *testing.T) {
	t.Parallel()
	cfg := withWarehouse(t)
	withContracts(t, cfg, map[string]string{"order.created": orderSchemaV1})
	b := start(t, cfg)
	r := b.sendShop(t, `{"order":"seven","total":3}`, "q1")
	require.Equal(t, "quarantined", r.body["status"])
	url := b.base + "/v1/deadletters/" + r.body["dead_letter_id"].(string) + "/redrive"

	r = do(t, apiRequest(t, "POST", url, warehouseSecret, "application/json", `{"data":{"order":7,"total":3}}`))
	require.Equal(t, http.StatusForbidden, r.status, string(r.raw))
	require.Equal(t, "data", r.body["field"])
	require.Empty(t, storedEvents(t, b.srv.Bus().JetStream(), "events.>"), "nothing is published under the webhook's source")

	r = do(t, apiRequest(t, "POST", url, pubSecret, "application/json", `{"data":{"order":7,"total":3}}`))
	require.Equal(t, http.StatusOK, r.status, "a publisher of shop's one type manages shop and may correct it: %s", r.raw)
	evs := storedEvents(t, b.srv.Bus().JetStream(), "events.order.created")
	require.Len(t, evs, 1)
	require.Equal(t, "/sources/shop", evs[0]["source"])
}
