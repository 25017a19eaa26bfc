package event

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The example events of the JSON event format (json-format.md, section 3.2).
// The spec's placeholder "... base64 encoded string ..." is not base64, so
// the binary example carries real bytes.
const (
	specBinaryExample = `{
    "specversion" : "1.0",
    "type" : "com.example.someevent",
    "source" : "/mycontext",
    "id" : "A234-1234-1234",
    "time" : "2018-04-05T17:31:00Z",
    "comexampleextension1" : "value",
    "comexampleothervalue" : 5,
    "datacontenttype" : "application/vnd.apache.thrift.binary",
    "data_base64" : "AAECAwQ="
}`
	specXMLExample = `{
    "specversion" : "1.0",
    "type" : "com.example.someevent",
    "source" : "/mycontext",
    "id" : "B234-1234-1234",
    "time" : "2018-04-05T17:31:00Z",
    "comexampleextension1" : "value",
    "comexampleothervalue" : 5,
    "unsetextension": null,
    "datacontenttype" : "application/xml",
    "data" : "<much wow=\"xml\"/>"
}`
	specJSONExample = `{
    "specversion" : "1.0",
    "type" : "com.example.someevent",
    "source" : "/mycontext",
    "subject": null,
    "id" : "C234-1234-1234",
    "time" : "2018-04-05T17:31:00Z",
    "comexampleextension1" : "value",
    "comexampleothervalue" : 5,
    "datacontenttype" : "application/json",
    "data" : {
        "appinfoA" : "abc",
        "appinfoB" : 123,
        "appinfoC" : true
    }
}`
	specStringExample = `{
    "specversion" : "1.0",
    "type" : "com.example.someevent",
    "source" : "/mycontext",
    "subject": null,
    "id" : "D234-1234-1234",
    "time" : "2018-04-05T17:31:00Z",
    "comexampleextension1" : "value",
    "comexampleothervalue" : 5,
    "data" : "I'm just a string"
}`
)

// specEvent is the attributes the spec's examples share.
func specEvent(id string) Event {
	return Event{
		ID: id, Source: "/mycontext", SpecVersion: "1.0", Type: "com.example.someevent",
		Time:       time.Date(2018, 4, 5, 17, 31, 0, 0, time.UTC),
		Extensions: map[string]any{"comexampleextension1": "value", "comexampleothervalue": int32(5)},
	}
}

func TestDecodeSpecExamples(t *testing.T) {
	t.Parallel()
	binary := specEvent("A234-1234-1234")
	binary.DataContentType = "application/vnd.apache.thrift.binary"
	binary.DataBase64 = []byte{0, 1, 2, 3, 4}
	xml := specEvent("B234-1234-1234")
	xml.DataContentType = "application/xml"
	xml.Data = json.RawMessage(`"<much wow=\"xml\"/>"`)
	obj := specEvent("C234-1234-1234")
	obj.DataContentType = "application/json"
	obj.Data = json.RawMessage(`{
        "appinfoA" : "abc",
        "appinfoB" : 123,
        "appinfoC" : true
    }`)
	str := specEvent("D234-1234-1234")
	str.Data = json.RawMessage(`"I'm just a string"`)

	for body, want := range map[string]Event{
		specBinaryExample: binary, specXMLExample: xml, specJSONExample: obj, specStringExample: str,
	} {
		got, err := Decode([]byte(body))
		require.NoError(t, err)
		requireSameEvent(t, want, got)

		encoded, err := got.MarshalJSON()
		require.NoError(t, err)
		again, err := Decode(encoded)
		require.NoError(t, err)
		requireSameEvent(t, got, again)
	}
}

