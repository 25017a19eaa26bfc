// Package filter is a subscription's CEL filter: Compile checks an
// expression once, Match runs it on each event within bounds of cost, size
// and time, and an event it cannot judge is told apart (ErrLimit, ErrData)
// from one it does not select.
package filter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	celext "github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"

	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/field"
)

const (
	// maxFilterLen bounds the source of a filter, in bytes. A filter is a
	// line or two in weir.yaml; the bound keeps parsing and checking cheap
	// whatever the config holds.
	maxFilterLen = 4096

	// maxFilterIssues caps how many compile problems an error lists: a
	// syntax error tends to cascade, and only the first few help.
	maxFilterIssues = 3
)

// ErrLimit means a filter went over the bounds of one evaluation on an
// event (its cost, the size of a value it builds, or its time). The event is
// not judged: a subscription makes it a dead letter rather than skip it,
// since skipping would let a payload hide from a filter by being large.
var ErrLimit = errors.New("the filter exceeded the limits of one evaluation")

// ErrData means the event's data cannot be read by a filter: it is
// not valid UTF-8, or not JSON that decodes (a number out of range, such as
// 1e999999). The event is not judged, and becomes a dead letter of the
// subscription.
var ErrData = errors.New("the event's data cannot be read by the filter")

// filterVars names the variables a filter can use, in the order the error
// for an unknown name lists them.
const filterVars = "id, source, type, subject, time, datacontenttype, dataschema, data, ext and event"

// Filter is a compiled CEL expression that selects events for a
// subscription (the `filter:` of a subscription in weir.yaml). It is safe
// for concurrent use.
//
// The expression sees these variables:
//
//   - id, source, type, subject, datacontenttype, dataschema: the event's
//     attributes as strings; an absent optional attribute is "".
//   - time: the event's time as a CEL timestamp; an event without a time
//     has the Unix epoch, 1970-01-01T00:00:00Z. Functions such as
//     time.getHours() use UTC unless given a time zone.
//   - data: the payload decoded from JSON: maps, lists, strings, bools,
//     null, and numbers as doubles (integers compare with doubles, so
//     data.total > 100 works). data is null when the event has no payload
//     or a binary one; a text payload of a non-JSON media type is a string.
//   - ext: the extension attributes, a map(string, dyn) whose values are
//     strings, bools or ints.
//   - event: a map holding all of the above by the same names, so that
//     event.type or event.data.total also work.
//
// The expression must give true or false. Besides the CEL standard library
// it may use the strings extension (lowerAscii, split, replace, ...) and the
// has() macro. Each evaluation is bounded in cost, in the size of the values
// it builds and in time (see filterbound.go), whatever the expression and the
// payload; going over is an error wrapping ErrLimit.
//
// Reading a field the payload lacks is an error in CEL, not false, so Match
// returns (false, err) and the caller counts the event as not matched. A
// filter over an optional field should test for it first:
//
//	has(data.total) && data.total > 100
type Filter struct {
	src     string
	prg     cel.Program
	data    bool          // whether the expression reads data, directly or through event
	loops   bool          // whether it has a comprehension (all, exists, map, ...)
	timeout time.Duration // filterTimeout; tests of the other bounds raise it
}

// Compile parses and type-checks expr. An expr that is empty or only
// white space means no filter: it returns (nil, nil), and a nil *Filter
// matches every event.
//
// The error is a *field.Error for "filter", a sentence meant for whoever
// wrote weir.yaml; it names the
// line and column of each problem, as in
// `filter: line 1, column 6: undeclared reference to 'totl'`, and lists
// the variables when a name is unknown. An expression longer than 4096
// bytes, or one whose type is known and is not bool, is refused.
func Compile(expr string) (*Filter, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	if len(expr) > maxFilterLen {
		return nil, field.Errorf("filter", "the expression is %d bytes long; the limit is %d", len(expr), maxFilterLen)
	}
	env, err := filterEnv()
	if err != nil {
		return nil, field.Wrap("filter", err)
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, compileError(env, expr, iss.Errors())
	}
	// A dyn result (data.flag, say) can only be judged per event, so Match
	// checks it; any other known type can never be true or false.
	if out := ast.OutputType(); out.Kind() != types.BoolKind && out.Kind() != types.DynKind {
		return nil, field.Errorf("filter", "the expression gives a value of type %s, but a filter must be true or false; compare it, as in data.total > 100",
			cel.FormatCELType(out))
	}
	prg, err := env.Program(ast,
		// Every call is charged to the Match's budget; see filterbound.go
		// for why this replaces cel.CostLimit.
		cel.CustomDecoratorV2(boundCalls),
		cel.InterruptCheckFrequency(filterInterruptEvery),
		// Folds constants and compiles literal regular expressions once,
		// here, instead of on every Match.
		cel.EvalOptions(cel.OptOptimize),
	)
	if err != nil {
		return nil, field.Wrap("filter", err)
	}
	f := &Filter{src: expr, prg: prg, timeout: filterTimeout}
	// Only a comprehension can run for long: every other step is bounded
	// by the expression's length and the size checks. A filter without one
	// spares the timer and context of the time bound.
	celast.PostOrderVisit(ast.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		f.loops = f.loops || e.Kind() == celast.ComprehensionKind
	}))
	for _, r := range ast.NativeRep().ReferenceMap() {
		if r.Name == "data" || r.Name == "event" {
			f.data = true
			break
		}
	}
	return f, nil
}

