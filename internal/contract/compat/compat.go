// Package compat decides whether a new version of a JSON Schema contract is
// compatible with the earlier ones (Check), under the Confluent Schema
// Registry's modes, and words every reason it is not for the person who has
// to fix it.
package compat

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Mode is a compatibility mode, with the Confluent Schema Registry names and
// meanings, so that people who know a registry already know weir's.
type Mode string

// The compatibility modes. BACKWARD is the default, as in Confluent's
// registry: consumers upgrade first, and must still read what was sent before.
const (
	// Backward: data valid under the latest earlier version is valid under the
	// new one, so consumers on the new version read old events.
	Backward Mode = "BACKWARD"
	// BackwardTransitive is Backward against every earlier version.
	BackwardTransitive Mode = "BACKWARD_TRANSITIVE"
	// Forward: data valid under the new version is valid under the latest
	// earlier one, so consumers still on it read new events.
	Forward Mode = "FORWARD"
	// ForwardTransitive is Forward against every earlier version.
	ForwardTransitive Mode = "FORWARD_TRANSITIVE"
	// Full is Backward and Forward against the latest earlier version.
	Full Mode = "FULL"
	// FullTransitive is Full against every earlier version.
	FullTransitive Mode = "FULL_TRANSITIVE"
	// None accepts any change.
	None Mode = "NONE"
)

var compatModes = []Mode{Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive, None}

// Modes lists every mode, in the order ParseMode names them, for a
// caller that offers a choice (the portal's compatibility form).
func Modes() []Mode { return slices.Clone(compatModes) }

// ParseMode reads a mode name in any letter case; "" is Backward.
func ParseMode(s string) (Mode, error) {
	if s == "" {
		return Backward, nil
	}
	for _, m := range compatModes {
		if strings.EqualFold(s, string(m)) {
			return m, nil
		}
	}
	names := make([]string, len(compatModes))
	for i, m := range compatModes {
		names[i] = string(m)
	}
	return "", fmt.Errorf("unknown compatibility mode %q: use one of %s", s, strings.Join(names, ", "))
}

func (m Mode) backward() bool {
	return m == Backward || m == BackwardTransitive || m == Full || m == FullTransitive
}

func (m Mode) forward() bool {
	return m == Forward || m == ForwardTransitive || m == Full || m == FullTransitive
}

func (m Mode) transitive() bool {
	return m == BackwardTransitive || m == ForwardTransitive || m == FullTransitive
}

// Issue is one reason two schemas are incompatible, written for the person who
// has to fix it rather than for the registry.
type Issue struct {
	// Pointer is a JSON pointer into the new schema, or into the earlier one
	// when the thing it names was removed, e.g. "/properties/total/type". It
	// is "#" only when the issue is about a whole document that has no
	// keyword to point at (a schema that is just true or false).
	Pointer string `json:"pointer"`
	// Rule is a stable kebab-case name of the kind of change, named after what
	// changed from the earlier version to the new one ("type-narrowed",
	// "required-added", "enum-value-removed", ...). text.go lists them.
	Rule string `json:"rule"`
	// Message says in one sentence what breaks and for whom.
	Message string `json:"message"`
	// Fix says in one sentence what to try instead.
	Fix string `json:"fix"`
	// Against is the earlier version (1-based) the new schema conflicts with.
	Against int `json:"against_version,omitempty"`
	// Direction is "backward" when the new schema cannot read data valid
	// under the earlier one, "forward" when the earlier one cannot read data
	// valid under the new one.
	Direction string `json:"direction"`
}

// Result is a verdict with its reasons.
type Result struct {
	// Compatible is true when there are no issues.
	Compatible bool `json:"compatible"`
	// Mode is the mode that was checked.
	Mode Mode `json:"mode"`
	// Lenient tells whether the lenient reading was used (see Check).
	Lenient bool `json:"lenient"`
	// Issues are the reasons, earliest version first; never nil.
	Issues []Issue `json:"issues"`
}

// The two directions an Issue can have.
const (
	compatBackward = "backward"
	compatForward  = "forward"
)

