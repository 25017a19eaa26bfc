package traffic

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
)

// maxCached bounds the LastSeen cache; past it, expired answers are dropped and,
// if that is not enough, all of them.
const maxCached = 4096

// lastSeen answers when an event type was last stored, from the stream's last
// message on the type's subject: that survives restarts and covers every node,
// which in-memory counters cannot.
type lastSeen struct {
	stream jetstream.Stream
	ttl    time.Duration
	now    func() time.Time
	local  func(typ string) time.Time

	mu    sync.Mutex
	cache map[string]seenAt
}

type seenAt struct {
	at      time.Time // zero: nothing of the type is stored
	expires time.Time
}

// LastSeen returns when each of types was last stored on the bus: the stored
// time of the last message on subject events.<type>, one lookup per type,
// reused for a few seconds (Options.LastSeenTTL). Types never stored (or no
// longer stored) are absent. Without a stream, or when a lookup fails, the
// answer falls back to when this node last counted the type; the error then
// says which lookups failed.
func (c *Counters) LastSeen(ctx context.Context, types []string) (map[string]time.Time, error) {
	return c.last.get(ctx, types)
}

func (l *lastSeen) get(ctx context.Context, types []string) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(types))
	var errs []error
	for _, typ := range types {
		if typ == "" || typ == Other {
			continue
		}
		at, err := l.one(ctx, typ)
		if err != nil {
			errs = append(errs, err)
		}
		if local := l.local(typ); local.After(at) {
			at = local
		}
		if !at.IsZero() {
			out[typ] = at
		}
	}
	return out, errors.Join(errs...)
}

func (l *lastSeen) one(ctx context.Context, typ string) (time.Time, error) {
	if l.stream == nil {
		return time.Time{}, nil
	}
	now := l.now()
	l.mu.Lock()
	c, ok := l.cache[typ]
	l.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.at, nil
	}
	var at time.Time
	msg, err := l.stream.GetLastMsgForSubject(ctx, bus.EventsPrefix+typ)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case err != nil:
		return time.Time{}, fmt.Errorf("last event of type %s: %w", typ, err)
	default:
		at = msg.Time
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.cache) >= maxCached {
		for k, v := range l.cache {
			if !now.Before(v.expires) {
				delete(l.cache, k)
			}
		}
		if len(l.cache) >= maxCached {
			clear(l.cache)
		}
	}
	l.cache[typ] = seenAt{at: at, expires: now.Add(l.ttl)}
	return at, nil
}