// Match reports whether ev passes the filter. A nil *Filter matches
// everything.
//
// An error means the expression could not be evaluated for this event.
// Two kinds leave the event unjudged, and the caller must not count it as
// not matched: an error wrapping ErrLimit (the evaluation went over
// its bounds) or ErrData (the payload cannot be decoded). Any other
// error (a field the payload lacks, a value of the wrong type, a result
// that is not true or false) means not matched; the error says why, for
// logs.
func (f *Filter) Match(ev *event.Event) (bool, error) {
	if f == nil {
		return true, nil
	}
	if ev == nil {
		return false, errors.New("filter: no event to match")
	}
	act := &activation{ev: ev, budget: budget{left: filterCostLimit}}
	// Decoding is most of the cost of a Match, so it happens only for
	// expressions that look at the payload.
	if f.data {
		d, err := decodeData(ev)
		if err != nil {
			return false, err
		}
		act.data = d
	}
	var out ref.Val
	var err error
	if f.loops {
		ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
		defer cancel()
		out, _, err = f.prg.ContextEval(ctx, act)
		if ctx.Err() != nil {
			// An interrupted comprehension gives an error value, which ||
			// or exists() may have swallowed into a result that means
			// nothing.
			return false, fmt.Errorf("filter: %w: it ran for more than %s on this event", ErrLimit, f.timeout)
		}
	} else {
		out, _, err = f.prg.Eval(act)
	}
	if err != nil {
		return false, evalError(err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("filter: the expression gave a value of type %s for this event, not true or false", out.Type().TypeName())
	}
	return bool(b), nil
}

// String returns the source expression, or "" for a nil *Filter.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.src
}

// filterEnv is built once: an environment takes milliseconds to build and
// is safe for concurrent use, so every filter shares it.
var filterEnv = sync.OnceValues(func() (*cel.Env, error) {
	strs, err := cel.NewEnv(celext.Strings())
	if err != nil {
		return nil, err
	}
	bounded, err := boundedBuilders(strs)
	if err != nil {
		return nil, err
	}
	opts := []cel.EnvOption{
		cel.Variable("id", cel.StringType),
		cel.Variable("source", cel.StringType),
		cel.Variable("type", cel.StringType),
		cel.Variable("subject", cel.StringType),
		cel.Variable("time", cel.TimestampType),
		cel.Variable("datacontenttype", cel.StringType),
		cel.Variable("dataschema", cel.StringType),
		cel.Variable("data", cel.DynType),
		cel.Variable("ext", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)),
		// JSON has one number type, decoded as double; without this,
		// data.total > 100 would fail for want of a double-int overload.
		cel.CrossTypeNumericComparisons(true),
		// Events keep the offset they were sent with; UTC makes
		// time.getHours() mean the same thing for every sender.
		cel.DefaultUTCTimeZone(true),
		celext.Strings(),
		// Bad literals are mistakes in weir.yaml, so report them when the
		// config loads rather than on every event.
		cel.ASTValidators(
			cel.ValidateDurationLiterals(),
			cel.ValidateTimestampLiterals(),
			cel.ValidateRegexLiterals(),
		),
	}
	return cel.NewEnv(append(opts, bounded...)...)
})

