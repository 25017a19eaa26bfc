package contract

import (
	"fmt"
	"strconv"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Verdict is what an event's contract says about its data.
type Verdict struct {
	// Checked is true when the type has a contract with at least one version.
	Checked bool
	// Version is the version the data was checked against.
	Version int
	// DataSchema is that version's URI, for the event's dataschema.
	DataSchema string
	// Violations lists every way the data breaks the schema; empty when valid.
	Violations []Violation
	// Deprecation applies to the event (the version's, else the type's), or nil.
	Deprecation *Deprecation
	// Sunset is true when the deprecation's sunset has passed and its policy is
	// reject: the event must be refused.
	Sunset bool
}

// Validate checks data (the event's JSON data; nil when it has none) against
// the version named by dataschema, or the latest. A dataschema naming a version
// that does not exist is a violation of rule "dataschema".
func (r *Registry) Validate(typ, dataschema string, data []byte, now time.Time) (Verdict, error) {
	c, ok := r.Get(typ)
	if !ok || len(c.Versions) == 0 {
		return Verdict{}, nil
	}
	n := len(c.Versions)
	if dataschema != "" {
		pinned, ok := parseDataSchema(typ, dataschema)
		if !ok || pinned < 1 || pinned > len(c.Versions) {
			return Verdict{Checked: true, Violations: []Violation{{
				Pointer: "", Rule: "dataschema",
				Message: fmt.Sprintf("dataschema %q does not name a version of the %s contract (it has versions 1 to %d, e.g. %s)", dataschema, typ, len(c.Versions), r.DataSchema(typ, len(c.Versions))),
			}}}, nil
		}
		n = pinned
	}
	v := c.Versions[n-1]
	s, err := r.validator(typ, v)
	if err != nil {
		return Verdict{}, err
	}
	verdict := Verdict{Checked: true, Version: n, DataSchema: r.DataSchema(typ, n)}
	if data == nil {
		data = []byte("null")
	}
	if verdict.Violations, err = validate(s, data); err != nil {
		return Verdict{}, err
	}
	verdict.Deprecation = v.Deprecated
	if verdict.Deprecation == nil {
		verdict.Deprecation = c.Deprecated
	}
	if d := verdict.Deprecation; d != nil && d.Policy == "reject" && !d.Sunset.IsZero() && now.After(d.Sunset) {
		verdict.Sunset = true
	}
	return verdict, nil
}

// validator returns the compiled schema of a version, compiling it once.
func (r *Registry) validator(typ string, v Version) (*jsonschema.Schema, error) {
	key := typ + "#" + strconv.Itoa(v.Version)
	r.mu.RLock()
	s := r.compiled[key]
	r.mu.RUnlock()
	if s != nil {
		return s, nil
	}
	s, err := compile(v.Schema)
	if err != nil {
		return nil, fmt.Errorf("contract %s version %d: %w", typ, v.Version, err)
	}
	r.mu.Lock()
	r.compiled[key] = s
	r.mu.Unlock()
	return s, nil
}
