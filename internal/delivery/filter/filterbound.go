package filter

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
)

// The bounds of one Match. A filter is written by whoever holds a token that
// may subscribe, and runs on payloads written by whoever may publish, so
// neither the expression nor the data is trusted; these bounds hold whatever
// both contain.
//
// cel-go's own cost tracker (cel.CostLimit) is not used, for two reasons
// measured on v0.31.0:
//   - with data declared dyn, `+` on two strings has no overload id when the
//     expression is checked, so the tracker charges it 1 whatever the sizes:
//     data.xs.map(a, data.s + data.s) over 3,000 items and a 100 KB string
//     cost 51,005 units (limit 1,000,000) and allocated 587 MB;
//   - its value stack grows by two entries per comprehension step and every
//     attribute read searches the whole stack, so cost tracking is quadratic
//     in a list's length: data.xs.exists(a, a == "zzz") over 20,000 strings
//     took 2.5 s with tracking and 38 ms without, and two nested all() over
//     20,000 items ran 27 s before the limit stopped them.
//
// Instead every function call is charged to a per-Match budget (filterCost),
// and the calls that build a string or compare lists check the size of what
// they are about to build or walk before they do it (filterBuild,
// filterCompare), so memory is bounded before it is allocated rather than
// found out afterwards.
const (
	// filterCostLimit is the budget of one Match, in units: one per function
	// call, plus one per filterBytesPerUnit bytes of each string a call
	// builds, plus one per value an equality or `in` visits. Measured:
	// `data.total > 100 && type.startsWith("order.")` spends 2 units;
	// data.xs.exists(a, a == "zzz") over 20,000 items spends 100,000 in
	// 7 ms; two nested all() over 3,000 items spend it all in 160 ms
	// (BenchmarkFilterNestedAll); the reported map(a, data.s + data.s)
	// over a 100 KB string stops after 35 ms and about 50 strings (10 MB).
	filterCostLimit = 1_000_000

	// filterBytesPerUnit is how many bytes of a built string cost one unit:
	// CEL's own factor (0.1 per character). With filterCostLimit, the
	// strings one Match builds add up to at most about 10 MB.
	filterBytesPerUnit = 10

	// filterBuild is the largest string or bytes one call may build (`+`,
	// replace, join, format), checked from the sizes of its operands before
	// it is built. A replace or join can multiply its input: "".replace("",
	// data.s) with a 100 KB string, or join of a list holding the same
	// string 3,000 times, would make hundreds of MB in one call, before any
	// charge afterwards could stop it.
	filterBuild = 1 << 20

	// filterCompare bounds the values one ==, != or `in` may visit. Lists
	// built in a comprehension can share elements, so a list of a few
	// thousand entries can hold millions of values by reference, and one
	// comparison of two of them would run for minutes.
	filterCompare = 1 << 20

	// filterTimeout bounds the wall time of one Match, as a backstop for
	// work no charge sees (a comprehension whose body calls nothing, such
	// as exists_one(a, false), or contains() over a large string many
	// times). It is checked every filterInterruptEvery comprehension steps.
	// The cost limit normally stops a filter well before it: 1,000,000
	// units take about 100-200 ms (ten times more under the race
	// detector, which is why tests of the other bounds raise it).
	filterTimeout        = time.Second
	filterInterruptEvery = 100

	// filterScanPerUnit is how many steps of a scanning call (indexOf,
	// matches, contains, ...) cost one unit, charged from the sizes of its
	// operands before it runs: a step is about a nanosecond, a unit about
	// 100-200 ns, so the budget allows about 0.1 s of scanning. cel-go's
	// indexOf and lastIndexOf compare rune by rune at every offset (a
	// 100 KB string searched for a 50 KB one ran 2.8 s as one call, which
	// no interrupt can stop), and matches costs the regular expression's
	// program size per input byte.
	filterScanPerUnit = 100

	// filterRegexInsts bounds the program of a regular expression, in
	// instructions: `(?:x?){1000}` repeated 300 times compiles to hundreds
	// of thousands and ran 28.7 s on 2 KB, while ordinary patterns take
	// tens. (cel.RegexProgramSizeLimit is not used: on v0.31.0 it compiles
	// the parsed pattern without simplifying it, and regexp/syntax panics
	// on any counted repetition such as x{2}, in Env.Check.)
	filterRegexInsts = 1000
)

