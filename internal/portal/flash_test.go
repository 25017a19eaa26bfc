package portal

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFlashesAreReadOnceByTheirOwnerAndBounded(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &flashes{now: func() time.Time { return now }}

	id := s.put("alice", flash{Secret: "whsec_x"})
	require.Nil(t, s.take("bob", id), "another viewer cannot read it")
	f := s.take("alice", id)
	require.NotNil(t, f)
	require.Equal(t, "whsec_x", f.Secret)
	require.Nil(t, s.take("alice", id), "read once")

	old := s.put("alice", flash{Notice: "old"})
	now = now.Add(flashTTL)
	require.Nil(t, s.take("alice", old), "expired")

	// Redirects never followed do not grow the store past its bound.
	for range 3 * flashMax {
		s.put("mallory", flash{Notice: "x"})
	}
	require.LessOrEqual(t, len(s.m), flashMax)
	require.LessOrEqual(t, len(s.order), flashMax+1)
}
