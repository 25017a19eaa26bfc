package event

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMatchType is the one table for type patterns: subscriptions, tokens
// (token.Match), the AsyncAPI catalog (contract) and archive reads all match
// with MatchType.
// The last rows are where the copies those packages once had disagreed: a
// type with an empty segment, which ValidType refuses, so no stored or
// published type has one.
func TestMatchType(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		pattern, typ string
		want         bool
	}{
		{"order.created", "order.created", true},
		{"order.created", "order.deleted", false},
		{"order.created", "order.updated", false},
		{"order.created", "order", false},
		{"order", "order.created", false},
		{"order.*", "order.created", true},
		{"order.*", "order.created.v2", false},
		{"order.*", "order", false},
		{"*.created", "order.created", true},
		{"*.created", "order.deleted", false},
		{"*", "order", true},
		{"*", "order.created", false},
		{"*.*", "order.created", true},
		{"order.>", "order.created", true},
		{"order.>", "order.created.v2", true},
		{"order.>", "order", false},
		{"order.>", "invoice.created", false},
		{"*.>", "order.created", true},
		{"*.>", "order", false},
		{">", "a", true},
		{">", "a.b.c", true},
		{">", "anything.at.all", true},
		{"a.>.c", "a.b.c", false}, // ">" only counts as the last segment
		{"order.created", "order.created.v2", false},
		{"a.>", "a.", false},
		{">", "", false},
	} {
		require.Equal(t, tt.want, MatchType(tt.pattern, tt.typ), "%s ~ %s", tt.pattern, tt.typ)
	}
}

func TestValidType(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"order.created", "github.push", "a", "com.example.v1.thing_done", "x-y.z", strings.Repeat("a", 200)} {
		require.NoError(t, ValidType(ok), ok)
	}
	for _, bad := range []string{"", "order..created", ".order", "order.", "order.*", "order.>", "has space", "ü", strings.Repeat("a", 201)} {
		require.Error(t, ValidType(bad), bad)
	}
}

func TestValidPattern(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"order.created", "order.*", "*.created", "order.>", ">", "*", "*.>"} {
		require.NoError(t, ValidPattern(ok), ok)
	}
	for _, bad := range []string{"", "order..created", "order.>.x", ">.a", "order.", "or*der", "has space"} {
		require.Error(t, ValidPattern(bad), bad)
	}
}
