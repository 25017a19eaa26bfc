package event

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/weir-dev/weir/internal/field"
)

// SpecVersion is the only CloudEvents specversion weir reads and writes.
const SpecVersion = "1.0"

// Event is a CloudEvents 1.0 event. The zero value of an optional field means
// the attribute is absent, which is why an explicitly empty optional
// attribute is refused when decoding: the spec requires it non-empty.
type Event struct {
	// ID identifies the event; source + id is unique per distinct event.
	ID string
	// Source is a non-empty URI-reference naming the context the event came from.
	Source string
	// SpecVersion is the CloudEvents version, always "1.0" (see the SpecVersion
	// constant).
	SpecVersion string
	// Type says what happened, for example "com.github.push".
	Type string
	// Time is when the occurrence happened; the zero time means absent. On the
	// wire it is an RFC 3339 timestamp, and the offset it was sent with is kept.
	Time time.Time
	// Subject names the subject of the event within its source.
	Subject string
	// DataContentType is the RFC 2046 media type of the data.
	DataContentType string
	// DataSchema is an absolute URI of the schema the data adheres to.
	DataSchema string
	// Data is the payload when it is JSON (datacontenttype absent, or a JSON
	// media type), as raw JSON text. When datacontenttype is not JSON it is a
	// JSON string holding the textual payload. Nil means no data; the JSON
	// literal null is an explicit null payload.
	Data json.RawMessage
	// DataBase64 is the payload when it is opaque bytes: "data_base64" in the
	// JSON format, or a binary-mode body whose Content-Type is not JSON. Nil
	// means no data. At most one of Data and DataBase64 is set.
	DataBase64 []byte
	// Extensions holds every other attribute by name (1 to 20 characters a-z,
	// 0-9). Values are string, bool or an integer in the int32 range; decoding
	// produces string, bool and int32. Binary mode carries every value as a
	// string, because HTTP headers have no types.
	Extensions map[string]any
}

// FieldError says which attribute of an event is wrong and why, so that the
// API layer can answer with an RFC 9457 problem that names the field. It is
// the one field error of every layer: Path is the attribute's name ("type",
// an extension's name), or "data" for the payload; inside a batch it is
// prefixed with the element's index, as in "[2].type". Reason is in words
// meant for whoever sent the event.
type FieldError = field.Error

const reasonRequired = "required"

// Validate checks the event against the CloudEvents 1.0 rules: required
// attributes present, specversion "1.0", typed attributes well-formed,
// extension names and values valid, and at most one well-formed payload.
// The error is a *FieldError naming the first offending attribute, or a
// *JSONError when the data is not I-JSON (see CheckJSON).
func (e Event) Validate() error {
	if err := e.validateAttrs(); err != nil {
		return err
	}
	return e.validateData()
}

// validateAttrs checks everything but the payload, which decoders have
// already checked while reading it.
func (e Event) validateAttrs() error {
	switch {
	case e.SpecVersion == "":
		return &FieldError{Path: "specversion", Reason: reasonRequired}
	case e.SpecVersion != SpecVersion:
		return &FieldError{Path: "specversion", Reason: fmt.Sprintf("must be %q, got %s", SpecVersion, quote(e.SpecVersion))}
	}
	if err := checkRequiredString("id", e.ID); err != nil {
		return err
	}
	if e.Source == "" {
		return &FieldError{Path: "source", Reason: reasonRequired}
	}
	if r := checkURI(e.Source, false); r != "" {
		return &FieldError{Path: "source", Reason: r}
	}
	if err := checkRequiredString("type", e.Type); err != nil {
		return err
	}
	if r := checkString(e.Subject); r != "" {
		return &FieldError{Path: "subject", Reason: r}
	}
	if r := checkTime(e.Time); r != "" {
		return &FieldError{Path: "time", Reason: r}
	}
	if e.DataContentType != "" {
		if r := checkMediaType(e.DataContentType); r != "" {
			return &FieldError{Path: "datacontenttype", Reason: r}
		}
	}
	if e.DataSchema != "" {
		if r := checkURI(e.DataSchema, true); r != "" {
			return &FieldError{Path: "dataschema", Reason: r}
		}
	}
	// Keep the smallest bad name so the error does not depend on map order.
	var bad *FieldError
	for name, v := range e.Extensions {
		if bad != nil && name > bad.Path {
			continue
		}
		if r := checkExtension(name, v); r != "" {
			bad = &FieldError{Path: name, Reason: r}
		}
	}
	if bad != nil {
		return bad
	}
	return nil
}

