package portal

import (
	"encoding/json"
	"html/template"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/problem"
)

// funcs are the helpers templates share.
var funcs = template.FuncMap{
	// rfc3339 is a time as the datetime attribute of <time>; the browser's
	// zone is applied by time.js, and without it the UTC text stays.
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	// utc is a time as text, for when scripts do not run.
	"utc": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"join": strings.Join,
	// pretty is a JSON value indented for reading; html/template escapes it.
	"pretty": func(raw []byte) string {
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return string(raw)
		}
		out, _ := json.MarshalIndent(v, "", "  ")
		return string(out)
	},
	"add": func(a, b int) int { return a + b },
	// problemKind is the last part of a problem type URI (docs/errors.md).
	"problemKind": func(typ string) string { return strings.TrimPrefix(typ, problem.TypeBase) },
}
