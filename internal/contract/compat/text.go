package compat

import (
	"encoding/json"
	"strconv"
	"strings"
)

// The wording of every issue. Rules are named after the change from the
// earlier version to the new one; Direction says who it breaks: "backward"
// (consumers on the new version, reading events already sent) or "forward"
// (consumers still on the earlier version, reading new events).
//
// Types and values
//   type-narrowed, type-widened   the new version accepts fewer / more types
//   type-changed                  the versions share no type at all
//   null-removed, null-added      null is no longer / now accepted
//   enum-value-removed, -added    a value left / joined the enum
//   enum-added, enum-removed      a list of allowed values appeared / went
//   const-added, const-removed    a fixed value appeared / went
//   const-changed                 the fixed value is another one
//   value-refused                 an allowed value of one version breaks another rule of the other
//   now-forbidden                 the new version forbids it outright (false)
//   no-longer-forbidden           the earlier version forbids it, the new one not
// Numbers and text
//   minimum-/maximum-added, -removed, -increased, -decreased
//   multiple-of-added, -removed, -changed
//   min-length-/max-length-added, -removed, -increased, -decreased
//   pattern-added, -removed, -changed (a changed pattern is never proven compatible)
//   format-added, -removed, -changed (draft-07 and older only, see Check)
// Objects
//   required-added, required-added-with-default, required-removed
//   property-added-to-open-object, property-removed-from-open-object
//   property-added-to-closed-object, property-removed-from-closed-object
//   object-closed, object-opened  unlisted fields no longer / now allowed
//   min-properties-/max-properties-added, -removed, -increased, -decreased
//   property-names-added, -removed, -changed
//   dependent-required-added, -removed; dependent-schema-added, -removed, -changed
// Arrays
//   min-items-/max-items-added, -removed, -increased, -decreased
//   unique-items-added, -removed; contains-added, -removed, -changed
//   tuple-item-added-to-open-array, tuple-item-removed-from-open-array
//   tuple-item-added-to-closed-array, tuple-item-removed-from-closed-array
//   array-closed, array-opened    extra entries no longer / now allowed
// Combinations
//   any-of-branch-removed, any-of-branch-added, one-of-branch-removed, one-of-branch-added
//   one-of-ambiguous              values may match two oneOf options
//   not-added, not-removed, not-changed
//   conditional-added, conditional-removed, conditional-changed
// What cannot be compared
//   external-ref, unsupported-keyword, too-complex

// detail carries what the wording needs beyond the rule and the field.
type detail struct {
	was, now       string // the earlier and the new value of what changed
	limit, outside string // the limit that refuses, and the values it refuses
	name           string
	names          []string
	values         []any
	parent         string      // the field holding the one at stake
	lost           compatTypes // types one version accepts and the other not
	wasT, nowT     compatTypes // types of the earlier and of the new version
	declT          compatTypes // types of a property where it is described
	bad            []any       // values refused, when there are finitely many
}

// forwardHold ends the fix of a forward issue: the way out besides
// not making the change is to move consumers first, which is what BACKWARD
// compatibility assumes.
const forwardHold = ", or upgrade every consumer to the new version first and switch this contract to BACKWARD compatibility."

