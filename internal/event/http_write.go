package event

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// WriteBinaryHeaders sets the ce- headers and Content-Type that carry e in
// binary mode; the body is BinaryBody. Any ce- header already in h is
// removed first, so a reused header map cannot leak attributes of another
// event. Values are percent-encoded as the binding requires. Data with no
// datacontenttype is labelled application/json, as the JSON format implies.
func (e Event) WriteBinaryHeaders(h http.Header) {
	for k := range h {
		if len(k) >= 3 && strings.EqualFold(k[:3], "ce-") {
			delete(h, k)
		}
	}
	set := func(key, v string) {
		if v != "" {
			h[key] = []string{encodeHeaderValue(v)}
		}
	}
	set("Ce-Specversion", e.SpecVersion)
	set("Ce-Id", e.ID)
	set("Ce-Source", e.Source)
	set("Ce-Type", e.Type)
	set("Ce-Subject", e.Subject)
	if !e.Time.IsZero() {
		set("Ce-Time", e.Time.Format(time.RFC3339Nano))
	}
	set("Ce-Dataschema", e.DataSchema)
	for name, v := range e.Extensions {
		key := http.CanonicalHeaderKey("ce-" + name)
		switch v := v.(type) {
		case string:
			h[key] = []string{encodeHeaderValue(v)}
		case bool:
			h[key] = []string{strconv.FormatBool(v)}
		default:
			if n, ok := extInt(v); ok {
				h[key] = []string{strconv.FormatInt(n, 10)}
			}
		}
	}
	ct := e.DataContentType
	if ct == "" && e.Data != nil {
		ct = "application/json"
	}
	if ct == "" {
		h.Del("Content-Type")
	} else {
		h.Set("Content-Type", ct)
	}
}

// encodeHeaderValue percent-encodes space, double quote, percent and every
// byte outside printable ASCII, upper-case hex, as the binding requires.
func encodeHeaderValue(v string) string {
	n := 0
	for i := 0; i < len(v); i++ {
		if needsPercent(v[i]) {
			n++
		}
	}
	if n == 0 {
		return v
	}
	const upperHex = "0123456789ABCDEF"
	b := make([]byte, 0, len(v)+2*n)
	for i := 0; i < len(v); i++ {
		c := v[i]
		if needsPercent(c) {
			b = append(b, '%', upperHex[c>>4], upperHex[c&0xf])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

func needsPercent(c byte) bool { return c <= ' ' || c == '"' || c == '%' || c >= 0x7f }

// BinaryBody returns the body that carries e's data in binary mode: the
// bytes of DataBase64, the JSON text of Data, or, when datacontenttype is
// not JSON, the content of the JSON string in Data. Nil means no data. The
// result may share memory with e.
func (e Event) BinaryBody() ([]byte, error) {
	switch {
	case e.DataBase64 != nil:
		return e.DataBase64, nil
	case e.Data == nil:
		return nil, nil
	case e.DataContentType == "" || isJSONMediaType(e.DataContentType):
		return e.Data, nil
	}
	var s string
	if err := json.Unmarshal(e.Data, &s); err != nil {
		return nil, &FieldError{Path: "data", Reason: fmt.Sprintf("must be a JSON string, because datacontenttype %s is not a JSON media type", quote(e.DataContentType))}
	}
	return []byte(s), nil
}
