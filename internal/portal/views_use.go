package portal

import (
	"maps"
	"slices"
	"strings"

	"github.com/weir-dev/weir/internal/config"
)

// integration is a "use in Retool" (or Appsmith) box of a view's page: the
// settings to paste, step by step, each with a copy button.
type integration struct {
	// ID prefixes the ids of the box's blocks; Name is the tool's.
	ID, Name string
	// Intro says where the settings go.
	Intro string
	Steps []useStep
}

// useStep is one setting: a label, the text to copy and a hint.
type useStep struct {
	ID, Label, Text, Hint string
}

// integrations are the Retool and Appsmith boxes of view name, reading it
// through base (weir's public URL).
func integrations(base, name string, v config.View) []integration {
	auth := "Authorization: Bearer <a token with read:views:" + name + ">"
	tokenHint := "A token whose roles hold read:views:" + name + " (tokens[].roles in weir.yaml), kept secret: "
	// A view name is letters, digits, - and _: nothing in it needs escaping.
	path := "/v1/views/" + name
	retool := integration{ID: "retool", Name: "Retool",
		Intro: "Create a REST API resource with these settings, then queries on it. Queries run on Retool's server, so no CORS setting is needed; a browser that calls weir itself needs its origin in server.cors_origins."}
	appsmith := integration{ID: "appsmith", Name: "Appsmith",
		Intro: "Create an Authenticated API datasource with these settings, then APIs on it. The bindings differ from Retool's where noted."}
	retool.Steps = append(retool.Steps,
		useStep{Label: "Resource base URL", Text: base},
		useStep{Label: "Resource header", Text: auth, Hint: tokenHint + "in Retool keep it in a configuration variable and write Bearer {{ retoolContext.configVars.WEIR_TOKEN }}."})
	appsmith.Steps = append(appsmith.Steps,
		useStep{Label: "Datasource URL", Text: base},
		useStep{Label: "Datasource header", Text: auth, Hint: tokenHint + "in Appsmith mark the header value as encrypted in the datasource."})
	if v.Kind == config.ViewCount {
		series := path + "/series?from={{ moment().subtract(1, 'hour').toISOString() }}&to={{ moment().toISOString() }}"
		y := "count"
		if v.Sum != "" {
			y = "count (or sum, the total of " + v.Sum + ")"
		}
		byHint := ""
		if len(v.By) > 0 {
			names := make([]string, len(v.By))
			for i, b := range v.By {
				names[i] = config.ByName(b)
			}
			byHint = " Each item is one bucket and one combination of " + strings.Join(names, ", ") + " (in by): group the series by by." + names[0] + ", or add " + names[0] + "=<value> to the query to keep one."
		}
		retool.Steps = append(retool.Steps,
			useStep{Label: "Query (GET), named query1", Text: series, Hint: "The last hour of buckets; at most 10,000 buckets per query, pages go on with cursor={{ query1.data.next }}."},
			useStep{Label: "Chart data", Text: "{{ query1.data.items }}", Hint: "x = bucket, y = " + y + "." + byHint})
		appsmith.Steps = append(appsmith.Steps,
			useStep{Label: "API (GET), named Api1", Text: series},
			useStep{Label: "Chart series data", Text: "{{ Api1.data.items.map(p => ({ x: p.bucket, y: p.count })) }}", Hint: "Appsmith's chart takes x and y pairs, so the items are mapped." + byHint})
	} else {
		list := path + "?limit=100"
		field := "data"
		if len(v.Fields) > 0 {
			field = "fields." + slices.Sorted(maps.Keys(v.Fields))[0]
		}
		retool.Steps = append(retool.Steps,
			useStep{Label: "Query for a table (GET), named query1", Text: list, Hint: "100 rows, most recently written last; the next page is cursor={{ query1.data.next }}, and prefix= keeps the keys that start with it."},
			useStep{Label: "Table data", Text: "{{ query1.data.items }}", Hint: "Each item has key, " + strings.Split(field, ".")[0] + ", time, event_id, type and seq."},
			useStep{Label: "Query for one key (GET), named query2", Text: path + "/{{ encodeURIComponent(textInput1.value) }}", Hint: "An unknown key answers 404; bind {{ query2.data." + field + " }}."})
		appsmith.Steps = append(appsmith.Steps,
			useStep{Label: "API for a table (GET), named Api1", Text: list},
			useStep{Label: "Table data", Text: "{{ Api1.data.items }}"},
			useStep{Label: "API for one key (GET), named Api2", Text: path + "/{{ encodeURIComponent(Input1.text) }}", Hint: "Appsmith's input widget gives .text where Retool's gives .value; bind {{ Api2.data." + field + " }}."})
	}
	out := []integration{retool, appsmith}
	for i := range out {
		for j := range out[i].Steps {
			out[i].Steps[j].ID = out[i].ID + "-" + string(rune('a'+j))
		}
	}
	return out
}
