package contract

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// asyncapiCatalog is a small but complete catalog: a contract with two
// versions, a deprecated one with a sunset, one whose schema uses $defs; a
// source with a fixed type and one that takes the type from the request; a
// subscription to order.* and one to everything.
func asyncapiCatalog() Catalog {
	return Catalog{
		Title:       "Acme events",
		Version:     "2025.11.0",
		Description: "What happens at Acme, as events.",
		ServerURL:   "http://127.0.0.1:8080",
		Contracts: []CatalogContract{
			{
				Type:        "order.created",
				Owner:       "shop-team",
				Description: "A customer placed an order.",
				Versions: []CatalogVersion{
					{Version: 1, Schema: json.RawMessage(`{"type":"object","required":["id"],"properties":{"id":{"type":"string"}}}`)},
					{
						Version: 2,
						Schema:  json.RawMessage(`{"type":"object","required":["id","total"],"properties":{"id":{"type":"string"},"total":{"type":"number","minimum":0},"note":{"type":"string","pattern":"^[^<>&]*$"}}}`),
						Example: json.RawMessage(`{"id":"o-1","total":12.5}`),
					},
				},
			},
			{
				Type:        "customer.deleted",
				Owner:       "crm",
				Description: "A customer account was removed.",
				Deprecated:  true,
				Sunset:      time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC),
				Versions: []CatalogVersion{
					{Version: 1, Schema: json.RawMessage(`{"type":"object","properties":{"customer":{"type":"string"}}}`)},
				},
			},
			{
				Type:        "invoice.paid",
				Description: "An invoice was paid in full.",
				Versions: []CatalogVersion{{
					Version: 1,
					Schema: json.RawMessage(`{
						"$schema": "https://json-schema.org/draft/2020-12/schema",
						"type": "object",
						"required": ["invoice", "amount"],
						"properties": {
							"invoice": {"type": "string"},
							"amount": {"$ref": "#/$defs/money"},
							"fees": {"type": "array", "items": {"$ref": "#/$defs/money"}},
							"previous": {"$ref": "#"}
						},
						"$defs": {
							"money": {
								"type": "object",
								"required": ["value", "currency"],
								"properties": {"value": {"type": "integer"}, "currency": {"$ref": "#/$defs/currency"}}
							},
							"currency": {"type": "string", "enum": ["EUR", "USD"]}
						}
					}`),
					Example: json.RawMessage(`{"invoice":"inv-7","amount":{"value":1000,"currency":"EUR"}}`),
				}},
			},
		},
		Sources: []CatalogSource{
			{Name: "shop", Types: []string{"order.created"}, Description: "The web shop's order webhooks."},
			{Name: "relay", Description: "Events from partner systems; each request names its type."},
		},
		Subscriptions: []CatalogSubscription{
			{Name: "fulfilment", Types: []string{"order.*"}, Mode: "push"},
			{Name: "archive", Types: []string{">"}, Mode: "pull"},
		},
	}
}

func TestRenderAsyncAPIValidForOfficialParser(t *testing.T) {
	t.Parallel()
	doc, err := RenderAsyncAPI(asyncapiCatalog())
	require.NoError(t, err)

	file := filepath.Join(t.TempDir(), "asyncapi.json")
	require.NoError(t, os.WriteFile(file, doc, 0o600))
	out := runAsyncAPIValidator(t, file)
	require.Contains(t, out, "valid AsyncAPI 3.0.0")
	for line := range strings.Lines(out) {
		require.False(t, strings.HasPrefix(line, "error "), "parser diagnostic: %s", line)
	}
}

