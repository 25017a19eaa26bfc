package view

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// How view keys become KV keys. A KV key may hold only A-Z a-z 0-9 - _ / =
// and ".", where "." separates subject tokens. EncodeKey keeps letters,
// digits, "-", "_" and "/" as they are and writes every other byte as "="
// and two upper-case hex digits ("order 1042" is "order=201042", "a.b" is
// "a=2Eb"). The result is one token, readable with `nats kv get` for the
// usual keys, and it keeps prefixes: key k starts with p exactly when
// EncodeKey(k) starts with EncodeKey(p).
//
// A count view's record key is the bucket start in Unix seconds followed by
// one token per by-value: "1767225600.order=2Ecreated.eu"; an empty value
// is "=", which EncodeKey never gives.

const hexDigits = "0123456789ABCDEF"

// EncodeKey is the KV key of view key k.
func EncodeKey(k string) string {
	var b strings.Builder
	b.Grow(len(k))
	for i := 0; i < len(k); i++ {
		c := k[i]
		if keptByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func keptByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '/'
}

// errBadKey means a KV key is not one EncodeKey gives.
var errBadKey = errors.New("not an encoded view key")

// DecodeKey is the view key of KV key e, the inverse of EncodeKey.
func DecodeKey(e string) (string, error) {
	var b strings.Builder
	b.Grow(len(e))
	for i := 0; i < len(e); i++ {
		c := e[i]
		if keptByte(c) {
			b.WriteByte(c)
			continue
		}
		if c != '=' || i+2 >= len(e) {
			return "", errBadKey
		}
		hi, lo := strings.IndexByte(hexDigits, e[i+1]), strings.IndexByte(hexDigits, e[i+2])
		if hi < 0 || lo < 0 || keptByte(byte(hi<<4|lo)) {
			return "", errBadKey
		}
		b.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	return b.String(), nil
}

// countKey is the KV key of a count record.
func countKey(bucket time.Time, by []string) string {
	var b strings.Builder
	b.WriteString(strconv.FormatInt(bucket.Unix(), 10))
	for _, v := range by {
		b.WriteByte('.')
		if v == "" {
			b.WriteByte('=')
		} else {
			b.WriteString(EncodeKey(v))
		}
	}
	return b.String()
}

// cursor is where a page of a view's listing or series goes on: the stream
// sequence of the bucket to read from next and, for a series, the time
// bucket it is in. Clients see it as opaque base64url text.
type cursor struct {
	seq    uint64
	bucket int64
}

// String is the opaque form.
func (c cursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatUint(c.seq, 10) + ":" + strconv.FormatInt(c.bucket, 10)))
}

// errBadCursor means a cursor is not one weir gave.
var errBadCursor = errors.New("the cursor is not one this view gave: send back the next value of the previous page as it was")

// ParseCursor reads a cursor given by String; "" is the start.
func parseCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	if len(s) > 64 {
		return cursor{}, errBadCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, errBadCursor
	}
	a, b, ok := strings.Cut(string(raw), ":")
	if !ok {
		return cursor{}, errBadCursor
	}
	seq, err1 := strconv.ParseUint(a, 10, 64)
	bucket, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || seq == 0 {
		return cursor{}, errBadCursor
	}
	return cursor{seq: seq, bucket: bucket}, nil
}
