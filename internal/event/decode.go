package event

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// UnmarshalJSON decodes one event in the JSON event format and validates it,
// as Decode does. The literal null leaves e unchanged, as encoding/json
// expects of an Unmarshaler.
func (e *Event) UnmarshalJSON(b []byte) error {
	if bytes.Equal(trimJSONSpace(b), []byte("null")) {
		return nil
	}
	ev, err := Decode(b)
	if err != nil {
		return err
	}
	*e = ev
	return nil
}

// Decode reads one event in the JSON event format and validates it. Unknown
// members are extensions; null means absent. The event does not share memory
// with b. Errors are ErrMalformed, a *FieldError, or a *JSONError for data
// that is not I-JSON (a repeated member name, a number beyond a float64); a
// body that is not valid JSON is always ErrMalformed, whatever else is wrong
// with it.
func Decode(b []byte) (Event, error) {
	if !utf8.Valid(b) {
		return Event{}, malformed(b)
	}
	s := scanner{b: b}
	s.ws()
	if s.peek() != '{' {
		return Event{}, wrongShape(b, "an event is a JSON object")
	}
	e, err := s.event()
	if s.ws(); s.bad || s.i != len(b) {
		return Event{}, malformed(b)
	}
	return e, err
}

// DecodeBatch reads a JSON batch (an array of events in the JSON event
// format) and validates every event. A *FieldError from an element names it
// by index, as in "[2].type". An empty array gives an empty, non-nil slice.
func DecodeBatch(b []byte) ([]Event, error) {
	if !utf8.Valid(b) {
		return nil, malformed(b)
	}
	s := scanner{b: b}
	s.ws()
	if s.peek() != '[' {
		return nil, wrongShape(b, "a batch is a JSON array")
	}
	s.i++
	s.depth++
	s.ws()
	events := []Event{}
	var first error // the first element's error, reported once the syntax is known good
	if s.peek() != ']' {
		for i := 0; ; i++ {
			s.ws()
			if s.peek() == '{' {
				e, err := s.event()
				if err != nil && first == nil {
					first = atIndex(i, err)
				}
				events = append(events, e)
			} else if raw := s.value(); !s.bad && first == nil {
				first = fmt.Errorf("%w: batch element [%d] is %s, not a JSON object", ErrMalformed, i, kind(raw))
			}
			if s.ws(); s.bad || s.peek() != ',' {
				break
			}
			s.i++
		}
	}
	if s.peek() != ']' {
		s.bad = true
	}
	s.i++
	if s.ws(); s.bad || s.i != len(b) {
		return nil, malformed(b)
	}
	if first != nil {
		return nil, first
	}
	return events, nil
}

// Bits of decoder.seen, one per member the spec names, so that a repeated
// member is refused: encoding/json would keep the last copy, while another
// parser in the path might keep the first.
const (
	seenSpecVersion = 1 << iota
	seenID
	seenSource
	seenType
	seenSubject
	seenTime
	seenDataContentType
	seenDataSchema
	seenData
	seenDataBase64
)

// decoder fills an Event from the members of one JSON object.
type decoder struct {
	e     Event
	seen  uint16
	nulls map[string]bool // extensions given as null, absent but seen
}

// event reads the JSON object at the cursor as an event. It reads to the
// end of the object even after a semantic error, so that a grammar error
// further on still wins (see Decode).
func (s *scanner) event() (Event, error) {
	var d decoder
	var err error
	s.i++
	s.depth++
	s.ws()
	if s.peek() == '}' {
		s.i++
	} else {
		for !s.bad {
			s.ws()
			if s.peek() != '"' {
				s.bad = true
				break
			}
			key := s.value()
			s.ws()
			if s.peek() != ':' {
				s.bad = true
				break
			}
			s.i++
			s.ws()
			had := s.fault != nil
			val := s.value()
			if s.bad {
				break
			}
			if err == nil {
				if name, ok := unquote(key); !ok {
					s.bad = true
				} else if err = d.member(name, val); err == nil && !had && s.fault != nil {
					// Only data holds objects and large numbers: a breach
					// of I-JSON is inside it.
					err = s.fault.prefixed(string(name))
				}
			}
			s.ws()
			if s.peek() == ',' {
				s.i++
				continue
			}
			if s.peek() != '}' {
				s.bad = true
			}
			s.i++
			break
		}
	}
	s.depth--
	if err == nil {
		err = d.finish()
	}
	if err != nil || s.bad {
		return Event{}, err
	}
	return d.e, nil
}