func explain(rule string, forward bool, field string, d detail) (msg, fix string) {
	f := fieldText(field)
	parent := fieldText(d.parent)
	vals := valuesText(d.values)
	var what, why, full string
	there := f // what the earlier version says, in forward messages
	if forward {
		there = "there " + f
	}
	switch rule {
	case "type-narrowed", "type-changed", "type-widened":
		refusing := d.nowT
		if forward {
			refusing = d.wasT
		}
		// Narrowing "anything" to one or two types reads better the other way round.
		anything := d.lost|refusing == ckAll && typeCount(d.lost) >= 3
		what = "with " + f + " as " + typesText(d.lost, false)
		if anything {
			what = "with " + f + " as anything but " + typesText(refusing, false)
		}
		switch {
		case forward:
			why = there + " only accepts " + typesText(d.wasT, true)
			fix = "Keep " + f + " limited to " + typesText(d.wasT, true) + forwardHold
		case anything:
			why = f + " now only accepts " + typesText(d.nowT, true)
			fix = "Let " + f + ` accept any value again (remove its "type"), or publish the change as a new event type.`
		default:
			why = f + " now only accepts " + typesText(d.nowT, true)
			fix = "Let " + f + " accept " + typesText(d.lost, true) + ` again ("type": ` + typeJSON(d.nowT|d.lost) + "), or publish the change as a new event type."
		}
	case "null-removed":
		what, why = "with "+f+" set to null", f+" no longer accepts null"
		fix = `Keep "null" among the types of ` + f + ` ("type": ` + typeJSON(d.nowT|ckNull) + "), or publish the change as a new event type."
	case "null-added":
		what, why = "with "+f+" set to null", there+" does not accept null"
		fix = "Keep null out of " + f + forwardHold
	case "enum-value-removed":
		what, why = "with "+f+" set to "+vals, f+" no longer accepts "+vals
		fix = "Keep " + vals + ` among the allowed values ("enum") of ` + f + ", or publish the change as a new event type."
	case "enum-value-added":
		what, why = "with "+f+" set to "+vals, there+" does not accept "+vals
		fix = "Leave " + vals + " out of " + f + forwardHold
	case "enum-added", "enum-removed":
		what = "with " + f + " set to anything other than " + vals
		if len(d.bad) > 0 {
			what = "with " + f + " set to " + valuesText(d.bad)
		}
		if forward {
			why, fix = there+" only accepts "+vals, `Keep the list of allowed values ("enum") on `+f+forwardHold
		} else {
			why, fix = f+" now only accepts "+vals, `Drop the list of allowed values ("enum") from `+f+", or make it include every value producers have sent."
		}
	case "const-added", "const-removed":
		what = "with " + f + " set to anything other than " + vals
		if len(d.bad) > 0 {
			what = "with " + f + " set to " + valuesText(d.bad)
		}
		if forward {
			why, fix = there+" must be exactly "+vals, `Keep "const": `+vals+" on "+f+forwardHold
		} else {
			why, fix = f+" must now be exactly "+vals, `Drop "const" from `+f+", or publish the change as a new event type."
		}
	case "const-changed":
		if forward {
			what, why = "with "+f+" set to "+d.now, there+" must be exactly "+d.was
			fix = "Publish the change as a new event type: consumers on the earlier version accept only " + d.was + "."
		} else {
			what, why = "with "+f+" set to "+d.was, f+" must now be exactly "+d.now
			fix = `Allow both values ("enum": [` + d.was + ", " + d.now + "]), or publish the change as a new event type."
		}
	case "value-refused":
		what = "with " + f + " set to " + vals
		if forward {
			why, fix = there+` refuses that value (it breaks "`+d.name+`")`, "Leave "+vals+" out of "+f+forwardHold
		} else {
			why, fix = f+` now refuses that value (it breaks "`+d.name+`")`, `Change "`+d.name+`" of `+f+" so that it accepts "+vals+" again, or publish the change as a new event type."
		}
	case "now-forbidden":
		what, why = "with "+f, "the new version forbids "+f+" (its schema is false)"
		fix = "Allow " + f + " again, or publish the change as a new event type."
	case "no-longer-forbidden":
		what, why = "with "+f, "the earlier version forbids "+f
		fix = "Keep " + f + " forbidden" + forwardHold
	case "multiple-of-added", "multiple-of-removed", "multiple-of-changed":
		what = "with " + f + " set to a number that is not a multiple of " + d.limit
		if forward {
			why, fix = there+" must be a multiple of "+d.limit, `Keep "multipleOf": `+d.limit+" on "+f+forwardHold
		} else {
			why, fix = f+" must now be a multiple of "+d.limit, `Drop the new "multipleOf" from `+f+" (or use one that divides the earlier one), or publish the change as a new event type."
		}
	case "pattern-added", "pattern-removed", "pattern-changed":
		p := valueText(d.limit)
		what = "with " + f + " text that does not match " + p
		switch {
		case forward:
			why, fix = there+" must match "+p, "Keep the pattern "+p+" on "+f+forwardHold
		case d.was != "":
			why = f + " must now match " + p + " instead of " + valueText(d.was) + ", and weir counts a pattern as compatible only when it is unchanged"
			fix = "Keep the earlier pattern of " + f + " exactly, or publish the change as a new event type."
		default:
			why, fix = f+" must now match "+p, `Drop the new "pattern" from `+f+", or publish the change as a new event type."
		}
	case "format-added", "format-removed", "format-changed":
		what = "with " + f + " text that is not a valid " + d.limit
		if forward {
			why, fix = there+` must have the format "`+d.limit+`"`, `Keep "format": "`+d.limit+`" on `+f+forwardHold
		} else {
			why, fix = f+` must now have the format "`+d.limit+`"`, `Drop "format": "`+d.limit+`" from `+f+", or publish the change as a new event type."
		}
	case "required-added":
		what, why = "without "+f, f+" is now required"
		fix = `Make ` + f + ` optional (leave it out of "required"), or publish the change as a new event type.`
	case "required-added-with-default":
		what, why = "without "+f, f+" is now required, and its default is not filled in when an event is checked"
		fix = "Keep " + f + " optional; consumers can use its default when it is missing."
	case "required-removed":
		what, why = "without "+f, there+" is required"
		fix = "Keep " + f + ` in "required"` + forwardHold
	case "property-added-to-open-object":
		full = "Events already sent may carry " + f + " with any kind of value, because the earlier version let " + parent +
			" hold fields it did not list; those where " + f + notTypes(d.declT) + " would now be refused."
		fix = "If producers never sent " + f + " before, turn on lenient checking for this contract; otherwise let " + f + " accept any value ({}) or publish the change as a new event type."
	case "property-removed-from-open-object":
		full = "New events may carry " + f + " with any kind of value, because the new version no longer describes it, and consumers still on the earlier version refuse those where " +
			f + notTypes(d.declT) + "."
		fix = `Keep ` + f + ` in "properties" (optional is fine); or, if producers stop sending it, turn on lenient checking for this contract.`
	case "property-removed-from-closed-object":
		what, why = "with "+f, "the new version no longer lists "+f+" and allows no unlisted fields in "+parent
		fix = `Keep ` + f + ` in "properties" (optional is enough), or publish the change as a new event type.`
	case "property-added-to-closed-object":
		what, why = "with "+f, "it does not list "+f+" and allows no unlisted fields in "+parent
		fix = "Upgrade every consumer to the new version before producers send " + f + ", and switch this contract to BACKWARD compatibility."
	case "object-closed":
		what, why = "with fields that "+parent+" does not list", "the new version no longer allows unlisted fields there"
		fix = `Remove "additionalProperties": false (or "unevaluatedProperties": false) from ` + parent + ", or list every field producers send."
	case "object-opened":
		what, why = "with fields that the earlier version does not list in "+parent, "it allows no unlisted fields there"
		fix = `Keep "additionalProperties": false on ` + parent + forwardHold
	case "property-names-added", "property-names-removed", "property-names-changed":
		what = "where " + f + ` has field names that break the ` + compatWhich(forward) + ` "propertyNames" rule`
		why, fix = compatThen(forward, "field names of "+f+" must follow it"), undo(forward, `"propertyNames" of `+f)
	case "dependent-required-added", "dependent-required-removed":
		what = "with " + valueText(d.name) + compatIn(f, field) + " but without " + namesText(d.names)
		why = namesText(d.names) + beVerb(len(d.names)) + " required whenever " + valueText(d.name) + " is present"
		if forward {
			why = "there " + why
		} else {
			why = namesText(d.names) + beVerb(len(d.names)) + " now required whenever " + valueText(d.name) + " is present"
		}
		fix = undo(forward, "dependency on "+valueText(d.name))
	case "dependent-schema-added", "dependent-schema-removed", "dependent-schema-changed":
		what = "with " + valueText(d.name) + compatIn(f, field)
		why = "the " + compatWhich(forward) + " version sets extra rules whenever " + valueText(d.name) + " is present, and weir cannot show that those events meet them"
		fix = undo(forward, "dependent schema of "+valueText(d.name))
	case "unique-items-added", "unique-items-removed":
		what, why = "where "+f+" repeats an entry", compatThen(forward, f+" must hold distinct entries")
		fix = undo(forward, `"uniqueItems" of `+f)
	case "contains-added", "contains-removed", "contains-changed":
		what = "where " + f + ` does not have the entries the ` + compatWhich(forward) + ` "contains" rule asks for`
		why, fix = compatThen(forward, f+" must have them"), undo(forward, `"contains" of `+f)
	case "tuple-item-added-to-open-array":
		full = "Events already sent may hold any value at position " + d.name + " of " + parent +
			", because the earlier version did not describe it; those that do not fit the new description would now be refused."
		fix = "Describe that position with {} (any value), or publish the change as a new event type."
	case "tuple-item-removed-from-open-array":
		full = "New events may hold any value at position " + d.name + " of " + parent +
			", because the new version no longer describes it, and consumers still on the earlier version refuse those that do not fit its description."
		fix = "Keep describing position " + d.name + " of " + parent + forwardHold
	case "tuple-item-removed-from-closed-array", "tuple-item-added-to-closed-array":
		what = "with an entry at position " + d.name + " of " + parent
		why, fix = compatThen(forward, parent+" allows no entry there"), undo(forward, "limit on the entries of "+parent)
	case "array-closed", "array-opened":
		what = "with more entries in " + parent + " than the " + compatWhich(forward) + " version describes"
		why, fix = compatThen(forward, parent+" allows no extra entries"), undo(forward, `"items": false of `+parent)
	case "any-of-branch-removed", "one-of-branch-removed", "any-of-branch-added", "one-of-branch-added":
		what = "with " + f + " as " + typesText(d.lost, false)
		if d.name != "" {
			what = "with " + f + " shaped like option " + d.name + " of the " + compatWhich(!forward) + " version"
		}
		kw := `"anyOf"`
		if strings.HasPrefix(rule, "one-of") {
			kw = `"oneOf"`
		}
		why = "none of the options (" + kw + ") the " + compatWhich(forward) + " version gives for " + f + " accepts them"
		if forward {
			fix = "Leave the new option out of " + f + forwardHold
		} else {
			fix = "Keep an option in " + kw + " of " + f + " that accepts what the earlier version did, or publish the change as a new event type."
		}
	case "one-of-ambiguous":
		full = "Events already sent may match more than one option of the new \"oneOf\" for " + f + ", and \"oneOf\" refuses a value that matches two; weir cannot show that the options exclude each other."
		if forward {
			full = "New events may match more than one option of the earlier version's \"oneOf\" for " + f + ", which consumers still on it then refuse; weir cannot show that the options exclude each other."
		}
		fix = `Give every option a field with its own "const" value (such as "kind") so that only one can match, or use "anyOf".`
	case "not-added", "not-removed", "not-changed":
		full = compatMight(forward, f, `match what the `+compatWhich(forward)+` "not" rule forbids`)
		fix = undo(forward, `"not" rule of `+f)
	case "conditional-added", "conditional-removed", "conditional-changed":
		full = compatMight(forward, f, "break the "+compatWhich(forward)+" if/then/else rule")
		fix = undo(forward, "if/then/else rule of "+f)
	case "external-ref":
		full = f + " refers to another document (" + valueText(d.name) + "), which weir never fetches, so it cannot promise that " + stillPass(forward) + "."
		fix = `Copy the referenced schema into "$defs" and refer to it as "#/$defs/...".`
	case "unsupported-keyword":
		full = `The "` + d.name + `" at ` + f + " is beyond what weir compares, so it cannot promise that " + stillPass(forward) + "."
		fix = `Replace "` + d.name + `" with a reference inside the schema ("#/$defs/..."), or publish the change as a new event type.`
	case "too-complex":
		full = "The comparison of " + f + " stopped because the schemas are too large or refer to themselves without going deeper into the event, so weir cannot promise that " + stillPass(forward) + "."
		fix = `Split the schema into smaller definitions under "$defs", or publish the change as a new event type.`
	default:
		if strings.HasPrefix(rule, "minimum-") || strings.HasPrefix(rule, "maximum-") {
			what = "with " + f + " " + d.outside
			why, fix = compatThen(forward, f+" must be "+d.limit), limitFix(forward, f, d)
		} else {
			what = "where " + f + " has " + d.outside
			if strings.HasPrefix(rule, "min-length") || strings.HasPrefix(rule, "max-length") {
				what = "with " + f + " " + strings.NewReplacer("fewer than", "shorter than", "more than", "longer than").Replace(d.outside)
			}
			why, fix = compatThen(forward, f+" must have "+d.limit), limitFix(forward, f, d)
		}
	}
	switch {
	case full != "":
		msg = full
	case forward:
		msg = "New events " + what + " would be refused by consumers still on the earlier version, because " + why + "."
	default:
		msg = "Events already sent " + what + " would be refused, because " + why + "."
	}
	return capitalize(msg), capitalize(fix)
}

