package delivery

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/delivery/backoff"
	"github.com/weir-dev/weir/internal/delivery/breaker"
	"github.com/weir-dev/weir/internal/delivery/filter"
	"github.com/weir-dev/weir/internal/verify"
)

// Sub is one running subscription on this node.
type Sub struct {
	m        *Manager
	name     string
	spec     *config.Subscription
	specJSON string
	origin   string
	uid      string // this incarnation; see storedSpec.UID
	trusted  bool   // push target checked with the trusted policy
	filter   *filter.Filter
	cons     jetstream.Consumer
	rcons    jetstream.Consumer // on ReplaysStream: the replayed events
	breaker  *breaker.Breaker
	backoff  backoff.Policy
	signer   *verify.Signer // push only
	signErr  error          // why the push secret cannot sign; each attempt reports it

	mu      sync.Mutex
	state   State
	cancel  context.CancelFunc // halts the worker: it takes no new event
	abort   context.CancelFunc // also cancels the attempts it has sent
	done    chan struct{}
	running bool

	held     heldSet
	inFlight atomic.Int64
	disabled atomic.Bool // read on every attempt; state holds the details
}

func newSub(m *Manager, name string, stored *storedSpec, specJSON, origin string, filter *filter.Filter, cons, rcons jetstream.Consumer, st State) *Sub {
	spec := &stored.Subscription
	s := &Sub{m: m, name: name, spec: spec, specJSON: specJSON, origin: origin, uid: stored.UID, trusted: stored.Trusted,
		filter: filter, cons: cons, rcons: rcons, state: st}
	s.disabled.Store(st.State == StateDisabled)
	if p := spec.Push; p != nil {
		s.signer, s.signErr = verify.NewSigner(verify.Config{Scheme: verify.SchemeStandardWebhooks, Secrets: []string{p.Secret}})
		s.breaker = breaker.New(p.Breaker.Threshold, p.Breaker.Cooldown.D(), 10*time.Minute)
		s.breaker.SetOnChange(func(from, to breaker.State) {
			m.metrics.breakerState(name, to)
			m.log.Warn("circuit breaker "+string(to), "subscription", name, "from", string(from))
		})
		s.backoff = backoff.Policy{Initial: p.Retry.Initial.D(), Max: p.Retry.Max.D(), Jitter: 0.2}
		m.metrics.breakerState(name, breaker.Closed)
	}
	return s
}

// client is the HTTP client whose dialer checks this subscription's policy.
func (s *Sub) client() *http.Client {
	if s.trusted {
		return s.m.client
	}
	return s.m.untrustedClient
}

// start runs the push worker when the subscription is push and active. A
// worker halted before (see halt) is waited for first, outside the lock that
// it may still need on its way out, so that two never run at once.
func (s *Sub) start() {
	for {
		s.mu.Lock()
		if s.spec.Push == nil || s.running || s.state.State == StateDisabled {
			s.mu.Unlock()
			return
		}
		if done := s.done; done != nil && !isClosed(done) {
			// A halted worker may still be finishing the requests it sent
			// (up to push.timeout): they are cancelled rather than waited
			// for, so that a resume never holds up whoever called it (the
			// API, or the bucket watcher that serves every subscription).
			abort := s.abort
			s.mu.Unlock()
			abort()
			<-done
			continue
		}
		// Two contexts: a halt (the subscription disabled, by a 410 or a
		// pause) ends the reading and lets the requests already sent finish,
		// so that their answers are recorded and counted; a stop (weir
		// stopping, the subscription replaced or deleted) cancels those too.
		sending, abort := context.WithCancel(s.m.ctx)
		ctx, cancel := context.WithCancel(sending)
		done := make(chan struct{})
		s.cancel, s.abort, s.done, s.running = cancel, abort, done, true
		s.mu.Unlock()
		go func() {
			defer close(done)
			defer abort()
			s.runPush(ctx, sending)
		}()
		return
	}
}

// halt tells the worker to end without waiting for it, so that the worker
// itself can call it (a 410 disables the subscription from inside an
// attempt). The attempts it has sent run to their end (push.timeout at most)
// and are recorded. Whoever calls stop or start next waits for it:
// Manager.Stop does, so no worker outlives the manager.
func (s *Sub) halt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		s.cancel()
		s.running = false
	}
}

