package filter

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/event"
)

// orderData is a payload of about 300 bytes, the size of a typical small
// webhook body.
const orderData = `{"id":"ord_8f2a","total":120.5,"currency":"GBP","status":"paid",` +
	`"customer":{"id":"cus_1","email":"ada@example.com","country":"GB"},` +
	`"items":[{"sku":"sku_1","qty":2,"price":40.25},{"sku":"sku_2","qty":1,"price":40}],` +
	`"shipping":{"method":"standard","address":{"city":"London","postcode":"N1 9GU"}},` +
	`"created":"2024-05-01T12:00:00Z"}`

// orderEvent returns a fully populated order event carrying data.
func orderEvent(data string) *event.Event {
	ev := &event.Event{
		ID:              "evt_1",
		Source:          "/in/shop",
		SpecVersion:     event.SpecVersion,
		Type:            "order.created",
		Time:            time.Date(2024, 5, 1, 13, 0, 0, 0, time.FixedZone("BST", 3600)),
		Subject:         "ord_8f2a",
		DataContentType: "application/json",
		Extensions:      map[string]any{"partitionkey": "cus_1", "attempt": int32(3), "test": true},
	}
	if data != "" {
		ev.Data = json.RawMessage(data)
	}
	return ev
}

func mustCompile(t testing.TB, expr string) *Filter {
	t.Helper()
	f, err := Compile(expr)
	require.NoError(t, err)
	require.NotNil(t, f)
	return f
}