func TestDecodeAcceptsVariants(t *testing.T) {
	t.Parallel()
	base := `"specversion":"1.0","id":"1","source":"/src","type":"t"`
	tests := []struct {
		name  string
		body  string
		check func(*testing.T, Event)
	}{
		{"lower-case t and z in time", `{` + base + `,"time":"2018-04-05t17:31:00.25z"}`, func(t *testing.T, e Event) {
			require.True(t, e.Time.Equal(time.Date(2018, 4, 5, 17, 31, 0, 250_000_000, time.UTC)))
		}},
		{"time offset is kept", `{` + base + `,"time":"2018-04-05T19:31:00+02:00"}`, func(t *testing.T, e Event) {
			_, off := e.Time.Zone()
			require.Equal(t, 2*3600, off)
		}},
		{"null attributes are absent", `{` + base + `,"subject":null,"time":null,"dataschema":null,"x":null,"data_base64":null}`, func(t *testing.T, e Event) {
			require.Equal(t, "", e.Subject)
			require.True(t, e.Time.IsZero())
			require.Nil(t, e.Extensions)
			require.Nil(t, e.DataBase64)
		}},
		{"explicit null data", `{` + base + `,"data":null}`, func(t *testing.T, e Event) {
			require.Equal(t, json.RawMessage(`null`), e.Data)
		}},
		{"null data with a text type is absent", `{` + base + `,"datacontenttype":"text/plain","data":null}`, func(t *testing.T, e Event) {
			require.Nil(t, e.Data)
		}},
		{"+json suffix keeps object data", `{` + base + `,"datacontenttype":"application/vnd.api+json; charset=utf-8","data":[1,{"a":"]"}]}`, func(t *testing.T, e Event) {
			require.Equal(t, json.RawMessage(`[1,{"a":"]"}]`), e.Data)
		}},
		{"extension types", `{` + base + `,"s":"v","b":true,"f":false,"n":-2147483648,"m":2.0,"e":1e3}`, func(t *testing.T, e Event) {
			require.Equal(t, map[string]any{"s": "v", "b": true, "f": false, "n": int32(-2147483648), "m": int32(2), "e": int32(1000)}, e.Extensions)
		}},
		{"escaped names and values", `{"spec\u0076ersion":"1.0","id":"a\"b\\c\u00e9","source":"\/src","type":"t"}`, func(t *testing.T, e Event) {
			require.Equal(t, `a"b\cé`, e.ID)
			require.Equal(t, "/src", e.Source)
		}},
		{"empty data_base64", `{` + base + `,"data_base64":""}`, func(t *testing.T, e Event) {
			require.NotNil(t, e.DataBase64)
			require.Empty(t, e.DataBase64)
		}},
		{"unpadded data_base64", `{` + base + `,"data_base64":"AAECAw"}`, func(t *testing.T, e Event) {
			require.Equal(t, []byte{0, 1, 2, 3}, e.DataBase64)
		}},
		{"surrounding whitespace", " \n\t{" + base + "}\r\n", func(t *testing.T, e Event) {
			require.Equal(t, "1", e.ID)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := Decode([]byte(tt.body))
			require.NoError(t, err)
			tt.check(t, e)
			encoded, err := e.MarshalJSON()
			require.NoError(t, err)
			again, err := Decode(encoded)
			require.NoError(t, err)
			requireSameEvent(t, e, again)
		})
	}
}

