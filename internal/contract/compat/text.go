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

// wording is how one rule is explained, as templates. A Check issue reads
// "Events already sent <what> would be refused, because <why>." (backward) or
// "New events <what> would be refused by consumers still on the earlier
// version, because <why>." (forward), unless full gives the whole sentence;
// fix says what to try instead. In the templates, {f} is the field at stake
// and the other names in braces are listed in wordCtx.value; anything else
// in braces, such as {}, stays as written.
type wording struct {
	what, why, full, fix string
	// fwd is the wording of a forward issue, where it differs.
	fwd *wording
	// was is the wording of a backward issue whose earlier version had
	// another value (detail.was), where it differs.
	was *wording
	// then marks a why that states the rule of the version that refuses:
	// "there <why>" forward, with "must now" for "must" backward.
	then bool
	// undo, when set, is what the fix keeps (forward) or drops (backward).
	undo string
	// pick chooses the wording from the detail, for rules whose sentence
	// depends on more than the direction.
	pick func(c *wordCtx) *wording
}

// publishNew ends every backward fix that has another way out.
const publishNew = ", or publish the change as a new event type."

// explanations words every rule. Rules of the limit families (minimum-added,
// max-length-decreased ...) are worded by limitWording.
var explanations = map[string]*wording{
	"type-narrowed": typeWording,
	"type-changed":  typeWording,
	"type-widened":  typeWording,
	"null-removed": {what: "with {f} set to null", why: "{f} no longer accepts null",
		fix: `Keep "null" among the types of {f} ("type": {nullTypes})` + publishNew},
	"null-added": {what: "with {f} set to null", why: "{there} does not accept null", fix: "Keep null out of {f}{hold}"},
	"enum-value-removed": {what: "with {f} set to {vals}", why: "{f} no longer accepts {vals}",
		fix: `Keep {vals} among the allowed values ("enum") of {f}` + publishNew},
	"enum-value-added": {what: "with {f} set to {vals}", why: "{there} does not accept {vals}", fix: "Leave {vals} out of {f}{hold}"},
	"enum-added":       enumWording,
	"enum-removed":     enumWording,
	"const-added":      constWording,
	"const-removed":    constWording,
	"const-changed": {what: "with {f} set to {was}", why: "{f} must now be exactly {now}",
		fix: `Allow both values ("enum": [{was}, {now}])` + publishNew,
		fwd: &wording{what: "with {f} set to {now}", why: "{there} must be exactly {was}",
			fix: "Publish the change as a new event type: consumers on the earlier version accept only {was}."}},
	"value-refused": {what: "with {f} set to {vals}", why: `{f} now refuses that value (it breaks "{name}")`,
		fix: `Change "{name}" of {f} so that it accepts {vals} again` + publishNew,
		fwd: &wording{what: "with {f} set to {vals}", why: `{there} refuses that value (it breaks "{name}")`, fix: "Leave {vals} out of {f}{hold}"}},
	"now-forbidden":       {what: "with {f}", why: "the new version forbids {f} (its schema is false)", fix: "Allow {f} again" + publishNew},
	"no-longer-forbidden": {what: "with {f}", why: "the earlier version forbids {f}", fix: "Keep {f} forbidden{hold}"},
	"multiple-of-added":   multipleOfWording,
	"multiple-of-removed": multipleOfWording,
	"multiple-of-changed": multipleOfWording,
	"pattern-added":       patternWording,
	"pattern-removed":     patternWording,
	"pattern-changed":     patternWording,
	"format-added":        formatWording,
	"format-removed":      formatWording,
	"format-changed":      formatWording,
	"required-added": {what: "without {f}", why: "{f} is now required",
		fix: `Make {f} optional (leave it out of "required")` + publishNew},
	"required-added-with-default": {what: "without {f}", why: "{f} is now required, and its default is not filled in when an event is checked",
		fix: "Keep {f} optional; consumers can use its default when it is missing."},
	"required-removed": {what: "without {f}", why: "{there} is required", fix: `Keep {f} in "required"{hold}`},
	"property-added-to-open-object": {
		full: "Events already sent may carry {f} with any kind of value, because the earlier version let {parent} hold fields it did not list; those where {f}{notTypes} would now be refused.",
		fix:  "If producers never sent {f} before, turn on lenient checking for this contract; otherwise let {f} accept any value ({}) or publish the change as a new event type."},
	"property-removed-from-open-object": {
		full: "New events may carry {f} with any kind of value, because the new version no longer describes it, and consumers still on the earlier version refuse those where {f}{notTypes}.",
		fix:  `Keep {f} in "properties" (optional is fine); or, if producers stop sending it, turn on lenient checking for this contract.`},
	"property-removed-from-closed-object": {what: "with {f}", why: "the new version no longer lists {f} and allows no unlisted fields in {parent}",
		fix: `Keep {f} in "properties" (optional is enough)` + publishNew},
	"property-added-to-closed-object": {what: "with {f}", why: "it does not list {f} and allows no unlisted fields in {parent}",
		fix: "Upgrade every consumer to the new version before producers send {f}, and switch this contract to BACKWARD compatibility."},
	"object-closed": {what: "with fields that {parent} does not list", why: "the new version no longer allows unlisted fields there",
		fix: `Remove "additionalProperties": false (or "unevaluatedProperties": false) from {parent}, or list every field producers send.`},
	"object-opened": {what: "with fields that the earlier version does not list in {parent}", why: "it allows no unlisted fields there",
		fix: `Keep "additionalProperties": false on {parent}{hold}`},
	"property-names-added":       propertyNamesWording,
	"property-names-removed":     propertyNamesWording,
	"property-names-changed":     propertyNamesWording,
	"dependent-required-added":   dependentRequiredWording,
	"dependent-required-removed": dependentRequiredWording,
	"dependent-schema-added":     dependentSchemaWording,
	"dependent-schema-removed":   dependentSchemaWording,
	"dependent-schema-changed":   dependentSchemaWording,
	"unique-items-added":         uniqueItemsWording,
	"unique-items-removed":       uniqueItemsWording,
	"contains-added":             containsWording,
	"contains-removed":           containsWording,
	"contains-changed":           containsWording,
	"tuple-item-added-to-open-array": {
		full: "Events already sent may hold any value at position {name} of {parent}, because the earlier version did not describe it; those that do not fit the new description would now be refused.",
		fix:  "Describe that position with {} (any value)" + publishNew},
	"tuple-item-removed-from-open-array": {
		full: "New events may hold any value at position {name} of {parent}, because the new version no longer describes it, and consumers still on the earlier version refuse those that do not fit its description.",
		fix:  "Keep describing position {name} of {parent}{hold}"},
	"tuple-item-removed-from-closed-array": closedTupleWording,
	"tuple-item-added-to-closed-array":     closedTupleWording,
	"array-closed":                         arrayClosedWording,
	"array-opened":                         arrayClosedWording,
	"any-of-branch-removed":                branchWording,
	"one-of-branch-removed":                branchWording,
	"any-of-branch-added":                  branchWording,
	"one-of-branch-added":                  branchWording,
	"one-of-ambiguous": {
		full: `Events already sent may match more than one option of the new "oneOf" for {f}, and "oneOf" refuses a value that matches two; weir cannot show that the options exclude each other.`,
		fix:  oneOfFix,
		fwd: &wording{
			full: `New events may match more than one option of the earlier version's "oneOf" for {f}, which consumers still on it then refuse; weir cannot show that the options exclude each other.`,
			fix:  oneOfFix}},
	"not-added":           notWording,
	"not-removed":         notWording,
	"not-changed":         notWording,
	"conditional-added":   conditionalWording,
	"conditional-removed": conditionalWording,
	"conditional-changed": conditionalWording,
	"external-ref": {full: "{f} refers to another document ({nameValue}), which weir never fetches, so it cannot promise that {stillPass}.",
		fix: `Copy the referenced schema into "$defs" and refer to it as "#/$defs/...".`},
	"unsupported-keyword": {full: `The "{name}" at {f} is beyond what weir compares, so it cannot promise that {stillPass}.`,
		fix: `Replace "{name}" with a reference inside the schema ("#/$defs/...")` + publishNew},
	"too-complex": {full: "The comparison of {f} stopped because the schemas are too large or refer to themselves without going deeper into the event, so weir cannot promise that {stillPass}.",
		fix: `Split the schema into smaller definitions under "$defs"` + publishNew},
}

