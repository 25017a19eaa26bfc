package contract

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// printer formats the validator's own text for a failure weir has no sentence
// of its own for. Every kind's LocalizedString dereferences its printer, so it
// is never called with nil (that crashed the request on multipleOf, not, ...).
var printer = message.NewPrinter(language.English)

// Bounds on what a sender's payload can make a guidance message quote, so
// that a large payload cannot make a large dead letter.
const (
	maxQuoted       = 80  // bytes of one quoted value
	maxListed       = 5   // names in a list, then "and N more"
	maxAlternatives = 400 // bytes describing the alternatives of anyOf/oneOf
)

// collect gathers what a sender has to fix: the concrete failures, not the
// combinators ($ref, allOf) that merely contain them. A few kinds are
// explained where they are rather than by their causes, since the causes
// describe alternatives or other values (the items that do not match
// contains, a property name, decoded content) and read as false rules alone.
func collect(e *jsonschema.ValidationError, out *[]Violation) {
	switch e.ErrorKind.(type) {
	case *kind.AnyOf, *kind.OneOf, *kind.Contains, *kind.MinContains, *kind.PropertyNames, *kind.ContentSchema:
		*out = append(*out, explainViolation(e))
		return
	}
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collect(c, out)
		}
		return
	}
	switch e.ErrorKind.(type) {
	case nil, *kind.Group, *kind.Schema, *kind.Reference, *kind.AllOf:
		return
	}
	*out = append(*out, explainViolation(e))
}

