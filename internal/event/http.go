package event

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"
)

// ErrNotCloudEvent means an HTTP request uses none of the binding's content
// modes: its Content-Type is neither a structured nor a batch CloudEvents
// media type, and it has no ce- headers for binary mode. Answer 400 (or
// treat the request as a plain webhook).
var ErrNotCloudEvent = errors.New("event: not a CloudEvent: neither structured, batch nor binary mode")

// ErrUnsupportedFormat means a request declares a CloudEvents event format
// other than JSON, such as application/cloudevents+avro. Answer 415.
var ErrUnsupportedFormat = errors.New("event: unsupported CloudEvents event format")

// Mode is the HTTP binding content mode a request used.
type Mode int

const (
	// ModeStructured is one event in the JSON event format as the body.
	ModeStructured Mode = iota + 1
	// ModeBinary is the data as the body, attributes in ce- headers.
	ModeBinary
	// ModeBatch is a JSON array of events as the body.
	ModeBatch
)

// ReadHTTP decodes the events of a CloudEvents HTTP request (HTTP protocol
// binding 1.0). h is the request header and body the raw body, already
// limited in size by the caller. The Content-Type decides the mode, as the
// binding prescribes:
//
//   - application/cloudevents+json (parameters allowed): structured, one event;
//   - application/cloudevents-batch+json: batch, a JSON array of events;
//   - anything else, or none, with ce- headers: binary. Content-Type becomes
//     datacontenttype; a non-empty body becomes Data when the media type is
//     JSON (it must then be valid JSON) and DataBase64 otherwise, including
//     when there is no Content-Type at all.
//
// Every event is validated. The mode is returned even with an error when it
// could be told. Errors are ErrNotCloudEvent, ErrUnsupportedFormat,
// ErrMalformed, a *FieldError or a *JSONError (data that is not I-JSON);
// the events do not share memory with body.
func ReadHTTP(h http.Header, body []byte) ([]Event, Mode, error) {
	ct := headerValue(h, "Content-Type")
	mt := mediaType(ct)
	switch {
	case strings.HasPrefix(mt, "application/cloudevents-batch"):
		if mt != MediaTypeBatch {
			return nil, ModeBatch, unsupported(mt)
		}
		events, err := DecodeBatch(body)
		if err != nil {
			return nil, ModeBatch, err
		}
		return events, ModeBatch, nil
	case strings.HasPrefix(mt, "application/cloudevents"):
		if mt != MediaTypeStructured {
			return nil, ModeStructured, unsupported(mt)
		}
		e, err := Decode(body)
		if err != nil {
			return nil, ModeStructured, err
		}
		return []Event{e}, ModeStructured, nil
	}
	names := ceHeaders(h)
	if len(names) == 0 {
		if ct == "" {
			return nil, 0, fmt.Errorf("%w: no Content-Type and no ce- headers", ErrNotCloudEvent)
		}
		return nil, 0, fmt.Errorf("%w: Content-Type %s and no ce- headers", ErrNotCloudEvent, quote(ct))
	}
	e, err := readBinary(h, names, ct, body)
	if err != nil {
		return nil, ModeBinary, err
	}
	return []Event{e}, ModeBinary, nil
}

func unsupported(mt string) error {
	return fmt.Errorf("%w %s: use %s or %s", ErrUnsupportedFormat, quote(mt), MediaTypeStructured, MediaTypeBatch)
}

// headerValue returns the first value of the header named canonical,
// tolerating a map built by hand with keys in another case.
func headerValue(h http.Header, canonical string) string {
	if v, ok := h[canonical]; ok {
		if len(v) == 0 {
			return ""
		}
		return strings.TrimSpace(v[0])
	}
	for k, v := range h {
		if len(v) > 0 && strings.EqualFold(k, canonical) {
			return strings.TrimSpace(v[0])
		}
	}
	return ""
}

