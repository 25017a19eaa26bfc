package bus

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

// FollowKV reads a bucket watcher's history, handing each entry to apply,
// until the nil entry that marks its end; ctx bounds that first read. It
// then returns the loop that hands on every later change until bg ends or
// the watcher closes, and stops the watcher: the part a lifecycle.Once runs
// in the background, for the contract registry and the sources alike.
func FollowKV(ctx, bg context.Context, w jetstream.KeyWatcher, apply func(jetstream.KeyValueEntry)) (func(), error) {
load:
	for {
		select {
		case <-ctx.Done():
			_ = w.Stop()
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok || e == nil {
				break load
			}
			apply(e)
		}
	}
	return func() {
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-bg.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e != nil {
					apply(e)
				}
			}
		}
	}, nil
}
