package event

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// header builds an http.Header from name/value pairs the way a server
// would, canonicalizing names.
func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// specHeaders are the ce- headers of the spec's binary-mode examples.
func specHeaders(id, contentType string) http.Header {
	h := header(
		"ce-specversion", "1.0",
		"ce-type", "com.example.someevent",
		"ce-source", "/mycontext",
		"ce-id", id,
		"ce-time", "2018-04-05T17:31:00Z",
		"ce-comexampleextension1", "value",
		"ce-comexampleothervalue", "5",
	)
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return h
}

// specBinaryEvent is specEvent as binary mode reads it: headers carry no
// types, so the integer extension arrives as a string.
func specBinaryEvent(id string) Event {
	e := specEvent(id)
	e.Extensions["comexampleothervalue"] = "5"
	return e
}

func TestReadHTTPBinarySpecExamples(t *testing.T) {
	t.Parallel()
	thrift := specBinaryEvent("A234-1234-1234")
	thrift.DataContentType = "application/vnd.apache.thrift.binary"
	thrift.DataBase64 = []byte{0, 1, 2, 3, 4}
	xml := specBinaryEvent("B234-1234-1234")
	xml.DataContentType = "application/xml"
	xml.DataBase64 = []byte(`<much wow="xml"/>`)
	obj := specBinaryEvent("C234-1234-1234")
	obj.DataContentType = "application/json"
	obj.Data = json.RawMessage("{\n  \"appinfoA\" : \"abc\",\n  \"appinfoB\" : 123,\n  \"appinfoC\" : true\n}")
	str := specBinaryEvent("D234-1234-1234")
	str.DataContentType = "application/json"
	str.Data = json.RawMessage(`"I'm just a string"`)

	tests := []struct {
		name string
		h    http.Header
		body string
		want Event
	}{
		{"thrift", specHeaders("A234-1234-1234", "application/vnd.apache.thrift.binary"), "\x00\x01\x02\x03\x04", thrift},
		{"xml", specHeaders("B234-1234-1234", "application/xml"), `<much wow="xml"/>`, xml},
		{"json object", specHeaders("C234-1234-1234", "application/json"), string(obj.Data) + "\n", obj},
		{"json string", specHeaders("D234-1234-1234", "application/json"), `"I'm just a string"`, str},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			events, mode, err := ReadHTTP(tt.h, []byte(tt.body))
			require.NoError(t, err)
			require.Equal(t, ModeBinary, mode)
			require.Len(t, events, 1)
			requireSameEvent(t, tt.want, events[0])
		})
	}
}

func TestReadHTTPStructuredAndBatch(t *testing.T) {
	t.Parallel()
	events, mode, err := ReadHTTP(header("Content-Type", "application/cloudevents+json; charset=UTF-8"), []byte(specJSONExample))
	require.NoError(t, err)
	require.Equal(t, ModeStructured, mode)
	require.Len(t, events, 1)
	require.Equal(t, "C234-1234-1234", events[0].ID)

	// Structured mode may repeat attributes in headers; the body wins.
	events, _, err = ReadHTTP(header("Content-Type", "Application/CloudEvents+JSON", "ce-id", "other"), []byte(specJSONExample))
	require.NoError(t, err)
	require.Equal(t, "C234-1234-1234", events[0].ID)

	events, mode, err = ReadHTTP(header("Content-Type", "application/cloudevents-batch+json"), []byte("["+specJSONExample+","+specStringExample+"]"))
	require.NoError(t, err)
	require.Equal(t, ModeBatch, mode)
	require.Len(t, events, 2)

	_, mode, err = ReadHTTP(header("Content-Type", "application/cloudevents-batch+json"), []byte("["+specJSONExample+`,{"specversion":"1.0"}]`))
	require.Equal(t, ModeBatch, mode)
	requireFieldError(t, err, "[1].id")

	_, mode, err = ReadHTTP(header("Content-Type", "application/cloudevents+json"), []byte(`{"specversion":"1.0",`))
	require.Equal(t, ModeStructured, mode)
	require.ErrorIs(t, err, ErrMalformed)
}

