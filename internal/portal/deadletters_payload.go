package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// maxPayloadLines bounds the line-by-line view of a payload: past it the
// page shows the payload as one block, without highlights, so that a large
// event does not make a page of hundreds of thousands of elements.
const maxPayloadLines = 5000

// errTooLong stops the walk past maxPayloadLines.
var errTooLong = errors.New("payload too long to show line by line")

// payloadLine is one line of a pretty-printed payload.
type payloadLine struct {
	// Text is the line, indented; the template escapes it.
	Text string
	// Pointer is the JSON pointer of the value the line opens or holds.
	Pointer string
	// Failing marks the line of a value a violation points at, and Notes
	// say what is wrong with it.
	Failing bool
	Notes   []string
}

// payloadLines pretty-prints a JSON value as lines, each with the pointer of
// its value, keeping the order of object members as sent (a map would sort
// them, and the sender would not recognise its payload). notes maps a
// pointer to what is wrong there; those lines are marked failing. It fails
// on what is not one JSON value, or past maxPayloadLines.
func payloadLines(raw []byte, notes map[string][]string) ([]payloadLine, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	w := &lineWriter{dec: dec}
	if err := w.value("", "", 0); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("more than one JSON value")
	}
	for i, l := range w.lines {
		if n, ok := notes[l.Pointer]; ok {
			w.lines[i].Failing, w.lines[i].Notes = true, n
		}
	}
	return w.lines, nil
}

// lineWriter walks a decoder's tokens into lines.
type lineWriter struct {
	dec   *json.Decoder
	lines []payloadLine
}

func (w *lineWriter) add(indent int, text, ptr string) error {
	if len(w.lines) >= maxPayloadLines {
		return errTooLong
	}
	w.lines = append(w.lines, payloadLine{Text: strings.Repeat("  ", indent) + text, Pointer: ptr})
	return nil
}

// value writes the value at ptr; prefix is its member name ("name": ).
func (w *lineWriter) value(ptr, prefix string, indent int) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return w.add(indent, prefix+scalar(tok), ptr)
	}
	closer := "}"
	if d == '[' {
		closer = "]"
	}
	if err := w.add(indent, prefix+d.String(), ptr); err != nil {
		return err
	}
	open := len(w.lines) - 1
	for i := 0; w.dec.More(); i++ {
		child, name := ptr+"/"+strconv.Itoa(i), ""
		if d == '{' {
			k, err := w.dec.Token()
			if err != nil {
				return err
			}
			key, _ := k.(string)
			child, name = ptr+"/"+escapePointer(key), jsonString(key)+": "
		}
		if err := w.value(child, name, indent+1); err != nil {
			return err
		}
		if w.dec.More() {
			w.lines[len(w.lines)-1].Text += ","
		}
	}
	if _, err := w.dec.Token(); err != nil {
		return err
	}
	if len(w.lines)-1 == open {
		w.lines[open].Text += closer // {} or []
		return nil
	}
	// The closing line belongs to no pointer: a violation at an object
	// marks the line that opens it, once.
	return w.add(indent, closer, closingLine)
}

// closingLine is the pointer of closing lines: no JSON pointer has a NUL.
const closingLine = "\x00"

// scalar is a JSON scalar token as JSON text.
func scalar(tok json.Token) string {
	switch t := tok.(type) {
	case string:
		return jsonString(t)
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	}
	return "null"
}

// jsonString quotes s as JSON does, without escaping <, > and & (the
// template escapes the page; \u003c would only make the payload unreadable).
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// escapePointer escapes a member name for a JSON pointer (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// valueAt is the JSON text of the value at ptr in raw, cut to max bytes,
// and whether there is one.
func valueAt(raw []byte, ptr string, max int) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return "", false
	}
	if ptr != "" {
		for _, part := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
			part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
			switch c := v.(type) {
			case map[string]any:
				x, ok := c[part]
				if !ok {
					return "", false
				}
				v = x
			case []any:
				i, err := strconv.Atoi(part)
				if err != nil || i < 0 || i >= len(c) {
					return "", false
				}
				v = c[i]
			default:
				return "", false
			}
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return "", false
	}
	out := strings.TrimSuffix(b.String(), "\n")
	if len(out) > max {
		out = strings.ToValidUTF8(out[:max], "") + "…"
	}
	return out, true
}
