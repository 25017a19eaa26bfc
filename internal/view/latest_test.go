package view

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
)

var orders = map[string]*config.View{"orders": {
	Kind: "latest", Types: []string{"order.*"}, Key: "/id",
	Fields:     map[string]string{"status": "/status", "total": "/total"},
	DeleteWhen: `type == "order.deleted"`,
}}

// TestLatestFollowsCreateUpdateDelete drives 1,000 keys through create,
// update and delete, with events that arrive out of order: an older update
// published after a newer one is not applied, and an update older than a
// delete does not bring the key back.
func TestLatestFollowsCreateUpdateDelete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	const n = 1000
	for i := range n {
		id := fmt.Sprintf("o-%04d", i)
		publish(t, b, id+"-c", "order.created", t0, map[string]any{"id": id, "status": "new", "total": i})
		publish(t, b, id+"-u2", "order.updated", t0.Add(2*time.Second), map[string]any{"id": id, "status": "paid", "total": i})
		// Late and older: must not overwrite "paid".
		publish(t, b, id+"-u1", "order.updated", t0.Add(time.Second), map[string]any{"id": id, "status": "stale", "total": -1})
		if i%2 == 0 {
			publish(t, b, id+"-d", "order.deleted", t0.Add(3*time.Second), map[string]any{"id": id})
			// Older than the delete: must not resurrect.
			publish(t, b, id+"-u3", "order.updated", t0.Add(2500*time.Millisecond), map[string]any{"id": id, "status": "zombie"})
		}
	}
	m := startViews(t, b, orders)
	caughtUp(t, m, "orders")

	for i := range n {
		id := fmt.Sprintf("o-%04d", i)
		raw, err := m.Get(t.Context(), "orders", id)
		if i%2 == 0 {
			require.ErrorIs(t, err, ErrUnknownKey, id)
			continue
		}
		require.NoError(t, err, id)
		var it Item
		require.NoError(t, json.Unmarshal(raw, &it))
		require.Equal(t, id, it.Key)
		require.JSONEq(t, `"paid"`, string(it.Fields["status"]), id)
		require.JSONEq(t, fmt.Sprint(i), string(it.Fields["total"]))
		require.Equal(t, id+"-u2", it.EventID)
		require.Equal(t, "order.updated", it.Type)
		require.True(t, it.Time.Equal(t0.Add(2*time.Second)))
	}

	// A later create after the delete does bring the key back.
	publish(t, b, "o-0000-again", "order.created", t0.Add(time.Hour), map[string]any{"id": "o-0000", "status": "new"})
	weirtestEventuallyGet(t, m, "orders", "o-0000")
}

func weirtestEventuallyGet(t *testing.T, m *Manager, name, key string) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, err := m.Get(t.Context(), name, key)
		return err == nil
	}, 30*time.Second, 10*time.Millisecond)
}

// TestPageWithCursorAndPrefix pages through a view: every key once, and a
// prefix keeps its keys only.
func TestPageWithCursorAndPrefix(t *testing.T) {
	t.Parallel()
	b := setup(t)
	t0 := time.Now()
	for i := range 250 {
		publish(t, b, fmt.Sprint("a", i), "order.created", t0, map[string]any{"id": fmt.Sprintf("a.%03d", i)})
		publish(t, b, fmt.Sprint("b", i), "order.created", t0, map[string]any{"id": fmt.Sprintf("b %03d", i)})
	}
	m := startViews(t, b, orders)
	caughtUp(t, m, "orders")

	collect := func(prefix string, limit int) map[string]bool {
		seen := map[string]bool{}
		cur := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 100)
			items, next, err := m.Page(t.Context(), "orders", prefix, cur, limit)
			require.NoError(t, err)
			require.LessOrEqual(t, len(items), limit)
			for _, raw := range items {
				var it Item
				require.NoError(t, json.Unmarshal(raw, &it))
				require.False(t, seen[it.Key], "key %s twice", it.Key)
				seen[it.Key] = true
			}
			if next == "" {
				return seen
			}
			cur = next
		}
	}
	require.Len(t, collect("", 100), 500)
	a := collect("a.", 33)
	require.Len(t, a, 250)
	for k := range a {
		require.Equal(t, "a.", k[:2])
	}
	require.Len(t, collect("b 1", 1000), 100)

	_, _, err := m.Page(t.Context(), "orders", "", "not-a-cursor", 10)
	require.Error(t, err)
	_, _, err = m.Page(t.Context(), "orders", "", "", MaxLimit+1)
	require.Error(t, err)
	_, err = m.Get(t.Context(), "orders", "nobody")
	require.ErrorIs(t, err, ErrUnknownKey)
	_, err = m.Get(t.Context(), "nothing", "x")
	require.ErrorIs(t, err, ErrUnknownView)
}

// TestPageBoundsItsBytes: a page of large records ends at MaxPageBytes with
// a cursor to go on, and paging on still returns every record once.
func TestPageBoundsItsBytes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n = 12
	big := strings.Repeat("x", 900<<10)
	for i := range n {
		publish(t, b, fmt.Sprint(i), "order.created", time.Now(), map[string]any{"id": fmt.Sprintf("k%02d", i), "status": big})
	}
	m := startViews(t, b, orders)
	caughtUp(t, m, "orders")
	seen := map[string]bool{}
	cur, pages := "", 0
	for {
		items, next, err := m.Page(t.Context(), "orders", "", cur, MaxLimit)
		require.NoError(t, err)
		pages++
		size := 0
		for _, raw := range items {
			size += len(raw)
			var it Item
			require.NoError(t, json.Unmarshal(raw, &it))
			require.False(t, seen[it.Key], it.Key)
			seen[it.Key] = true
		}
		require.LessOrEqual(t, size, MaxPageBytes)
		if next == "" {
			break
		}
		cur = next
	}
	require.Len(t, seen, n)
	require.Greater(t, pages, 2)
}