func TestReadHTTPRefusesOtherFormats(t *testing.T) {
	t.Parallel()
	for _, ct := range []string{"application/cloudevents+avro", "application/cloudevents", "application/cloudevents-batch+protobuf"} {
		_, _, err := ReadHTTP(header("Content-Type", ct), []byte(specJSONExample))
		require.ErrorIs(t, err, ErrUnsupportedFormat, ct)
	}
}

func TestReadHTTPRefusesPlainRequests(t *testing.T) {
	t.Parallel()
	for _, h := range []http.Header{{}, header("Content-Type", "application/json"), header("X-Github-Event", "push")} {
		events, mode, err := ReadHTTP(h, []byte(`{"a":1}`))
		require.ErrorIs(t, err, ErrNotCloudEvent)
		require.Nil(t, events)
		require.Equal(t, Mode(0), mode)
	}
}

func TestReadHTTPBinary(t *testing.T) {
	t.Parallel()
	required := func(extra ...string) http.Header {
		return header(append([]string{"ce-specversion", "1.0", "ce-id", "1", "ce-source", "/s", "ce-type", "t"}, extra...)...)
	}
	tests := []struct {
		name  string
		h     http.Header
		body  string
		check func(*testing.T, Event)
	}{
		{"empty body has no data", required("Content-Type", "application/json"), "", func(t *testing.T, e Event) {
			require.Nil(t, e.Data)
			require.Nil(t, e.DataBase64)
			require.Equal(t, "application/json", e.DataContentType)
		}},
		{"no content type: bytes", required(), "hello", func(t *testing.T, e Event) {
			require.Equal(t, []byte("hello"), e.DataBase64)
			require.Equal(t, "", e.DataContentType)
		}},
		{"+json content type: JSON", required("Content-Type", "application/vnd.example+json; charset=utf-8"), ` [1] `, func(t *testing.T, e Event) {
			require.Equal(t, json.RawMessage(`[1]`), e.Data)
		}},
		{"every optional attribute", required("ce-subject", "s", "ce-time", "2018-04-05T17:31:00.123+01:00", "ce-dataschema", "https://example.com/s.json", "ce-traceparent", "00-ab-cd-01"), "", func(t *testing.T, e Event) {
			require.Equal(t, "s", e.Subject)
			require.True(t, e.Time.Equal(time.Date(2018, 4, 5, 16, 31, 0, 123_000_000, time.UTC)))
			require.Equal(t, "https://example.com/s.json", e.DataSchema)
			require.Equal(t, map[string]any{"traceparent": "00-ab-cd-01"}, e.Extensions)
		}},
		{"percent-decoding, spec example", required("ce-subject", "Euro%20%E2%82%AC%20%F0%9F%98%80"), "", func(t *testing.T, e Event) {
			require.Equal(t, "Euro € 😀", e.Subject)
		}},
		{"lower-case hex and needless encoding", required("ce-subject", "%e2%82%ac%41+b"), "", func(t *testing.T, e Event) {
			require.Equal(t, "€A+b", e.Subject)
		}},
		{"quoted string from older senders", required("ce-subject", `"hello \"world\""`), "", func(t *testing.T, e Event) {
			require.Equal(t, `hello "world"`, e.Subject)
		}},
		{"quoted then percent-decoded", required("ce-subject", `"a%25b"`), "", func(t *testing.T, e Event) {
			require.Equal(t, "a%b", e.Subject)
		}},
		{"raw UTF-8 is tolerated", required("ce-subject", "é"), "", func(t *testing.T, e Event) {
			require.Equal(t, "é", e.Subject)
		}},
		{"non-canonical header keys", http.Header{"ce-specversion": {"1.0"}, "CE-ID": {"1"}, "ce-Source": {"/s"}, "ce-type": {"t"}, "content-type": {"text/plain"}}, "x", func(t *testing.T, e Event) {
			require.Equal(t, "1", e.ID)
			require.Equal(t, "text/plain", e.DataContentType)
			require.Equal(t, []byte("x"), e.DataBase64)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			events, mode, err := ReadHTTP(tt.h, []byte(tt.body))
			require.NoError(t, err)
			require.Equal(t, ModeBinary, mode)
			require.Len(t, events, 1)
			tt.check(t, events[0])
		})
	}
}

