// Package field carries a refused value's place and reason as one typed error,
// from config validation through delivery to the API's problem+json answer.
// Callers find the field with errors.As, never by reading the error text.
package field

import (
	"errors"
	"fmt"
)

// Error is a value refused because of one field.
type Error struct {
	// Path names the field: "push.url", "subscriptions.orders.types[0]",
	// "from_archive". Nested parts are joined with ".", list items with "[i]".
	Path string
	// Reason says what is wrong with the value, in a sentence a person can act on.
	Reason string
	// Err is the cause behind it, if any (a sentinel such as ErrTargetDenied).
	Err error
}

// Errorf returns an *Error for path whose reason is formatted; a %w verb in
// format makes that operand the cause.
func Errorf(path, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Path: path, Reason: err.Error(), Err: errors.Unwrap(err)}
}

// Wrap returns an *Error for path whose reason is err's text and whose cause is err.
func Wrap(path string, err error) *Error {
	return &Error{Path: path, Reason: err.Error(), Err: err}
}

// Error returns "<path>: <reason>", or the reason alone when there is no path.
func (e *Error) Error() string {
	if e.Path == "" {
		return e.Reason
	}
	return e.Path + ": " + e.Reason
}

// Unwrap returns the cause, so that errors.Is finds a sentinel behind the field.
func (e *Error) Unwrap() error { return e.Err }

// Prefix puts the field under parent ("subscriptions.orders" + "push.url" is
// "subscriptions.orders.push.url"; "acks" + "[0].ack_id" is "acks[0].ack_id")
// and returns e.
func (e *Error) Prefix(parent string) *Error {
	e.Path = Join(parent, e.Path)
	return e
}

// Join puts child under parent: with a "." between, except before an index.
func Join(parent, child string) string {
	switch {
	case parent == "":
		return child
	case child == "":
		return parent
	case child[0] == '[':
		return parent + child
	}
	return parent + "." + child
}