// budget is what one Match may still spend, in units.
type budget struct{ left int64 }

// spend charges n units, stopping the evaluation when the budget is spent.
// The stop is a panic of the kind cel-go's own cost limit raises, which its
// Eval recovers into an error: unlike an error value, no `||` or exists()
// can swallow it and carry on.
func (b *budget) spend(n int64) {
	b.left -= n
	if b.left < 0 {
		panic(interpreter.EvalCancelledError{Cause: interpreter.CostLimitExceeded,
			Message: fmt.Sprintf("the filter exceeded its cost limit of %d units on this event", filterCostLimit)})
	}
}

// overBound stops the evaluation because a call would build or walk too
// much.
func overBound(format string, args ...any) {
	panic(interpreter.EvalCancelledError{Cause: interpreter.CostLimitExceeded, Message: fmt.Sprintf(format, args...)})
}

// budgetOf finds the Match's budget: frames of comprehensions wrap the
// activation of the Match, so the search walks up through their parents.
func budgetOf(a interpreter.Activation) *budget {
	for a != nil {
		switch v := a.(type) {
		case *activation:
			return &v.budget
		case *interpreter.ExecutionFrame:
			a = v.Activation
		default:
			a = a.Parent()
		}
	}
	return nil
}

// boundCalls is the decorator that puts every call under the budget.
func boundCalls(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
	call, ok := i.(interpreter.InterpretableCall)
	if !ok {
		return i, nil
	}
	args := call.Args()
	switch fn := call.Function(); {
	case fn == operators.Add && len(args) == 2:
		return &boundedAdd{InterpretableCall: call, lhs: args[0], rhs: args[1]}, nil
	case (fn == operators.Equals || fn == operators.NotEquals || fn == operators.In || fn == operators.OldIn) && len(args) == 2:
		return &boundedCompare{InterpretableCall: call, fn: fn, lhs: args[0], rhs: args[1]}, nil
	}
	if call.Function() == "matches" && len(args) == 2 {
		if c, ok := args[1].(interpreter.InterpretableConst); ok {
			if pattern, ok := c.Value().(types.String); ok {
				return newLiteralMatch(call.ID(), args[0], string(pattern))
			}
		}
	}
	if scanningFuncs[call.Function()] {
		return &scanningCall{InterpretableCall: call, fn: call.Function(), args: args}, nil
	}
	return &chargedCall{InterpretableCall: call, builds: buildingFuncs[call.Function()]}, nil
}

// scanningFuncs read their operands without building anything, in time
// that grows with the operands' sizes.
var scanningFuncs = map[string]bool{
	"contains": true, "startsWith": true, "endsWith": true,
	"indexOf": true, "lastIndexOf": true, "matches": true,
}

// scanningCall charges a scanning call by the work its operands imply
// before it runs: one call can take seconds, and nothing interrupts a call
// halfway. The operands are evaluated once for the charge and again by the
// call; whatever they build is charged both times.
type scanningCall struct {
	interpreter.InterpretableCall
	fn   string
	args []interpreter.InterpretableV2
}

func (c *scanningCall) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	b := budgetOf(frame)
	if b == nil {
		return c.InterpretableCall.Exec(frame)
	}
	var buf [3]ref.Val // indexOf(s, sub, offset) has the most operands
	vals := buf[:0]
	for _, a := range c.args {
		v := a.Exec(frame)
		if types.IsUnknownOrError(v) {
			return v
		}
		vals = append(vals, v)
	}
	b.spend(1 + scanCost(c.fn, vals))
	return c.InterpretableCall.Exec(frame)
}

func (c *scanningCall) Eval(a interpreter.Activation) ref.Val {
	return c.Exec(interpreter.AsFrame(a))
}

