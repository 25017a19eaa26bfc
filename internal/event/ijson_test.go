package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestCheckJSON(t *testing.T) {
	t.Parallel()
	many := `{`
	for i := range 40 {
		many += `"k` + strconv.Itoa(i) + `":1,`
	}
	cases := []struct {
		name, in string
		kind     JSONErrorKind // "" for valid, "malformed" for ErrMalformed
		field    string
		offset   int
	}{
		{"object", `{"a":{"b":[1,{"c":2}]},"d":"x"}`, "", "", 0},
		{"same name in sibling objects", `[{"a":1},{"a":2},{"b":{"a":3}}]`, "", "", 0},
		{"float64 edges", `[1.7976931348623157e308,-1e308,1e-400,0e999999,` + strings.Repeat("9", 308) + `]`, "", "", 0},
		{"invalid UTF-8", "{\"s\":\"\xff\"}", "malformed", "", 0},
		{"overlong UTF-8", "{\"s\":\"\xc0\xaf\"}", "malformed", "", 0},
		{"syntax", `{"a":}`, "malformed", "", 0},
		{"repeated name", `{"type":"dup.a","type":"dup.b"}`, DuplicateKey, "/type", 16},
		{"repeated escaped name", `{"a":1,"\u0061":2}`, DuplicateKey, "/a", 7},
		{"repeated deep", `{"x":[0,{"m/n":{"~":1,"~":2}}]}`, DuplicateKey, "/x/1/m~1n/~0", 22},
		{"repeated in a big object", many + `"k7":2}`, DuplicateKey, "/k7", len(many)},
		{"first fault wins", `{"a":[1e999],"b":1,"b":2}`, NumberOutOfRange, "/a/0", 6},
		{"huge exponent", `{"n":1e999999}`, NumberOutOfRange, "/n", 5},
		{"huge negative", `[-1.7976931348623159e308]`, NumberOutOfRange, "/0", 1},
		{"huge without exponent", `{"n":` + strings.Repeat("9", 309) + `}`, NumberOutOfRange, "/n", 5},
		{"huge at the root", ` 1e400`, NumberOutOfRange, "", 1},
	}
	for _, c := range cases {
		err := CheckJSON([]byte(c.in))
		switch c.kind {
		case "":
			require.NoError(t, err, c.name)
		case "malformed":
			require.ErrorIs(t, err, ErrMalformed, c.name)
			require.Contains(t, err.Error(), "at byte", c.name)
		default:
			var je *JSONError
			require.ErrorAs(t, err, &je, c.name)
			require.Equal(t, c.kind, je.Kind, c.name)
			require.Equal(t, c.field, je.Field, c.name)
			require.Equal(t, c.offset, je.Offset, c.name)
		}
	}
}

// TestDecodeRefusesDataThatIsNotIJSON: every content mode refuses a repeated
// name or a huge number in data, naming the member under "data".
func TestDecodeRefusesDataThatIsNotIJSON(t *testing.T) {
	t.Parallel()
	const attrs = `"specversion":"1.0","id":"1","source":"/s","type":"t"`
	_, err := Decode([]byte(`{` + attrs + `,"data":{"type":"dup.a","type":"dup.b"}}`))
	var je *JSONError
	require.ErrorAs(t, err, &je)
	require.Equal(t, "data/type", je.Field)
	require.Equal(t, DuplicateKey, je.Kind)

	_, err = Decode([]byte(`{` + attrs + `,"data":1e999}`))
	require.ErrorAs(t, err, &je)
	require.Equal(t, "data", je.Field)
	require.Equal(t, NumberOutOfRange, je.Kind)

	_, err = DecodeBatch([]byte(`[{` + attrs + `,"data":{}},{` + attrs + `,"data":{"a":{"b":1,"b":2}}}]`))
	require.ErrorAs(t, err, &je)
	require.Equal(t, "[1].data/a/b", je.Field)

	h := http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"1"}, "Ce-Source": {"/s"}, "Ce-Type": {"t"}, "Content-Type": {"application/json"}}
	_, _, err = ReadHTTP(h, []byte(` {"a":1,"a":2}`))
	require.ErrorAs(t, err, &je)
	require.Equal(t, "data/a", je.Field)
	require.Equal(t, 8, je.Offset, "the offset is in the body as sent")

	e := Event{SpecVersion: "1.0", ID: "1", Source: "/s", Type: "t", Data: json.RawMessage(`{"a":1,"a":2}`)}
	require.ErrorAs(t, e.Validate(), &je)
	require.Equal(t, "data/a", je.Field)

	// The event's own members are not data: a repeated attribute stays a
	// *FieldError, as before.
	_, err = Decode([]byte(`{` + attrs + `,"id":"2"}`))
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	require.False(t, errors.As(err, &je))

	// An extension given as null is absent but seen: a second copy is a
	// repeat, whichever copy comes first.
	for _, exts := range []string{`"foo":null,"foo":"x"`, `"foo":"x","foo":null`, `"foo":null,"foo":null`} {
		_, err = Decode([]byte(`{` + attrs + `,` + exts + `}`))
		require.ErrorAs(t, err, &fe, exts)
		require.Equal(t, "foo", fe.Path, exts)
	}
	ev, err := Decode([]byte(`{` + attrs + `,"foo":null}`))
	require.NoError(t, err)
	require.NotContains(t, ev.Extensions, "foo")
}

