package filter

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// bigEvent is the shape of the reported attack: a list of n short items and
// a string of s bytes in the data of one event.
func bigEvent(n, s int) string {
	return `{"xs":[` + strings.TrimSuffix(strings.Repeat(`"abcdefgh",`, n), ",") + `],"s":"` + strings.Repeat("a", s) + `"}`
}

// filterMemoryBound is what one Match may allocate in these tests: a
// generous multiple of the ~10 MB of strings a Match may build.
const filterMemoryBound = 64 << 20

// TestFilterBoundsAttacks runs filters meant to exhaust memory or CPU on
// large events: each must stop with ErrLimit, never match or fail as
// "not matched", and allocate a bounded amount. It does not run in parallel,
// so that the allocation figure is this test's own.
func TestFilterBoundsAttacks(t *testing.T) {
	tests := []struct {
		name string
		expr string
		data string
		want string // in the error
	}{
		// Reported: 48 MB to 640 MB RSS on one 109 KB event.
		{"concat in map", `data.xs.map(a, data.s + data.s).size() > 0`, bigEvent(3000, 100_000), "cost limit"},
		// Reported: 17.8 s of CPU.
		{"nested all", `data.xs.all(a, data.xs.all(b, a.size() >= 0))`, bigEvent(20_000, 10), "cost limit"},
		{"nested all, constant body", `data.xs.all(a, data.xs.all(b, true))`, bigEvent(20_000, 10), "cost limit"},
		{"error swallowed by or", `data.xs.all(a, data.xs.all(b, a.size() >= 0)) || true`, bigEvent(20_000, 10), "cost limit"},
		{"replace multiplies", `data.s.replace("", data.s).size() > 0`, bigEvent(1, 100_000), "replace() would build"},
		{"join of one string many times", `data.xs.map(a, data.s).join("").size() > 0`, bigEvent(3000, 100_000), "join() would build"},
		{"format of one string many times", `"%s".format([data.xs.map(a, data.s)]).size() > 0`, bigEvent(3000, 100_000), "format() would build"},
		{"doubling concat", `((data.s + data.s) + (data.s + data.s) + (data.s + data.s) + (data.s + data.s)).size() > 0`, bigEvent(1, 400_000), "would build a string"},
		{"compare shared lists",
			`data.xs.map(a, [a, a, a, a, a, a, a, a]).map(b, [b, b, b, b, b, b, b, b]).map(c, [c, c, c, c, c, c, c, c]) == ` +
				`data.xs.map(a, [a, a, a, a, a, a, a, a]).map(b, [b, b, b, b, b, b, b, b]).map(c, [c, c, c, c, c, c, c, c])`,
			bigEvent(3000, 10), "compare more than"},
		// One scanning call can run for seconds, and no interrupt stops a
		// call halfway: it is charged before it runs. Reported: 2.8 s with
		// no payload at all, 4.8 s on a 150 KB event.
		{"quadratic indexOf of literals", `"` + strings.Repeat("a", 100) + `".replace("a", "` + strings.Repeat("a", 1000) + `").indexOf("` +
			strings.Repeat("a", 50) + `".replace("a", "` + strings.Repeat("a", 1000) + `") + "b") >= 0`, `{}`, "cost limit"},
		{"quadratic indexOf of data", `data.s.indexOf(data.s.substring(0, 50000) + "b") >= 0`, bigEvent(1, 150_000), "cost limit"},
		{"lastIndexOf of data", `data.s.lastIndexOf("b" + data.s.substring(0, 50000)) >= 0`, bigEvent(1, 150_000), "cost limit"},
		{"regular expression from data", `data.s.matches(data.s)`, bigEvent(1, 24_000), "regular expression compiles to"},
		{"matches over a large text", `data.xs.exists(a, data.s.matches("^(a|aa)+$") && false)`, bigEvent(200, 500_000), "cost limit"},
		// Calls nothing per step, so only the time bound stops it.
		{"nested exists_one of a constant", `data.xs.exists_one(a, data.xs.exists_one(b, false))`, bigEvent(20_000, 10), "ran for more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustCompile(t, tt.expr)
			if tt.want != "ran for more than" {
				// The bound under test must stop it, however slow the
				// machine (the race detector makes it ten times slower).
				f.timeout = time.Hour
			}
			ev := orderEvent(tt.data)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			ok, err := f.Match(ev)
			runtime.ReadMemStats(&after)

			require.False(t, ok)
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrLimit), "%v", err)
			require.False(t, errors.Is(err, ErrData))
			require.Contains(t, err.Error(), tt.want)
			require.True(t, strings.HasPrefix(err.Error(), "filter: "), err.Error())
			if tt.want == "ran for more than" {
				// Its steps allocate only garbage (a CEL value per list
				// item visited, about 80 MB a second), none of it kept;
				// the time bound is what stops it.
				return
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			require.Less(t, alloc, uint64(filterMemoryBound), "one Match allocated %d MB", alloc>>20)
		})
	}
}