const oneOfFix = `Give every option a field with its own "const" value (such as "kind") so that only one can match, or use "anyOf".`

var (
	typeWording = &wording{pick: func(c *wordCtx) *wording {
		refusing := c.d.nowT
		if c.forward {
			refusing = c.d.wasT
		}
		// Narrowing "anything" to one or two types reads better the other way round.
		if c.d.lost|refusing == ckAll && typeCount(c.d.lost) >= 3 {
			return typeAnythingWording
		}
		return typeListWording
	}}
	typeListWording = &wording{what: "with {f} as {lostTypes}", why: "{f} now only accepts {nowTypes}",
		fix: `Let {f} accept {lostTypesAll} again ("type": {nowAndLostTypes})` + publishNew,
		fwd: &typeForward}
	typeAnythingWording = &wording{what: "with {f} as anything but {refusingTypes}", why: "{f} now only accepts {nowTypes}",
		fix: `Let {f} accept any value again (remove its "type")` + publishNew,
		fwd: &wording{what: "with {f} as anything but {refusingTypes}", why: typeForward.why, fix: typeForward.fix}}
	typeForward = wording{what: "with {f} as {lostTypes}", why: "{there} only accepts {wasTypes}", fix: "Keep {f} limited to {wasTypes}{hold}"}

	enumWording = &wording{what: "with {f} set to {otherValues}", why: "{f} now only accepts {vals}",
		fix: `Drop the list of allowed values ("enum") from {f}, or make it include every value producers have sent.`,
		fwd: &wording{what: "with {f} set to {otherValues}", why: "{there} only accepts {vals}", fix: `Keep the list of allowed values ("enum") on {f}{hold}`}}
	constWording = &wording{what: "with {f} set to {otherValues}", why: "{f} must now be exactly {vals}",
		fix: `Drop "const" from {f}` + publishNew,
		fwd: &wording{what: "with {f} set to {otherValues}", why: "{there} must be exactly {vals}", fix: `Keep "const": {vals} on {f}{hold}`}}
	multipleOfWording = &wording{what: "with {f} set to a number that is not a multiple of {limit}", why: "{f} must now be a multiple of {limit}",
		fix: `Drop the new "multipleOf" from {f} (or use one that divides the earlier one)` + publishNew,
		fwd: &wording{what: "with {f} set to a number that is not a multiple of {limit}", why: "{there} must be a multiple of {limit}", fix: `Keep "multipleOf": {limit} on {f}{hold}`}}
	patternWording = &wording{what: "with {f} text that does not match {pattern}", why: "{f} must now match {pattern}",
		fix: `Drop the new "pattern" from {f}` + publishNew,
		fwd: &wording{what: "with {f} text that does not match {pattern}", why: "{there} must match {pattern}", fix: "Keep the pattern {pattern} on {f}{hold}"},
		was: &wording{what: "with {f} text that does not match {pattern}",
			why: "{f} must now match {pattern} instead of {wasPattern}, and weir counts a pattern as compatible only when it is unchanged",
			fix: "Keep the earlier pattern of {f} exactly" + publishNew}}
	formatWording = &wording{what: "with {f} text that is not a valid {limit}", why: `{f} must now have the format "{limit}"`,
		fix: `Drop "format": "{limit}" from {f}` + publishNew,
		fwd: &wording{what: "with {f} text that is not a valid {limit}", why: `{there} must have the format "{limit}"`, fix: `Keep "format": "{limit}" on {f}{hold}`}}
	propertyNamesWording = &wording{what: `where {f} has field names that break the {which} "propertyNames" rule`,
		why: "field names of {f} must follow it", then: true, undo: `"propertyNames" of {f}`}
	dependentRequiredWording = &wording{what: "with {nameValue}{in} but without {names}", why: "{names}{be} now required whenever {nameValue} is present",
		undo: "dependency on {nameValue}",
		fwd:  &wording{what: "with {nameValue}{in} but without {names}", why: "there {names}{be} required whenever {nameValue} is present"}}
	dependentSchemaWording = &wording{what: "with {nameValue}{in}",
		why:  "the {which} version sets extra rules whenever {nameValue} is present, and weir cannot show that those events meet them",
		undo: "dependent schema of {nameValue}"}
	uniqueItemsWording = &wording{what: "where {f} repeats an entry", why: "{f} must hold distinct entries", then: true, undo: `"uniqueItems" of {f}`}
	containsWording    = &wording{what: `where {f} does not have the entries the {which} "contains" rule asks for`,
		why: "{f} must have them", then: true, undo: `"contains" of {f}`}
	closedTupleWording = &wording{what: "with an entry at position {name} of {parent}", why: "{parent} allows no entry there", then: true,
		undo: "limit on the entries of {parent}"}
	arrayClosedWording = &wording{what: "with more entries in {parent} than the {which} version describes", why: "{parent} allows no extra entries", then: true,
		undo: `"items": false of {parent}`}
	branchWording = &wording{what: "with {f} {branch}", why: "none of the options ({branchKeyword}) the {which} version gives for {f} accepts them",
		fix: "Keep an option in {branchKeyword} of {f} that accepts what the earlier version did" + publishNew,
		fwd: &wording{what: "with {f} {branch}", why: "none of the options ({branchKeyword}) the {which} version gives for {f} accepts them",
			fix: "Leave the new option out of {f}{hold}"}}
	notWording = &wording{
		full: `Events already sent{with} might match what the new "not" rule forbids, and would then be refused; weir cannot show that none do.`,
		undo: `"not" rule of {f}`,
		fwd:  &wording{full: `New events{with} might match what the earlier "not" rule forbids, and consumers still on the earlier version would refuse them; weir cannot show that none do.`}}
	conditionalWording = &wording{
		full: "Events already sent{with} might break the new if/then/else rule, and would then be refused; weir cannot show that none do.",
		undo: "if/then/else rule of {f}",
		fwd:  &wording{full: "New events{with} might break the earlier if/then/else rule, and consumers still on the earlier version would refuse them; weir cannot show that none do."}}
)

