package server

import (
	"context"
	"fmt"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/tail"
	"github.com/weir-dev/weir/internal/traffic"
)

// buildTraffic makes the live figures, fed by ingress and delivery, and the
// live tails; neither runs anything in the background.
func (s *Server) buildTraffic(ctx context.Context) error {
	events, err := s.bus.JetStream().Stream(ctx, bus.EventsStream)
	if err != nil {
		return fmt.Errorf("live figures: the %s stream: %w", bus.EventsStream, err)
	}
	s.traffic = traffic.New(traffic.Options{Events: events})
	s.tails = tail.New(s.bus.JetStream(), tail.Limits{})
	return nil
}

// Traffic are this node's live figures, for the portal and for tests.
func (s *Server) Traffic() *traffic.Counters { return s.traffic }

// Tails open live tails of the event stream, for the portal and for tests.
func (s *Server) Tails() *tail.Tailer { return s.tails }