// stop ends the worker, cancelling the attempts in flight, and waits for
// it, a halted one included.
func (s *Sub) stop() {
	s.halt()
	s.mu.Lock()
	done, abort := s.done, s.abort
	s.mu.Unlock()
	if abort != nil {
		abort()
	}
	if done != nil {
		<-done
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (s *Sub) setState(st State) {
	s.mu.Lock()
	s.state = st
	s.mu.Unlock()
	s.disabled.Store(st.State == StateDisabled)
	if st.State == StateDisabled {
		s.halt()
	} else {
		s.start()
	}
}

// How long a push worker's pull request lasts, and how often the server says
// it is still there; see runPush.
const (
	pullExpiry    = 3 * time.Second
	pullHeartbeat = time.Second
)

// runPush fetches events and delivers them, at most max_in_flight at once:
// the subscription's own and its replayed ones (see ReplaysStream), which
// share the worker's slots, breaker and retries. ctx ends the worker;
// sending, which outlives a halt, bounds the requests it sends.
func (s *Sub) runPush(ctx, sending context.Context) {
	p := s.spec.Push
	pull := p.MaxInFlight
	if p.Ordered {
		pull = 1000
	}
	// Short pull requests with frequent heartbeats: nats.go's iterator keeps
	// its own count of the messages it asked for, and when that count drifts
	// from what the server holds (seen under load: the consumer shows no
	// waiting pulls while messages are unprocessed, as in nats.go#1622 and
	// nats-server#6290), it asks for nothing more until a request expires or
	// a heartbeat is missed. With the defaults (30 s expiry) that froze a
	// subscription's delivery for up to 30 s; with these, a missed heartbeat
	// ends Next within ~2 s and the iterator is reopened.
	opts := []jetstream.PullMessagesOpt{jetstream.PullMaxMessages(pull),
		jetstream.PullExpiry(pullExpiry), jetstream.PullHeartbeat(pullHeartbeat)}

	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		// Whatever this worker still holds goes back to the bus at once, for
		// another node or for this subscription's resumption.
		s.held.each(func(m jetstream.Msg) { _ = m.Nak(); s.held.remove(m) })
	}()
	wg.Go(func() { s.keepHeld(ctx) })

	sem := make(chan struct{}, p.MaxInFlight)
	var keyed *keyedQueue
	if p.Ordered {
		keyed = newKeyedQueue()
	}
	// run takes one of the max_in_flight slots for work, or reports that
	// the worker is stopping.
	run := func(work func()) bool {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		wg.Go(func() {
			defer func() { <-sem }()
			work()
		})
		return true
	}
	dispatch := func(msg jetstream.Msg) bool {
		s.held.add(msg)
		if keyed == nil {
			return run(func() { s.handle(ctx, sending, msg) })
		}
		key := partitionKey(msg)
		if !keyed.push(key, msg) {
			return true // queued behind its key
		}
		return run(func() {
			for m := msg; m != nil; m = keyed.next(key) {
				s.handleOrdered(ctx, sending, m)
			}
		})
	}
	wg.Go(func() { s.read(ctx, s.rcons, opts, dispatch) })
	s.read(ctx, s.cons, opts, dispatch)
}

// read hands every message of one consumer to dispatch until ctx ends or
// dispatch refuses.
func (s *Sub) read(ctx context.Context, cons jetstream.Consumer, opts []jetstream.PullMessagesOpt, dispatch func(jetstream.Msg) bool) {
	it, err := cons.Messages(opts...)
	if err != nil {
		s.m.log.Error("subscription cannot read the bus", "subscription", s.name, "consumer", cons.CachedInfo().Name, "error", err)
		return
	}
	var itMu sync.Mutex
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		itMu.Lock()
		it.Stop()
		itMu.Unlock()
	}()
	// reopen replaces an iterator that failed while the worker still runs (a
	// missed heartbeat under load, a reconnect): without it the subscription
	// would hold its lag forever, active but idle.
	reopen := func(cause error) bool {
		s.m.log.Warn("subscription lost its reader on the bus; reopening it", "subscription", s.name, "error", cause)
		for {
			select {
			case <-ctx.Done():
				return false
			case <-time.After(250 * time.Millisecond):
			}
			next, err := cons.Messages(opts...)
			if err != nil {
				s.m.log.Warn("subscription cannot reopen its reader yet", "subscription", s.name, "error", err)
				continue
			}
			itMu.Lock()
			it.Stop()
			it = next
			itMu.Unlock()
			if ctx.Err() != nil {
				next.Stop()
				return false
			}
			return true
		}
	}
	for {
		itMu.Lock()
		cur := it
		itMu.Unlock()
		msg, err := cur.Next()
		if err != nil {
			if ctx.Err() != nil || !reopen(err) {
				return // stopped
			}
			continue
		}
		if !dispatch(msg) {
			return
		}
	}
}

// keepHeld tells the server that the events weir holds (waiting for the
// breaker, for their key's turn, or between in-process retries) are still being
// worked on, so they are not handed out again meanwhile.
func (s *Sub) keepHeld(ctx context.Context) {
	every := max((s.spec.Push.Timeout.D()+30*time.Second)/3, time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.held.each(func(m jetstream.Msg) { _ = m.InProgress() })
		}
	}
}

// gate waits until the breaker lets an attempt through.
func (s *Sub) gate(ctx context.Context) bool {
	for {
		if s.disabled.Load() {
			return false
		}
		ok, wait := s.breaker.Allow(time.Now())
		if ok {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(max(wait, 10*time.Millisecond)):
		}
	}
}

// jitter is the random source of the retry schedule.
func jitter() float64 { return rand.Float64() }

// heldSet is the set of messages this worker holds unacknowledged.
type heldSet struct {
	mu sync.Mutex
	m  map[jetstream.Msg]struct{}
}

func (h *heldSet) add(m jetstream.Msg) {
	h.mu.Lock()
	if h.m == nil {
		h.m = map[jetstream.Msg]struct{}{}
	}
	h.m[m] = struct{}{}
	h.mu.Unlock()
}

func (h *heldSet) remove(m jetstream.Msg) {
	h.mu.Lock()
	delete(h.m, m)
	h.mu.Unlock()
}

func (h *heldSet) each(fn func(jetstream.Msg)) {
	h.mu.Lock()
	msgs := make([]jetstream.Msg, 0, len(h.m))
	for m := range h.m {
		msgs = append(msgs, m)
	}
	h.mu.Unlock()
	for _, m := range msgs {
		fn(m)
	}
}
