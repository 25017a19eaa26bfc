// Package tail follows the event stream live for people watching it: the API's
// GET /v1/events/stream and the portal's live view. Each tail reads with its own
// ephemeral ordered consumer, so watching never takes events away from a
// subscription, and is bounded in patterns, in number per token and in number
// per node.
package tail

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/token"
)

// Limits bound the tails of one node. Every tail holds a consumer on the bus
// and a connection, and a token that is not an admin's can open them, so each
// bound is a bound on what a client can make the node hold.
type Limits struct {
	// MaxPatterns bounds the type patterns of one tail. Default 20.
	MaxPatterns int
	// PerToken bounds the tails one token has open at once. Default 4.
	PerToken int
	// Total bounds the tails open on the node. Default 64.
	Total int
	// Heartbeat is how long a quiet tail waits before it shows it is alive.
	// Default 15s, under the idle timeouts of common proxies (30-60 s).
	Heartbeat time.Duration
}

// WithDefaults fills the zero fields.
func (l Limits) WithDefaults() Limits {
	if l.MaxPatterns <= 0 {
		l.MaxPatterns = 20
	}
	if l.PerToken <= 0 {
		l.PerToken = 4
	}
	if l.Total <= 0 {
		l.Total = 64
	}
	if l.Heartbeat <= 0 {
		l.Heartbeat = 15 * time.Second
	}
	return l
}

// Errors a caller tells apart with errors.Is. Bad patterns are *field.Error
// with path "types".
var (
	// ErrForbidden: the token's subscribe roles do not cover every pattern
	// (the error is a *ForbiddenError naming them).
	ErrForbidden = errors.New("the token's subscribe roles do not cover the types")
	// ErrTooMany: a cap on open tails is reached (the error is a *LimitError);
	// closing another tail, or waiting for one to end, makes room.
	ErrTooMany = errors.New("too many live tails are open")
	// ErrClosed: the node is stopping and opens no more tails.
	ErrClosed = errors.New("the node is stopping")
)

// ForbiddenError names the patterns a token may not read.
type ForbiddenError struct {
	Token    string
	Patterns []string
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("token %q may not read %s: it needs subscribe roles covering them", e.Token, strings.Join(e.Patterns, ", "))
}

// Unwrap returns ErrForbidden.
func (e *ForbiddenError) Unwrap() error { return ErrForbidden }

// LimitError says which cap refused a tail.
type LimitError struct {
	// PerToken is true for the token's cap, false for the node's.
	PerToken bool
	// Limit is the cap.
	Limit int
}

func (e *LimitError) Error() string {
	if e.PerToken {
		return fmt.Sprintf("this token already has %d live tails open, the most one token may have; close one first", e.Limit)
	}
	return fmt.Sprintf("the node already has %d live tails open, the most it serves; retry later", e.Limit)
}

// Unwrap returns ErrTooMany.
func (e *LimitError) Unwrap() error { return ErrTooMany }

// Tailer opens tails on the EVENTS stream.
type Tailer struct {
	js     jetstream.JetStream
	limits Limits

	mu       sync.Mutex
	perToken map[string]int
	total    int
	closed   bool
	stop     context.Context // cancelled by Close: every tail ends
	cancel   context.CancelFunc
}

// New builds a Tailer reading from js.
func New(js jetstream.JetStream, l Limits) *Tailer {
	stop, cancel := context.WithCancel(context.Background())
	return &Tailer{js: js, limits: l.WithDefaults(), perToken: map[string]int{}, stop: stop, cancel: cancel}
}

// Limits are the tailer's bounds, defaults filled in.
func (t *Tailer) Limits() Limits { return t.limits }

// Active counts the tails open now.
func (t *Tailer) Active() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}

// Close ends every open tail and refuses new ones. Its signature suits
// http.Server.RegisterOnShutdown: a graceful shutdown waits for requests to
// end, and a tail would otherwise never end on its own.
func (t *Tailer) Close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.cancel()
}

// Request is what one tail follows.
type Request struct {
	// Token is who watches: its subscribe roles must cover every pattern, and
	// its name counts against Limits.PerToken.
	Token *token.Token
	// Patterns are event type patterns ("order.*", "payment.captured").
	Patterns []string
	// Since resumes after that stream sequence; 0 follows only events stored
	// from now on. A sequence no longer stored starts at the oldest kept.
	Since uint64
}

// Check reports why req cannot be served, without opening anything: a
// *field.Error for the patterns or a *ForbiddenError. Tail checks it again.
func (t *Tailer) Check(req Request) error {
	if len(req.Patterns) == 0 {
		return field.Errorf("types", "give at least one event type pattern, such as order.* or >")
	}
	if len(req.Patterns) > t.limits.MaxPatterns {
		return field.Errorf("types", "%d patterns is more than the %d one tail may follow", len(req.Patterns), t.limits.MaxPatterns)
	}
	for _, p := range req.Patterns {
		if err := event.ValidPattern(p); err != nil {
			return field.Wrap("types", err)
		}
	}
	if req.Token == nil {
		return &ForbiddenError{Patterns: req.Patterns}
	}
	var denied []string
	for _, p := range req.Patterns {
		if !req.Token.CanSubscribe([]string{p}) {
			denied = append(denied, p)
		}
	}
	if len(denied) > 0 {
		return &ForbiddenError{Token: req.Token.Name, Patterns: denied}
	}
	return nil
}

// acquire takes a slot for the token, or says which cap refuses it.
func (t *Tailer) acquire(name string) (release func(), err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closed:
		return nil, ErrClosed
	case t.perToken[name] >= t.limits.PerToken:
		return nil, &LimitError{PerToken: true, Limit: t.limits.PerToken}
	case t.total >= t.limits.Total:
		return nil, &LimitError{Limit: t.limits.Total}
	}
	t.perToken[name]++
	t.total++
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.total--
		if t.perToken[name]--; t.perToken[name] <= 0 {
			delete(t.perToken, name)
		}
	}, nil
}
