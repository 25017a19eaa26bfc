package bus

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestKeyFilterHasNoFalseNegatives(t *testing.T) {
	t.Parallel()
	f := newKeyFilter(time.Hour)
	for i := range 3 * filterCapacity / 2 { // spans two generations
		f.add("k"+strconv.Itoa(i), time.Now())
	}
	for i := range 3 * filterCapacity / 2 {
		require.True(t, f.mayHold("k"+strconv.Itoa(i)))
	}
	falsePositives := 0
	for i := range 100_000 {
		if f.mayHold("other" + strconv.Itoa(i)) {
			falsePositives++
		}
	}
	require.Less(t, falsePositives, 1000, "under 1 %% of new keys cost a lookup")
}

func TestKeyFilterForgetsGenerationsPastTheWindow(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	f := newKeyFilter(time.Hour)
	f.now = func() time.Time { return now }
	for i := range filterCapacity {
		f.add("old"+strconv.Itoa(i), now)
	}
	now = now.Add(30 * time.Minute)
	f.add("new", now)
	require.Len(t, f.gens, 2)
	require.True(t, f.mayHold("old1"), "still within the window")

	now = now.Add(31 * time.Minute) // old keys expired from the store
	f.add("newer", now)
	require.Len(t, f.gens, 1, "the generation of expired keys is dropped")
	require.True(t, f.mayHold("new"))
	require.True(t, f.mayHold("newer"))
}

// TestKeyFilterTurnsOffPastItsBound: past its largest size the filter frees
// its memory and answers "maybe" (never a false "certainly not") until every
// key it skipped has left the window.
func TestKeyFilterTurnsOffPastItsBound(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	f := newKeyFilter(time.Hour)
	f.maxGens = 1
	f.now = func() time.Time { return now }
	for i := range filterCapacity {
		f.add("k"+strconv.Itoa(i), now)
	}
	require.False(t, f.mayHold("absent"))
	now = now.Add(time.Minute)
	f.add("one-too-many", now)
	require.Empty(t, f.gens, "the filters are freed")
	require.True(t, f.mayHold("absent"), "off: every key is a maybe")

	now = now.Add(30 * time.Minute)
	f.add("skipped-later", now)
	now = now.Add(45 * time.Minute) // past the first skip's window, not the second's
	require.True(t, f.mayHold("absent"), "a key skipped 45 minutes ago is still in the store")
	f.add("still-skipped", now) // while off, keys are skipped and extend the off time
	now = now.Add(61 * time.Minute)
	require.False(t, f.mayHold("absent"), "on again once every skipped key has expired")
	f.add("fresh", now)
	require.True(t, f.mayHold("fresh"))
}