// limitWording words the families of limits: minimum- and maximum- (a
// number), min-length- and max-length- (text), and the counts of
// properties and items.
func limitWording(rule string) *wording {
	switch {
	case strings.HasPrefix(rule, "minimum-"), strings.HasPrefix(rule, "maximum-"):
		return numberLimitWording
	case strings.HasPrefix(rule, "min-length"), strings.HasPrefix(rule, "max-length"):
		return lengthLimitWording
	}
	return countLimitWording
}

var (
	numberLimitWording = limitWordingOf("with {f} {outside}", "{f} must be {limit}")
	lengthLimitWording = limitWordingOf("with {f} {outsideLength}", "{f} must have {limit}")
	countLimitWording  = limitWordingOf("where {f} has {outside}", "{f} must have {limit}")
)

func limitWordingOf(what, why string) *wording {
	return &wording{what: what, why: why, then: true,
		fix: "Remove the new limit on {f} ({limit})" + publishNew,
		fwd: &wording{what: what, why: why, fix: "Keep the limit on {f} ({limit}){hold}"},
		was: &wording{what: what, why: why, fix: "Set the limit on {f} back to {was}" + publishNew}}
}

// wordCtx is what a wording's templates are filled in from.
type wordCtx struct {
	rule    string
	forward bool
	field   string
	f       string // fieldText(field)
	d       detail
}