// TestFilterBoundsLeaveOrdinaryFiltersAlone: the bounds must not stop a
// filter that does ordinary work on a large event.
func TestFilterBoundsLeaveOrdinaryFiltersAlone(t *testing.T) {
	t.Parallel()

	tests := []struct {
		expr string
		data string
		want bool
	}{
		{`data.xs.exists(a, a == "zzz")`, bigEvent(20_000, 10), false},
		{`data.xs.all(a, a.size() == 8) && data.xs.size() == 20000`, bigEvent(20_000, 10), true},
		{`data.xs.map(a, a.upperAscii()).filter(a, a == "ABCDEFGH").size() == 20000`, bigEvent(20_000, 10), true},
		{`(data.s + "b").endsWith("ab") && data.s.lowerAscii().size() == 500000`, bigEvent(1, 500_000), true},
		{`data.s.replace("a", "b").startsWith("bbb")`, bigEvent(1, 100_000), true},
		{`data.xs == data.xs && "abcdefgh" in data.xs`, bigEvent(20_000, 10), true},
		{`"%s-%d".format([type, 1]) == "order.created-1"`, bigEvent(1, 10), true},
		{`data.xs.join(",").size() == 20000 * 9 - 1`, bigEvent(20_000, 10), true},
		{`data.s.indexOf("b") == -1 && data.s.lastIndexOf("aaaa") == 99996`, bigEvent(1, 100_000), true},
		{`data.s.matches("^a+$") && data.s.contains("aaa")`, bigEvent(1, 100_000), true},
	}
	for _, tt := range tests {
		f := mustCompile(t, tt.expr)
		f.timeout = time.Hour // the race detector on a shared machine is slow
		ok, err := f.Match(orderEvent(tt.data))
		require.NoError(t, err, tt.expr)
		require.Equal(t, tt.want, ok, tt.expr)
	}
}

// TestFilterRefusesLargeRegularExpressions: a literal pattern whose program
// is over filterRegexInsts is refused when the filter is compiled.
func TestFilterRefusesLargeRegularExpressions(t *testing.T) {
	t.Parallel()
	_, err := Compile(`data.s.matches("` + strings.Repeat("(?:x?){1000}", 300) + `z")`)
	require.Error(t, err)
	require.Contains(t, err.Error(), "instructions; the limit is")
	// A counted repetition is fine (cel-go's own program-size check
	// panicked on it).
	_, err = Compile(`data.s.matches("^x{2}[0-9]{3,5}$")`)
	require.NoError(t, err)
	_, err = Compile(`data.s.matches("^order-[0-9]+$")`)
	require.NoError(t, err)
}

// TestFilterUndecodableData: data a filter cannot read is ErrData, so
// that the subscription makes the event a dead letter instead of skipping
// it; a missing field stays an ordinary error (not matched).
func TestFilterUndecodableData(t *testing.T) {
	t.Parallel()

	f := mustCompile(t, `data.total > 100`)
	for name, data := range map[string]string{
		"number out of range": `{"total":1e999999}`,
		"invalid UTF-8":       "{\"total\":101,\"name\":\"\xff\xfe\"}",
		"not JSON":            `{"total":`,
	} {
		ok, err := f.Match(orderEvent(data))
		require.False(t, ok, name)
		require.ErrorIs(t, err, ErrData, name)
		require.False(t, errors.Is(err, ErrLimit), name)
	}

	ok, err := f.Match(orderEvent(`{"amount":1}`))
	require.False(t, ok)
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrData) || errors.Is(err, ErrLimit), "a missing field is not matched, not a dead letter: %v", err)

	// A filter that does not read data judges such an event on its
	// attributes.
	ok, err = mustCompile(t, `type == "order.created"`).Match(orderEvent(`{"total":1e999999}`))
	require.NoError(t, err)
	require.True(t, ok)
}

// BenchmarkFilterNestedAll measures how long the cost limit lets a runaway
// filter run before it stops it.
func BenchmarkFilterNestedAll(b *testing.B) {
	f := mustCompile(b, `data.xs.all(a, data.xs.all(b, a.size() >= 0))`)
	ev := orderEvent(bigEvent(3000, 10))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Match(ev); !errors.Is(err, ErrLimit) {
			b.Fatalf("Match: %v", err)
		}
	}
}