// validateData checks that the payload can be written as the JSON format
// requires.
func (e Event) validateData() error {
	if e.Data == nil {
		return nil
	}
	if e.DataBase64 != nil {
		return &FieldError{Path: "data", Reason: "Data and DataBase64 are both set; an event carries one or the other"}
	}
	if err := CheckJSON(e.Data); err != nil {
		if je, ok := err.(*JSONError); ok {
			return je.prefixed("data")
		}
		return &FieldError{Path: "data", Reason: "is not valid UTF-8 JSON"}
	}
	if r := checkTextData(e.DataContentType, trimJSONSpace(e.Data)); r != "" {
		return &FieldError{Path: "data", Reason: r}
	}
	return nil
}

// checkTextData reports why data (valid JSON, no surrounding space) cannot
// be the payload of an event whose datacontenttype is ct: for a non-JSON
// media type the JSON format can only carry a string.
func checkTextData(ct string, data []byte) string {
	if ct == "" || isJSONMediaType(ct) || (len(data) > 0 && data[0] == '"') {
		return ""
	}
	return fmt.Sprintf("must be a JSON string, because datacontenttype %s is not a JSON media type (send bytes as data_base64)", quote(ct))
}

func checkRequiredString(name, v string) error {
	if v == "" {
		return &FieldError{Path: name, Reason: reasonRequired}
	}
	if r := checkString(v); r != "" {
		return &FieldError{Path: name, Reason: r}
	}
	return nil
}

// checkTime refuses times that RFC 3339 cannot express, so that whatever
// passes Validate formats and parses back to the same instant.
func checkTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if y := t.Year(); y < 0 || y > 9999 {
		return fmt.Sprintf("year %d cannot be written in RFC 3339", y)
	}
	if _, off := t.Zone(); off%60 != 0 || off <= -24*3600 || off >= 24*3600 {
		return "zone offset cannot be written in RFC 3339 (whole minutes under 24 hours)"
	}
	return ""
}

// checkExtension reports why an extension attribute is not valid, or "".
func checkExtension(name string, v any) string {
	if !validName(name) {
		return "attribute names must be 1 to 20 characters, each a lower-case letter a-z or a digit 0-9"
	}
	switch name {
	case "id", "source", "specversion", "type", "time", "subject", "datacontenttype", "dataschema":
		return "is a core attribute: set the Event field, not Extensions"
	case "data":
		return "is reserved for the payload"
	}
	switch v := v.(type) {
	case string:
		return checkString(v)
	case bool:
		return ""
	}
	n, ok := extInt(v)
	switch {
	case !ok:
		return fmt.Sprintf("value must be a string, boolean or integer, got %T", v)
	case n < math.MinInt32 || n > math.MaxInt32:
		return fmt.Sprintf("integer %d is outside the CloudEvents Integer range (32 bits)", n)
	}
	return ""
}

// extInt returns an integer extension value widened to int64; ok is false
// when v is not of an integer type. Values beyond int64 saturate, which still
// fails the int32 range check.
func extInt(v any) (n int64, ok bool) {
	switch v := v.(type) {
	case int32:
		return int64(v), true
	case int:
		return int64(v), true
	case int64:
		return v, true
	case int8:
		return int64(v), true
	case int16:
		return int64(v), true
	case uint8:
		return int64(v), true
	case uint16:
		return int64(v), true
	case uint32:
		return int64(v), true
	case uint:
		return int64(min(uint64(v), math.MaxInt64)), true
	case uint64:
		return int64(min(v, math.MaxInt64)), true
	}
	return 0, false
}

// validName reports whether name is a valid attribute name: the spec's
// lower-case letters and digits, at most 20 of them.
func validName(name string) bool {
	if name == "" || len(name) > 20 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// quote renders a client-supplied value for an error message, cut short so
// that a hostile value cannot inflate logs and problem documents.
func quote(s string) string {
	const limit = 64
	if len(s) > limit {
		return fmt.Sprintf("%q...", s[:limit])
	}
	return fmt.Sprintf("%q", s)
}
