package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/event"
)

func TestImportAsyncAPIRoundTrip(t *testing.T) {
	t.Parallel()
	cat := asyncapiCatalog()
	doc, err := RenderAsyncAPI(cat)
	require.NoError(t, err)

	got, err := ImportAsyncAPI(doc)
	require.NoError(t, err)
	want := slices.Clone(cat.Contracts)
	slices.SortFunc(want, func(a, b CatalogContract) int { return strings.Compare(a.Type, b.Type) })
	require.Len(t, got, len(want))
	for i, w := range want {
		requireImported(t, ImportedContract{Type: w.Type, Description: w.Description, Versions: w.Versions}, got[i])
	}
}

func TestImportAsyncAPIFixtures(t *testing.T) {
	t.Parallel()
	money := `{"type":"object","required":["value","currency"],"properties":{"value":{"type":"integer","description":"In minor units."},"currency":{"type":"string","minLength":3,"maxLength":3}}}`
	address := `{"type":"object","required":["country"],"properties":{"street":{"type":"string"},"country":{"type":"string","pattern":"^[A-Z]{2}$"}}}`
	tests := []struct {
		file string
		want []ImportedContract
	}{
		{"shop-2.6.yaml", []ImportedContract{
			{Type: "user.signedup", Description: "A customer created an account.", Versions: []CatalogVersion{{
				Version: 1,
				Schema:  json.RawMessage(`{"type":"object","required":["id","email"],"properties":{"id":{"type":"string"},"email":{"type":"string","format":"email"},"address":{"$ref":"#/$defs/Address"}},"$defs":{"Address":` + address + `}}`),
				Example: json.RawMessage(`{"id":"u-1001","email":"ada@example.com"}`),
			}}},
			{Type: "order.created", Description: "A customer placed an order.", Versions: []CatalogVersion{
				{Version: 1, Schema: json.RawMessage(`{"type":"object","required":["id","total"],"properties":{"id":{"type":"string"},"total":{"type":"number","minimum":0}}}`)},
				{Version: 2, Schema: json.RawMessage(`{"type":"object","required":["id","items"],"properties":{"id":{"type":"string"},"items":{"type":"array","minItems":1,"items":{"$ref":"#/$defs/LineItem"}},"shipTo":{"$ref":"#/$defs/Address"}},"$defs":{
					"LineItem":{"type":"object","required":["sku","quantity"],"properties":{"sku":{"type":"string"},"quantity":{"type":"integer","minimum":1}}},
					"Address":` + address + `}}`)},
			}},
		}},
		{"payments-3.0.json", []ImportedContract{
			{Type: "payment.settled", Description: "A payment was settled with the bank.", Versions: []CatalogVersion{{
				Version: 1,
				Schema:  json.RawMessage(`{"type":"object","required":["id","amount"],"properties":{"id":{"type":"string"},"amount":{"$ref":"#/$defs/Money"},"replaces":{"$ref":"#"}},"$defs":{"Money":` + money + `}}`),
				Example: json.RawMessage(`{"id":"pay_1","amount":{"value":1250,"currency":"EUR"}}`),
			}}},
			{Type: "RefundRequested", Description: "A customer asked for their money back.", Versions: []CatalogVersion{{
				Version: 1,
				Schema:  json.RawMessage(`{"type":"object","required":["payment","amount"],"properties":{"payment":{"type":"string"},"amount":{"$ref":"#/$defs/Money"}},"$defs":{"Money":` + money + `}}`),
			}}},
			{Type: "RefundCompleted", Description: "Refunds, from request to completion.", Versions: []CatalogVersion{{
				Version: 1,
				Schema: json.RawMessage(`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","required":["refund","completedAt"],"properties":{"refund":{"$ref":"#/definitions/Refund"},"completedAt":{"type":"string","format":"date-time"}},"definitions":{
					"Refund":{"type":"object","required":["payment","amount"],"properties":{"payment":{"type":"string"},"amount":{"$ref":"#/definitions/Money"}}},
					"Money":` + money + `}}`),
			}}},
		}},
		{"inventory-3.0.yaml", []ImportedContract{
			{Type: "stockChanged", Description: "The stock of an item changed.", Versions: []CatalogVersion{
				{Version: 1, Schema: json.RawMessage(`{"type":"object","required":["sku","quantity"],"properties":{"sku":{"type":"string"},"quantity":{"type":"integer"}}}`)},
				{Version: 2, Schema: json.RawMessage(`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","required":["sku","quantity","warehouse"],"properties":{"sku":{"type":"string"},"quantity":{"type":"integer"},"warehouse":{"$ref":"#/$defs/warehouse"}},"$defs":{"warehouse":{"type":"string","enum":["north","south"]}}}`)},
			}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			doc, err := os.ReadFile(filepath.Join("testdata", "asyncapi", tt.file))
			require.NoError(t, err)
			got, err := ImportAsyncAPI(doc)
			require.NoError(t, err)
			require.Len(t, got, len(tt.want))
			for i := range tt.want {
				requireImported(t, tt.want[i], got[i])
			}
		})
	}
}

// TestImportAsyncAPIFixturesAreValid keeps the fixtures honest: the official
// parser accepts them.
func TestImportAsyncAPIFixturesAreValid(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"shop-2.6.yaml", "payments-3.0.json", "inventory-3.0.yaml"} {
		t.Run(f, func(t *testing.T) {
			t.Parallel()
			out := runAsyncAPIValidator(t, filepath.Join("testdata", "asyncapi", f))
			require.Contains(t, out, "valid AsyncAPI")
		})
	}
}