func TestRenderAsyncAPIDocument(t *testing.T) {
	t.Parallel()
	doc, err := RenderAsyncAPI(asyncapiCatalog())
	require.NoError(t, err)

	var got struct {
		AsyncAPI   string `json:"asyncapi"`
		Servers    map[string]map[string]any
		Channels   map[string]map[string]any
		Operations map[string]struct {
			Action  string
			Channel map[string]string
		}
		Components struct {
			Messages map[string]map[string]any
		}
		XWeir struct {
			Sources       []map[string]any
			Subscriptions []map[string]any
		} `json:"x-weir"`
	}
	require.NoError(t, json.Unmarshal(doc, &got))
	require.Equal(t, "3.0.0", got.AsyncAPI)
	require.Equal(t, map[string]any{
		"host": "127.0.0.1:8080", "protocol": "http", "title": "weir",
		"description": got.Servers["weir"]["description"],
	}, got.Servers["weir"])

	require.Equal(t, []string{"customer.deleted", "invoice.paid", "order.created"}, slices.Sorted(maps.Keys(got.Channels)))
	require.Equal(t, "events.order.created", got.Channels["order.created"]["address"])
	require.Equal(t, "shop-team", got.Channels["order.created"]["x-weir-owner"])
	require.Equal(t, map[string]any{
		"order.created.v1": map[string]any{"$ref": "#/components/messages/order.created.v1"},
		"order.created.v2": map[string]any{"$ref": "#/components/messages/order.created.v2"},
	}, got.Channels["order.created"]["messages"])

	deprecated := got.Components.Messages["customer.deleted.v1"]
	require.Equal(t, true, deprecated["deprecated"])
	require.Equal(t, "2026-06-30T00:00:00Z", deprecated["x-sunset"])
	require.NotContains(t, got.Components.Messages["order.created.v1"], "deprecated")

	v2 := got.Components.Messages["order.created.v2"]
	require.Equal(t, "order.created.v2", v2["name"])
	require.Equal(t, "application/json", v2["contentType"])
	require.Equal(t, payloadSchemaFormat, v2["payload"].(map[string]any)["schemaFormat"])
	require.Equal(t, []any{map[string]any{"name": "example", "payload": map[string]any{"id": "o-1", "total": 12.5}}}, v2["examples"])
	require.Equal(t, []any{map[string]any{"$ref": "#/components/messageTraits/weir.cloudevent"}}, v2["traits"])

	// References inside a payload must point at its place in the document.
	invoice, err := json.Marshal(got.Components.Messages["invoice.paid.v1"]["payload"])
	require.NoError(t, err)
	require.Contains(t, string(invoice), `"$ref":"#/components/messages/invoice.paid.v1/payload/schema/$defs/money"`)
	require.Contains(t, string(invoice), `"$ref":"#/components/messages/invoice.paid.v1/payload/schema"`)
	require.NotContains(t, string(invoice), `"#/$defs`)

	// The source whose type comes from the request has no operation: it is
	// listed in x-weir only.
	type op struct{ action, channel string }
	ops := map[string]op{}
	for id, o := range got.Operations {
		ops[id] = op{o.Action, o.Channel["$ref"]}
	}
	require.Equal(t, map[string]op{
		"send.shop.order.created":          {"send", "#/channels/order.created"},
		"receive.fulfilment.order.created": {"receive", "#/channels/order.created"},
		"receive.archive.customer.deleted": {"receive", "#/channels/customer.deleted"},
		"receive.archive.invoice.paid":     {"receive", "#/channels/invoice.paid"},
		"receive.archive.order.created":    {"receive", "#/channels/order.created"},
	}, ops)
	require.Equal(t, []map[string]any{
		{"name": "relay", "ingress": "POST /in/relay", "typeFromRequest": true, "description": "Events from partner systems; each request names its type."},
		{"name": "shop", "ingress": "POST /in/shop", "types": []any{"order.created"}, "description": "The web shop's order webhooks."},
	}, got.XWeir.Sources)
	require.Len(t, got.XWeir.Subscriptions, 2)
}

