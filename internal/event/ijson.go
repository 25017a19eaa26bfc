package event

import (
	"fmt"
	"unicode/utf8"
)

// JSONErrorKind names a breach of I-JSON.
type JSONErrorKind string

// The breaches of I-JSON (RFC 7493) weir refuses.
const (
	// DuplicateKey: a member name appears twice in one object (section
	// 2.3). encoding/json keeps the last copy, other parsers the first, so a
	// contract check, a type_from pointer and a subscriber could each read a
	// different document.
	DuplicateKey JSONErrorKind = "duplicate-key"
	// NumberOutOfRange: a number's magnitude is beyond a float64, such as
	// 1e999 (section 2.2). Most consumers cannot read it at all.
	NumberOutOfRange JSONErrorKind = "number-out-of-range"
)

// JSONError is a breach of I-JSON in text that is otherwise valid JSON. It
// is a client fault: answer 400 naming Field.
type JSONError struct {
	// Kind says what is wrong.
	Kind JSONErrorKind
	// Field is where: the RFC 6901 pointer of the repeated member or of the
	// number, from CheckJSON ("/items/0/sku"; "" for the whole text). From
	// the event decoders it is prefixed with the attribute, "data/items/0/sku",
	// and inside a batch with the element's index, "[2].data/items/0/sku".
	Field string
	// Offset is the byte offset of the repeated name or of the number in the
	// text that was checked (the request body).
	Offset int
}

// Error says what is wrong and where.
func (e *JSONError) Error() string {
	where := fmt.Sprintf("at byte %d", e.Offset)
	if e.Field != "" {
		where = fmt.Sprintf("%s (byte %d)", quote(e.Field), e.Offset)
	}
	if e.Kind == NumberOutOfRange {
		return "the number at " + where + " is beyond the range of a 64-bit float; I-JSON (RFC 7493) refuses it: send it as a string"
	}
	return "the member " + where + " appears more than once in its object; I-JSON (RFC 7493) refuses repeated names because parsers disagree on which copy counts"
}

// CheckJSON checks that b is one JSON value (space around it allowed) in
// UTF-8, and that it is I-JSON: no member name repeated within an object,
// no number beyond a float64. The error is an ErrMalformed one whose text
// gives the byte offset, or a *JSONError. It reads b once, without decoding
// it, and allocates nothing on valid input except for objects of many
// members.
func CheckJSON(b []byte) error {
	if !utf8.Valid(b) {
		return malformed(b)
	}
	s := scanner{b: b}
	s.ws()
	s.value()
	s.ws()
	if s.bad || s.i != len(b) {
		return malformed(b)
	}
	if s.fault != nil {
		return s.fault
	}
	return nil
}

// prefixed is err with its field put under attribute name: a *JSONError
// found inside "data" becomes "data/...".
func (e *JSONError) prefixed(name string) *JSONError {
	c := *e
	c.Field = name + c.Field
	return &c
}