func TestImportAsyncAPIErrors(t *testing.T) {
	t.Parallel()
	broken, err := os.ReadFile(filepath.Join("testdata", "asyncapi", "broken-ref.yaml"))
	require.NoError(t, err)
	const head = "asyncapi: 3.0.0\ninfo: {title: t, version: '1'}\n"
	tests := []struct {
		name, doc, path, reason string
	}{
		{"not JSON or YAML", "{\"asyncapi\": ", "", "not a JSON or YAML document"},
		{"not an object", "just some text", "", "not an AsyncAPI document"},
		{"OpenAPI", `{"openapi": "3.1.0", "info": {"title": "t", "version": "1"}}`, "", "no asyncapi field"},
		{"version 1.2", "asyncapi: 1.2.0\ninfo: {title: t, version: '1'}\n", "asyncapi", `version "1.2.0" is not supported`},
		{"version 3.1", "asyncapi: 3.1.0\n", "asyncapi", "not supported"},
		{"broken $ref", string(broken), "channels.orderCreated.messages.v1.payload.$ref", `"#/components/schemas/OrderCreated" does not resolve: components.schemas has no "OrderCreated"`},
		{"broken nested $ref", head + `
channels:
  orders:
    messages:
      created: {payload: {$ref: '#/components/schemas/Order'}}
components:
  schemas:
    Order: {type: object, properties: {customer: {$ref: '#/components/schemas/Customer'}}}
`, "components.schemas.Order.properties.customer.$ref", "does not resolve"},
		{"external $ref", head + `
channels:
  orders:
    messages:
      created: {payload: {$ref: 'https://example.com/order.json'}}
`, "channels.orders.messages.created.payload.$ref", "only references into this document"},
		{"circular $ref", head + `
channels:
  orders:
    messages:
      created: {payload: {$ref: '#/components/schemas/A'}}
components:
  schemas:
    A: {$ref: '#/components/schemas/B'}
    B: {$ref: '#/components/schemas/A'}
`, "components.schemas.B.$ref", "circular"},
		{"Avro payload", head + `
channels:
  orders:
    messages:
      created:
        payload: {schemaFormat: application/vnd.apache.avro;version=1.9.0, schema: {type: record, name: Order, fields: []}}
`, "channels.orders.messages.created.payload.schemaFormat", "is not JSON Schema"},
		{"payload not a schema", head + `
channels:
  orders:
    messages:
      created: {payload: [1, 2]}
`, "channels.orders.messages.created.payload", "a schema must be an object or a boolean"},
		{"no type", head + `
channels:
  "/":
    messages:
      v1: {payload: {type: object}}
`, "channels./", "no event type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ImportAsyncAPI([]byte(tt.doc))
			var ie *ImportError
			require.True(t, errors.As(err, &ie), "want an *ImportError, got %v", err)
			require.Equal(t, tt.path, ie.Path, err.Error())
			require.Contains(t, ie.Reason, tt.reason)
		})
	}
}

func TestImportAsyncAPIRecursiveSchemas(t *testing.T) {
	t.Parallel()
	// A schema that refers to itself and to a component that refers back to
	// it: both stay references, nothing loops.
	doc := `
asyncapi: 3.0.0
info: {title: t, version: '1'}
channels:
  tree:
    address: events.tree.changed
    messages:
      v1: {payload: {$ref: '#/components/schemas/Node'}}
components:
  schemas:
    Node:
      type: object
      properties:
        children: {type: array, items: {$ref: '#/components/schemas/Node'}}
        parent: {$ref: '#/components/schemas/Edge'}
    Edge:
      type: object
      properties:
        to: {$ref: '#/components/schemas/Node'}
        via: {$ref: '#/components/schemas/Edge'}
`
	got, err := ImportAsyncAPI([]byte(doc))
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "tree.changed", got[0].Type)
	require.JSONEq(t, `{"type":"object","properties":{
		"children":{"type":"array","items":{"$ref":"#"}},
		"parent":{"$ref":"#/$defs/Edge"}},
		"$defs":{"Edge":{"type":"object","properties":{"to":{"$ref":"#"},"via":{"$ref":"#/$defs/Edge"}}}}}`,
		string(got[0].Versions[0].Schema))
}

