package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
//
// In the same pass it notes the first breach of I-JSON (RFC 7493) inside
// objects and arrays: a member name repeated in one object, or a number too
// large for a float64. Both are grammatical JSON, so they do not set bad;
// the caller reads fault.
type scanner struct {
	b     []byte
	i     int
	depth int // objects and arrays open around the cursor outside nested
	bad   bool

	fault *JSONError // the first I-JSON breach, or nil
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

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?. It reports
// whether the grammar holds; huge says whether the number's magnitude is
// beyond a float64 (RFC 7493 section 2.2), which is checked only when it
// can be: with an exponent, or more integer digits than a float64 holds.
func (s *scanner) number() (ok, huge bool) {
	start := s.i
	if s.peek() == '-' {
		s.i++
	}
	intStart := s.i
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return false, false
	}
	long := s.i-intStart >= maxFloatDigits
	if s.peek() == '.' {
		s.i++
		if !s.digits() {
			return false, false
		}
	}
	exp := false
	if c := s.peek(); c == 'e' || c == 'E' {
		exp = true
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if !s.digits() {
			return false, false
		}
	}
	if !exp && !long {
		return true, false
	}
	_, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
	return true, err != nil
}

// maxFloatDigits is the most integer digits a finite float64 has
// (1.8e308): without an exponent, only a number this long can be out of
// range.
const maxFloatDigits = 309

// digits reads one or more digits, reporting whether there was one.
func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// frame is an object or array open in nested. It is kept small (32 bytes):
// a body may open 10,000 of them.
type frame struct {
	set    map[string]struct{} // object: its names, once it has many
	name   int                 // object: offset of the current member's name
	n      int                 // array: index of the current element; object: where its names start in nested's list
	closer byte                // '}' or ']'
}

// nested reads the object or array at the cursor, checking its grammar.
// It keeps the open brackets on a stack rather than recursing, so that a
// body of a million '[' costs a megabyte, not the goroutine's stack.
func (s *scanner) nested() bool {
	var buf [16]frame
	open := buf[:0]
	// The decoded member names of every open object, innermost last.
	var nbuf [32][]byte
	names := nbuf[:0]
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
			open = append(open, frame{closer: '}', n: len(names)})
			var ok bool
			if names, ok = s.member(open, names); !ok {
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
			open = append(open, frame{closer: ']'})
			continue
		default:
			had := s.fault != nil
			if !s.scalar() {
				return false
			}
			if !had && s.fault != nil {
				s.fault.Field = pointerOf(s.b, open)
			}
		}
		// A value has ended: close what it ends, then expect the next.
		for {
			if len(open) == 0 {
				return true
			}
			s.ws()
			f := &open[len(open)-1]
			c := s.peek()
			if c == f.closer {
				s.i++
				if f.closer == '}' {
					names = names[:f.n]
				}
				open = open[:len(open)-1]
				continue
			}
			if c != ',' {
				return false
			}
			s.i++
			if f.closer == ']' {
				f.n++
				break
			}
			var ok bool
			if names, ok = s.member(open, names); !ok {
				return false
			}
			break
		}
	}
}

// member reads the name of a member of the innermost open object, and the
// colon after it, and notes a name the object already has. names are the
// names of the open objects (see repeated); it returns them with this one.
func (s *scanner) member(open []frame, names [][]byte) ([][]byte, bool) {
	s.ws()
	start := s.i
	if s.peek() != '"' || !s.str() {
		return names, false
	}
	f := &open[len(open)-1]
	f.name = start
	raw := s.b[start:s.i]
	s.ws()
	if s.peek() != ':' {
		return names, false
	}
	s.i++
	if s.fault == nil {
		var dup bool
		if names, dup = repeated(f, raw, names); dup {
			s.fault = &JSONError{Kind: DuplicateKey, Offset: start, Field: pointerOf(s.b, open)}
		}
	}
	return names, true
}

// manyNames is the size from which an object's names go in a map: below
// it, comparing with each is quicker than hashing, and past it a body of
// many names would cost quadratic time.
const manyNames = 16

// repeated adds raw, the current member name of object f, to names, the
// names of every open object with f's last, and reports whether f already
// had it. Names are compared decoded, so "a" and "\u0061" are the same name.
func repeated(f *frame, raw []byte, names [][]byte) ([][]byte, bool) {
	name, ok := unquote(raw)
	if !ok {
		return names, false // str checked it: not reached
	}
	if f.set != nil {
		if _, dup := f.set[string(name)]; dup {
			return names, true
		}
		f.set[string(name)] = struct{}{}
		return names, false
	}
	mine := names[f.n:]
	for _, n := range mine {
		if string(n) == string(name) {
			return names, true
		}
	}
	if len(mine) < manyNames {
		return append(names, name), false
	}
	f.set = make(map[string]struct{}, 2*manyNames)
	for _, n := range mine {
		f.set[string(n)] = struct{}{}
	}
	f.set[string(name)] = struct{}{}
	return names, false
}

// pointerOf is the RFC 6901 pointer of the current value inside the open
// objects and arrays of b, relative to the outermost.
func pointerOf(b []byte, open []frame) string {
	var sb strings.Builder
	for _, f := range open {
		sb.WriteByte('/')
		if f.closer == ']' {
			sb.WriteString(strconv.Itoa(f.n))
			continue
		}
		end := scanner{b: b, i: f.name}
		end.str()
		name, _ := unquote(b[f.name:end.i])
		for _, c := range name {
			switch c {
			case '~':
				sb.WriteString("~0")
			case '/':
				sb.WriteString("~1")
			default:
				sb.WriteByte(c)
			}
		}
	}
	return sb.String()
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
		start := s.i
		ok, huge := s.number()
		if huge && s.fault == nil {
			s.fault = &JSONError{Kind: NumberOutOfRange, Offset: start}
		}
		return ok
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