func TestDecodeRefusesInvalidEvents(t *testing.T) {
	t.Parallel()
	base := `"specversion":"1.0","id":"1","source":"/src","type":"t"`
	tests := []struct {
		name  string
		body  string
		field string
	}{
		{"empty object", `{}`, "specversion"},
		{"no specversion", `{"id":"1","source":"/src","type":"t"}`, "specversion"},
		{"null specversion", `{"specversion":null,"id":"1","source":"/src","type":"t"}`, "specversion"},
		{"specversion 0.3", `{"specversion":"0.3","id":"1","source":"/src","type":"t"}`, "specversion"},
		{"specversion as number", `{"specversion":1.0,"id":"1","source":"/src","type":"t"}`, "specversion"},
		{"no id", `{"specversion":"1.0","source":"/src","type":"t"}`, "id"},
		{"empty id", `{"specversion":"1.0","id":"","source":"/src","type":"t"}`, "id"},
		{"numeric id", `{"specversion":"1.0","id":7,"source":"/src","type":"t"}`, "id"},
		{"control character in id", `{"specversion":"1.0","id":"a\u0000","source":"/src","type":"t"}`, "id"},
		{"no source", `{"specversion":"1.0","id":"1","type":"t"}`, "source"},
		{"source with space", `{"specversion":"1.0","id":"1","source":"/a b","type":"t"}`, "source"},
		{"no type", `{"specversion":"1.0","id":"1","source":"/src"}`, "type"},
		{"type as object", `{"specversion":"1.0","id":"1","source":"/src","type":{}}`, "type"},
		{"empty subject", `{` + base + `,"subject":""}`, "subject"},
		{"time not RFC 3339", `{` + base + `,"time":"yesterday"}`, "time"},
		{"time with a space", `{` + base + `,"time":"2018-04-05 17:31:00Z"}`, "time"},
		{"time without zone", `{` + base + `,"time":"2018-04-05T17:31:00"}`, "time"},
		{"time as number", `{` + base + `,"time":1522949460}`, "time"},
		{"bad datacontenttype", `{` + base + `,"datacontenttype":"json"}`, "datacontenttype"},
		{"relative dataschema", `{` + base + `,"dataschema":"/s.json"}`, "dataschema"},
		{"data and data_base64", `{` + base + `,"data":{},"data_base64":"AA=="}`, "data"},
		{"bad base64", `{` + base + `,"data_base64":"!!!!"}`, "data_base64"},
		{"base64 as number", `{` + base + `,"data_base64":5}`, "data_base64"},
		{"object data with XML type", `{` + base + `,"datacontenttype":"application/xml","data":{"a":1}}`, "data"},
		{"object extension", `{` + base + `,"ext":{"a":1}}`, "ext"},
		{"array extension", `{` + base + `,"ext":[1]}`, "ext"},
		{"fractional extension", `{` + base + `,"ext":1.5}`, "ext"},
		{"extension beyond int32", `{` + base + `,"ext":2147483648}`, "ext"},
		{"upper-case extension name", `{` + base + `,"Ext":"x"}`, "Ext"},
		{"upper-case core name", `{"specversion":"1.0","ID":"1","source":"/src","type":"t"}`, "ID"},
		{"extension name with underscore", `{` + base + `,"my_ext":"x"}`, "my_ext"},
		{"extension name of 21 characters", `{` + base + `,"abcdefghijklmnopqrstu":"x"}`, "abcdefghijklmnopqrstu"},
		{"newline in extension", `{` + base + `,"ext":"a\nb"}`, "ext"},
		{"duplicate id", `{` + base + `,"id":"2"}`, "id"},
		{"duplicate id, escaped", `{` + base + `,"\u0069d":"2"}`, "id"},
		{"duplicate extension", `{` + base + `,"ext":"a","ext":"b"}`, "ext"},
		{"duplicate data", `{` + base + `,"data":1,"data":2}`, "data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode([]byte(tt.body))
			require.Error(t, err)
			require.NotErrorIs(t, err, ErrMalformed)
			requireFieldError(t, err, tt.field)
		})
	}
}

func TestDecodeRefusesMalformedBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, detail string
	}{
		{"empty", ``, "unexpected end of JSON input"},
		{"truncated", `{"id":"1"`, "not valid JSON"},
		{"trailing garbage", `{} x`, "at byte"},
		{"missing value", `{"id":}`, "invalid character '}'"},
		{"array", `[{}]`, "an event is a JSON object, got an array"},
		{"string", `"event"`, "got a string"},
		{"null", `null`, "got null"},
		{"invalid UTF-8", "{\"id\":\"\xff\"}", "invalid UTF-8 at byte 7"},
		{"trailing comma", `{"id":"1",}`, "not valid JSON"},
		{"missing colon", `{"id" "1"}`, "not valid JSON"},
		{"leading zero", `{"x":01}`, "not valid JSON"},
		{"bad literal", `{"x":tru}`, "not valid JSON"},
		{"bad escape", `{"x":"\x"}`, "not valid JSON"},
		{"short unicode escape", `{"x":"\u12"}`, "not valid JSON"},
		{"raw newline in string", "{\"x\":\"a\nb\"}", "not valid JSON"},
		{"extra closing brace in data", `{"data":{"a":1}}}`, "not valid JSON"},
		{"mismatched brackets in data", `{"data":{"a":[1}]}`, "not valid JSON"},
		{"unterminated string in data", `{"data":{"a":"}`, "not valid JSON"},
		{"semantic error before a syntax error", `{"id":5,"x":}`, "not valid JSON"},
		{"two objects", `{}{}`, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode([]byte(tt.body))
			require.ErrorIs(t, err, ErrMalformed)
			require.Contains(t, err.Error(), tt.detail)
			var fe *FieldError
			require.False(t, errors.As(err, &fe))
		})
	}
}

