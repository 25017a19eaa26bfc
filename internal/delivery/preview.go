package delivery

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/delivery/filter"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/field"
)

// Bounds of a filter preview. A preview is asked for by whoever may
// subscribe, so everything it reads and runs is bounded, whatever the
// stream holds and whatever the expression does.
const (
	// PreviewDefault is how many events a preview looks at when not told.
	PreviewDefault = 50
	// PreviewMax is the most events a preview looks at.
	PreviewMax = 100
	// previewMaxTypes caps the type patterns of one preview.
	previewMaxTypes = 20
	// previewSamples caps the matched ids and error messages a preview names.
	previewSamples = 10
)

// previewLimits bound one preview; tests lower them.
type previewLimits struct {
	// window is how many of the stream's latest sequences are searched for
	// events of the types: rare types may have fewer than n there.
	window uint64
	// bytes caps the event bytes read.
	bytes int
	// time caps the whole preview; each evaluation has the filter's own
	// time bound besides (one second), so a preview ends within about
	// time plus that.
	time time.Duration
}

var defaultPreviewLimits = previewLimits{window: 100_000, bytes: 8 << 20, time: 5 * time.Second}

// Preview is what a filter selects among the latest events of some types.
type Preview struct {
	// Examined is how many events the filter was run on: the latest n of
	// the types, or fewer when the stream has fewer or a bound was reached.
	Examined int `json:"examined"`
	// Matched is how many of them the filter selects.
	Matched int `json:"matched"`
	// Unjudged is how many it could not judge (over its bounds, or data it
	// cannot read): a subscription makes such events dead letters.
	Unjudged int `json:"unjudged"`
	// MatchedIDs are the ids of up to 10 matched events, newest first.
	MatchedIDs []string `json:"matched_ids"`
	// Errors are up to 10 distinct reasons an event was not matched or not
	// judged (a missing field, a wrong type), for fixing the expression.
	Errors []string `json:"errors,omitempty"`
	// Truncated says the preview stopped before the events it had found:
	// at the bound of bytes read or of its time (or because events were
	// removed meanwhile).
	Truncated bool `json:"truncated"`
}

// PreviewFilter runs the filter expr on the latest n events (PreviewDefault
// when n <= 0, at most PreviewMax) whose types match one of the patterns, as
// a subscription of those types would, and counts what it selects. It
// changes nothing and needs no subscription.
//
// The caller checks that its token may subscribe to every pattern
// (token.CanSubscribe); PreviewFilter checks the input. Errors a caller
// shows as a 400 are *field.Error: "types", "types[i]" for a bad pattern, or
// "filter" for an expression that does not compile (with its hint).
func (m *Manager) PreviewFilter(ctx context.Context, types []string, expr string, n int) (*Preview, error) {
	if n <= 0 {
		n = PreviewDefault
	}
	n = min(n, PreviewMax)
	if err := CheckPreviewTypes(types); err != nil {
		return nil, err
	}
	f, err := filter.Compile(expr)
	if err != nil {
		return nil, err // a *field.Error for "filter"
	}
	lim := m.previewLimits
	ctx, cancel := context.WithTimeout(ctx, lim.time)
	defer cancel()
	r := &previewReader{js: m.js, subjects: previewSubjects(types), bytesLeft: lim.bytes}
	if err := r.open(ctx, lim.window, n); err != nil {
		return nil, fmt.Errorf("preview: %w", err)
	}
	defer r.close()
	p := &Preview{MatchedIDs: []string{}}
	var matched []string
	for p.Examined < n {
		if ctx.Err() != nil {
			p.Truncated = true
			break
		}
		data, ok, cut, err := r.next(ctx)
		if err != nil {
			return nil, fmt.Errorf("preview: %w", err)
		}
		if !ok {
			p.Truncated = cut
			break
		}
		p.Examined++
		ok, id, err := previewOne(f, data)
		switch {
		case ok:
			p.Matched++
			matched = append(matched, id)
		case err != nil && unjudged(err):
			p.Unjudged++
		}
		if err != nil && len(p.Errors) < previewSamples && !slices.Contains(p.Errors, err.Error()) {
			p.Errors = append(p.Errors, err.Error())
		}
	}
	slices.Reverse(matched) // read oldest first
	p.MatchedIDs = append(p.MatchedIDs, matched[:min(len(matched), previewSamples)]...)
	return p, nil
}

// previewOne runs f on one stored event, as a subscription's reader does.
func previewOne(f *filter.Filter, data []byte) (bool, string, error) {
	ev, err := event.Decode(data)
	if err != nil {
		return false, "", fmt.Errorf("filter: %w: the event does not decode: %w", filter.ErrData, err)
	}
	ok, err := f.Match(&ev)
	return ok, ev.ID, err
}

// CheckPreviewTypes checks a preview's type patterns as a subscription's types
// are checked, before the token's roles are (a malformed pattern is a 400, not
// a 403): a *field.Error for "types" or "types[i]".
func CheckPreviewTypes(types []string) error {
	if len(types) == 0 {
		return field.Errorf("types", "at least one type pattern is required (e.g. [\"order.*\"])")
	}
	if len(types) > previewMaxTypes {
		return field.Errorf("types", "%d patterns; a preview takes at most %d", len(types), previewMaxTypes)
	}
	for i, t := range types {
		if err := event.ValidPattern(t); err != nil {
			return field.Wrap(fmt.Sprintf("types[%d]", i), err)
		}
	}
	return nil
}

// previewSubjects are the subjects of the patterns, leaving out any that
// another covers: the bus refuses a consumer whose filters overlap.
func previewSubjects(types []string) []string {
	var out []string
	for _, p := range event.ReducePatterns(types) {
		out = append(out, bus.EventsPrefix+p)
	}
	return out
}