// literalMatch is matches() with a literal pattern, compiled once. It is
// deliberately not an InterpretableCall: cel-go's own optimisation of
// literal patterns (OptOptimize) replaces any call to matches that it
// recognises, which would drop the charge.
type literalMatch struct {
	id    int64
	text  interpreter.InterpretableV2
	re    *regexp.Regexp
	insts int64
}

func newLiteralMatch(id int64, text interpreter.InterpretableV2, pattern string) (interpreter.InterpretableV2, error) {
	insts, err := regexInsts(pattern)
	if err != nil {
		return nil, err
	}
	if insts > filterRegexInsts {
		return nil, fmt.Errorf("the regular expression %.40q compiles to %d instructions; the limit is %d: simplify it (fewer or smaller counted repetitions)", pattern, insts, filterRegexInsts)
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	return &literalMatch{id: id, text: text, re: re, insts: int64(insts)}, nil
}

func (m *literalMatch) ID() int64 { return m.id }

func (m *literalMatch) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	v := m.text.Exec(frame)
	if types.IsUnknownOrError(v) {
		return v
	}
	text, ok := v.(types.String)
	if !ok {
		return types.NoSuchOverloadErr()
	}
	if b := budgetOf(frame); b != nil {
		b.spend(1 + int64(len(text))*m.insts/filterScanPerUnit)
	}
	return types.Bool(m.re.MatchString(string(text)))
}

func (m *literalMatch) Eval(a interpreter.Activation) ref.Val {
	return m.Exec(interpreter.AsFrame(a))
}

// regexInsts is the size of pattern's program, as regexp compiles it.
func regexInsts(pattern string) (int, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return 0, err
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0, err
	}
	return len(prog.Inst), nil
}

// scanCost is the work of a scanning call on these operands, in units:
// the receiver (or first argument) is the text, the second the needle or
// pattern.
func scanCost(fn string, vals []ref.Val) int64 {
	if len(vals) < 2 {
		return 0
	}
	text, needle := int64(stringLen(vals[0])), int64(stringLen(vals[1]))
	switch fn {
	case "indexOf", "lastIndexOf":
		return text * max(needle, 1) / filterScanPerUnit
	case "matches":
		pattern, ok := vals[1].(types.String)
		if !ok {
			return 0
		}
		insts, err := regexInsts(string(pattern))
		if err != nil {
			return needle / filterBytesPerUnit // the call reports the error
		}
		if insts > filterRegexInsts {
			overBound("the filter's regular expression compiles to %d instructions; the limit is %d", insts, filterRegexInsts)
		}
		return needle/filterBytesPerUnit + text*int64(insts)/filterScanPerUnit
	}
	return (text + needle) / filterScanPerUnit
}

// buildingFuncs are the functions whose string (or list) result is newly
// allocated, and so is charged by its size.
var buildingFuncs = map[string]bool{
	"replace": true, "join": true, "format": true, "lowerAscii": true, "upperAscii": true,
	"trim": true, "substring": true, "reverse": true, "strings.quote": true, "charAt": true,
	"split": true, "string": true, "bytes": true,
}

// chargedCall charges a call one unit, and a building call also the size of
// what it built. Its output is at most a few times its input, and its input
// was either the event or charged when it was built.
type chargedCall struct {
	interpreter.InterpretableCall
	builds bool
}

func (c *chargedCall) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	b := budgetOf(frame)
	if b == nil {
		return c.InterpretableCall.Exec(frame)
	}
	b.spend(1)
	v := c.InterpretableCall.Exec(frame)
	if c.builds {
		b.spend(builtCost(v))
	}
	return v
}

func (c *chargedCall) Eval(a interpreter.Activation) ref.Val {
	return c.Exec(interpreter.AsFrame(a))
}

// builtCost is what a newly built value costs: its bytes, or for a list of
// strings (split) a slot of 16 bytes per item.
func builtCost(v ref.Val) int64 {
	switch x := v.(type) {
	case types.String:
		return int64(len(x)) / filterBytesPerUnit
	case types.Bytes:
		return int64(len(x)) / filterBytesPerUnit
	case traits.Lister:
		if n, ok := x.Size().(types.Int); ok {
			return int64(n) * 16 / filterBytesPerUnit
		}
	}
	return 0
}