// compatThen words a rule of the version that refuses: the new one
// (backward, "now") or the earlier one (forward, "there").
func compatThen(forward bool, rule string) string {
	if forward {
		return "there " + rule
	}
	if i := strings.Index(rule, " must "); i >= 0 {
		return rule[:i] + " must now " + rule[i+len(" must "):]
	}
	return rule
}

func compatWhich(forward bool) string {
	if forward {
		return "earlier"
	}
	return "new"
}

func undo(forward bool, what string) string {
	if forward {
		return "Keep the " + what + forwardHold
	}
	return "Drop or loosen the new " + what + ", or publish the change as a new event type."
}

func limitFix(forward bool, f string, d detail) string {
	switch {
	case forward:
		return "Keep the limit on " + f + " (" + d.limit + ")" + forwardHold
	case d.was != "":
		return "Set the limit on " + f + " back to " + d.was + ", or publish the change as a new event type."
	}
	return "Remove the new limit on " + f + " (" + d.limit + "), or publish the change as a new event type."
}

func compatMight(forward bool, f, what string) string {
	with := " with " + f
	if f == "the event" {
		with = ""
	}
	if forward {
		return "New events" + with + " might " + what + ", and consumers still on the earlier version would refuse them; weir cannot show that none do."
	}
	return "Events already sent" + with + " might " + what + ", and would then be refused; weir cannot show that none do."
}

