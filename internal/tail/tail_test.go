package tail

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/token"
	"github.com/weir-dev/weir/internal/weirtest"
)

// setup opens an embedded bus and a tailer on it; both end with the test.
func setup(t *testing.T, l Limits) (*bus.Bus, *Tailer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{StoreDir: t.TempDir(), Name: "tail-test", MaxAge: time.Hour}, weirtest.Logger(t))
	require.NoError(t, err)
	t.Cleanup(b.Close)
	tl := New(b.JetStream(), l)
	t.Cleanup(tl.Close)
	return b, tl
}

func admin(name string) *token.Token { return &token.Token{Name: name, Roles: []string{"admin"}} }

// store publishes one event of type typ.
func store(t *testing.T, b *bus.Bus, typ string) {
	t.Helper()
	_, err := b.JetStream().Publish(t.Context(), bus.EventsPrefix+typ, []byte(`{"type":"`+typ+`"}`))
	require.NoError(t, err)
}

// tailGoroutines counts the goroutines running this package's code.
func tailGoroutines() (int, string) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "weir/internal/tail.(*") && !strings.Contains(g, "tail.TestTail") {
			found = append(found, g)
		}
	}
	return len(found), strings.Join(found, "\n\n")
}

// Not parallel: it counts goroutines, which other tests' tails would add to.
func TestTailLeavesNoGoroutineWhenTheClientGoes(t *testing.T) {
	b, tl := setup(t, Limits{})
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan uint64, 10)
	done := make(chan error, 1)
	f, err := tl.Open(ctx, Request{Token: admin("a"), Patterns: []string{"order.*"}})
	require.NoError(t, err)
	go func() {
		err := f.Run(func(seq uint64, _ []byte) error { got <- seq; return nil }, func() error { return nil })
		// Closed before done is told, so that Active below sees the slot back.
		f.Close()
		done <- err
	}()
	store(t, b, "order.created")
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no event came through the tail")
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the tail did not end with its context")
	}
	require.Zero(t, tl.Active())
	weirtest.Eventually(t, 10*time.Second, func() error {
		if n, stacks := tailGoroutines(); n > 0 {
			return fmt.Errorf("%d goroutines of the tail are left:\n%s", n, stacks)
		}
		return nil
	})
}

func TestNodeCapAndClose(t *testing.T) {
	t.Parallel()
	_, tl := setup(t, Limits{PerToken: 5, Total: 2})
	a, err := tl.Open(t.Context(), Request{Token: admin("a"), Patterns: []string{">"}})
	require.NoError(t, err)
	b, err := tl.Open(t.Context(), Request{Token: admin("b"), Patterns: []string{">"}})
	require.NoError(t, err)
	_, err = tl.Open(t.Context(), Request{Token: admin("c"), Patterns: []string{">"}})
	var le *LimitError
	require.ErrorAs(t, err, &le)
	require.False(t, le.PerToken, "the node's cap, not the token's")
	require.ErrorIs(t, err, ErrTooMany)
	a.Close()
	a.Close() // twice is fine, and gives back one slot only
	c, err := tl.Open(t.Context(), Request{Token: admin("c"), Patterns: []string{">"}})
	require.NoError(t, err)
	require.Equal(t, 2, tl.Active())

	// Close ends the running tails and refuses new ones.
	ran := make(chan error, 1)
	go func() { ran <- b.Run(func(uint64, []byte) error { return nil }, func() error { return nil }) }()
	tl.Close()
	select {
	case err := <-ran:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a running tail")
	}
	b.Close()
	c.Close()
	require.Zero(t, tl.Active())
	_, err = tl.Open(t.Context(), Request{Token: admin("d"), Patterns: []string{">"}})
	require.ErrorIs(t, err, ErrClosed)
}

func TestHeartbeatWhenQuiet(t *testing.T) {
	t.Parallel()
	b, tl := setup(t, Limits{Heartbeat: 20 * time.Millisecond})
	gone := errors.New("client gone")
	beats := 0
	err := tl.Tail(t.Context(), Request{Token: admin("a"), Patterns: []string{"order.*", "*.created"}},
		func(uint64, []byte) error { return errors.New("nothing was stored") },
		func() error {
			if beats++; beats == 1 {
				// Events the tail does not want are silence too.
				store(t, b, "payment.captured")
				return nil
			}
			return gone
		})
	require.ErrorIs(t, err, gone, "the heartbeat's error ends the tail")
	require.Equal(t, 2, beats)
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tl := New(nil, Limits{MaxPatterns: 2})
	reader := &token.Token{Name: "r", Roles: []string{"subscribe:order.*"}}
	for _, c := range []struct {
		patterns []string
		forbid   bool
	}{
		{nil, false},
		{[]string{"a", "b", "c"}, false},
		{[]string{"order..x"}, false},
		{[]string{"order.*", "payment.x"}, true},
		{[]string{"order.>"}, true},
	} {
		err := tl.Check(Request{Token: reader, Patterns: c.patterns})
		require.Error(t, err, c.patterns)
		var forbidden *ForbiddenError
		if c.forbid {
			require.ErrorAs(t, err, &forbidden)
			require.NotContains(t, forbidden.Patterns, "order.*", "only the patterns not covered are named")
		} else {
			require.NotErrorAs(t, err, &forbidden)
			require.Contains(t, err.Error(), "types")
		}
	}
	require.NoError(t, tl.Check(Request{Token: reader, Patterns: []string{"order.created", "order.*"}}))
}

func TestFilterSubjects(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in    []string
		out   []string
		exact bool
	}{
		{[]string{"order.*"}, []string{"events.order.*"}, true},
		{[]string{"order.*", "order.created", "order.*"}, []string{"events.order.*"}, true},
		{[]string{"order.created", ">"}, []string{"events.>"}, true},
		{[]string{"order.*", "payment.*"}, []string{"events.order.*", "events.payment.*"}, true},
		{[]string{"order.*", "*.created"}, []string{"events.>"}, false},
		{[]string{"order.>", "*.created.eu"}, []string{"events.>"}, false},
	} {
		out, exact := filterSubjects(c.in)
		require.Equal(t, c.out, out, c.in)
		require.Equal(t, c.exact, exact, c.in)
	}
}

// FuzzFilterSubjects checks that the consumer's filters, plus the match done
// here when they are not exact, select exactly the types the patterns match,
// and never overlap (the bus refuses overlapping filters).
func FuzzFilterSubjects(f *testing.F) {
	f.Add("order.*", "*.created", "order.created")
	f.Add("order.>", "order.created", "order.created.eu")
	f.Add("a.b", "a.*", "a.c")
	f.Fuzz(func(t *testing.T, a, b, typ string) {
		if event.ValidPattern(a) != nil || event.ValidPattern(b) != nil || event.ValidType(typ) != nil {
			return
		}
		patterns := []string{a, b}
		want := event.MatchType(a, typ) || event.MatchType(b, typ)
		subjects, exact := filterSubjects(patterns)
		hits := 0
		for i, s := range subjects {
			if event.MatchType(strings.TrimPrefix(s, bus.EventsPrefix), typ) {
				hits++
			}
			for _, o := range subjects[i+1:] {
				require.False(t, event.PatternsOverlap(strings.TrimPrefix(s, bus.EventsPrefix), strings.TrimPrefix(o, bus.EventsPrefix)), "filters %q and %q overlap", s, o)
			}
		}
		got := hits > 0 && (exact || event.MatchAnyType(patterns, typ))
		require.Equal(t, want, got, "patterns %q, type %q, filters %q", patterns, typ, subjects)
		require.LessOrEqual(t, hits, 1, "one filter per type")
	})
}
