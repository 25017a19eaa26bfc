package server

import (
	"context"
	"time"

	"github.com/weir-dev/weir/internal/ingress"
)

// startSources builds the set of sources POST /in/{source} serves: the
// compiled ones of weir.yaml, then the ones created through the API, which
// the sources service keeps current. The request log records requests to
// either. window is the longest de-duplication window the bus keeps.
func (s *Server) startSources(ctx context.Context, declared []*ingress.Source, window time.Duration, publicURL string) (*ingress.SourceSet, *ingress.RequestLog, error) {
	var err error
	s.requests, err = ingress.NewRequestLog(s.bus.Conn(), s.cfg.Bus.Replicas, s.registry, s.log)
	if err != nil {
		return nil, nil, err
	}
	if err := s.requests.Start(ctx); err != nil {
		return nil, nil, err
	}
	set := ingress.NewSourceSet(declared...)
	s.sources = ingress.NewSources(s.bus.JetStream(), ingress.SourcesConfig{
		Config: s.cfg, Set: set, PublicURL: publicURL, MaxDedupeWindow: window, Requests: s.requests,
	}, s.log)
	if err := s.sources.Start(ctx); err != nil {
		return nil, nil, err
	}
	return set, s.requests, nil
}