func stillPass(forward bool) string {
	if forward {
		return "consumers on the earlier version accept new events"
	}
	return "events already sent still pass"
}

func compatIn(f, field string) string {
	if field == "" {
		return ""
	}
	return " in " + f
}

func beVerb(n int) string {
	if n == 1 {
		return " is"
	}
	return " are"
}

func notTypes(t compatTypes) string {
	if t&ckAll == ckAll || t == 0 {
		return " does not fit its new description"
	}
	return " is not " + typesText(t, false)
}

// fieldText names a place in the event for a reader.
func fieldText(field string) string {
	switch {
	case field == "":
		return "the event"
	case field == "*" || strings.HasSuffix(field, ".*"):
		return "any unlisted field of " + fieldText(strings.TrimSuffix(strings.TrimSuffix(field, "*"), "."))
	case strings.HasSuffix(field, "[]"):
		return "each entry of " + fieldText(strings.TrimSuffix(field, "[]"))
	}
	return quote(field)
}

var typeWords = []struct {
	t        compatTypes
	one, all string
	json     string
}{
	{ckString, "text", "text", "string"},
	{ckNumber, "a number", "numbers", "number"},
	{ckInt, "a whole number", "whole numbers", "integer"},
	{ckFrac, "a number with a fraction (such as 12.5)", "numbers with a fraction", "number"},
	{ckBool, "true or false", "booleans (true or false)", "boolean"},
	{ckObject, "an object", "objects", "object"},
	{ckArray, "a list", "lists", "array"},
	{ckNull, "null", "null", "null"},
}

