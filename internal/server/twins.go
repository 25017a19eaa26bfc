package server

import (
	"log/slog"
	"maps"
	"slices"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/sink/clickhouse"
	"github.com/weir-dev/weir/internal/view"
)

// compileViews compiles weir.yaml's views for the sinks, which keep their
// ClickHouse twins (the view manager compiles its own).
func compileViews(views map[string]*config.View) (map[string]*view.Spec, error) {
	out := make(map[string]*view.Spec, len(views))
	for name, v := range views {
		spec, err := view.Compile(name, v)
		if err != nil {
			return nil, err
		}
		out[name] = spec
	}
	return out, nil
}

// logTwins says once at start which views no ClickHouse sink of weir.yaml
// keeps a twin of (see docs/analytics.md, "Views in SQL"). Each ClickHouse
// sink logs the twins it keeps when it first starts, which covers the sinks
// created through the API too.
func (s *Server) logTwins(sinks map[string]*config.Sink, views map[string]*view.Spec) {
	if len(views) == 0 {
		return
	}
	twinned := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(sinks)) {
		for _, v := range clickhouse.TwinViews(sinks[name], views) {
			twinned[v] = true
		}
	}
	var alone []string
	for _, name := range slices.Sorted(maps.Keys(views)) {
		if !twinned[name] {
			alone = append(alone, name)
		}
	}
	if len(alone) > 0 {
		s.log.Info("views without a ClickHouse twin: no ClickHouse sink of weir.yaml without a filter takes every type they take",
			slog.Any("views", alone))
	}
}