// value is the text of one template name, and false for a name it does not
// know.
func (c *wordCtx) value(name string) (string, bool) {
	switch name {
	case "f":
		return c.f, true
	case "there": // what the earlier version says, in forward messages
		if c.forward {
			return "there " + c.f, true
		}
		return c.f, true
	case "parent":
		return fieldText(c.d.parent), true
	case "vals":
		return valuesText(c.d.values), true
	case "otherValues":
		if len(c.d.bad) > 0 {
			return valuesText(c.d.bad), true
		}
		return "anything other than " + valuesText(c.d.values), true
	case "hold":
		return forwardHold, true
	case "which":
		return compatWhich(c.forward), true
	case "limit":
		return c.d.limit, true
	case "outside":
		return c.d.outside, true
	case "outsideLength":
		return strings.NewReplacer("fewer than", "shorter than", "more than", "longer than").Replace(c.d.outside), true
	case "was":
		return c.d.was, true
	case "now":
		return c.d.now, true
	case "name":
		return c.d.name, true
	case "nameValue":
		return valueText(c.d.name), true
	case "names":
		return namesText(c.d.names), true
	case "be":
		return beVerb(len(c.d.names)), true
	case "in":
		return compatIn(c.f, c.field), true
	case "pattern":
		return valueText(c.d.limit), true
	case "wasPattern":
		return valueText(c.d.was), true
	case "notTypes":
		return notTypes(c.d.declT), true
	case "stillPass":
		return stillPass(c.forward), true
	case "with":
		if c.f == "the event" {
			return "", true
		}
		return " with " + c.f, true
	case "lostTypes":
		return typesText(c.d.lost, false), true
	case "lostTypesAll":
		return typesText(c.d.lost, true), true
	case "nowTypes":
		return typesText(c.d.nowT, true), true
	case "wasTypes":
		return typesText(c.d.wasT, true), true
	case "refusingTypes":
		if c.forward {
			return typesText(c.d.wasT, false), true
		}
		return typesText(c.d.nowT, false), true
	case "nowAndLostTypes":
		return typeJSON(c.d.nowT | c.d.lost), true
	case "nullTypes":
		return typeJSON(c.d.nowT | ckNull), true
	case "branch":
		if c.d.name != "" {
			return "shaped like option " + c.d.name + " of the " + compatWhich(!c.forward) + " version", true
		}
		return "as " + typesText(c.d.lost, false), true
	case "branchKeyword":
		if strings.HasPrefix(c.rule, "one-of") {
			return `"oneOf"`, true
		}
		return `"anyOf"`, true
	}
	return "", false
}