// Check compares a new schema with the earlier versions (oldest first) under
// mode. "" means Backward.
//
// The check is about what each schema accepts: BACKWARD asks whether every
// JSON document valid under the latest earlier version is valid under next;
// FORWARD asks the reverse; FULL asks both; the _TRANSITIVE modes ask it of
// every earlier version; NONE accepts anything. The answer is sound: when
// Check says compatible, no document can be refused for the reason the mode
// protects against. Where it cannot decide (a changed regular expression,
// overlapping oneOf options, a conditional it cannot compare) it says
// incompatible and explains why.
//
// With lenient false, the reading is the strict one Confluent uses: an object
// without "additionalProperties": false may hold any extra property, so adding
// a property to it (BACKWARD) or removing one (FORWARD) is refused unless the
// property accepts any value, because data may already carry it with another
// type. Lenient changes exactly one thing: when one version lists a property
// that is optional there, and the other version does not list it and puts no
// constraint on unlisted properties (no additionalProperties,
// unevaluatedProperties or matching patternProperties), the property's value
// is not compared. That is, lenient assumes producers never sent properties
// their contract did not describe. Everything else stays strict: adding a
// required property, removing a property from a closed object, and changing
// the type of a property both versions list are still refused.
//
// Two choices differ from Confluent's checker on purpose. A property made
// required is refused even when it has a default: no JSON Schema validator
// fills defaults in, so weir would refuse old events that lack it. And
// "format" constrains values exactly when weir's validator asserts it: in
// draft-07 and older documents, not in 2019-09 and 2020-12 ones, where it is
// an annotation.
//
// Each document is read in its own draft ($schema; 2020-12 when absent, as
// weir's validator does): a keyword its draft does not have is ignored, as
// validators ignore it. Only local references are followed ("#",
// "#/$defs/x", "#/definitions/x", "#anchor"); a reference to another document
// cannot be compared and is reported as an issue, never fetched. A document
// that is not a JSON Schema returns an error, and so does one nested deeper
// than 128 subschemas or holding more than 8192: the work of a check is
// bounded for any input, and a check that runs out of it reports
// "too-complex" rather than a verdict it cannot back.
func Check(mode Mode, lenient bool, next []byte, previous [][]byte) (Result, error) {
	m, err := ParseMode(string(mode))
	if err != nil {
		return Result{}, err
	}
	newDoc, err := compatCompile(next)
	if err != nil {
		return Result{}, fmt.Errorf("new schema: %w", err)
	}
	olds := make([]*compatDoc, len(previous))
	for i, p := range previous {
		if olds[i], err = compatCompile(p); err != nil {
			return Result{}, fmt.Errorf("version %d: %w", i+1, err)
		}
	}
	res := Result{Compatible: true, Mode: m, Lenient: lenient, Issues: []Issue{}}
	if m == None || len(olds) == 0 {
		return res, nil
	}
	first := len(olds) - 1
	if m.transitive() {
		first = 0
	}
	for i := first; i < len(olds); i++ {
		if m.backward() {
			res.Issues = append(res.Issues, compatCompare(olds[i], newDoc, lenient, false, i+1)...)
		}
		if m.forward() {
			res.Issues = append(res.Issues, compatCompare(newDoc, olds[i], lenient, true, i+1)...)
		}
	}
	res.Compatible = len(res.Issues) == 0
	return res, nil
}

// compatCompare lists why the documents valid under a are not all valid under
// b. forward tells which of them is the new schema (a when true), which
// decides the names of the rules, the pointers and the wording.
func compatCompare(a, b *compatDoc, lenient, forward bool, against int) []Issue {
	out := newChecker(lenient, forward).run(a, b)
	dir := compatBackward
	if forward {
		dir = compatForward
	}
	for i := range out {
		out[i].Against = against
		out[i].Direction = dir
	}
	return out
}

// errTooLarge bounds the documents the checker accepts: beyond it a
// schema is not something a person maintains by hand, and the comparison
// would cost more than a registration should.
var errTooLarge = errors.New("the schema is too large or too deeply nested to compare")
