package server

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
)

const orderSchemaV1 = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "order": {"type": "integer"},
    "total": {"type": "number", "minimum": 0},
    "currency": {"enum": ["EUR", "GBP", "USD"]}
  },
  "required": ["order", "total"],
  "additionalProperties": false
}`

// withContracts writes the schema files and declares them in the configuration.
func withContracts(t *testing.T, cfg *config.Config, schemas map[string]string) {
	t.Helper()
	dir := t.TempDir()
	cfg.BaseDir = dir
	cfg.Contracts = map[string]*config.Contract{}
	for typ, schema := range schemas {
		f := typ + ".json"
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte(schema), 0o600))
		cfg.Contracts[typ] = &config.Contract{Schema: f, Owner: "team-orders", Description: "An order was placed."}
	}
}

func TestContractsAtIngress(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	withContracts(t, cfg, map[string]string{"order.created": orderSchemaV1})
	strict := cfg.Sources["shop"]
	strict.OnInvalid = "reject"
	cfg.Sources["strict"] = strict
	cfg.Policy.RequireContract = true
	require.NoError(t, cfg.Validate())
	b := start(t, cfg)
	js := b.srv.Bus().JetStream()

	// Valid: published, with dataschema naming the version it was checked against.
	r := b.sendShop(t, `{"order":1,"total":12.5,"currency":"EUR"}`, "c1")
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
	evs := storedEvents(t, js, "events.order.created")
	require.Len(t, evs, 1)
	require.Equal(t, b.base+"/v1/contracts/order.created/versions/1", evs[0]["dataschema"])

	// Invalid, quarantined (the default): 202, kept as a dead letter, not published.
	r = b.sendShop(t, `{"order":"two","currency":"YEN"}`, "c2")
	require.Equal(t, http.StatusAccepted, r.status, string(r.raw))
	require.Equal(t, "quarantined", r.body["status"])
	dlID := r.body["dead_letter_id"].(string)
	require.NotEmpty(t, dlID)
	require.Len(t, storedEvents(t, js, "events.order.created"), 1, "a quarantined event is not published")
	dl := getJSON(t, b.base+"/v1/deadletters/"+dlID)
	require.Equal(t, http.StatusOK, dl.status)
	require.Equal(t, "quarantined", dl.body["kind"])
	violations := dl.body["violations"].([]any)
	pointers := map[string]string{}
	for _, v := range violations {
		m := v.(map[string]any)
		require.NotEmpty(t, m["message"])
		pointers[m["pointer"].(string)] = m["rule"].(string)
	}
	require.Equal(t, map[string]string{"/order": "type", "/total": "required", "/currency": "enum"}, pointers)

	// Invalid on a source that rejects: 422 with every error, nothing kept.
	req := signedRequest(t, b.base, "strict", shopScheme, []byte(`{"order":3,"total":-1,"extra":true}`), "c3", time.Now())
	r = do(t, req)
	require.Equal(t, http.StatusUnprocessableEntity, r.status, string(r.raw))
	require.Equal(t, "https://weir.dev/problems/contract-violation", r.body["type"])
	errs := r.body["errors"].([]any)
	require.Len(t, errs, 2)
	fields := []string{errs[0].(map[string]any)["field"].(string), errs[1].(map[string]any)["field"].(string)}
	require.ElementsMatch(t, []string{"data", "data/total"}, fields)
	require.Contains(t, string(r.raw), "must be at least 0, but it is -1")

	// No contract, and contracts are required.
	r = do(t, apiRequest(t, "POST", b.base+"/v1/events", adminSecret, "application/cloudevents+json",
		`{"specversion":"1.0","id":"n1","source":"/a","type":"invoice.paid","data":{}}`))
	require.Equal(t, http.StatusUnprocessableEntity, r.status)
	require.Equal(t, "https://weir.dev/problems/no-contract", r.body["type"])
	require.Equal(t, "type", r.body["field"])
}

func TestPinnedDataSchemaAndVersions(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	b := start(t, cfg)
	url := b.base + "/v1/contracts/order.shipped/versions"
	v1 := `{"schema":{"type":"object","properties":{"order":{"type":"integer"}},"required":["order"]}}`
	r := do(t, apiRequest(t, "POST", url, pubSecret, "application/json", v1))
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	require.EqualValues(t, 1, r.body["version"])
	r = do(t, apiRequest(t, "POST", url, pubSecret, "application/json", v1))
	require.Equal(t, http.StatusOK, r.status, "an identical schema returns the existing version")
	require.EqualValues(t, 1, r.body["version"])
	require.Equal(t, false, r.body["created"])

	// v2 narrows order to strings: not BACKWARD compatible, refused with reasons.
	bad := `{"schema":{"type":"object","properties":{"order":{"type":"string"}},"required":["order"]}}`
	r = do(t, apiRequest(t, "POST", url, pubSecret, "application/json", bad))
	require.Equal(t, http.StatusConflict, r.status, string(r.raw))
	require.Equal(t, "https://weir.dev/problems/incompatible-schema", r.body["type"])
	issues := r.body["compatibility"].(map[string]any)["issues"].([]any)
	require.NotEmpty(t, issues)
	first := issues[0].(map[string]any)
	for _, k := range []string{"pointer", "rule", "message", "fix"} {
		require.NotEmpty(t, first[k], k)
	}
	check := do(t, apiRequest(t, "POST", b.base+"/v1/contracts/order.shipped/compatibility", pubSecret, "application/json", bad))
	require.Equal(t, http.StatusOK, check.status)
	require.Equal(t, false, check.body["compatible"])

	// v2 adds an optional field to the open object: fine under BACKWARD when lenient, so register leniently.
	v2 := `{"lenient":true,"schema":{"type":"object","properties":{"order":{"type":"integer"},"carrier":{"type":"string"}},"required":["order"]}}`
	r = do(t, apiRequest(t, "POST", url, pubSecret, "application/json", v2))
	require.Equal(t, http.StatusForbidden, r.status, "a producer may not loosen the checks")
	r = do(t, apiRequest(t, "POST", url, adminSecret, "application/json", v2))
	require.Equal(t, http.StatusCreated, r.status, string(r.raw))
	require.EqualValues(t, 2, r.body["version"])

	latest := getJSON(t, url+"/latest")
	require.EqualValues(t, 2, latest.body["version"])
	require.Equal(t, http.StatusNotFound, getJSON(t, url+"/9").status)
	require.Equal(t, http.StatusBadRequest, getJSON(t, url+"/x").status)

	// An event pinned to v1 is checked against v1; one pinned to a missing version is refused.
	pub := func(id, ds, data string) response {
		ev := `{"specversion":"1.0","id":"` + id + `","source":"/apps/wh","type":"order.shipped","data":` + data
		if ds != "" {
			ev += `,"dataschema":"` + ds + `"`
		}
		return do(t, apiRequest(t, "POST", b.base+"/v1/events", pubSecret, "application/cloudevents+json", ev+"}"))
	}
	r = pub("p1", b.base+"/v1/contracts/order.shipped/versions/1", `{"order":1,"carrier":7}`)
	require.Equal(t, http.StatusAccepted, r.status, "v1 does not know carrier, so any carrier passes: %s", r.raw)
	require.Equal(t, "accepted", r.body["status"])
	r = pub("p2", "", `{"order":1,"carrier":7}`)
	require.Equal(t, "quarantined", r.body["status"], "the latest (v2) says carrier is a string")
	r = pub("p3", b.base+"/v1/contracts/order.shipped/versions/7", `{"order":1}`)
	require.Equal(t, "quarantined", r.body["status"])
	evs := storedEvents(t, b.srv.Bus().JetStream(), "events.order.shipped")
	require.Len(t, evs, 1)
	require.True(t, strings.HasSuffix(evs[0]["dataschema"].(string), "/versions/1"))

	list := getJSON(t, b.base+"/v1/contracts")
	require.Len(t, list.body["contracts"], 1)
	r = do(t, apiRequest(t, "POST", b.base+"/v1/contracts/invoice.paid/versions", pubSecret, "application/json", v1))
	require.Equal(t, http.StatusForbidden, r.status, "publish:order.* does not own invoice.paid")
	r = do(t, apiRequest(t, "POST", url, pubSecret, "application/json", `{"schema":{"type":"nonsense"}}`))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "schema", r.body["field"])
}

func TestDeprecatedTypeHeadersAndSunset(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	withContracts(t, cfg, map[string]string{"order.created": orderSchemaV1})
	cfg.Contracts["order.created"].Deprecated = &config.Deprecated{Sunset: "2099-01-01", Note: "use order.placed"}
	b := start(t, cfg)
	r := b.sendShop(t, `{"order":1,"total":1}`, "d1")
	require.Equal(t, http.StatusAccepted, r.status)
	require.True(t, strings.HasPrefix(r.header.Get("Deprecation"), "@"))
	require.Equal(t, "Thu, 01 Jan 2099 00:00:00 GMT", r.header.Get("Sunset"))
	require.Contains(t, string(do(t, mustGet(t, b.base+"/metrics")).raw), `weir_contract_deprecated_events_total{type="order.created"} 1`)

	// After the sunset with policy reject, events are refused.
	r = do(t, apiRequest(t, "POST", b.base+"/v1/contracts/order.created/deprecate", adminSecret, "application/json",
		`{"sunset":"2020-01-01","policy":"reject","note":"use order.placed"}`))
	require.Equal(t, http.StatusConflict, r.status, "weir.yaml owns this contract")
	require.NoError(t, b.srv.Stop(t.Context()))
	cfg.Contracts["order.created"].Deprecated = &config.Deprecated{Sunset: "2020-01-01", Policy: "reject", Note: "use order.placed"}
	b2 := start(t, cfg)
	r = b2.sendShop(t, `{"order":1,"total":1}`, "d2")
	require.Equal(t, http.StatusUnprocessableEntity, r.status, string(r.raw))
	require.Equal(t, "https://weir.dev/problems/contract-sunset", r.body["type"])
	require.Contains(t, r.body["detail"], "use order.placed")
}

func TestIncompatibleConfigContractStopsStart(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	withContracts(t, cfg, map[string]string{"order.created": orderSchemaV1})
	b := start(t, cfg)
	require.NoError(t, b.srv.Stop(t.Context()))

	narrowed := strings.Replace(orderSchemaV1, `"order": {"type": "integer"}`, `"order": {"type": "string"}`, 1)
	require.NoError(t, os.WriteFile(filepath.Join(cfg.BaseDir, "order.created.json"), []byte(narrowed), 0o600))
	srv := New(cfg, discardLogger(), &strings.Builder{})
	err := srv.Start(t.Context())
	require.Error(t, err)
	require.Contains(t, err.Error(), "contracts.order.created.schema")
	require.Contains(t, err.Error(), "/properties/order")
}