func TestMarshalWritesAttributesThenData(t *testing.T) {
	t.Parallel()
	e := full()
	e.Subject = "a \"quoted\" \\ \u2028 é"
	b, err := e.MarshalJSON()
	require.NoError(t, err)
	require.Equal(t, `{"specversion":"1.0","id":"A234-1234-1234",`+
		`"source":"https://example.com/storage/tenant/container","type":"com.example.object.created",`+
		`"subject":"a \"quoted\" \\ \u2028 é","time":"2018-04-05T17:31:00.5Z",`+
		`"datacontenttype":"application/json","dataschema":"https://example.com/schemas/object-created.json",`+
		`"partitionkey":"tenant-7","retries":3,"sampled":true,`+
		`"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",`+
		`"data":{"appinfoA":"abc","appinfoB":123,"appinfoC":true}}`, string(b))
	require.True(t, json.Valid(b))
}

func TestMarshalBase64(t *testing.T) {
	t.Parallel()
	e := minimal()
	e.DataBase64 = []byte("\x00\xffhello")
	b, err := e.MarshalJSON()
	require.NoError(t, err)
	require.Equal(t, `{"specversion":"1.0","id":"1","source":"/src","type":"com.example.thing","data_base64":"AP9oZWxsbw=="}`, string(b))
}

func TestMarshalRefusesInvalidEvents(t *testing.T) {
	t.Parallel()
	e := minimal()
	e.Type = ""
	_, err := e.MarshalJSON()
	requireFieldError(t, err, "type")
	_, err = json.Marshal(e)
	requireFieldError(t, err, "type")
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "plain", `quote " backslash \ slash /`, "\x00\x01\x1f\x7f", "\b\f\n\r\t",
		"é€😀", "\u2028\u2029", "bad \xff\xfe utf8 \xe2\x82", "<html>&amp;",
	} {
		encoded := appendString(nil, s)
		require.True(t, json.Valid(encoded), "%q -> %s", s, encoded)
		var viaOurs, viaStd string
		require.NoError(t, json.Unmarshal(encoded, &viaOurs))
		std, err := json.Marshal(s)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(std, &viaStd))
		require.Equal(t, viaStd, viaOurs)
	}
}

func TestEventInsideEncodingJSON(t *testing.T) {
	t.Parallel()
	type record struct {
		Event  Event  `json:"event"`
		Reason string `json:"reason"`
	}
	in := record{Event: full(), Reason: "contract"}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	var out record
	require.NoError(t, json.Unmarshal(b, &out))
	require.Equal(t, "contract", out.Reason)
	want := full()
	want.Data = json.RawMessage(`{"appinfoA":"abc","appinfoB":123,"appinfoC":true}`)
	requireSameEvent(t, want, out.Event)

	// null leaves the event as it is, as encoding/json expects.
	require.NoError(t, json.Unmarshal([]byte(`{"event":null}`), &out))
	require.Equal(t, "A234-1234-1234", out.Event.ID)
	require.Error(t, json.Unmarshal([]byte(`{"event":{"id":"x"}}`), &out))
}

func TestDecodeDoesNotShareMemory(t *testing.T) {
	t.Parallel()
	body := []byte(`{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"a":1}}`)
	e, err := Decode(body)
	require.NoError(t, err)
	for i := range body {
		body[i] = ' '
	}
	require.Equal(t, json.RawMessage(`{"a":1}`), e.Data)
}

func TestDecodeBatch(t *testing.T) {
	t.Parallel()
	// The batch example of json-format.md, section 4.3, with real base64.
	events, err := DecodeBatch([]byte(`[
  {
      "specversion" : "1.0",
      "type" : "com.example.someevent",
      "source" : "/mycontext/4",
      "id" : "B234-1234-1234",
      "time" : "2018-04-05T17:31:00Z",
      "comexampleextension1" : "value",
      "comexampleothervalue" : 5,
      "datacontenttype" : "application/vnd.apache.thrift.binary",
      "data_base64" : "AAECAwQ="
  },
  {
      "specversion" : "1.0",
      "type" : "com.example.someotherevent",
      "source" : "/mycontext/9",
      "id" : "C234-1234-1234",
      "time" : "2018-04-05T17:31:05Z",
      "comexampleextension1" : "value",
      "comexampleothervalue" : 5,
      "datacontenttype" : "application/json",
      "data" : {
          "appinfoA" : "abc",
          "appinfoB" : 123,
          "appinfoC" : true
      }
  }
]`))
	require.NoError(t, err)
	require.Len(t, events, 2)
	require.Equal(t, []byte{0, 1, 2, 3, 4}, events[0].DataBase64)
	require.Equal(t, "com.example.someotherevent", events[1].Type)
	require.Contains(t, string(events[1].Data), `"appinfoC" : true`)

	b, err := marshalBatch(events)
	require.NoError(t, err)
	again, err := DecodeBatch(b)
	require.NoError(t, err)
	require.Len(t, again, 2)
	for i := range events {
		requireSameEvent(t, events[i], again[i])
	}
}

