package event

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// MediaTypeStructured is the media type of one event in the JSON event format.
const MediaTypeStructured = "application/cloudevents+json"

// MediaTypeBatch is the media type of the JSON batch format: an array of events.
const MediaTypeBatch = "application/cloudevents-batch+json"

// MarshalJSON encodes e in the JSON event format after checking it with
// Validate, so that what it writes always decodes again.
func (e Event) MarshalJSON() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e.AppendJSON(make([]byte, 0, e.sizeHint())), nil
}

// AppendJSON appends e in the JSON event format to dst: attributes first
// (extensions sorted by name, so equal events encode to equal bytes), then
// the data. It does not validate: it is the hot-path encoder for events that
// have already passed Validate or come from a decoder, and it writes Data
// as is. An extension value of a type Validate refuses is written as null.
func (e Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"specversion":`...)
	dst = appendString(dst, e.SpecVersion)
	dst = append(dst, `,"id":`...)
	dst = appendString(dst, e.ID)
	dst = append(dst, `,"source":`...)
	dst = appendString(dst, e.Source)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, e.Type)
	if e.Subject != "" {
		dst = append(dst, `,"subject":`...)
		dst = appendString(dst, e.Subject)
	}
	if !e.Time.IsZero() {
		dst = append(dst, `,"time":"`...)
		dst = e.Time.AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
	}
	if e.DataContentType != "" {
		dst = append(dst, `,"datacontenttype":`...)
		dst = appendString(dst, e.DataContentType)
	}
	if e.DataSchema != "" {
		dst = append(dst, `,"dataschema":`...)
		dst = appendString(dst, e.DataSchema)
	}
	if len(e.Extensions) > 0 {
		var buf [16]string
		names := buf[:0]
		for name := range e.Extensions {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			dst = append(dst, ',')
			dst = appendString(dst, name)
			dst = append(dst, ':')
			dst = appendExtension(dst, e.Extensions[name])
		}
	}
	switch {
	case e.Data != nil:
		dst = append(dst, `,"data":`...)
		dst = append(dst, e.Data...)
	case e.DataBase64 != nil:
		dst = append(dst, `,"data_base64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, e.DataBase64)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// sizeHint estimates the encoded size so MarshalJSON allocates once.
func (e Event) sizeHint() int {
	n := 192 + len(e.ID) + len(e.Source) + len(e.Type) + len(e.Subject) +
		len(e.DataContentType) + len(e.DataSchema) + len(e.Data) +
		base64.StdEncoding.EncodedLen(len(e.DataBase64))
	for name, v := range e.Extensions {
		n += len(name) + 8
		if s, ok := v.(string); ok {
			n += len(s)
		} else {
			n += 12
		}
	}
	return n
}

func appendExtension(dst []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return appendString(dst, v)
	case bool:
		return strconv.AppendBool(dst, v)
	}
	if n, ok := extInt(v); ok {
		return strconv.AppendInt(dst, n, 10)
	}
	return append(dst, "null"...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// with encoding/json, so the output is always valid JSON; U+2028 and U+2029
// are escaped because JavaScript string literals cannot hold them.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// atIndex puts a batch element's index in front of a field error's name.
func atIndex(i int, err error) error {
	if fe, ok := err.(*FieldError); ok {
		return &FieldError{Path: fmt.Sprintf("[%d].%s", i, fe.Path), Reason: fe.Reason}
	}
	if je, ok := err.(*JSONError); ok {
		return je.prefixed(fmt.Sprintf("[%d].", i))
	}
	return fmt.Errorf("batch element [%d]: %w", i, err)
}