// ceHeaders returns the keys of h that start with "ce-" in any case, sorted
// so that errors do not depend on map order.
func ceHeaders(h http.Header) []string {
	var names []string
	for k := range h {
		if len(k) >= 3 && strings.EqualFold(k[:3], "ce-") {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names
}

// readBinary builds the event of a binary-mode request.
func readBinary(h http.Header, keys []string, ct string, body []byte) (Event, error) {
	var d decoder
	e := &d.e
	for _, key := range keys {
		vals := h[key]
		if len(vals) == 0 {
			continue
		}
		name := strings.ToLower(key[3:])
		if len(vals) > 1 {
			return Event{}, &FieldError{Path: name, Reason: fmt.Sprintf("header ce-%s appears more than once", name)}
		}
		v, r := decodeHeaderValue(vals[0])
		if r != "" {
			return Event{}, &FieldError{Path: name, Reason: fmt.Sprintf("header ce-%s: %s", name, r)}
		}
		if err := d.header(name, v); err != nil {
			return Event{}, err
		}
	}
	for _, req := range [...]struct {
		bit  uint16
		name string
	}{{seenSpecVersion, "specversion"}, {seenID, "id"}, {seenSource, "source"}, {seenType, "type"}} {
		if d.seen&req.bit == 0 {
			return Event{}, &FieldError{Path: req.name, Reason: fmt.Sprintf("required: send it in the ce-%s header", req.name)}
		}
	}
	e.DataContentType = ct
	if isJSONMediaType(ct) {
		if data := trimJSONSpace(body); len(data) > 0 {
			if err := CheckJSON(body); err != nil {
				if je, ok := err.(*JSONError); ok {
					return Event{}, je.prefixed("data")
				}
				return Event{}, &FieldError{Path: "data", Reason: fmt.Sprintf("the body is not valid UTF-8 JSON, but Content-Type %s says it is", quote(ct))}
			}
			e.Data = bytes.Clone(data)
		}
	} else if len(body) > 0 {
		e.DataBase64 = bytes.Clone(body)
	}
	if err := e.validateAttrs(); err != nil {
		return Event{}, err
	}
	return d.e, nil
}

// header sets the attribute name from the decoded value of its ce- header.
// Every value is a string: headers carry no JSON types.
func (d *decoder) header(name, v string) error {
	e := &d.e
	var bit uint16
	var dst *string
	switch name {
	case "specversion":
		bit, dst = seenSpecVersion, &e.SpecVersion
	case "id":
		bit, dst = seenID, &e.ID
	case "source":
		bit, dst = seenSource, &e.Source
	case "type":
		bit, dst = seenType, &e.Type
	case "subject":
		bit, dst = seenSubject, &e.Subject
	case "dataschema":
		bit, dst = seenDataSchema, &e.DataSchema
	case "time":
		bit = seenTime
	case "datacontenttype":
		return &FieldError{Path: name, Reason: "binary mode carries it as the Content-Type header; ce-datacontenttype must not be sent"}
	case "data":
		return &FieldError{Path: name, Reason: fmt.Sprintf("is reserved for the payload; header ce-%s must not be sent", name)}
	default:
		if !validName(name) {
			return &FieldError{Path: name, Reason: fmt.Sprintf("header ce-%s: attribute names must be 1 to 20 characters, each a lower-case letter a-z or a digit 0-9", name)}
		}
		if _, dup := e.Extensions[name]; dup {
			return &FieldError{Path: name, Reason: fmt.Sprintf("header ce-%s appears more than once", name)}
		}
		if e.Extensions == nil {
			e.Extensions = make(map[string]any, 4)
		}
		e.Extensions[name] = v
		return nil
	}
	if d.seen&bit != 0 {
		return &FieldError{Path: name, Reason: fmt.Sprintf("header ce-%s appears more than once", name)}
	}
	d.seen |= bit
	if v == "" {
		return &FieldError{Path: name, Reason: fmt.Sprintf("header ce-%s must not be empty", name)}
	}
	if dst != nil {
		*dst = v
		return nil
	}
	t, r := parseTime(v)
	if r != "" {
		return &FieldError{Path: name, Reason: fmt.Sprintf("header ce-%s: %s", name, r)}
	}
	e.Time = t
	return nil
}

// decodeHeaderValue undoes the binding's header encoding: first a
// double-quoted string (older senders), then one round of percent-decoding.
// The result must be UTF-8; overlong forms such as %C0%A0 are refused.
func decodeHeaderValue(v string) (string, string) {
	v = strings.Trim(v, " \t")
	if strings.HasPrefix(v, `"`) {
		var b strings.Builder
		i := 1
		for ; i < len(v) && v[i] != '"'; i++ {
			if v[i] == '\\' {
				i++
				if i == len(v) {
					break
				}
			}
			b.WriteByte(v[i])
		}
		if i != len(v)-1 {
			return "", "malformed quoted string"
		}
		v = b.String()
	}
	if strings.IndexByte(v, '%') >= 0 {
		b := make([]byte, 0, len(v))
		for i := 0; i < len(v); i++ {
			if v[i] != '%' {
				b = append(b, v[i])
				continue
			}
			if i+2 >= len(v) || !isHex(v[i+1]) || !isHex(v[i+2]) {
				return "", fmt.Sprintf("bad percent-encoding at byte %d", i)
			}
			b = append(b, unhex(v[i+1])<<4|unhex(v[i+2]))
			i += 2
		}
		v = string(b)
	}
	if !utf8.ValidString(v) {
		return "", "value is not valid UTF-8 once percent-decoded"
	}
	return v, ""
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return (c | 0x20) - 'a' + 10
}
