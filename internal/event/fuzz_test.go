package event

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// requireKnownError fails unless err is one of the errors the package
// documents, so that callers can always map it to an HTTP status.
func requireKnownError(t *testing.T, err error) {
	t.Helper()
	var fe *FieldError
	var je *JSONError
	if errors.As(err, &fe) || errors.As(err, &je) || errors.Is(err, ErrMalformed) ||
		errors.Is(err, ErrNotCloudEvent) || errors.Is(err, ErrUnsupportedFormat) {
		return
	}
	t.Fatalf("undocumented error %T: %v", err, err)
}

func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		specBinaryExample, specXMLExample, specJSONExample, specStringExample,
		`{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"2018-04-05t17:31:00.123456789+05:30","x":-3,"y":true,"data":null}`,
		`{"specversion":"1.0","id":"a\"\u00e9\ud83d\ude00","source":"urn:x#f","type":"t","datacontenttype":"text/plain; charset=\"utf-8\"","data":"\u2028"}`,
		`{"specversion":"1.0","id":"1","source":"/s","type":"t","data_base64":"AAE"}`,
		`{"specversion":"1.0","id":"1","id":"2"}`, `[]`, `{`, "\xff", `{"data":{"a":[1,"]}"]}}`,
		`{"data":[1e5,-0.5,0,{"":null,"\\":[[]]}]}`, `[{"specversion":"1.0"},7]`,
		`{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"a":1,"b":{"a":2,"a":3}}}`,
		`{"specversion":"1.0","id":"1","source":"/s","type":"t","data":[1e999,{"\u0061":1,"a":2}]}`,
		"{\"data\":\"\xc0\xaf\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The scanner checks the grammar itself; it must agree with
		// encoding/json on what is valid.
		require.Equal(t, json.Valid(b), validJSON(b))
		// CheckJSON adds UTF-8 and I-JSON; the reference is encoding/json's
		// tokens, utf8.Valid and strconv.
		requireSameIJSONVerdict(t, b)
		valid := json.Valid(b) && utf8.Valid(b)
		trimmed := trimJSONSpace(b)
		batch, err := DecodeBatch(b)
		if err == nil {
			require.True(t, valid)
			for _, e := range batch {
				require.NoError(t, e.Validate())
			}
		} else {
			requireKnownError(t, err)
			require.Equal(t, !valid || trimmed[0] != '[', errors.Is(err, ErrMalformed) && !strings.Contains(err.Error(), "batch element"), "%v", err)
		}

		e, err := Decode(b)
		if err != nil {
			requireKnownError(t, err)
			require.Equal(t, !valid || trimmed[0] != '{', errors.Is(err, ErrMalformed), "%v", err)
			return
		}
		require.True(t, valid)
		require.NoError(t, e.Validate(), "Decode returned an event Validate refuses")
		encoded, err := e.MarshalJSON()
		require.NoError(t, err)
		again, err := Decode(encoded)
		require.NoError(t, err, "%s", encoded)
		requireSameEvent(t, e, again)
		require.Equal(t, string(encoded), string(again.AppendJSON(nil)), "encoding is not stable")
	})
}

func FuzzReadHTTP(f *testing.F) {
	f.Add("application/json", "1", "/s", "t", "2018-04-05T17:31:00Z", "Euro%20%E2%82%AC", []byte(`{"a":1}`))
	f.Add("", "1", "/s", "t", "", `"quoted \"x\""`, []byte{0, 1, 2})
	f.Add("text/plain;charset=utf-8", "%C0%A0", "urn:a", "t", "2018-04-05T17:31:00+01:00", "", []byte("hi"))
	f.Add("application/cloudevents+json; charset=utf-8", "", "", "", "", "", []byte(specJSONExample))
	f.Add("application/cloudevents-batch+json", "", "", "", "", "", []byte("["+specXMLExample+"]"))
	f.Add("application/cloudevents+avro", "", "", "", "", "", []byte{})
	f.Fuzz(func(t *testing.T, ct, id, source, typ, ts, ext string, body []byte) {
		h := http.Header{"Ce-Specversion": {"1.0"}}
		for key, v := range map[string]string{"Content-Type": ct, "Ce-Id": id, "Ce-Source": source, "Ce-Type": typ, "Ce-Time": ts, "Ce-Myext": ext} {
			if v != "" {
				h[key] = []string{v}
			}
		}
		events, mode, err := ReadHTTP(h, body)
		if err != nil {
			requireKnownError(t, err)
			return
		}
		for _, e := range events {
			require.NoError(t, e.Validate())
			encoded, err := e.MarshalJSON()
			require.NoError(t, err)
			again, err := Decode(encoded)
			require.NoError(t, err)
			requireSameEvent(t, e, again)
		}
		if mode != ModeBinary {
			return
		}
		e := events[0]
		out := http.Header{}
		e.WriteBinaryHeaders(out)
		data, err := e.BinaryBody()
		require.NoError(t, err)
		back, mode, err := ReadHTTP(out, data)
		require.NoError(t, err, "headers %v", out)
		require.Equal(t, ModeBinary, mode)
		requireSameEvent(t, e, back[0])
	})
}

func FuzzCleanSource(f *testing.F) {
	for _, seed := range []string{"/apps/warehouse", "/apps/../sources/x", "/%73ources/x", "//a//b/./c/", "urn:acme:x", "/a?b=../c#d", "%", "/%2F%2e%2E/x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := CleanSource(s)
		require.Equal(t, c, CleanSource(c), "cleaning is idempotent")
		if checkURI(s, false) == "" && strings.HasPrefix(s, "/") {
			require.True(t, strings.HasPrefix(c, "/"), "a path stays a path: %q", c)
			require.NotContains(t, strings.SplitN(strings.SplitN(c, "?", 2)[0], "#", 2)[0], "/../")
		}
	})
}