func TestFilterMatch(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		expr string
		ev   *event.Event
		want bool
	}{
		{"double total", `data.total > 100`, orderEvent(`{"total":120.5}`), true},
		{"integer total", `data.total > 100`, orderEvent(`{"total":101}`), true},
		{"small total", `data.total > 100`, orderEvent(`{"total":50}`), false},
		{"integer equality", `data.total == 101`, orderEvent(`{"total":101}`), true},
		{"type equals", `type == "order.created"`, orderEvent(orderData), true},
		{"type differs", `type == "order.paid"`, orderEvent(orderData), false},
		{"type prefix", `type.startsWith("order.")`, orderEvent(orderData), true},
		{"string extension", `type.lowerAscii().split(".")[0] == "order"`, orderEvent(orderData), true},
		{"extension string", `ext.partitionkey == "cus_1"`, orderEvent(orderData), true},
		{"extension int", `ext.attempt >= 3`, orderEvent(orderData), true},
		{"extension bool", `ext.test`, orderEvent(orderData), true},
		{"has present", `has(data.total)`, orderEvent(orderData), true},
		{"has absent", `has(data.discount)`, orderEvent(orderData), false},
		{"guarded absent", `has(data.discount) && data.discount > 0`, orderEvent(orderData), false},
		{"list size", `data.items.size() > 1`, orderEvent(orderData), true},
		{"nested in list", `data.customer.country in ["GB", "IE"]`, orderEvent(orderData), true},
		{"nested not in list", `data.customer.country in ["FR", "DE"]`, orderEvent(orderData), false},
		{"comprehension", `data.items.exists(i, i.qty > 1 && i.price < 50)`, orderEvent(orderData), true},
		{"time after", `time > timestamp("2020-01-01T00:00:00Z")`, orderEvent(orderData), true},
		{"time before", `time < timestamp("2020-01-01T00:00:00Z")`, orderEvent(orderData), false},
		{"hours in UTC", `time.getHours() == 12`, orderEvent(orderData), true},
		{"hours in zone", `time.getHours("Europe/London") == 13`, orderEvent(orderData), true},
		{"subject", `subject == "ord_8f2a"`, orderEvent(orderData), true},
		{"source", `source.endsWith("/shop")`, orderEvent(orderData), true},
		{"event map", `event.type == "order.created" && event.data.total > 100 && event.ext.partitionkey == "cus_1"`, orderEvent(orderData), true},
		{"event map time", `event.time > timestamp("2020-01-01T00:00:00Z")`, orderEvent(orderData), true},
		{"data is null without payload", `data == null`, orderEvent(""), true},
		{"literal null payload", `data == null`, orderEvent(`null`), true},
		{"text payload", `data == "hello"`, orderEvent(`"hello"`), true},
		{"top-level list", `data.size() == 2 && data[1] == 2.0`, orderEvent(`[1, 2]`), true},
		{"no data read needs no payload", `id == "evt_1"`, orderEvent(`not json`), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := mustCompile(t, tt.expr).Match(tt.ev)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestFilterAbsentAttributes(t *testing.T) {
	t.Parallel()

	ev := &event.Event{ID: "1", Source: "/s", SpecVersion: event.SpecVersion, Type: "t", DataBase64: []byte{0xff, 0x00}}
	for _, expr := range []string{
		`subject == ""`,
		`dataschema == "" && datacontenttype == ""`,
		`data == null`, // binary payloads are not visible to filters
		`time == timestamp("1970-01-01T00:00:00Z")`,
		`ext.size() == 0 && !has(ext.partitionkey)`,
		`event.subject == "" && event.data == null`,
	} {
		got, err := mustCompile(t, expr).Match(ev)
		require.NoError(t, err, expr)
		require.True(t, got, expr)
	}
}

func TestCompileFilterEmpty(t *testing.T) {
	t.Parallel()

	for _, expr := range []string{"", "  \n\t"} {
		f, err := Compile(expr)
		require.NoError(t, err)
		require.Nil(t, f)

		ok, err := f.Match(orderEvent(orderData))
		require.NoError(t, err)
		require.True(t, ok, "a nil filter matches everything")
		require.Empty(t, f.String())
	}

	require.Equal(t, "data.total > 100", mustCompile(t, "data.total > 100").String())
}

func TestCompileFilterErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		expr string
		want []string // substrings of the error
	}{
		{"syntax", `data.total >`, []string{"filter: line 1, column 13: Syntax error"}},
		{"unclosed string", `type == "order`, []string{"filter: line 1, column 9:"}},
		{"unknown variable", `totl > 100`, []string{
			"filter: line 1, column 1: undeclared reference to 'totl'",
			"the variables are id, source, type, subject, time, datacontenttype, dataschema, data, ext and event",
		}},
		{"unknown function", `type.begins("order")`, []string{"line 1, column 12:", "undeclared reference to 'begins'"}},
		{"not bool", `data.total + 1`, []string{"gives a value of type", "must be true or false"}},
		{"string", `type`, []string{"gives a value of type string", "must be true or false"}},
		{"null", `null`, []string{"must be true or false"}},
		{"wrong operand", `type > 5`, []string{"line 1, column 6:", "no matching overload"}},
		{"bad timestamp literal", `time > timestamp("yesterday")`, []string{"timestamp"}},
		{"bad regex literal", `type.matches("(")`, []string{"line 1, column 14:", "not a valid RE2 regular expression: error parsing regexp: missing closing )"}},
		{"unknown name inside a comprehension", `data.xs.exists(x, x == totl)`, []string{"undeclared reference to 'totl'", "the variables are id,"}},
		{"too long", `type == "` + strings.Repeat("x", maxFilterLen) + `"`, []string{"bytes long; the limit is 4096"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Compile(tt.expr)
			require.Error(t, err)
			require.Nil(t, f)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
			require.NotContains(t, err.Error(), "in container", "CEL's container note means nothing to a weir user")
			require.NotContains(t, err.Error(), "\n", "the error is one line")
		})
	}
}

func TestFilterEvalErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		expr string
		data string
		want string
	}{
		{"missing key", `data.total > 100`, `{"amount":1}`, "has(data.total)"},
		{"missing extension", `ext.tenant == "a"`, `{}`, "no such key: tenant"},
		{"field of null", `data.total > 100`, "", "no such key: total"},
		{"wrong type in payload", `data.total > 100`, `{"total":"120"}`, "a string compared with a number"},
		{"not bool at runtime", `data.total`, `{"total":1}`, "gave a value of type double"},
		{"invalid JSON", `data.total > 100`, `{"total":`, "not valid JSON"},
		{"cost limit", `data.items.exists(a, data.items.exists(b, data.items.exists(c, a + b + c < 0)))`,
			`{"items":[` + strings.TrimSuffix(strings.Repeat("1,", 100), ",") + `]}`, "exceeded the limits of one evaluation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ok, err := mustCompile(t, tt.expr).Match(orderEvent(tt.data))
			require.Error(t, err)
			require.False(t, ok)
			require.True(t, strings.HasPrefix(err.Error(), "filter: "), err.Error())
			require.Contains(t, err.Error(), tt.want)
		})
	}

	ok, err := mustCompile(t, `true`).Match(nil)
	require.Error(t, err)
	require.False(t, ok)
}

