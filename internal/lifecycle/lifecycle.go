// Package lifecycle keeps the start-and-stop bookkeeping of weir's
// long-running parts, so that each keeps the contract written in
// internal/server/doc.go in the same way: Start(ctx) bounds start-up only,
// Stop(ctx) waits for the background work and may come twice or first.
package lifecycle

import (
	"context"
	"sync"
	"time"
)

// Sleep waits d, or less when ctx ends first (then false): the pause of a
// long-running part's retry loop, which Stop must be able to cut short.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Once is the state of a part that starts at most once and stops once. The
// zero value is ready to use.
type Once struct {
	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// Start marks the part started, or answers errStarted when it was started or
// stopped before. It then calls start with the context the part's background
// work runs under: ctx's values without its cancellation, cancelled by Stop.
// start runs with the part's lock held, so that a Stop coming meanwhile
// waits for it; it returns the background work to run in a goroutine (nil
// for none), or an error, which cancels that context.
func (o *Once) Start(ctx context.Context, errStarted error, start func(bg context.Context) (run func(), err error)) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.started || o.stopped {
		return errStarted
	}
	o.started = true
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	run, err := start(bg)
	if err != nil || run == nil {
		cancel()
		return err
	}
	o.cancel, o.done = cancel, make(chan struct{})
	go func() {
		defer close(o.done)
		run()
	}()
	return nil
}

// Stop cancels the background work and waits for it, or until ctx ends,
// then returns ctx's error. It is safe to call more than once, and before
// Start (which then refuses to start).
func (o *Once) Stop(ctx context.Context) error {
	o.mu.Lock()
	o.stopped = true
	cancel, done := o.cancel, o.done
	o.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