// boundedAdd is `+`: two strings (or bytes) are joined only if the result
// fits filterBuild, and charged by its size before it is made.
type boundedAdd struct {
	interpreter.InterpretableCall
	lhs, rhs interpreter.InterpretableV2
}

func (e *boundedAdd) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	b := budgetOf(frame)
	if b == nil {
		return e.InterpretableCall.Exec(frame)
	}
	l, r, stop := operands(frame, e.lhs, e.rhs)
	if stop != nil {
		return stop
	}
	b.spend(1)
	if n := stringLen(l) + stringLen(r); n > 0 {
		if n > filterBuild {
			overBound("the filter would build a string of %d bytes; the limit is %d", n, filterBuild)
		}
		b.spend(int64(n) / filterBytesPerUnit)
	}
	// The standard library's `+` is this, for every type that has one.
	if adder, ok := l.(traits.Adder); ok {
		return adder.Add(r)
	}
	return types.NoSuchOverloadErr()
}

func (e *boundedAdd) Eval(a interpreter.Activation) ref.Val {
	return e.Exec(interpreter.AsFrame(a))
}

// operands evaluates both sides of a binary call, left first, as cel-go
// does; stop is the first side that is an error or unknown.
func operands(frame *interpreter.ExecutionFrame, lhs, rhs interpreter.InterpretableV2) (l, r, stop ref.Val) {
	if l = lhs.Exec(frame); types.IsUnknownOrError(l) {
		return nil, nil, l
	}
	if r = rhs.Exec(frame); types.IsUnknownOrError(r) {
		return nil, nil, r
	}
	return l, r, nil
}

func stringLen(v ref.Val) int {
	switch x := v.(type) {
	case types.String:
		return len(x)
	case types.Bytes:
		return len(x)
	}
	return 0
}

// boundedCompare is ==, != and `in`: the values they would visit are
// counted, up to filterCompare, before they are compared, and charged.
type boundedCompare struct {
	interpreter.InterpretableCall
	fn       string
	lhs, rhs interpreter.InterpretableV2
}

func (e *boundedCompare) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	b := budgetOf(frame)
	if b == nil {
		return e.InterpretableCall.Exec(frame)
	}
	l, r, stop := operands(frame, e.lhs, e.rhs)
	if stop != nil {
		return stop
	}
	n := 1 + weight(l, filterCompare)
	if _, ok := r.(traits.Mapper); !ok || e.fn != operators.In && e.fn != operators.OldIn {
		n += weight(r, filterCompare) // a key in a map is found by its hash
	}
	if n > filterCompare {
		overBound("the filter would compare more than %d values at once", filterCompare)
	}
	b.spend(int64(n))
	switch e.fn {
	case operators.Equals:
		return types.Equal(l, r)
	case operators.NotEquals:
		return types.Bool(types.Equal(l, r) != types.True) // as cel-go's evalNe
	}
	// The standard library's `in`: membership in a list or map.
	if c, ok := r.(traits.Container); ok {
		return c.Contains(l)
	}
	return types.NoSuchOverloadErr()
}

func (e *boundedCompare) Eval(a interpreter.Activation) ref.Val {
	return e.Exec(interpreter.AsFrame(a))
}

// weight counts the values reachable from v, a string counting one per
// filterBytesPerUnit bytes, and stops counting past limit.
func weight(v ref.Val, limit int) int {
	n := 0
	var walk func(v ref.Val)
	walk = func(v ref.Val) {
		if n > limit {
			return
		}
		n++
		switch x := v.(type) {
		case types.String:
			n += len(x) / filterBytesPerUnit
		case types.Bytes:
			n += len(x) / filterBytesPerUnit
		case traits.Lister:
			// A list's iterator gives its items; a map's, its keys.
			for it := x.Iterator(); it.HasNext() == types.True && n <= limit; {
				walk(it.Next())
			}
		case traits.Mapper:
			for it := x.Iterator(); it.HasNext() == types.True && n <= limit; {
				k := it.Next()
				walk(k)
				if val, ok := x.Find(k); ok {
					walk(val)
				}
			}
		}
	}
	walk(v)
	return n
}