// member sets the attribute or data named key from its raw JSON value.
func (d *decoder) member(key, val []byte) error {
	e := &d.e
	switch string(key) {
	case "specversion":
		return d.str(seenSpecVersion, "specversion", val, &e.SpecVersion)
	case "id":
		return d.str(seenID, "id", val, &e.ID)
	case "source":
		return d.str(seenSource, "source", val, &e.Source)
	case "type":
		return d.str(seenType, "type", val, &e.Type)
	case "subject":
		return d.str(seenSubject, "subject", val, &e.Subject)
	case "datacontenttype":
		return d.str(seenDataContentType, "datacontenttype", val, &e.DataContentType)
	case "dataschema":
		return d.str(seenDataSchema, "dataschema", val, &e.DataSchema)
	case "time":
		var s string
		if err := d.str(seenTime, "time", val, &s); err != nil || s == "" {
			return err
		}
		t, r := parseTime(s)
		if r != "" {
			return &FieldError{Path: "time", Reason: r}
		}
		e.Time = t
	case "data":
		if err := d.once(seenData, "data"); err != nil {
			return err
		}
		e.Data = bytes.Clone(val)
	case "data_base64":
		var s string
		if err := d.str(seenDataBase64, "data_base64", val, &s); err != nil || val[0] == 'n' {
			return err
		}
		b, err := decodeBase64(s)
		if err != nil {
			return &FieldError{Path: "data_base64", Reason: "must be base64 (RFC 4648, standard alphabet)"}
		}
		e.DataBase64 = b
	default:
		return d.extension(key, val)
	}
	return nil
}

// once records that the member bit has been seen, refusing a second time.
func (d *decoder) once(bit uint16, name string) error {
	if d.seen&bit != 0 {
		return &FieldError{Path: name, Reason: "appears more than once"}
	}
	d.seen |= bit
	return nil
}

// str reads a string attribute into dst; null leaves it absent. The empty
// string is refused, because the spec requires every string attribute that
// is present to be non-empty and an Event could not tell it from absent.
func (d *decoder) str(bit uint16, name string, val []byte, dst *string) error {
	if err := d.once(bit, name); err != nil {
		return err
	}
	switch val[0] {
	case 'n':
		return nil
	case '"':
	default:
		return &FieldError{Path: name, Reason: "must be a JSON string, got " + kind(val)}
	}
	s, ok := unquote(val)
	switch {
	case !ok:
		return fmt.Errorf("%w: bad string for %q", ErrMalformed, name)
	case len(s) == 0 && name != "data_base64":
		return &FieldError{Path: name, Reason: "must be a non-empty string when present"}
	}
	*dst = string(s)
	return nil
}

// extension stores an extension attribute. JSON gives it a type, which is
// kept: string, bool or (for numbers) int32, the spec's Integer.
func (d *decoder) extension(key, val []byte) error {
	name := string(key)
	if !validName(name) {
		return &FieldError{Path: name, Reason: "attribute names must be 1 to 20 characters, each a lower-case letter a-z or a digit 0-9"}
	}
	if _, dup := d.e.Extensions[name]; dup || d.nulls[name] {
		return &FieldError{Path: name, Reason: "appears more than once"}
	}
	var v any
	switch val[0] {
	case 'n':
		// Absent, but still seen: a second copy is a repeat, whichever
		// copy another parser would keep.
		if d.nulls == nil {
			d.nulls = map[string]bool{}
		}
		d.nulls[name] = true
		return nil
	case 't':
		v = true
	case 'f':
		v = false
	case '"':
		s, ok := unquote(val)
		if !ok {
			return fmt.Errorf("%w: bad string for %q", ErrMalformed, name)
		}
		v = string(s)
	case '{', '[':
		return &FieldError{Path: name, Reason: "extension values must be a string, boolean or integer, got " + kind(val)}
	default:
		n, ok := parseInt32(val)
		if !ok {
			return &FieldError{Path: name, Reason: fmt.Sprintf("numbers must be integers in the 32-bit range, got %s", quote(string(val)))}
		}
		v = n
	}
	if d.e.Extensions == nil {
		d.e.Extensions = make(map[string]any, 4)
	}
	d.e.Extensions[name] = v
	return nil
}

// parseInt32 reads a JSON number holding a CloudEvents Integer. Integral
// values written with a fraction or exponent (1.0, 2e3) are accepted, since
// many JSON encoders produce them.
func parseInt32(raw []byte) (int32, bool) {
	s := string(raw)
	if n, err := strconv.ParseInt(s, 10, 32); err == nil {
		return int32(n), true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return 0, false
	}
	return int32(f), true
}

// decodeBase64 accepts padded and unpadded standard base64.
func decodeBase64(s string) ([]byte, error) {
	if len(s)%4 != 0 {
		return base64.RawStdEncoding.DecodeString(s)
	}
	return base64.StdEncoding.DecodeString(s)
}

// finish applies the rules that span members, then validates.
func (d *decoder) finish() error {
	e := &d.e
	if e.Data != nil && e.DataBase64 != nil {
		return &FieldError{Path: "data", Reason: "data and data_base64 are both present; an event carries one or the other"}
	}
	if e.Data != nil && e.DataContentType != "" && !isJSONMediaType(e.DataContentType) {
		if string(e.Data) == "null" {
			// Not a payload a non-JSON media type can describe: absent.
			e.Data = nil
		} else if r := checkTextData(e.DataContentType, e.Data); r != "" {
			return &FieldError{Path: "data", Reason: r}
		}
	}
	return e.validateAttrs()
}