// explainViolation turns one failure into a sentence about the payload that
// names where it is. Every kind of the validator has its own case; an unknown
// kind (a vocabulary weir does not register today) gets a generic sentence.
func explainViolation(e *jsonschema.ValidationError) Violation {
	p := pointer(e.InstanceLocation)
	v := Violation{Pointer: p, Rule: ruleOf(e)}
	where := whereText(p)
	var msg string
	switch k := e.ErrorKind.(type) {
	case *kind.Type:
		want := make([]string, len(k.Want))
		for i, t := range k.Want {
			want[i] = article(t)
		}
		msg = fmt.Sprintf("%s must be %s, but it is %s", where, strings.Join(want, " or "), article(k.Got))
	case *kind.Enum:
		msg = fmt.Sprintf("%s must be one of %s, but it is %s", where, jsonList(k.Want), jsonText(k.Got))
	case *kind.Const:
		msg = fmt.Sprintf("%s must be exactly %s, but it is %s", where, jsonText(k.Want), jsonText(k.Got))
	case *kind.Format:
		msg = fmt.Sprintf("%s must be a valid %s, but it is %s", where, k.Want, jsonText(k.Got))
	case *kind.Minimum:
		msg = fmt.Sprintf("%s must be at least %s, but it is %s", where, ratText(k.Want), ratText(k.Got))
	case *kind.Maximum:
		msg = fmt.Sprintf("%s must be at most %s, but it is %s", where, ratText(k.Want), ratText(k.Got))
	case *kind.ExclusiveMinimum:
		msg = fmt.Sprintf("%s must be greater than %s, but it is %s", where, ratText(k.Want), ratText(k.Got))
	case *kind.ExclusiveMaximum:
		msg = fmt.Sprintf("%s must be less than %s, but it is %s", where, ratText(k.Want), ratText(k.Got))
	case *kind.MultipleOf:
		msg = fmt.Sprintf("%s must be a multiple of %s, but it is %s", where, ratText(k.Want), ratText(k.Got))
	case *kind.MinLength:
		msg = fmt.Sprintf("%s must be at least %d characters long, but it has %d", where, k.Want, k.Got)
	case *kind.MaxLength:
		msg = fmt.Sprintf("%s must be at most %d characters long, but it has %d", where, k.Want, k.Got)
	case *kind.Pattern:
		msg = fmt.Sprintf("%s must match the pattern %s, but it is %s", where, clip(k.Want), jsonText(k.Got))
	case *kind.ContentEncoding:
		msg = fmt.Sprintf("%s must be %s-encoded text, but it is not (%s)", where, k.Want, errText(k.Err))
	case *kind.ContentMediaType:
		msg = fmt.Sprintf("%s must hold %s content, but it does not (%s)", where, k.Want, errText(k.Err))
	case *kind.ContentSchema:
		msg = fmt.Sprintf("%s holds content that does not match the contract's contentSchema%s", where, firstCause(e, ": "))
	case *kind.MinItems:
		msg = fmt.Sprintf("%s must have at least %d items, but it has %d", where, k.Want, k.Got)
	case *kind.MaxItems:
		msg = fmt.Sprintf("%s must have at most %d items, but it has %d", where, k.Want, k.Got)
	case *kind.UniqueItems:
		msg = fmt.Sprintf("%s must not repeat an item, but items %d and %d are equal", where, k.Duplicates[0], k.Duplicates[1])
	case *kind.AdditionalItems:
		msg = fmt.Sprintf("%s has %d more items than the contract allows", where, k.Count)
	case *kind.Contains:
		msg = fmt.Sprintf("%s must contain an item that matches the contract's contains rule, but none does%s", where, firstCause(e, "; for example, "))
	case *kind.MinContains:
		msg = fmt.Sprintf("%s must contain at least %d items that match the contract's contains rule, but %d do%s", where, k.Want, len(k.Got), firstCause(e, "; for example, "))
	case *kind.MaxContains:
		msg = fmt.Sprintf("%s must contain at most %d items that match the contract's contains rule, but %d do", where, k.Want, len(k.Got))
	case *kind.Required:
		v.Pointer = childPointer(p, k.Missing)
		msg = fmt.Sprintf("%s is missing the required field %s", where, nameList(k.Missing))
	case *kind.DependentRequired:
		v.Pointer = childPointer(p, k.Missing)
		msg = fmt.Sprintf("%s is missing the field %s, which the contract requires when %s is present", where, nameList(k.Missing), k.Prop)
	case *kind.Dependency:
		v.Pointer = childPointer(p, k.Missing)
		msg = fmt.Sprintf("%s is missing the field %s, which the contract requires when %s is present", where, nameList(k.Missing), k.Prop)
	case *kind.MinProperties:
		msg = fmt.Sprintf("%s must have at least %d fields, but it has %d", where, k.Want, k.Got)
	case *kind.MaxProperties:
		msg = fmt.Sprintf("%s must have at most %d fields, but it has %d", where, k.Want, k.Got)
	case *kind.AdditionalProperties:
		msg = fmt.Sprintf("%s has fields the contract does not allow: %s", where, nameList(k.Properties))
	case *kind.PropertyNames:
		v.Pointer = childPointer(p, []string{k.Property})
		msg = fmt.Sprintf("%s has a field named %s, a name the contract's propertyNames rule does not allow%s", where, jsonText(k.Property), firstCause(e, ": "))
	case *kind.Not:
		msg = fmt.Sprintf("%s matches a shape the contract forbids (not)", where)
	case *kind.AnyOf:
		msg = fmt.Sprintf("%s matches none of the shapes the contract allows (anyOf)%s", where, alternatives(e))
	case *kind.OneOf:
		if len(k.Subschemas) >= 2 {
			msg = fmt.Sprintf("%s must match exactly one of the shapes the contract allows (oneOf), but it matches both shape %d and shape %d", where, k.Subschemas[0]+1, k.Subschemas[1]+1)
		} else {
			msg = fmt.Sprintf("%s matches none of the shapes the contract allows (oneOf)%s", where, alternatives(e))
		}
	case *kind.FalseSchema:
		switch v.Rule {
		case "unevaluatedProperties", "additionalProperties", "patternProperties", "properties":
			msg = fmt.Sprintf("%s is a field the contract does not allow", where)
		case "unevaluatedItems", "items", "additionalItems", "prefixItems":
			msg = fmt.Sprintf("%s is an item the contract does not allow", where)
		default:
			msg = fmt.Sprintf("%s is not allowed by the contract", where)
		}
	case *kind.RefCycle:
		msg = fmt.Sprintf("%s cannot be checked: the contract's schema refers to itself in a loop (%s); the contract's owner must fix the schema", where, loopText(k))
	case *kind.InvalidJsonValue:
		msg = fmt.Sprintf("%s is not a JSON value", where)
	case nil:
		msg = fmt.Sprintf("%s does not match the contract", where)
	default:
		msg = fmt.Sprintf("%s breaks the contract's %s rule: %s", where, v.Rule, clip(k.LocalizedString(printer)))
	}
	v.Message = sentence(msg + because(e))
	return v
}

// loopText says where a $ref loop is, as schema pointers ("#" is the root).
func loopText(k *kind.RefCycle) string {
	return fmt.Sprintf("#%s refers back to #%s without checking anything", clip(k.KeywordLocation1), clip(k.KeywordLocation2))
}

// ruleOf names the keyword that failed. Kinds without a keyword path (not, a
// false schema, a $ref loop) are named by their place in the schema.
func ruleOf(e *jsonschema.ValidationError) string {
	switch e.ErrorKind.(type) {
	case nil, *kind.Schema, *kind.Group:
		return "schema"
	case *kind.Not:
		return "not"
	case *kind.RefCycle:
		return "$ref"
	case *kind.InvalidJsonValue:
		return "json"
	case *kind.Dependency:
		return "dependencies" // the keyword; the kind calls itself "dependency"
	case *kind.FalseSchema:
		if kws := schemaKeywords(e.SchemaURL); len(kws) > 0 {
			return kws[len(kws)-1].keyword
		}
		return "false"
	}
	if kp := e.ErrorKind.KeywordPath(); len(kp) > 0 {
		// dependentRequired's path is the keyword, then the property.
		return kp[0]
	}
	return "schema"
}