func TestReadHTTPBinaryRefusesInvalidEvents(t *testing.T) {
	t.Parallel()
	with := func(drop string, extra ...string) http.Header {
		h := header("ce-specversion", "1.0", "ce-id", "1", "ce-source", "/s", "ce-type", "t")
		h.Del(drop)
		for i := 0; i+1 < len(extra); i += 2 {
			h.Add(extra[i], extra[i+1])
		}
		return h
	}
	tests := []struct {
		name   string
		h      http.Header
		body   string
		field  string
		reason string
	}{
		{"no ce-type", with("ce-type"), "", "type", "ce-type header"},
		{"no ce-specversion", with("ce-specversion"), "", "specversion", "ce-specversion header"},
		{"no ce-id", with("ce-id"), "", "id", "ce-id header"},
		{"old specversion", with("ce-specversion", "ce-specversion", "0.3"), "", "specversion", `"1.0"`},
		{"empty ce-subject", with("", "ce-subject", ""), "", "subject", "must not be empty"},
		{"bad time", with("", "ce-time", "2018-04-05"), "", "time", "RFC 3339"},
		{"JSON type, body not JSON", with("", "Content-Type", "application/json"), "{not json", "data", "not valid UTF-8 JSON"},
		{"JSON type, body not UTF-8", with("", "Content-Type", "application/json"), "\"\xff\"", "data", "not valid UTF-8 JSON"},
		{"ce-datacontenttype", with("", "ce-datacontenttype", "text/plain"), "", "datacontenttype", "Content-Type"},
		{"ce-data", with("", "ce-data", "x"), "", "data", "reserved"},
		{"bad extension name", with("", "ce-my-ext", "x"), "", "my-ext", "ce-my-ext"},
		{"repeated header", with("", "ce-id", "2"), "", "id", "more than once"},
		{"bad percent-encoding", with("", "ce-subject", "a%zzb"), "", "subject", "percent-encoding"},
		{"truncated percent-encoding", with("", "ce-subject", "a%2"), "", "subject", "percent-encoding"},
		{"overlong UTF-8", with("", "ce-subject", "%C0%A0"), "", "subject", "UTF-8"},
		{"unterminated quoted string", with("", "ce-subject", `"abc`), "", "subject", "quoted"},
		{"encoded newline", with("", "ce-subject", "a%0Ab"), "", "subject", "control"},
		{"bad content type", with("", "Content-Type", "nonsense"), "x", "datacontenttype", "media type"},
		{"source with space", with("ce-source", "ce-source", "/a%20b"), "", "source", "percent-encoded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			events, mode, err := ReadHTTP(tt.h, []byte(tt.body))
			require.Nil(t, events)
			require.Equal(t, ModeBinary, mode)
			requireFieldError(t, err, tt.field)
			require.Contains(t, err.Error(), tt.reason)
		})
	}
}

func TestReadHTTPBinaryNamesHeadersCaseInsensitively(t *testing.T) {
	t.Parallel()
	h := http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"1"}, "ce-id": {"2"}, "Ce-Source": {"/s"}, "Ce-Type": {"t"}}
	_, _, err := ReadHTTP(h, nil)
	requireFieldError(t, err, "id")
	require.Contains(t, err.Error(), "more than once")
}

func TestEncodeHeaderValue(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"plain-value_1.0":     "plain-value_1.0",
		"Euro € 😀":            "Euro%20%E2%82%AC%20%F0%9F%98%80",
		`say "hi" 100%`:       "say%20%22hi%22%20100%25",
		"tab\there\x7f":       "tab%09here%7F",
		"/path?q=1&r=2#frag~": "/path?q=1&r=2#frag~",
	}
	for in, want := range tests {
		got := encodeHeaderValue(in)
		require.Equal(t, want, got, in)
		back, reason := decodeHeaderValue(got)
		require.Empty(t, reason)
		require.Equal(t, in, back)
	}
}