// compileError turns CEL's issues into one sentence per problem, each with
// its position, dropping CEL's source snippet (which reads poorly inside a
// config error) and the container note, which means nothing to a weir user.
func compileError(env *cel.Env, expr string, issues []*cel.Error) error {
	var b strings.Builder
	for i, e := range issues {
		if i == maxFilterIssues {
			fmt.Fprintf(&b, "; and %d more", len(issues)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		if loc := e.Location; loc != nil && loc != common.NoLocation && loc.Line() > 0 {
			fmt.Fprintf(&b, "line %d, column %d: ", loc.Line(), loc.Column()+1)
		}
		b.WriteString(strings.ReplaceAll(e.Message, " (in container '')", ""))
	}
	// cel-go's issues are untyped sentences, so the hints come from the
	// expression itself, not from their text.
	unknown, badPattern := compileHints(env, expr)
	if badPattern != nil {
		b.WriteString(" (the pattern is not a valid RE2 regular expression: " + badPattern.Error() + ")")
	}
	if unknown {
		b.WriteString(" (the variables are " + filterVars + ")")
	}
	return &field.Error{Path: "filter", Reason: b.String()}
}

// compileHints reads expr's syntax tree for the two mistakes worth a hint:
// a name that is not one of the filter's variables (nor a comprehension's
// own), and a literal pattern of matches() that RE2 refuses.
func compileHints(env *cel.Env, expr string) (unknown bool, badPattern error) {
	parsed, iss := env.Parse(expr)
	if iss.Err() != nil {
		return false, nil
	}
	known := map[string]bool{}
	for _, v := range strings.FieldsFunc(filterVars, func(r rune) bool { return r == ',' || r == ' ' }) {
		known[v] = v != "and"
	}
	celast.PreOrderVisit(parsed.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.ComprehensionKind:
			c := e.AsComprehension()
			known[c.IterVar()], known[c.AccuVar()] = true, true
			if c.HasIterVar2() {
				known[c.IterVar2()] = true
			}
		case celast.IdentKind:
			unknown = unknown || !known[e.AsIdent()]
		case celast.CallKind:
			args := e.AsCall().Args()
			if e.AsCall().FunctionName() == "matches" && len(args) > 0 && args[len(args)-1].Kind() == celast.LiteralKind {
				if p, ok := args[len(args)-1].AsLiteral().(types.String); ok && badPattern == nil {
					_, badPattern = regexp.Compile(string(p))
				}
			}
		}
	}))
	return unknown, badPattern
}

// evalError explains an evaluation failure, adding the remedy for the two
// commonest causes: a field this event's payload lacks, and a payload value
// of another type than the expression expects (a number sent as a string).
func evalError(err error) error {
	var cancelled interpreter.EvalCancelledError
	if errors.As(err, &cancelled) {
		return fmt.Errorf("filter: %w: %s", ErrLimit, cancelled.Message)
	}
	// cel-go (v0.31) gives these failures as untyped messages, so the remedy
	// for both common causes is given whatever the message says.
	return fmt.Errorf("filter: %w (in CEL a field the event lacks is an error: test for a field that may be absent with has(), "+
		"as in has(data.total) && data.total > 100; so is a value of a type the operation does not accept, such as a string compared with a number)", err)
}

// decodeData returns the payload as a CEL-ready Go value, or nil (CEL null)
// when there is no JSON payload.
func decodeData(ev *event.Event) (any, error) {
	if len(ev.Data) == 0 {
		return nil, nil
	}
	// encoding/json would quietly turn invalid UTF-8 into U+FFFD, so that
	// the filter would judge other text than the app receives.
	if !utf8.Valid(ev.Data) {
		return nil, fmt.Errorf("filter: %w: it is not valid UTF-8", ErrData)
	}
	var v any
	if err := json.Unmarshal(ev.Data, &v); err != nil {
		return nil, fmt.Errorf("filter: %w: it is not valid JSON: %w", ErrData, err)
	}
	return v, nil
}

// epoch stands in for an absent time, so that comparisons such as
// time > timestamp("2020-01-01T00:00:00Z") are false rather than errors.
var epoch = types.Timestamp{Time: time.Unix(0, 0).UTC()}

// emptyExt stands in for absent extensions so that ext.x is a "no such
// key" error, as for a map that is present but lacks x. It is never written.
var emptyExt = map[string]any{}

// activation hands an event's fields to CEL as they are asked for, so that
// a Match costs no more than the variables its expression reads.
type activation struct {
	ev     *event.Event
	data   any
	event  map[string]any // built on first use of the event variable
	budget budget         // what this Match may still spend
}

var _ interpreter.Activation = (*activation)(nil)

// ResolveName returns the value of a filter variable. Values are CEL types
// where that is cheap, which spares the type adapter a reflection lookup.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "id":
		return types.String(a.ev.ID), true
	case "source":
		return types.String(a.ev.Source), true
	case "type":
		return types.String(a.ev.Type), true
	case "subject":
		return types.String(a.ev.Subject), true
	case "time":
		if a.ev.Time.IsZero() {
			return epoch, true
		}
		return types.Timestamp{Time: a.ev.Time}, true
	case "datacontenttype":
		return types.String(a.ev.DataContentType), true
	case "dataschema":
		return types.String(a.ev.DataSchema), true
	case "data":
		return a.data, true
	case "ext":
		if a.ev.Extensions == nil {
			return emptyExt, true
		}
		return a.ev.Extensions, true
	case "event":
		if a.event == nil {
			a.event = make(map[string]any, 10)
			for _, n := range [...]string{"id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data", "ext"} {
				a.event[n], _ = a.ResolveName(n)
			}
		}
		return a.event, true
	}
	return nil, false
}

// Parent returns nil: the event is the only source of variables.
func (a *activation) Parent() interpreter.Activation { return nil }
