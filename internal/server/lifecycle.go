package server

import (
	"context"

	"github.com/weir-dev/weir/internal/archive"
	"github.com/weir-dev/weir/internal/cdc"
	"github.com/weir-dev/weir/internal/contract"
	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/ingress"
	"github.com/weir-dev/weir/internal/retention"
	"github.com/weir-dev/weir/internal/sink"
	"github.com/weir-dev/weir/internal/view"
)

// Component is a long-running part of a node. The contract is written down in
// the package documentation (doc.go).
type Component interface {
	// Start starts the component; ctx bounds the start-up only.
	Start(ctx context.Context) error
	// Stop stops it and waits for every goroutine it started, or until ctx
	// ends. It may be called twice, and before Start.
	Stop(ctx context.Context) error
}

var (
	_ Component = (*archive.Archiver)(nil)
	_ Component = (*retention.Keeper)(nil)
	_ Component = (*delivery.Manager)(nil)
	_ Component = (*sink.Manager)(nil)
	_ Component = (*contract.Registry)(nil)
	_ Component = (*ingress.Sources)(nil)
	_ Component = (*ingress.RequestLog)(nil)
	_ Component = (*view.Manager)(nil)
	_ Component = (*cdc.Manager)(nil)
)

// namedComponent is a component and its name in logs.
type namedComponent struct {
	name string
	part Component
}

// components are the node's long-running parts that were built, in the order
// they stop (the reverse of the order they start).
func (s *Server) components() []namedComponent {
	var out []namedComponent
	if s.cdc != nil {
		out = append(out, namedComponent{"cdc", s.cdc})
	}
	if s.views != nil {
		out = append(out, namedComponent{"views", s.views})
	}
	if s.archiver != nil {
		out = append(out, namedComponent{"archive", s.archiver})
	}
	if s.keeper != nil {
		out = append(out, namedComponent{"retention", s.keeper})
	}
	if s.deliv != nil {
		out = append(out, namedComponent{"delivery", s.deliv})
	}
	if s.sinks != nil {
		out = append(out, namedComponent{"sinks", s.sinks})
	}
	if s.sources != nil {
		out = append(out, namedComponent{"sources", s.sources})
	}
	if s.requests != nil {
		out = append(out, namedComponent{"request log", s.requests})
	}
	if s.contracts != nil {
		out = append(out, namedComponent{"contracts", s.contracts})
	}
	return out
}
