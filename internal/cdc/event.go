package cdc

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/event"
)

// SourcePrefix starts the CloudEvents source of every change: /cdc/<name>.
const SourcePrefix = "/cdc/"

// ErrBadChange means a change can never be published (no id, no table, a
// type events refuse): a reader's bug, not an outage.
var ErrBadChange = errors.New("cdc: the change cannot be published")

// EventType is the event type of a table's changes: <prefix>.<schema>.<table>
// (MySQL: <prefix>.<database>.<table>). Configuration refuses names that
// would not make a valid type, so this only fails for a table the reader
// reports outside the configured ones.
func EventType(prefix string, t *Table) (string, error) {
	typ := prefix + "." + t.Schema + "." + t.Name
	if err := event.ValidType(typ); err != nil {
		return "", fmt.Errorf("%w: table %s.%s: event type %w", ErrBadChange, t.Schema, t.Name, err)
	}
	return typ, nil
}

// Subject is the event's subject for a key: the one value as text, or the
// JSON array of several. Text that a CloudEvents string refuses (control
// characters, invalid UTF-8, noncharacters) is written as a JSON string
// instead, with those characters escaped.
func Subject(key []any) string {
	if len(key) == 1 {
		if n, ok := key[0].(json.Number); ok && plainInteger(string(n)) {
			return string(n) // the common key: its text is its JSON
		}
		if s, ok := key[0].(string); ok && plainText(s) {
			return s
		}
		b, err := json.Marshal(key[0])
		if err != nil {
			b, _ = json.Marshal(fmt.Sprint(key[0]))
		}
		var s string
		if _, isString := key[0].(string); !isString && json.Unmarshal(b, &s) == nil && plainText(s) {
			return s // a value that marshals to a JSON string, e.g. a time
		}
		return escapeJSON(b)
	}
	b, err := json.Marshal(key)
	if err != nil {
		b, _ = json.Marshal(fmt.Sprint(key))
	}
	return escapeJSON(b)
}

// plainInteger is true for an optional minus and 1 to 19 digits.
func plainInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if len(s) == 0 || len(s) > 19 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// refused is true for a rune a CloudEvents string may not hold.
func refused(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f) || (r >= 0xfdd0 && r <= 0xfdef) || r&0xfffe == 0xfffe
}

// plainText is true when s is valid UTF-8 without refused characters.
func plainText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if refused(r) {
			return false
		}
	}
	return true
}

// escapeJSON writes the refused characters of JSON text (which can only be
// inside its strings) as \u escapes; the JSON means the same.
func escapeJSON(b []byte) string {
	s := string(b)
	if plainText(s) {
		return s
	}
	var out strings.Builder
	for _, r := range s {
		switch {
		case !refused(r):
			out.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&out, "\\u%04x\\u%04x", r1, r2)
		default:
			fmt.Fprintf(&out, "\\u%04x", r)
		}
	}
	return out.String()
}

// DedupeKey is the message id and de-duplication record key of a change of
// source name: the same change always gets the same key, of fixed length and
// in characters both a Nats-Msg-Id and a bucket key accept.
func DedupeKey(name, id string) string {
	sum := sha256.Sum256([]byte("cdc\x00" + name + "\x00" + id))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// traceparent derives a W3C trace context from the change's id, so that a
// change published again is the same event byte for byte.
func traceparent(id string) string {
	sum := sha256.Sum256([]byte("trace\x00" + id))
	sum[0] |= 1 // never the all-zero trace id
	sum[16] |= 1
	out := make([]byte, 0, 55)
	out = append(out, "00-"...)
	out = hex.AppendEncode(out, sum[:16])
	out = append(out, '-')
	out = hex.AppendEncode(out, sum[16:24])
	out = append(out, "-01"...)
	return string(out)
}

// buildEvent turns a change into the CloudEvent weir stores.
func buildEvent(name, prefix string, c *Change) (*event.Event, error) {
	if c.Table == nil {
		return nil, fmt.Errorf("%w: no table", ErrBadChange)
	}
	typ, err := EventType(prefix, c.Table)
	if err != nil {
		return nil, err
	}
	return buildEventOf(name, typ, c)
}

// buildEventOf is buildEvent with the table's event type known.
func buildEventOf(name, typ string, c *Change) (*event.Event, error) {
	if c.ID == "" || c.Table == nil {
		return nil, fmt.Errorf("%w: no id or no table", ErrBadChange)
	}
	data, err := c.Value.AppendJSON(make([]byte, 0, 256+len(c.Value.Before)+len(c.Value.After)))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadChange, c.ID, err)
	}
	ev := &event.Event{
		ID:              c.ID,
		Source:          SourcePrefix + name,
		SpecVersion:     event.SpecVersion,
		Type:            typ,
		Time:            c.Time.UTC(),
		DataContentType: "application/json",
		Data:            data,
		Extensions:      map[string]any{"traceparent": traceparent(c.ID)},
	}
	if len(c.Key) > 0 {
		ev.Subject = Subject(c.Key)
		ev.Extensions["partitionkey"] = c.Table.Name + ":" + ev.Subject
	}
	return ev, nil
}

// message is the bus message of an event, with the headers ingress sets, and
// room for the publisher's two (the stream it expects and the message id).
func message(ev *event.Event) *nats.Msg {
	// One backing array for every header's value: a map entry each, but
	// one allocation for their slices.
	vals := [...]string{ev.ID, ev.Type, ev.Source, "application/cloudevents+json"}
	h := make(nats.Header, 6)
	h[bus.HeaderEventID] = vals[0:1:1]
	h[bus.HeaderEventType] = vals[1:2:2]
	h[bus.HeaderEventSource] = vals[2:3:3]
	h["Content-Type"] = vals[3:4:4]
	return &nats.Msg{
		Subject: bus.EventsPrefix + ev.Type,
		Header:  h,
		Data:    ev.AppendJSON(make([]byte, 0, 384+len(ev.Data))),
	}
}