func TestFilterConcurrentMatch(t *testing.T) {
	t.Parallel()

	f := mustCompile(t, `data.total > 100 && event.type.startsWith("order.")`)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				total := 50 + (i+j)%100
				ok, err := f.Match(orderEvent(fmt.Sprintf(`{"total":%d}`, total)))
				// require must not be called off the test goroutine.
				if err != nil || ok != (total > 100) {
					t.Errorf("total %d: Match = %v, %v", total, ok, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func FuzzCompileFilter(f *testing.F) {
	for _, expr := range []string{
		`data.total > 100`,
		`has(data.total) && data.total > 100`,
		`type.startsWith("order.") || ext.partitionkey == "cus_1"`,
		`data.items.exists(i, i.qty > 1)`,
		`data.items.map(x, data.items.map(y, x + y)).size() > 0`,
		`time > timestamp("2020-01-01T00:00:00Z")`,
		`"%s-%d".format([type, 1]) == ""`,
		`source.split("/").join(",").size() > 3`,
		`event.data == null`,
		`data.total`,
		`((((`,
	} {
		f.Add(expr, `{"total":120.5,"items":[{"qty":2},{"qty":1}],"s":"abc"}`)
	}
	f.Add(`data == null`, ``)
	f.Add(`data.x.matches(data.y)`, `{"x":"aaaa","y":"a+"}`)

	f.Fuzz(func(t *testing.T, expr, data string) {
		flt, err := Compile(expr)
		if err != nil {
			require.Nil(t, flt)
			require.True(t, strings.HasPrefix(err.Error(), "filter: "), err.Error())
			return
		}
		if flt == nil {
			return
		}
		ev := orderEvent("")
		if json.Valid([]byte(data)) {
			ev.Data = json.RawMessage(data)
		}
		ok, err := flt.Match(ev)
		if err != nil {
			require.False(t, ok)
			// cel-go turns a panic during evaluation into this error; it
			// must not happen on any input.
			require.NotContains(t, err.Error(), "internal error")
		}
	})
}

// BenchmarkFilterMatch measures the common case: a payload field and an
// attribute, over an event of about 300 bytes of data.
func BenchmarkFilterMatch(b *testing.B) {
	f := mustCompile(b, `data.total > 100 && type.startsWith("order.")`)
	ev := orderEvent(orderData)
	b.ReportAllocs()
	for b.Loop() {
		ok, err := f.Match(ev)
		if err != nil || !ok {
			b.Fatalf("Match = %v, %v", ok, err)
		}
	}
}

// BenchmarkFilterMatchAttributes measures a filter that never reads data,
// which skips decoding the payload.
func BenchmarkFilterMatchAttributes(b *testing.B) {
	f := mustCompile(b, `type.startsWith("order.") && ext.partitionkey == "cus_1"`)
	ev := orderEvent(orderData)
	b.ReportAllocs()
	for b.Loop() {
		ok, err := f.Match(ev)
		if err != nil || !ok {
			b.Fatalf("Match = %v, %v", ok, err)
		}
	}
}

// BenchmarkFilterMatchExists measures a filter with a comprehension, which
// also pays for the time bound's context.
func BenchmarkFilterMatchExists(b *testing.B) {
	f := mustCompile(b, `data.items.exists(i, i.qty > 1 && i.price < 50)`)
	ev := orderEvent(orderData)
	b.ReportAllocs()
	for b.Loop() {
		ok, err := f.Match(ev)
		if err != nil || !ok {
			b.Fatalf("Match = %v, %v", ok, err)
		}
	}
}

// TestCompileHintsComeFromTheExpression: the hints are found in the
// expression's syntax tree, so a comprehension's own variable is not an
// unknown name, and a valid pattern is not flagged.
func TestCompileHintsComeFromTheExpression(t *testing.T) {
	t.Parallel()
	env, err := filterEnv()
	require.NoError(t, err)
	unknown, bad := compileHints(env, `data.xs.exists(x, x.all(y, y > 1)) && data.m.exists(k, k == "a") && type.matches("^order\\.")`)
	require.False(t, unknown)
	require.NoError(t, bad)
	unknown, _ = compileHints(env, `data.xs.exists(x, x > limit)`)
	require.True(t, unknown)
	_, bad = compileHints(env, `matches(type, "[")`)
	require.Error(t, bad)
}