func TestWriteBinaryHeaders(t *testing.T) {
	t.Parallel()
	e := full()
	e.Subject = `file "a b".jpg`
	h := header("Ce-Stale", "x", "Content-Type", "text/plain", "Authorization", "keep")
	e.WriteBinaryHeaders(h)

	require.Equal(t, http.Header{
		"Authorization":   {"keep"},
		"Content-Type":    {"application/json"},
		"Ce-Specversion":  {"1.0"},
		"Ce-Id":           {"A234-1234-1234"},
		"Ce-Source":       {"https://example.com/storage/tenant/container"},
		"Ce-Type":         {"com.example.object.created"},
		"Ce-Subject":      {"file%20%22a%20b%22.jpg"},
		"Ce-Time":         {"2018-04-05T17:31:00.5Z"},
		"Ce-Dataschema":   {"https://example.com/schemas/object-created.json"},
		"Ce-Traceparent":  {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		"Ce-Partitionkey": {"tenant-7"},
		"Ce-Sampled":      {"true"},
		"Ce-Retries":      {"3"},
	}, h)

	body, err := e.BinaryBody()
	require.NoError(t, err)
	events, mode, err := ReadHTTP(h, body)
	require.NoError(t, err)
	require.Equal(t, ModeBinary, mode)
	want := e
	want.Extensions = map[string]any{
		"traceparent": e.Extensions["traceparent"], "partitionkey": "tenant-7", "sampled": "true", "retries": "3",
	}
	requireSameEvent(t, want, events[0])
}

func TestWriteBinaryHeadersContentType(t *testing.T) {
	t.Parallel()
	// JSON data without datacontenttype is labelled with the implied type.
	e := minimal()
	e.Data = json.RawMessage(`"I'm just a string"`)
	h := header("Content-Type", "text/plain")
	e.WriteBinaryHeaders(h)
	require.Equal(t, "application/json", h.Get("Content-Type"))

	// No data and no datacontenttype: no Content-Type, stale one removed.
	e = minimal()
	e.WriteBinaryHeaders(h)
	_, ok := h["Content-Type"]
	require.False(t, ok)
}

func TestBinaryBody(t *testing.T) {
	t.Parallel()
	xml, err := Decode([]byte(specXMLExample))
	require.NoError(t, err)
	body, err := xml.BinaryBody()
	require.NoError(t, err)
	require.Equal(t, `<much wow="xml"/>`, string(body))

	str, err := Decode([]byte(specStringExample))
	require.NoError(t, err)
	body, err = str.BinaryBody()
	require.NoError(t, err)
	require.Equal(t, `"I'm just a string"`, string(body), "JSON data keeps its quotes, as the spec's example shows")

	bin, err := Decode([]byte(specBinaryExample))
	require.NoError(t, err)
	body, err = bin.BinaryBody()
	require.NoError(t, err)
	require.Equal(t, []byte{0, 1, 2, 3, 4}, body)

	body, err = minimal().BinaryBody()
	require.NoError(t, err)
	require.Nil(t, body)

	bad := minimal()
	bad.DataContentType = "text/plain"
	bad.Data = json.RawMessage(`{}`)
	_, err = bad.BinaryBody()
	requireFieldError(t, err, "data")
}

func TestStructuredToBinaryAndBack(t *testing.T) {
	t.Parallel()
	for _, body := range []string{specBinaryExample, specXMLExample, specJSONExample, specStringExample} {
		e, err := Decode([]byte(body))
		require.NoError(t, err)
		h := http.Header{}
		e.WriteBinaryHeaders(h)
		data, err := e.BinaryBody()
		require.NoError(t, err)
		events, _, err := ReadHTTP(h, data)
		require.NoError(t, err)
		got := events[0]
		require.Equal(t, e.ID, got.ID)
		require.Equal(t, "5", got.Extensions["comexampleothervalue"])
		if strings.Contains(body, "xml") {
			require.Equal(t, []byte(`<much wow="xml"/>`), got.DataBase64)
		}
		if e.DataContentType == "" {
			require.Equal(t, "application/json", got.DataContentType)
			require.Equal(t, e.Data, got.Data)
		}
	}
}