// boundedBuilders wraps the strings extension's replace, join and format so
// that each checks the size of its result from its arguments before making
// it. They are redeclared with the extension's own overload ids, which
// cel-go allows when the signature is the same; the original implementations
// are taken from an environment that has only the extension.
func boundedBuilders(base *cel.Env) ([]cel.EnvOption, error) {
	sizes := map[string]func(args []ref.Val) int{
		"string_replace_string_string":     replaceSize,
		"string_replace_string_string_int": replaceSize,
		"list_join":                        joinSize,
		"list_join_string":                 joinSize,
		"string_format":                    formatSize,
	}
	var opts []cel.EnvOption
	for name, fn := range base.Functions() {
		bindings, err := fn.Bindings()
		if err != nil {
			return nil, err
		}
		for _, ov := range fn.OverloadDecls() {
			size, ok := sizes[ov.ID()]
			if !ok {
				continue
			}
			var impl func(args ...ref.Val) ref.Val
			for _, bnd := range bindings {
				if bnd.Operator == ov.ID() {
					impl = overloadImpl(bnd.Unary, bnd.Binary, bnd.Function)
				}
			}
			if impl == nil {
				return nil, fmt.Errorf("no implementation of %s", ov.ID())
			}
			argTypes := make([]*cel.Type, len(ov.ArgTypes()))
			copy(argTypes, ov.ArgTypes())
			opts = append(opts, cel.Function(name, cel.MemberOverload(ov.ID(), argTypes, ov.ResultType(),
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					if n := size(args); n > filterBuild {
						overBound("the filter's %s() would build a string of more than %d bytes; the limit is %d", name, filterBuild, filterBuild)
					}
					return impl(args...)
				}))))
		}
	}
	return opts, nil
}

func overloadImpl(u func(ref.Val) ref.Val, b func(ref.Val, ref.Val) ref.Val, f func(...ref.Val) ref.Val) func(args ...ref.Val) ref.Val {
	switch {
	case f != nil:
		return f
	case b != nil:
		return func(args ...ref.Val) ref.Val { return b(args[0], args[1]) }
	case u != nil:
		return func(args ...ref.Val) ref.Val { return u(args[0]) }
	}
	return nil
}

// replaceSize is the length of s.replace(old, new[, n]).
func replaceSize(args []ref.Val) int {
	s, _ := args[0].(types.String)
	old, _ := args[1].(types.String)
	repl, _ := args[2].(types.String)
	count := 0
	if old == "" {
		count = utf8.RuneCountInString(string(s)) + 1
	} else {
		count = strings.Count(string(s), string(old))
	}
	if len(args) > 3 {
		if n, ok := args[3].(types.Int); ok && n >= 0 && int64(count) > int64(n) {
			count = int(n)
		}
	}
	return len(s) + count*(len(repl)-len(old))
}

// joinSize is the length of list.join([sep]), counting past filterBuild no
// further.
func joinSize(args []ref.Val) int {
	l, ok := args[0].(traits.Lister)
	if !ok {
		return 0
	}
	sep := 0
	if len(args) > 1 {
		if s, ok := args[1].(types.String); ok {
			sep = len(s)
		}
	}
	n := 0
	for it := l.Iterator(); it.HasNext() == types.True && n <= filterBuild; {
		n += stringLen(it.Next()) + sep
	}
	return n
}

// formatSize is an upper bound of the length of fmt.format(args): the
// format, plus each value reachable from the arguments at its longest when
// printed (a quoted string escapes a byte as at most six).
func formatSize(args []ref.Val) int {
	s, _ := args[0].(types.String)
	return len(s) + 6*filterBytesPerUnit*weight(args[1], filterBuild/(6*filterBytesPerUnit)+1)
}
