package portal

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/token"
	"github.com/weir-dev/weir/internal/traffic"
	"github.com/weir-dev/weir/internal/view"
)

// viewSeries is the home chart's figures read from a count view.
type viewSeries struct {
	// Name is the view's.
	Name string
	// Values are the events of each minute, oldest first, as the counters'
	// PerMinute; LastHour sums them.
	Values   []uint64
	LastHour uint64
}

// chartPatterns are the type patterns the home chart sums: every type for an
// admin, the publish and subscribe patterns of anyone else (traffic.MaySeeType).
func chartPatterns(t *token.Token) []string {
	if t.IsAdmin() {
		return []string{">"}
	}
	var out []string
	for _, r := range t.Roles {
		kind, pattern, _ := strings.Cut(r, ":")
		if (kind == "publish" || kind == "subscribe") && pattern != "" && !slices.Contains(out, pattern) {
			out = append(out, pattern)
		}
	}
	return out
}

// chartView says whether count view spec can draw the home chart for t, and
// whether its records must be cut to the types t may see (by their "type"
// value). It can when it counts per minute with no filter, its types cover
// every pattern the chart sums, and it counts nothing t may not see: all its
// types are within t's patterns, or it counts by type so that the others
// can be left out.
func chartView(spec config.View, t *token.Token) (usable, cut bool) {
	want := chartPatterns(t)
	if spec.Kind != config.ViewCount || spec.Every.D() != time.Minute || spec.Filter != "" || len(want) == 0 {
		return false, false
	}
	for _, p := range want {
		if !slices.ContainsFunc(spec.Types, func(v string) bool { return event.CoversPattern(v, p) }) {
			return false, false
		}
	}
	within := true
	for _, v := range spec.Types {
		if !slices.ContainsFunc(want, func(p string) bool { return event.CoversPattern(p, v) }) {
			within = false
		}
	}
	if within {
		return true, false
	}
	return slices.Contains(spec.By, "type"), true
}

// homeViewSeries reads the home chart's last hour from the first count view
// (by name) that can draw it for t (chartView): minutes ending with the one
// at falls in. It answers false when no view fits, or the one that fits
// cannot be read in one bounded request; the chart then keeps the counters.
func (p *Portal) homeViewSeries(ctx context.Context, t *token.Token, at time.Time) (viewSeries, bool) {
	if p.deps.Views == nil {
		return viewSeries{}, false
	}
	for _, info := range p.deps.Views.List() {
		spec := p.deps.Views.Spec(info.Name)
		if spec == nil {
			continue
		}
		usable, cut := chartView(spec.Config, t)
		if !usable {
			continue
		}
		from := at.UTC().Truncate(time.Minute).Add(-(traffic.Minutes - 1) * time.Minute)
		points, next, err := p.deps.Views.Series(ctx, info.Name, view.SeriesQuery{From: from,
			To: from.Add(traffic.Minutes * time.Minute), Limit: view.MaxBuckets})
		if err != nil || next != "" {
			p.log.WarnContext(ctx, "portal: the home chart keeps the counters: its view was not read whole",
				"view", info.Name, "error", err, "more", next != "")
			return viewSeries{}, false
		}
		if cut {
			points = slices.DeleteFunc(points, func(pt view.Point) bool { return !traffic.MaySeeType(t, pt.By["type"]) })
		}
		s := viewSeries{Name: info.Name}
		s.Values, _ = bucketSums(points, from, time.Minute, traffic.Minutes)
		for _, n := range s.Values {
			s.LastHour += n
		}
		return s, true
	}
	return viewSeries{}, false
}
