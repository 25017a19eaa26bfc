package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrMalformed means a body is not valid JSON, or not the JSON shape of an
// event (an object) or a batch (an array). It is a client fault: answer 400
// with the error's text, which carries the detail and the byte offset.
var ErrMalformed = errors.New("event: malformed body")

// malformed explains why b, which the scanner refused, is malformed. It runs
// only on the error path: encoding/json says what and where.
func malformed(b []byte) error {
	if err := checkJSON(b); err != nil {
		return err
	}
	return fmt.Errorf("%w: not valid JSON", ErrMalformed)
}

// wrongShape explains a body that is not the JSON value wanted: a syntax
// error if it is not JSON at all, otherwise what it is instead.
func wrongShape(b []byte, want string) error {
	if err := checkJSON(b); err != nil {
		return err
	}
	return fmt.Errorf("%w: %s, got %s", ErrMalformed, want, kind(trimJSONSpace(b)))
}

// checkJSON returns an ErrMalformed error unless b is a valid JSON text in
// UTF-8 (RFC 8259 requires it; encoding/json would quietly replace bad bytes
// and hand them on to every subscriber).
func checkJSON(b []byte) error {
	if !json.Valid(b) {
		// Unmarshal runs the same check and says what and where.
		err := json.Unmarshal(b, new(json.RawMessage))
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("%w: not valid JSON: %w (at byte %d)", ErrMalformed, err, se.Offset)
		}
		return fmt.Errorf("%w: not valid JSON", ErrMalformed)
	}
	if !utf8.Valid(b) {
		i := 0
		for i < len(b) {
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			i += size
		}
		return fmt.Errorf("%w: not valid JSON: invalid UTF-8 at byte %d", ErrMalformed, i)
	}
	return nil
}

// scanner reads JSON and checks its grammar as it goes, in one pass over
// the body. That is several times faster than json.Valid followed by a
// decode, and the data, usually the bulk of an event, is only scanned, never
// decoded. FuzzDecode holds it to json.Valid's verdicts. After a grammar
// error bad is set and the results are meaningless; the caller turns that
// into an ErrMalformed with malformed, which asks encoding/json for details.
type scanner struct {
	b     []byte
	i     int
	depth int // objects and arrays open around the cursor outside nested
	bad   bool
}

// maxDepth is encoding/json's nesting limit. Refusing what it refuses keeps
// every accepted event decodable by Go consumers, and agrees with json.Valid.
const maxDepth = 10000

// ws skips insignificant whitespace.
func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// value reads the value at the cursor and returns its raw text.
func (s *scanner) value() []byte {
	start := s.i
	var ok bool
	if c := s.peek(); c == '{' || c == '[' {
		ok = s.nested()
	} else {
		ok = s.scalar()
	}
	if !ok {
		s.bad = true
		return nil
	}
	return s.b[start:s.i]
}

// str reads a string, checking its escapes and refusing raw control
// characters.
func (s *scanner) str() bool {
	s.i++
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+5 >= len(s.b) || !isHex(s.b[s.i+2]) || !isHex(s.b[s.i+3]) || !isHex(s.b[s.i+4]) || !isHex(s.b[s.i+5]) {
					return false
				}
				s.i += 6
			default:
				return false
			}
			continue
		}
		s.i++
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		return false
	}
	s.i += len(lit)
	return true
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *scanner) number() bool {
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return false
	}
	if s.peek() == '.' {
		s.i++
		if !s.digits() {
			return false
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

// digits reads one or more digits, reporting whether there was one.
func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// nested reads the object or array at the cursor, checking its grammar.
// It keeps the open brackets on a stack rather than recursing, so that a
// body of a million '[' costs a megabyte, not the goroutine's stack.
func (s *scanner) nested() bool {
	var buf [32]byte
	open := buf[:0]
	for {
		// A value is expected at the cursor.
		s.ws()
		c := s.peek()
		if (c == '{' || c == '[') && s.depth+len(open) >= maxDepth {
			return false
		}
		switch c {
		case '{':
			s.i++
			s.ws()
			if s.peek() == '}' {
				s.i++
				break
			}
			open = append(open, '}')
			if !s.key() {
				return false
			}
			continue
		case '[':
			s.i++
			s.ws()
			if s.peek() == ']' {
				s.i++
				break
			}
			open = append(open, ']')
			continue
		default:
			if !s.scalar() {
				return false
			}
		}
		// A value has ended: close what it ends, then expect the next.
		for {
			if len(open) == 0 {
				return true
			}
			s.ws()
			c, closer := s.peek(), open[len(open)-1]
			if c == closer {
				s.i++
				open = open[:len(open)-1]
				continue
			}
			if c != ',' {
				return false
			}
			s.i++
			if closer == '}' && !s.key() {
				return false
			}
			break
		}
	}
}

// key reads an object member's name and the colon after it.
func (s *scanner) key() bool {
	s.ws()
	if s.peek() != '"' || !s.str() {
		return false
	}
	s.ws()
	if s.peek() != ':' {
		return false
	}
	s.i++
	return true
}

// scalar reads a string, literal or number.
func (s *scanner) scalar() bool {
	switch c := s.peek(); {
	case c == '"':
		return s.str()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	}
	return false
}

// validJSON reports whether b is one JSON value, space around it allowed.
// Unlike json.Valid it does not check UTF-8.
func validJSON(b []byte) bool {
	s := scanner{b: b}
	s.ws()
	s.value()
	s.ws()
	return !s.bad && s.i == len(b)
}

// unquote returns the content of the raw JSON string raw, which str has
// checked. Strings without escapes, nearly all of them, are sliced; the rest
// go through encoding/json.
func unquote(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner, true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, false
	}
	return []byte(s), true
}

// trimJSONSpace removes the whitespace JSON allows around a value.
func trimJSONSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}

// kind names the JSON type of a raw value for error messages.
func kind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