// typesText words a set of types, "text or a whole number".
func typesText(t compatTypes, plural bool) string {
	var words []string
	for _, w := range typeWords {
		if t&w.t == w.t && w.t != 0 {
			t &^= w.t
			if plural {
				words = append(words, w.all)
			} else {
				words = append(words, w.one)
			}
		}
	}
	return join(words, "or")
}

// typeJSON is the "type" keyword value that allows a set of types.
func typeJSON(t compatTypes) string {
	var names []string
	for _, w := range typeWords {
		if t&w.t == w.t && w.t != 0 {
			t &^= w.t
			names = append(names, quote(w.json))
		}
	}
	if len(names) == 1 {
		return names[0]
	}
	return "[" + strings.Join(names, ", ") + "]"
}

func join(words []string, and string) string {
	switch len(words) {
	case 0:
		return "nothing"
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " " + and + " " + words[len(words)-1]
}

// valueText shows a JSON value the way it is written in an event.
func valueText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "a value"
	}
	s := string(b)
	if r := []rune(s); len(r) > 60 {
		s = string(r[:57]) + "..."
	}
	return s
}

func valuesText(vals []any) string {
	var words []string
	for i, v := range vals {
		if i == 4 && len(vals) > 5 {
			words = append(words, strconv.Itoa(len(vals)-4)+" more")
			break
		}
		words = append(words, valueText(v))
	}
	return join(words, "or")
}

func namesText(names []string) string {
	words := make([]string, len(names))
	for i, n := range names {
		words[i] = quote(n)
	}
	return join(words, "and")
}

// quote quotes a name as JSON does.
func quote(s string) string { return valueText(s) }

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