func TestDecodeBatchEmpty(t *testing.T) {
	t.Parallel()
	events, err := DecodeBatch([]byte(" [ ] "))
	require.NoError(t, err)
	require.NotNil(t, events)
	require.Empty(t, events)
	b, err := marshalBatch(nil)
	require.NoError(t, err)
	require.Equal(t, "[]", string(b))
}

func TestDecodeBatchNamesTheBadElement(t *testing.T) {
	t.Parallel()
	ok := `{"specversion":"1.0","id":"1","source":"/s","type":"t"}`
	bad := `{"specversion":"1.0","id":"3","source":"/s"}`
	_, err := DecodeBatch([]byte("[" + ok + "," + ok + "," + bad + "]"))
	requireFieldError(t, err, "[2].type")
	require.Equal(t, `[2].type: required`, err.Error())

	_, err = DecodeBatch([]byte("[" + ok + ", 5]"))
	require.ErrorIs(t, err, ErrMalformed)
	require.Contains(t, err.Error(), "batch element [1] is a number")

	_, err = DecodeBatch([]byte(ok))
	require.ErrorIs(t, err, ErrMalformed)
	require.Contains(t, err.Error(), "a batch is a JSON array")

	for _, body := range []string{"[" + ok, "[" + ok + ",]", "[," + ok + "]", "[" + ok + " " + ok + "]", "[" + bad + ",}"} {
		_, err = DecodeBatch([]byte(body))
		require.ErrorIs(t, err, ErrMalformed, body)
	}

	e := minimal()
	e.ID = ""
	_, err = marshalBatch([]Event{minimal(), e})
	requireFieldError(t, err, "[1].id")
}

func TestErrorMessagesCutLongValues(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 10_000)
	_, err := Decode([]byte(`{"specversion":"` + long + `","id":"1","source":"/s","type":"t"}`))
	requireFieldError(t, err, "specversion")
	require.Less(t, len(err.Error()), 200)
}

func TestNestingLimitMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	base := `"specversion":"1.0","id":"1","source":"/s","type":"t"`
	for _, depth := range []int{maxDepth - 2, maxDepth - 1, maxDepth, maxDepth + 1} {
		data := strings.Repeat("[", depth) + strings.Repeat("]", depth)
		event := `{` + base + `,"data":` + data + `}`
		_, err := Decode([]byte(event))
		require.Equal(t, json.Valid([]byte(event)), err == nil, "event, data depth %d: %v", depth, err)

		batch := `[` + event + `]`
		_, err = DecodeBatch([]byte(batch))
		require.Equal(t, json.Valid([]byte(batch)), err == nil, "batch, data depth %d: %v", depth, err)

		require.Equal(t, json.Valid([]byte(data)), validJSON([]byte(data)), "bare, depth %d", depth)
	}
	_, err := Decode([]byte(`{` + base + `,"data":` + strings.Repeat("[", 1<<20) + `}`))
	require.ErrorIs(t, err, ErrMalformed)
	require.Contains(t, err.Error(), "exceeded max depth")
}

// marshalBatch encodes events in the JSON batch format after validating each,
// for round trips through DecodeBatch; a *FieldError names the element by
// index, as DecodeBatch does. Only tests need it: weir never sends a batch.
func marshalBatch(events []Event) ([]byte, error) {
	n := 2
	for i, e := range events {
		if err := e.Validate(); err != nil {
			return nil, atIndex(i, err)
		}
		n += e.sizeHint() + 1
	}
	dst := make([]byte, 0, n)
	dst = append(dst, '[')
	for i, e := range events {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = e.AppendJSON(dst)
	}
	return append(dst, ']'), nil
}