func TestImportAsyncAPIYAMLAliasesAndMerges(t *testing.T) {
	t.Parallel()
	doc := `
asyncapi: 2.6.0
info: {title: t, version: '1'}
channels:
  events.item.added:
    publish:
      message:
        name: item.added.v3
        payload: &item
          type: object
          properties: {id: {type: string}, count: {type: integer, maximum: 0x10}}
  events.item.removed:
    publish:
      message:
        payload:
          <<: *item
          required: [id]
`
	got, err := ImportAsyncAPI([]byte(doc))
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "item.added", got[0].Type)
	require.Equal(t, 3, got[0].Versions[0].Version)
	require.JSONEq(t, `{"type":"object","properties":{"id":{"type":"string"},"count":{"type":"integer","maximum":16}}}`, string(got[0].Versions[0].Schema))
	require.Equal(t, "item.removed", got[1].Type)
	require.JSONEq(t, `{"required":["id"],"type":"object","properties":{"id":{"type":"string"},"count":{"type":"integer","maximum":16}}}`, string(got[1].Versions[0].Schema))
}

// maxFuzzDoc bounds FuzzImportAsyncAPI's inputs. With the 10 KB rendered
// catalog as a seed, the fuzzer spent its time minimising one large input
// (13 executions in 45 s); importing is linear (BenchmarkImportAsyncAPI), so
// small documents reach the same code. Minimising stays quadratic in the
// input (Go's minimizer tries removing every span), so each new input of a
// few KB still pauses the run for up to -fuzzminimizetime (60 s). Measured
// on an otherwise idle 2-core machine, 30 s gave 14,350 executions by default
// (thousands a second between pauses) and 374,294 (12,500/s, 226 new inputs)
// with -fuzzminimizetime 1000x, the better setting for this target.
const maxFuzzDoc = 4 << 10

func FuzzImportAsyncAPI(f *testing.F) {
	cat := asyncapiCatalog()
	cat.Contracts = cat.Contracts[2:] // invoice.paid: $refs, $defs, recursion
	cat.Sources, cat.Subscriptions = cat.Sources[:1], cat.Subscriptions[:1]
	doc, err := RenderAsyncAPI(cat)
	require.NoError(f, err)
	var compact bytes.Buffer
	require.NoError(f, json.Compact(&compact, doc))
	require.LessOrEqual(f, compact.Len(), maxFuzzDoc)
	f.Add(compact.Bytes())
	files, err := filepath.Glob(filepath.Join("testdata", "asyncapi", "*"))
	require.NoError(f, err)
	for _, file := range files {
		b, err := os.ReadFile(file)
		require.NoError(f, err)
		if len(b) <= maxFuzzDoc {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"asyncapi":"3.0.0","channels":{"a":{"messages":{"m":{"payload":{"$ref":"#/channels/a/messages/m/payload"}}}}}}`))
	f.Add([]byte(`{"asyncapi":"3.0.0","channels":{"a":{"$ref":"#/channels/a"}}}`))
	f.Add([]byte(`{"asyncapi":"3.0.0","channels":{"a":{"messages":{"m":{"payload":{"properties":{"x":{"$ref":"#"}}}}}}}}`))
	f.Add([]byte("asyncapi: 2.6.0\nchannels:\n  a:\n    publish:\n      message: &m\n        payload: {items: *m}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte(`{"asyncapi":"2.6.0","channels":{"a/b":{"subscribe":{"message":{"oneOf":[{"payload":{"$ref":"#/channels"}},{"payload":true}]}}}}}`))

	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(doc) > maxFuzzDoc {
			t.Skip()
		}
		got, err := ImportAsyncAPI(doc)
		if err != nil {
			var ie *ImportError
			require.True(t, errors.As(err, &ie), "not an *ImportError: %v", err)
			return
		}
		for _, c := range got {
			require.NoError(t, event.ValidType(c.Type), "type %q", c.Type)
			require.NotEmpty(t, c.Versions)
			for _, v := range c.Versions {
				require.True(t, json.Valid(v.Schema), "schema %s", v.Schema)
				require.True(t, v.Example == nil || json.Valid(v.Example), "example %s", v.Example)
			}
		}
	})
}

func requireImported(t *testing.T, want, got ImportedContract) {
	t.Helper()
	require.Equal(t, want.Type, got.Type)
	require.Equal(t, want.Description, got.Description, want.Type)
	require.Len(t, got.Versions, len(want.Versions), want.Type)
	for i, w := range want.Versions {
		g := got.Versions[i]
		require.Equal(t, w.Version, g.Version, want.Type)
		require.JSONEq(t, string(w.Schema), string(g.Schema), "%s v%d", want.Type, w.Version)
		if w.Example == nil {
			require.Nil(t, g.Example, "%s v%d", want.Type, w.Version)
		} else {
			require.JSONEq(t, string(w.Example), string(g.Example), "%s v%d", want.Type, w.Version)
		}
	}
}
