package filter

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/field"
)

// Value is a compiled CEL expression that gives a string or an integer for
// an event (a view's key). It sees the same variables and runs within the
// same bounds of cost, size and time as a Filter. It is safe for concurrent
// use.
type Value struct {
	prg   cel.Program
	data  bool
	loops bool
}

// CompileValue parses and type-checks expr, an expression that must give a
// string or an integer (or dyn, judged per event). The error is a
// *field.Error for "key" (the caller puts it under its own path).
func CompileValue(expr string) (*Value, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, field.Errorf("key", "the expression is empty")
	}
	if len(expr) > maxFilterLen {
		return nil, field.Errorf("key", "the expression is %d bytes long; the limit is %d", len(expr), maxFilterLen)
	}
	env, err := filterEnv()
	if err != nil {
		return nil, field.Wrap("key", err)
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		fe := compileError(env, expr, iss.Errors()).(*field.Error)
		fe.Path = "key"
		return nil, fe
	}
	switch ast.OutputType().Kind() {
	case types.StringKind, types.IntKind, types.UintKind, types.DynKind:
	default:
		return nil, field.Errorf("key", "the expression gives a value of type %s, but a key must be a string or an integer; convert it, as in string(data.id)",
			cel.FormatCELType(ast.OutputType()))
	}
	prg, err := env.Program(ast,
		cel.CustomDecoratorV2(boundCalls),
		cel.InterruptCheckFrequency(filterInterruptEvery),
		cel.EvalOptions(cel.OptOptimize),
	)
	if err != nil {
		return nil, field.Wrap("key", err)
	}
	v := &Value{prg: prg}
	celast.PostOrderVisit(ast.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		v.loops = v.loops || e.Kind() == celast.ComprehensionKind
	}))
	for _, r := range ast.NativeRep().ReferenceMap() {
		if r.Name == "data" || r.Name == "event" {
			v.data = true
			break
		}
	}
	return v, nil
}

// Eval gives the expression's value for ev as a string (an integer in
// decimal). An error wrapping ErrLimit or ErrData leaves the event
// unjudged; any other error means the expression has no value for it.
func (v *Value) Eval(ev *event.Event) (string, error) {
	act := &activation{ev: ev, budget: budget{left: filterCostLimit}}
	if v.data {
		d, err := decodeData(ev)
		if err != nil {
			return "", err
		}
		act.data = d
	}
	var out ref.Val
	var err error
	if v.loops {
		ctx, cancel := context.WithTimeout(context.Background(), filterTimeout)
		defer cancel()
		out, _, err = v.prg.ContextEval(ctx, act)
		if ctx.Err() != nil {
			return "", fmt.Errorf("key: %w: it ran for more than %s on this event", ErrLimit, filterTimeout)
		}
	} else {
		out, _, err = v.prg.Eval(act)
	}
	if err != nil {
		return "", evalError(err)
	}
	switch x := out.(type) {
	case types.String:
		return string(x), nil
	case types.Int:
		return fmt.Sprint(int64(x)), nil
	case types.Uint:
		return fmt.Sprint(uint64(x)), nil
	case types.Double:
		if f := float64(x); f == float64(int64(f)) {
			return fmt.Sprint(int64(f)), nil
		}
	}
	return "", fmt.Errorf("key: the expression gave a value of type %s for this event, not a string or an integer", out.Type().TypeName())
}
