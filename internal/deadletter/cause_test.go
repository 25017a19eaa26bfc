package deadletter

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCauseOf(t *testing.T) {
	t.Parallel()
	undeliverable := func(a ...Attempt) *DeadLetter { return &DeadLetter{Kind: "undeliverable", Attempts: a} }
	for _, c := range []struct {
		d     *DeadLetter
		key   string
		label string
	}{
		{undeliverable(Attempt{Status: 500}, Attempt{Status: 401}), "http:401", "401 Unauthorized"},
		{undeliverable(Attempt{Error: "could not connect: connection refused", ErrorClass: ClassRefused}), "error:refused", "connection refused"},
		{undeliverable(Attempt{Error: "no answer within the 2s timeout", ErrorClass: ClassTimeout}), "error:timeout", "in time"},
		// Stored before attempts had a class: classed by weir's own words.
		{undeliverable(Attempt{Error: "could not connect: connection refused"}), "error:refused", "connection refused"},
		{undeliverable(Attempt{Error: "could not connect: no such host"}), "error:no_such_host", "does not exist"},
		{&DeadLetter{Kind: "undeliverable", LastError: "HTTP 503 Service Unavailable"}, "http:503", "503"},
		{undeliverable(Attempt{Error: "something new"}), "error:other", "without an answer"},
		{undeliverable(), "error:other", "without an answer"},
		{&DeadLetter{Kind: "quarantined", Violations: []Violation{{Pointer: "/total", Rule: "minimum"}, {Pointer: "/x", Rule: "type"}}}, "contract:minimum:/total", "at /total"},
		{&DeadLetter{Kind: "quarantined", Violations: []Violation{{Pointer: "", Rule: "required"}}}, "contract:required:", "the top level"},
		{&DeadLetter{Kind: "quarantined"}, "contract", "contract"},
	} {
		got := CauseOf(c.d)
		require.Equal(t, c.key, got.Key)
		require.Contains(t, got.Label, c.label)
		require.NotEmpty(t, got.Guidance, c.key)
	}
	long := CauseOf(&DeadLetter{Kind: "quarantined", Violations: []Violation{{Pointer: "/" + strings.Repeat("a", 1000), Rule: "type"}}})
	require.Len(t, long.Key, maxCauseKey, "a cause key is bounded")

	f := Filter{Cause: "http:401"}
	require.True(t, f.match(undeliverable(Attempt{Status: 401})))
	require.False(t, f.match(undeliverable(Attempt{Status: 403})))
}
