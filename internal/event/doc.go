// Package event is weir's envelope: a CloudEvents 1.0 event, its JSON event
// format and its HTTP protocol binding (structured, binary and batched modes).
//
// Every event that enters weir passes through this package, and every event a
// consumer receives leaves through it, so it follows the specification closely:
// a user must be able to publish and parse with any CloudEvents SDK. Decoding is
// strict (the spec's MUST rules are enforced, duplicate JSON members are
// refused) because what ingress accepts is what every subscriber later sees.
//
// # Data
//
// An Event holds its data in one of two fields, mirroring the JSON event
// format: Data for a JSON value (the "data" member) and DataBase64 for opaque
// bytes (the "data_base64" member, or the body of a binary-mode request whose
// Content-Type is not JSON). When datacontenttype is not a JSON media type but
// a structured event carried "data" as a string, Data keeps that JSON string,
// quotes included, so the event re-encodes exactly as it came.
//
// # Errors
//
// Callers decide between client faults by type: ErrMalformed (the body is not
// valid JSON, or not the JSON shape of an event), ErrNotCloudEvent (the
// request uses no content mode at all), ErrUnsupportedFormat (a CloudEvents
// format other than JSON) and *FieldError (an attribute breaks the spec; the
// Field names it so an RFC 9457 problem can point at it).
//
// # Speed
//
// Encoding is hand-written (AppendJSON) and decoding is one pass of a small
// validating scanner, because both sit on the hot paths of ingress and
// delivery; encoding/json's reflection costs several times more per event.
package event