// fill writes template with each {name} replaced by its value.
func (c *wordCtx) fill(template string) string {
	if !strings.Contains(template, "{") {
		return template
	}
	var b strings.Builder
	b.Grow(len(template) + 64)
	for {
		i := strings.IndexByte(template, '{')
		if i < 0 {
			b.WriteString(template)
			return b.String()
		}
		j := strings.IndexByte(template[i:], '}')
		if j < 0 {
			b.WriteString(template)
			return b.String()
		}
		b.WriteString(template[:i])
		if v, ok := c.value(template[i+1 : i+j]); ok {
			b.WriteString(v)
		} else {
			b.WriteString(template[i : i+j+1])
		}
		template = template[i+j+1:]
	}
}

// explain words an issue: its message and its fix.
func explain(rule string, forward bool, field string, d detail) (msg, fix string) {
	c := wordCtx{rule: rule, forward: forward, field: field, f: fieldText(field), d: d}
	e, ok := explanations[rule]
	if !ok {
		e = limitWording(rule)
	}
	if e.pick != nil {
		e = e.pick(&c)
	}
	w := e
	switch {
	case forward && e.fwd != nil:
		w = e.fwd
	case !forward && d.was != "" && e.was != nil:
		w = e.was
	}
	what, why, full := c.fill(w.what), c.fill(w.why), c.fill(w.full)
	fix = c.fill(w.fix)
	if e.then {
		why = compatThen(forward, why)
	}
	if e.undo != "" {
		fix = undo(forward, c.fill(e.undo))
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