func TestRenderAsyncAPIDeterministic(t *testing.T) {
	t.Parallel()
	cat := asyncapiCatalog()
	want, err := RenderAsyncAPI(cat)
	require.NoError(t, err)

	slices.Reverse(cat.Contracts)
	slices.Reverse(cat.Contracts[2].Versions)
	slices.Reverse(cat.Sources)
	slices.Reverse(cat.Subscriptions)
	got, err := RenderAsyncAPI(cat)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))

	// The golden file shows the whole document; WEIR_UPDATE_GOLDEN=1 rewrites it.
	golden := filepath.Join("testdata", "asyncapi", "catalog.golden.json")
	if os.Getenv("WEIR_UPDATE_GOLDEN") == "1" {
		require.NoError(t, os.WriteFile(golden, want, 0o644))
	}
	g, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(g), string(want), "the rendering changed; rerun with WEIR_UPDATE_GOLDEN=1 if that is intended")
}

func TestRenderAsyncAPISanitizesAndRejects(t *testing.T) {
	t.Parallel()
	cat := Catalog{
		Contracts: []CatalogContract{{Type: "a.b", Versions: []CatalogVersion{{Version: 1, Schema: json.RawMessage(`{
			"type": "object",
			"properties": {"x": {"$ref": "#item"}},
			"$defs": {"item": {"$anchor": "item", "type": "string"}}
		}`)}}}},
		Subscriptions: []CatalogSubscription{{Name: "team a/b?", Types: []string{"a.*"}}},
	}
	doc, err := RenderAsyncAPI(cat)
	require.NoError(t, err)
	var got struct {
		Info       map[string]string
		Operations map[string]any
	}
	require.NoError(t, json.Unmarshal(doc, &got))
	require.Equal(t, map[string]string{"title": "weir events", "version": "1.0.0"}, got.Info)
	require.Equal(t, []string{"receive.team_a_b_.a.b"}, slices.Sorted(maps.Keys(got.Operations)))
	require.Contains(t, string(doc), `"$ref": "#/components/messages/a.b.v1/payload/schema/$defs/item"`)

	for name, bad := range map[string]Catalog{
		"type":      {Contracts: []CatalogContract{{Type: "order created"}}},
		"wildcard":  {Contracts: []CatalogContract{{Type: "order.*"}}},
		"duplicate": {Contracts: []CatalogContract{{Type: "a"}, {Type: "a"}}},
		"version":   {Contracts: []CatalogContract{{Type: "a", Versions: []CatalogVersion{{Version: 0, Schema: json.RawMessage(`{}`)}}}}},
		"schema":    {Contracts: []CatalogContract{{Type: "a", Versions: []CatalogVersion{{Version: 1, Schema: json.RawMessage(`"no"`)}}}}},
		"example":   {Contracts: []CatalogContract{{Type: "a", Versions: []CatalogVersion{{Version: 1, Schema: json.RawMessage(`{}`), Example: json.RawMessage(`{`)}}}}},
		"server":    {ServerURL: "127.0.0.1:8080"},
	} {
		_, err := RenderAsyncAPI(bad)
		require.Error(t, err, name)
	}
}

var (
	asyncapiToolOnce sync.Once
	asyncapiToolErr  error
)

// runAsyncAPIValidator checks file with tools/asyncapi/validate.mjs, the
// official AsyncAPI parser, installing the tool's locked packages first when
// they are missing. It skips the test only when node itself is not there.
func runAsyncAPIValidator(t *testing.T, file string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH, so the official AsyncAPI parser cannot check the document")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "tools", "asyncapi"))
	require.NoError(t, err)
	asyncapiToolOnce.Do(func() { asyncapiToolErr = installAsyncAPITool(dir) })
	require.NoError(t, asyncapiToolErr)
	file, err = filepath.Abs(file)
	require.NoError(t, err)

	cmd := exec.CommandContext(t.Context(), node, filepath.Join(dir, "validate.mjs"), file)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the AsyncAPI parser rejected %s:\n%s", file, out)
	return string(out)
}

func installAsyncAPITool(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@asyncapi", "parser", "package.json")); err == nil {
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return errors.New("node is installed but npm is not: install npm to run the AsyncAPI parser")
	}
	// --ignore-scripts: the parser is plain JavaScript, and a dependency's
	// install script would only send telemetry.
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return errors.New("npm ci in tools/asyncapi: " + err.Error() + "\n" + string(out))
	}
	return nil
}
