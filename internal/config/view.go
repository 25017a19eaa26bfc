package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/field"
)

// View kinds.
const (
	// ViewLatest keeps the latest state per key.
	ViewLatest = "latest"
	// ViewCount keeps counts (and sums) per time bucket.
	ViewCount = "count"
)

// viewQueryParams are the query parameters of GET /v1/views/{name}/series
// that a by name may not take.
var viewQueryParams = []string{"from", "to", "limit", "cursor", "prefix"}

// WithDefaults fills a view's unset fields: every is 1m for a count view.
func (v *View) WithDefaults() {
	if v.Kind == ViewCount && v.Every == 0 {
		v.Every = Duration(time.Minute)
	}
}

// ByName is how a count view's by entry is named in its records and in
// series filters: "type" and "source" as written, a pointer without its
// leading "/" and with "/" between its parts as "." ("/customer/region" is
// "customer.region"), so that a Retool query can write ?customer.region=eu.
func ByName(by string) string {
	if !strings.HasPrefix(by, "/") {
		return by
	}
	return strings.ReplaceAll(strings.TrimPrefix(by, "/"), "/", ".")
}

// Validate checks a view's shape; an error is a *field.Error naming the
// field under path (views.<name>.key, ...). The CEL expressions (filter,
// delete_when, a CEL key) are compiled by the view package, which owns
// them (view.CheckConfig).
func (v *View) Validate(path string) error {
	if v.Kind != ViewLatest && v.Kind != ViewCount {
		return field.Errorf(field.Join(path, "kind"), "%q is not latest or count", v.Kind)
	}
	if len(v.Types) == 0 {
		return field.Errorf(field.Join(path, "types"), "at least one type pattern is required (e.g. [order.*])")
	}
	for i, t := range v.Types {
		if err := ValidPattern(t); err != nil {
			return field.Wrap(field.Join(path, fmt.Sprintf("types[%d]", i)), err)
		}
	}
	for j, b := range v.Types {
		for _, a := range v.Types[:j] {
			if event.PatternsOverlap(a, b) && !event.CoversPattern(a, b) && !event.CoversPattern(b, a) {
				return field.Errorf(field.Join(path, fmt.Sprintf("types[%d]", j)),
					"%q and %q overlap in part (an event type can match both), which the bus cannot follow as two filters: use one pattern that covers both (e.g. order.>)", a, b)
			}
		}
	}
	other := func(name string) error {
		return field.Errorf(field.Join(path, name), "is a setting of %s views; this view is %s", map[string]string{ViewLatest: ViewCount, ViewCount: ViewLatest}[v.Kind], v.Kind)
	}
	if v.Kind == ViewLatest {
		switch {
		case v.Every != 0:
			return other("every")
		case len(v.By) > 0:
			return other("by")
		case v.Sum != "":
			return other("sum")
		}
		if strings.TrimSpace(v.Key) == "" {
			return field.Errorf(field.Join(path, "key"), "required: a JSON pointer into data (/order_id) or a CEL expression giving a string or an integer")
		}
		if strings.HasPrefix(v.Key, "/") {
			if err := ValidPointer(v.Key); err != nil {
				return field.Wrap(field.Join(path, "key"), err)
			}
		}
		if len(v.Fields) > 100 {
			return field.Errorf(field.Join(path, "fields"), "at most 100 fields")
		}
		for name, p := range v.Fields {
			if name == "" || len(name) > 64 {
				return field.Errorf(field.Join(path, "fields"), "a field name is 1-64 characters")
			}
			if err := ValidPointer(p); err != nil {
				return field.Wrap(field.Join(path, "fields."+name), err)
			}
		}
		return nil
	}
	switch {
	case v.Key != "":
		return other("key")
	case len(v.Fields) > 0:
		return other("fields")
	case v.DeleteWhen != "":
		return other("delete_when")
	}
	if v.Every.D() < time.Second {
		return field.Errorf(field.Join(path, "every"), "%s is shorter than 1s", v.Every.D())
	}
	if v.Every.D()%time.Second != 0 || v.Every.D() > 31*24*time.Hour {
		return field.Errorf(field.Join(path, "every"), "must be whole seconds, at most 744h")
	}
	if len(v.By) > 8 {
		return field.Errorf(field.Join(path, "by"), "at most 8 attributes")
	}
	seen := map[string]bool{}
	for i, b := range v.By {
		p := field.Join(path, fmt.Sprintf("by[%d]", i))
		if b != "type" && b != "source" {
			if !strings.HasPrefix(b, "/") {
				return field.Errorf(p, "%q is not type, source or a JSON pointer into data (/region)", b)
			}
			if err := ValidPointer(b); err != nil {
				return field.Wrap(p, err)
			}
		}
		n := ByName(b)
		if seen[n] || slices.Contains(viewQueryParams, n) {
			return field.Errorf(p, "%q is named %q, which another by entry or a query parameter of the series already takes", b, n)
		}
		seen[n] = true
	}
	if v.Sum != "" {
		if err := ValidPointer(v.Sum); err != nil {
			return field.Wrap(field.Join(path, "sum"), err)
		}
	}
	return nil
}

// ValidPointer reports why p is not an RFC 6901 JSON pointer into data
// ("/order_id", "/customer/region"), or nil. The empty pointer (the whole
// data) is refused: a view keeps values, not documents.
func ValidPointer(p string) error {
	if !strings.HasPrefix(p, "/") || len(p) < 2 {
		return fmt.Errorf("%q is not a JSON pointer into data: it starts with / and names a member, as in /order_id", p)
	}
	if len(p) > 256 {
		return fmt.Errorf("the pointer is %d bytes long; the limit is 256", len(p))
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '~' && (i+1 == len(p) || (p[i+1] != '0' && p[i+1] != '1')) {
			return fmt.Errorf("%q: ~ is written ~0 and / inside a name ~1 in a JSON pointer", p)
		}
	}
	return nil
}

// validOrigin reports why o is not a web origin as browsers send it in the
// Origin header: scheme://host[:port], with no path, query or trailing slash.
func validOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q is not an origin: write scheme://host[:port], as in https://retool.example.com", o)
	}
	if u.Scheme+"://"+strings.ToLower(u.Host) != o {
		return fmt.Errorf("%q is not an origin as browsers send it: lower-case, no trailing slash (%s://%s)", o, u.Scheme, strings.ToLower(u.Host))
	}
	return nil
}