// because says which conditional part of the schema a failure comes from, when
// it applies only sometimes (if/then/else, dependentSchemas), so that the
// sender knows why a rule holds for this payload.
func because(e *jsonschema.ValidationError) string {
	kws := schemaKeywords(e.SchemaURL)
	for i := len(kws) - 1; i >= 0; i-- {
		switch kws[i].keyword {
		case "then":
			return " (the contract's if/then rule applies to this payload)"
		case "else":
			return " (the contract's if/else rule applies to this payload)"
		case "dependentSchemas", "dependencies":
			return fmt.Sprintf(" (the contract requires this when %s is present)", clip(kws[i].name))
		}
	}
	return ""
}

// schemaKeyword is one keyword on the way to a subschema, with the property
// name it is followed by (properties/x, dependentSchemas/x), if any.
type schemaKeyword struct{ keyword, name string }

// schemaKeywords reads the keywords out of a schema location such as
// weir:///schema.json#/properties/then/dependentSchemas/card, telling keywords
// from the property names and indexes that follow some of them.
func schemaKeywords(loc string) []schemaKeyword {
	_, frag, ok := strings.Cut(loc, "#")
	if !ok || frag == "" {
		return nil
	}
	toks := strings.Split(strings.TrimPrefix(frag, "/"), "/")
	var out []schemaKeyword
	for i := 0; i < len(toks); i++ {
		kw := schemaKeyword{keyword: unescapeToken(toks[i])}
		switch kw.keyword {
		case "properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies",
			"allOf", "anyOf", "oneOf", "prefixItems":
			if i+1 < len(toks) {
				i++
				kw.name = unescapeToken(toks[i])
			}
		case "items":
			// draft-07's array form of items is followed by an index.
			if i+1 < len(toks) {
				if _, err := strconv.Atoi(toks[i+1]); err == nil {
					i++
					kw.name = toks[i]
				}
			}
		}
		out = append(out, kw)
	}
	return out
}

// unescapeToken decodes one token of a JSON pointer in a URI fragment.
func unescapeToken(t string) string {
	if u, err := url.PathUnescape(t); err == nil {
		t = u
	}
	return strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
}

// alternatives lists why each shape of an anyOf or oneOf did not match, first
// failure of each, within maxAlternatives bytes.
func alternatives(e *jsonschema.ValidationError) string {
	if len(e.Causes) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(": ")
	for i, c := range e.Causes {
		var leaves []Violation
		collect(c, &leaves)
		if len(leaves) == 0 {
			continue
		}
		part := fmt.Sprintf("shape %d fails because %s", i+1, strings.TrimSuffix(leaves[0].Message, "."))
		if i > 0 {
			part = "; " + part
		}
		if b.Len()+len(part) > maxAlternatives {
			b.WriteString("; ...")
			break
		}
		b.WriteString(part)
	}
	if b.Len() == 2 {
		return ""
	}
	return b.String()
}

// firstCause returns sep and the first concrete failure below e, or "".
func firstCause(e *jsonschema.ValidationError, sep string) string {
	var leaves []Violation
	for _, c := range e.Causes {
		collect(c, &leaves)
		if len(leaves) > 0 {
			return sep + clipTo(strings.TrimSuffix(leaves[0].Message, "."), maxAlternatives)
		}
	}
	return ""
}

func whereText(p string) string {
	if p == "" {
		return "the payload"
	}
	return "the field " + clip(strings.TrimPrefix(p, "/"))
}

// childPointer points at the first of names below p.
func childPointer(p string, names []string) string {
	if len(names) == 0 {
		return p
	}
	return p + pointer([]string{names[0]})
}

// nameList writes names as "a, b, c and 4 more".
func nameList(names []string) string {
	shown := names
	if len(shown) > maxListed {
		shown = shown[:maxListed]
	}
	parts := make([]string, len(shown))
	for i, n := range shown {
		parts[i] = clip(n)
	}
	s := strings.Join(parts, ", ")
	if more := len(names) - len(shown); more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

func errText(err error) string {
	if err == nil {
		return "no reason given"
	}
	return clip(err.Error())
}

// sentence ends msg with a full stop.
func sentence(msg string) string {
	msg = strings.TrimSpace(msg)
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}
