package event

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// minimal returns a valid event with only the required attributes.
func minimal() Event {
	return Event{ID: "1", Source: "/src", SpecVersion: SpecVersion, Type: "com.example.thing"}
}

// full returns a valid event with every attribute set.
func full() Event {
	return Event{
		ID:              "A234-1234-1234",
		Source:          "https://example.com/storage/tenant/container",
		SpecVersion:     SpecVersion,
		Type:            "com.example.object.created",
		Time:            time.Date(2018, 4, 5, 17, 31, 0, 500_000_000, time.UTC),
		Subject:         "mynewfile.jpg",
		DataContentType: "application/json",
		DataSchema:      "https://example.com/schemas/object-created.json",
		Data:            json.RawMessage(`{"appinfoA":"abc","appinfoB":123,"appinfoC":true}`),
		Extensions: map[string]any{
			"traceparent":  "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			"partitionkey": "tenant-7",
			"sampled":      true,
			"retries":      int32(3),
		},
	}
}

// requireSameEvent compares events, times by instant (a parsed time's
// location can differ from the one it was formatted from).
func requireSameEvent(t *testing.T, want, got Event) {
	t.Helper()
	require.True(t, want.Time.Equal(got.Time), "time: want %v, got %v", want.Time, got.Time)
	want.Time, got.Time = time.Time{}, time.Time{}
	require.Equal(t, want, got)
}

// requireFieldError asserts that err is a *FieldError naming field.
func requireFieldError(t *testing.T, err error, field string) {
	t.Helper()
	var fe *FieldError
	require.True(t, errors.As(err, &fe), "want a *FieldError for %q, got %v", field, err)
	require.Equal(t, field, fe.Path, "error: %v", err)
}

func TestFieldErrorMessage(t *testing.T) {
	t.Parallel()
	err := &FieldError{Path: "type", Reason: "required"}
	require.Equal(t, `type: required`, err.Error())
}

func TestValidateAcceptsValidEvents(t *testing.T) {
	t.Parallel()
	binary := minimal()
	binary.DataContentType = "application/vnd.apache.thrift.binary"
	binary.DataBase64 = []byte{0, 1, 2}
	xml := minimal()
	xml.DataContentType = "application/xml"
	xml.Data = json.RawMessage(`"<much wow=\"xml\"/>"`)
	urn := minimal()
	urn.Source = "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"
	phone := minimal()
	phone.Source = "1-555-123-4567"
	ints := minimal()
	ints.Extensions = map[string]any{"a": 1, "b": int64(math.MaxInt32), "c": uint8(7), "d": int16(-3), "e": ""}
	offset := minimal()
	offset.Time = time.Date(2018, 4, 5, 19, 31, 0, 0, time.FixedZone("", 2*3600))
	null := minimal()
	null.Data = json.RawMessage(`null`)
	twenty := minimal()
	twenty.Extensions = map[string]any{"comexampleextension1": "value"}

	for name, e := range map[string]Event{
		"minimal": minimal(), "full": full(), "binary data": binary, "xml string data": xml,
		"urn source": urn, "application-specific source": phone, "integer kinds": ints,
		"time with offset": offset, "null data": null, "20-character extension name": twenty,
	} {
		require.NoError(t, e.Validate(), name)
	}
}

func TestValidateRefusesInvalidEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(*Event)
		field  string
	}{
		{"no specversion", func(e *Event) { e.SpecVersion = "" }, "specversion"},
		{"old specversion", func(e *Event) { e.SpecVersion = "0.3" }, "specversion"},
		{"no id", func(e *Event) { e.ID = "" }, "id"},
		{"control character in id", func(e *Event) { e.ID = "a\nb" }, "id"},
		{"C1 control in id", func(e *Event) { e.ID = "a\u0085b" }, "id"},
		{"noncharacter in id", func(e *Event) { e.ID = "a\ufffeb" }, "id"},
		{"invalid UTF-8 in id", func(e *Event) { e.ID = "a\xffb" }, "id"},
		{"no source", func(e *Event) { e.Source = "" }, "source"},
		{"space in source", func(e *Event) { e.Source = "/my source" }, "source"},
		{"bad escape in source", func(e *Event) { e.Source = "/a%zz" }, "source"},
		{"bad scheme in source", func(e *Event) { e.Source = "1http://x" }, "source"},
		{"two fragments in source", func(e *Event) { e.Source = "/a#b#c" }, "source"},
		{"non-ASCII source", func(e *Event) { e.Source = "/événements" }, "source"},
		{"no type", func(e *Event) { e.Type = "" }, "type"},
		{"tab in subject", func(e *Event) { e.Subject = "a\tb" }, "subject"},
		{"year 10000", func(e *Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "time"},
		{"offset in seconds", func(e *Event) { e.Time = time.Date(2020, 1, 1, 0, 0, 0, 0, time.FixedZone("", 61)) }, "time"},
		{"bad media type", func(e *Event) { e.DataContentType = "json" }, "datacontenttype"},
		{"relative dataschema", func(e *Event) { e.DataSchema = "/schemas/a.json" }, "dataschema"},
		{"upper-case extension name", func(e *Event) { e.Extensions = map[string]any{"Foo": "x"} }, "Foo"},
		{"underscore in extension name", func(e *Event) { e.Extensions = map[string]any{"foo_bar": "x"} }, "foo_bar"},
		{"21-character extension name", func(e *Event) { e.Extensions = map[string]any{"abcdefghijklmnopqrstu": "x"} }, "abcdefghijklmnopqrstu"},
		{"empty extension name", func(e *Event) { e.Extensions = map[string]any{"": "x"} }, ""},
		{"core name as extension", func(e *Event) { e.Extensions = map[string]any{"subject": "x"} }, "subject"},
		{"data as extension", func(e *Event) { e.Extensions = map[string]any{"data": "x"} }, "data"},
		{"float extension", func(e *Event) { e.Extensions = map[string]any{"n": 1.5} }, "n"},
		{"object extension", func(e *Event) { e.Extensions = map[string]any{"n": map[string]any{}} }, "n"},
		{"nil extension", func(e *Event) { e.Extensions = map[string]any{"n": nil} }, "n"},
		{"int64 beyond int32", func(e *Event) { e.Extensions = map[string]any{"n": int64(math.MaxInt32) + 1} }, "n"},
		{"huge uint64", func(e *Event) { e.Extensions = map[string]any{"n": uint64(math.MaxUint64)} }, "n"},
		{"newline in extension", func(e *Event) { e.Extensions = map[string]any{"n": "a\nb"} }, "n"},
		{"both payloads", func(e *Event) { e.Data = json.RawMessage(`1`); e.DataBase64 = []byte{1} }, "data"},
		{"invalid JSON data", func(e *Event) { e.Data = json.RawMessage(`{`) }, "data"},
		{"empty JSON data", func(e *Event) { e.Data = json.RawMessage{} }, "data"},
		{"invalid UTF-8 in data", func(e *Event) { e.Data = json.RawMessage("\"\xff\"") }, "data"},
		{"object data with XML type", func(e *Event) { e.DataContentType = "application/xml"; e.Data = json.RawMessage(`{}`) }, "data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := minimal()
			tt.modify(&e)
			requireFieldError(t, e.Validate(), tt.field)
		})
	}
}

func TestValidateReportsTheSmallestBadExtension(t *testing.T) {
	t.Parallel()
	e := minimal()
	e.Extensions = map[string]any{"zz": 1.5, "bb": []int{}, "aa": "fine", "cc": nil}
	for range 20 {
		requireFieldError(t, e.Validate(), "bb")
	}
}
