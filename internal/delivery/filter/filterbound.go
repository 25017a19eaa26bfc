package filter

import (
	"fmt"
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
	return &chargedCall{InterpretableCall: call, builds: buildingFuncs[call.Function()]}, nil
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
