package delivery

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/event"
)

// eventFilters are the subjects of a subscription's types, without its direct
// subject.
func eventFilters(spec *config.Subscription) []string {
	out := make([]string, 0, len(spec.Types))
	// A pattern another covers is left out: the bus refuses overlapping
	// filters (config refuses patterns that overlap only in part).
	for _, t := range event.ReducePatterns(spec.Types) {
		out = append(out, bus.EventsPrefix+t)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Stream sends a subscription's events live, for server-sent events. It reads
// with its own ordered consumer, so a browser watching a subscription never takes
// events away from the app that pulls or receives them. With lastEventID it
// resumes right after that event: weir's own ids (ULIDs) carry their time, so the
// search starts just before it; other ids are searched from the oldest stored
// event. If the id is no longer stored, the stream goes on with new events and
// notice is called once.
func (m *Manager) Stream(ctx context.Context, name, lastEventID string, send func(id string, data []byte) error, notice func(string) error) error {
	s, err := m.sub(name)
	if err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: eventFilters(s.spec),
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	}
	skipping := lastEventID != ""
	if skipping {
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
		if id, err := ulid.ParseStrict(lastEventID); err == nil {
			cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
			start := ulid.Time(id.Time()).Add(-5 * time.Second)
			cfg.OptStartTime = &start
		}
	}
	cons, err := m.js.OrderedConsumer(ctx, bus.EventsStream, cfg)
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		it.Stop()
	}()
	var held [][2]any // events seen while searching, sent if the id is never found
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
				return nil
			}
			return err
		}
		id := msg.Headers().Get(bus.HeaderEventID)
		if skipping {
			meta, _ := msg.Metadata()
			if id == lastEventID {
				skipping, held = false, nil
				continue
			}
			held = append(held, [2]any{id, msg.Data()})
			if meta != nil && meta.NumPending > 0 {
				continue
			}
			// Caught up without finding it: it is gone from the stream.
			skipping = false
			if err := notice("the event " + lastEventID + " is no longer stored; sending every event since then"); err != nil {
				return err
			}
			for _, h := range held {
				if ok, err := s.selectsData(h[1].([]byte), notice); err != nil {
					return err
				} else if !ok {
					continue
				}
				if err := send(h[0].(string), h[1].([]byte)); err != nil {
					return err
				}
			}
			held = nil
			continue
		}
		if ok, err := s.selectsData(msg.Data(), notice); err != nil {
			return err
		} else if !ok {
			continue
		}
		if err := send(id, msg.Data()); err != nil {
			return err
		}
	}
}
