package cdc

import (
	"encoding/json"
	"strings"
)

// TableSchema is the JSON Schema of a table's change events: the Debezium
// envelope, with before and after typed from the table's columns. numeric
// is "string" or "number" (config.CDC.Numeric).
//
// Columns map to JSON as the readers write them: integers to integer,
// numeric/decimal to string or number, floats to number, booleans to
// boolean, text and uuid to string, times to string with a format, json to
// any value, binary to base64 text, PostgreSQL arrays ("_int4") to arrays of
// their element. A column that is NOT NULL is required in after (but after
// is null for deletes and truncates). A PostgreSQL column whose value may be
// TOASTed (text, varchar, json, jsonb, bytea, arrays) also accepts the
// Unavailable placeholder: an update that leaves it unchanged does not
// carry it.
func TableSchema(t *Table, numeric string) []byte {
	props := map[string]any{}
	var required []string
	for _, c := range t.Columns {
		s := columnSchema(c.Type, numeric)
		if toastable(c.Type) {
			s = map[string]any{"anyOf": []any{s, map[string]any{"const": Unavailable}}}
		}
		if !c.NotNull {
			s = nullable(s)
		} else {
			required = append(required, c.Name)
		}
		props[c.Name] = s
	}
	// Rows are closed objects: a row has exactly the table's columns, so an
	// added column is a compatible new version and a dropped one is not.
	row := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	after := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		after["required"] = required
	}
	// before holds the key only unless the table has REPLICA IDENTITY FULL,
	// so no column is required there.
	doc := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"title":       "Changes of " + t.Schema + "." + t.Name,
		"description": "The Debezium change-event value of a row change of " + t.Schema + "." + t.Name + ".",
		"type":        "object",
		"required":    []string{"before", "after", "source", "op", "ts_ms"},
		"properties": map[string]any{
			"before": map[string]any{"anyOf": []any{map[string]any{"type": "null"}, row}},
			"after":  map[string]any{"anyOf": []any{map[string]any{"type": "null"}, after}},
			"op":     map[string]any{"enum": []string{OpCreate, OpUpdate, OpDelete, OpRead, OpTruncate}},
			"ts_ms":  map[string]any{"type": "integer"},
			"source": map[string]any{
				"type":     "object",
				"required": []string{"connector", "name", "ts_ms", "db", "table"},
				"properties": map[string]any{
					"version":   map[string]any{"type": "string"},
					"connector": map[string]any{"type": "string"},
					"name":      map[string]any{"type": "string"},
					"ts_ms":     map[string]any{"type": "integer"},
					"snapshot":  map[string]any{"type": "string"},
					"db":        map[string]any{"type": "string"},
					"schema":    map[string]any{"type": "string"},
					"table":     map[string]any{"type": "string"},
					"txId":      map[string]any{"type": "integer"},
					"lsn":       map[string]any{"type": "integer"},
					"server_id": map[string]any{"type": "integer"},
					"file":      map[string]any{"type": "string"},
					"pos":       map[string]any{"type": "integer"},
					"gtid":      map[string]any{"type": "string"},
					"row":       map[string]any{"type": "integer"},
				},
			},
		},
	}
	b, _ := json.Marshal(doc) // maps of strings and slices: cannot fail
	return b
}

func nullable(s map[string]any) map[string]any {
	return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
}

// columnSchema is the schema of one column's values by its database type.
func columnSchema(typ, numeric string) map[string]any {
	t := strings.ToLower(strings.TrimSpace(typ))
	if elem, ok := strings.CutPrefix(t, "_"); ok { // a PostgreSQL array
		return map[string]any{"type": "array", "items": nullable(columnSchema(elem, numeric))}
	}
	if strings.HasSuffix(t, "[]") {
		return map[string]any{"type": "array", "items": nullable(columnSchema(strings.TrimSuffix(t, "[]"), numeric))}
	}
	// MySQL types come with their size and sign: "int(11) unsigned", "decimal(10,2)".
	if i := strings.IndexAny(t, "( "); i > 0 {
		if strings.HasPrefix(t, "tinyint(1)") {
			return map[string]any{"type": "boolean"}
		}
		t = t[:i]
	}
	switch t {
	case "int2", "int4", "int8", "smallint", "integer", "int", "bigint", "serial", "bigserial", "smallserial",
		"tinyint", "mediumint", "year", "oid", "xid":
		return map[string]any{"type": "integer"}
	case "numeric", "decimal", "money":
		if numeric == "number" {
			return map[string]any{"type": "number"}
		}
		return map[string]any{"type": "string"}
	case "float4", "float8", "real", "double precision", "double", "float":
		return map[string]any{"type": "number"}
	case "bool", "boolean":
		return map[string]any{"type": "boolean"}
	case "uuid":
		return map[string]any{"type": "string", "format": "uuid"}
	case "timestamp", "timestamptz", "datetime":
		return map[string]any{"type": "string", "format": "date-time"}
	case "date":
		return map[string]any{"type": "string", "format": "date"}
	case "time", "timetz":
		return map[string]any{"type": "string", "format": "time"}
	case "json", "jsonb":
		return map[string]any{}
	case "bytea", "blob", "tinyblob", "mediumblob", "longblob", "binary", "varbinary", "bit":
		return map[string]any{"type": "string", "contentEncoding": "base64"}
	}
	// text, varchar, char, bpchar, citext, enum, set, inet, interval ...
	return map[string]any{"type": "string"}
}

// toastable is true for PostgreSQL types whose values may be stored out of
// line (TOAST) and so be missing from an update that did not change them.
func toastable(typ string) bool {
	t := strings.ToLower(typ)
	if strings.HasPrefix(t, "_") {
		return true
	}
	switch t {
	case "text", "varchar", "json", "jsonb", "bytea", "xml", "citext", "bpchar":
		return true
	}
	return false
}
