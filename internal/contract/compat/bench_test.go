package compat

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// orderSchemas is a realistic pair: an order.created contract with 30
// top-level properties, and its next version, which adds an optional
// property, widens a limit, adds an enum value and a payment option.
func orderSchemas() (old, next []byte) {
	money := map[string]any{"type": "number", "minimum": 0, "multipleOf": 0.01}
	address := map[string]any{"type": "object", "additionalProperties": false, "required": []any{"line1", "city", "country"},
		"properties": map[string]any{
			"line1": map[string]any{"type": "string", "maxLength": 200}, "line2": map[string]any{"type": "string", "maxLength": 200},
			"city": map[string]any{"type": "string"}, "postal_code": map[string]any{"type": "string", "pattern": "^[A-Z0-9 -]{3,10}$"},
			"country": map[string]any{"type": "string", "pattern": "^[A-Z]{2}$"},
		}}
	payment := func(kind string, props map[string]any) map[string]any {
		p := map[string]any{"kind": map[string]any{"const": kind}}
		for k, v := range props {
			p[k] = v
		}
		return map[string]any{"type": "object", "required": []any{"kind"}, "properties": p, "additionalProperties": false}
	}
	build := func(v2 bool) []byte {
		statuses := []any{"pending", "paid", "shipped", "cancelled"}
		payments := []any{
			payment("card", map[string]any{"last4": map[string]any{"type": "string", "pattern": "^[0-9]{4}$"}, "brand": map[string]any{"type": "string"}}),
			payment("bank", map[string]any{"iban": map[string]any{"type": "string", "maxLength": 34}}),
		}
		noteMax := 500
		if v2 {
			statuses = append(statuses, "refunded")
			payments = append(payments, payment("wallet", map[string]any{"provider": map[string]any{"type": "string"}}))
			noteMax = 1000
		}
		props := map[string]any{
			"id":              map[string]any{"type": "string", "format": "uuid"},
			"number":          map[string]any{"type": "string", "pattern": "^ORD-[0-9]+$"},
			"created_at":      map[string]any{"type": "string", "format": "date-time"},
			"updated_at":      map[string]any{"type": "string", "format": "date-time"},
			"status":          map[string]any{"type": "string", "enum": statuses},
			"currency":        map[string]any{"type": "string", "enum": []any{"EUR", "USD", "GBP", "CHF"}},
			"customer":        map[string]any{"$ref": "#/$defs/customer"},
			"billing_address": address,
			"shipping":        map[string]any{"type": "object", "properties": map[string]any{"address": address, "method": map[string]any{"enum": []any{"standard", "express"}}, "cost": money}},
			"lines":           map[string]any{"type": "array", "minItems": 1, "maxItems": 500, "items": map[string]any{"$ref": "#/$defs/line"}},
			"subtotal":        money, "tax": money, "discount": money, "total": money, "shipping_cost": money,
			"payment":       map[string]any{"oneOf": payments},
			"coupon":        map[string]any{"type": []any{"string", "null"}, "maxLength": 40},
			"notes":         map[string]any{"type": "string", "maxLength": noteMax},
			"tags":          map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "uniqueItems": true},
			"metadata":      map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
			"channel":       map[string]any{"enum": []any{"web", "app", "pos", "phone"}},
			"store_id":      map[string]any{"type": "integer", "minimum": 1},
			"locale":        map[string]any{"type": "string", "pattern": "^[a-z]{2}(-[A-Z]{2})?$"},
			"gift":          map[string]any{"type": "boolean"},
			"gift_message":  map[string]any{"type": "string", "maxLength": 300},
			"weight_grams":  map[string]any{"type": "integer", "minimum": 0},
			"fulfilment_by": map[string]any{"type": "string", "format": "date"},
			"source_ip":     map[string]any{"type": "string", "format": "ipv4"},
			"risk_score":    map[string]any{"type": "number", "minimum": 0, "maximum": 1},
			"version":       map[string]any{"const": 1},
		}
		if v2 {
			props["loyalty_points"] = map[string]any{"type": "integer", "minimum": 0}
		}
		doc := map[string]any{
			"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "order.created", "type": "object",
			"additionalProperties": false, "required": []any{"id", "number", "created_at", "status", "currency", "customer", "lines", "total"},
			"properties": props,
			"$defs": map[string]any{
				"customer": map[string]any{"type": "object", "required": []any{"id", "email"}, "properties": map[string]any{
					"id": map[string]any{"type": "string"}, "email": map[string]any{"type": "string", "format": "email"},
					"name": map[string]any{"type": "string"}, "phone": map[string]any{"type": []any{"string", "null"}},
				}},
				"line": map[string]any{"type": "object", "required": []any{"sku", "qty", "unit_price"}, "additionalProperties": false, "properties": map[string]any{
					"sku": map[string]any{"type": "string"}, "name": map[string]any{"type": "string"},
					"qty": map[string]any{"type": "integer", "minimum": 1}, "unit_price": money, "tax_rate": map[string]any{"type": "number", "minimum": 0, "maximum": 1},
				}},
			},
		}
		b, err := json.Marshal(doc)
		if err != nil {
			panic(err)
		}
		return b
	}
	return build(false), build(true)
}

func TestCompatOrderSchemas(t *testing.T) {
	t.Parallel()
	old, next := orderSchemas()
	res, err := Check(Backward, false, next, [][]byte{old})
	require.NoError(t, err)
	require.True(t, res.Compatible, dump(res))
	res, err = Check(Forward, false, next, [][]byte{old})
	require.NoError(t, err)
	var rules []string
	for _, is := range res.Issues {
		rules = append(rules, is.Rule)
	}
	require.ElementsMatch(t, []string{"property-added-to-closed-object", "enum-value-added", "max-length-increased", "one-of-branch-added"}, rules)
}

func BenchmarkCheck(b *testing.B) {
	old, next := orderSchemas()
	b.SetBytes(int64(len(old) + len(next)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Check(Full, false, next, [][]byte{old}); err != nil {
			b.Fatal(err)
		}
	}
}
