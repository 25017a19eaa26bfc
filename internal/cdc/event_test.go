package cdc

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/event"
)

func TestSubject(t *testing.T) {
	t.Parallel()
	require.Equal(t, "42", Subject([]any{int64(42)}))
	require.Equal(t, "-9223372036854775808", Subject([]any{json.Number("-9223372036854775808")}))
	require.Equal(t, "1.5e3", Subject([]any{json.Number("1.5e3")}), "a number that is not a plain integer takes the long way")
	require.Equal(t, "abc", Subject([]any{"abc"}))
	require.Equal(t, `"a\nb"`, Subject([]any{"a\nb"}))
	require.Equal(t, `[1,"x"]`, Subject([]any{1, "x"}))
	require.Equal(t, "2026-01-02T03:04:05Z", Subject([]any{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}))
}

// FuzzSubject: whatever a key holds (it comes from the database), the event
// built from it is a valid CloudEvent.
func FuzzSubject(f *testing.F) {
	f.Add("abc", int64(1), true)
	f.Add("a\x00\xff", int64(-7), false)
	f.Fuzz(func(t *testing.T, s string, n int64, two bool) {
		key := []any{s}
		if two {
			key = append(key, n)
		}
		ev, err := buildEvent("shop", "db", &Change{ID: "slot:1", Table: orders, Key: key, Value: Value{Op: OpCreate}})
		if err != nil {
			t.Fatal(err)
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("key %q: %v", key, err)
		}
		if _, err := event.Decode(ev.AppendJSON(nil)); err != nil {
			t.Fatalf("key %q: %v", key, err)
		}
	})
}