// referenceIJSON is CheckJSON's verdict computed another way, for the fuzz
// targets: utf8.Valid and json.Valid, then encoding/json's tokens for the
// repeated names and strconv for the numbers. It returns nil, ErrMalformed,
// or a *JSONError without Offset.
func referenceIJSON(b []byte) error {
	if !utf8.Valid(b) || !json.Valid(b) {
		return ErrMalformed
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type level struct {
		object bool
		names  map[string]bool
		name   string // object: current member
		index  int    // array: current element
		inKey  bool   // object: the next string token is a name
	}
	var stack []*level
	ptr := func() string {
		var sb strings.Builder
		for _, l := range stack {
			sb.WriteByte('/')
			if l.object {
				sb.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(l.name))
			} else {
				sb.WriteString(strconv.Itoa(l.index - 1))
			}
		}
		return sb.String()
	}
	// value is called before each value: it advances the enclosing array.
	value := func() {
		if n := len(stack); n > 0 && !stack[n-1].object {
			stack[n-1].index++
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return ErrMalformed
		}
		top := (*level)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.inKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].inKey = true
				}
				continue
			}
			name := tok.(string)
			top.name = name
			top.inKey = false
			if top.names[name] {
				return &JSONError{Kind: DuplicateKey, Field: ptr()}
			}
			top.names[name] = true
			continue
		}
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{':
				value()
				stack = append(stack, &level{object: true, names: map[string]bool{}, inKey: true})
				continue
			case '[':
				value()
				stack = append(stack, &level{})
				continue
			default: // ']'
				stack = stack[:len(stack)-1]
			}
		case json.Number:
			value()
			if _, err := strconv.ParseFloat(string(tok), 64); err != nil {
				return &JSONError{Kind: NumberOutOfRange, Field: ptr()}
			}
		default:
			value()
		}
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].inKey = true
		}
	}
}

// requireSameIJSONVerdict fails unless CheckJSON and the reference agree on b.
func requireSameIJSONVerdict(t *testing.T, b []byte) {
	t.Helper()
	got, want := CheckJSON(b), referenceIJSON(b)
	if want == nil || errors.Is(want, ErrMalformed) {
		if want == nil {
			require.NoError(t, got, "%q", b)
		} else {
			require.ErrorIs(t, got, ErrMalformed, "%q", b)
		}
		return
	}
	var je *JSONError
	require.ErrorAs(t, got, &je, "%q", b)
	wje := want.(*JSONError)
	require.Equal(t, wje.Kind, je.Kind, "%q", b)
	require.Equal(t, wje.Field, je.Field, "%q", b)
	switch je.Kind {
	case DuplicateKey:
		require.Equal(t, byte('"'), b[je.Offset], "the offset is the repeated name's")
	case NumberOutOfRange:
		require.Contains(t, "-0123456789", string(b[je.Offset]), "the offset is the number's")
	}
}

func TestReferenceIJSONAgreesOnTheTable(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{"a":{"b":[1,{"c":2}]},"d":"x"}`, `[{"a":1},{"a":2}]`, `{"type":"dup.a","type":"dup.b"}`,
		`{"a":1,"\u0061":2}`, `{"x":[0,{"m/n":{"~":1,"~":2}}]}`, `{"a":[1e999],"b":1,"b":2}`,
		`[[],[[1e400]]]`, `{"a":{},"b":{"a":1,"c":{"a":1}},"c":1,"c":2}`, "\"\xff\"", `1e400`, `{}`,
	} {
		requireSameIJSONVerdict(t, []byte(in))
	}
}
