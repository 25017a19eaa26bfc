package event

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// This file holds the CloudEvents type system's value rules (String, URI,
// URI-reference, Timestamp) and media types, shared by Validate and every
// decoder.

// checkString reports why s is not a valid CloudEvents String, or "". The
// spec bans control characters because attributes travel in HTTP headers
// and other places where they have no agreed meaning.
func checkString(s string) string {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return fmt.Sprintf("must not contain control characters (byte %d)", i)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return fmt.Sprintf("must be valid UTF-8 (byte %d)", i)
		case r <= 0x9f:
			return fmt.Sprintf("must not contain control characters (byte %d)", i)
		case r >= 0xfdd0 && r <= 0xfdef, r&0xfffe == 0xfffe:
			return fmt.Sprintf("must not contain Unicode noncharacters (byte %d)", i)
		}
		i += size
	}
	return ""
}

// uriChars marks the bytes RFC 3986 allows in a URI outside percent-encoding.
var uriChars = func() (t [256]bool) {
	const allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" +
		"-._~" + // unreserved
		":/?#[]@" + // gen-delims
		"!$&'()*+,;=" // sub-delims
	for i := 0; i < len(allowed); i++ {
		t[allowed[i]] = true
	}
	return t
}()

// checkURI reports why s is not an RFC 3986 URI-reference (or, with absolute,
// a URI with a scheme), or "". It checks the character set, percent-encoding
// and scheme rather than the full grammar: enough to keep values every SDK
// parses, without allocating on the hot path.
func checkURI(s string, absolute bool) string {
	if s == "" {
		return "must be a non-empty URI"
	}
	if i := strings.IndexAny(s, ":/?#"); i >= 0 && s[i] == ':' {
		if !validScheme(s[:i]) {
			return fmt.Sprintf("must be a URI reference: %s is not a valid scheme", quote(s[:i]))
		}
	} else if absolute {
		return "must be an absolute URI, with a scheme such as https:"
	}
	fragment := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return fmt.Sprintf("must be a URI reference: bad percent-encoding at byte %d", i)
			}
			i += 2
		case c == '#':
			if fragment {
				return "must be a URI reference: more than one '#'"
			}
			fragment = true
		case !uriChars[c]:
			return fmt.Sprintf("must be a URI reference: byte %d (%q) must be percent-encoded", i, c)
		}
	}
	return ""
}

// validScheme reports whether s is an RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
func validScheme(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && (c < '0' || c > '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || ((c|0x20) >= 'a' && (c|0x20) <= 'f')
}

// checkMediaType reports why ct is not an RFC 2046 media type, or "":
// type "/" subtype, then parameters (RFC 9110 section 8.3.1). It is written
// out because mime.ParseMediaType also accepts Content-Disposition values
// such as a bare "json", and it allocates.
func checkMediaType(ct string) string {
	if r := checkString(ct); r != "" {
		return r
	}
	const want = "must be a media type such as application/json"
	i := tokenEnd(ct, 0)
	if i == 0 || i == len(ct) || ct[i] != '/' {
		return want
	}
	i++
	j := tokenEnd(ct, i)
	if j == i {
		return want
	}
	for i = j; i < len(ct); {
		i = skipSpace(ct, i)
		if i == len(ct) {
			break
		}
		if ct[i] != ';' {
			return want + ", with parameters after a semicolon"
		}
		i = skipSpace(ct, i+1)
		if i == len(ct) || ct[i] == ';' {
			continue // an empty parameter, which senders do write
		}
		j = tokenEnd(ct, i)
		if j == i || j == len(ct) || ct[j] != '=' {
			return want + ": a parameter must be name=value"
		}
		i = j + 1
		if i < len(ct) && ct[i] == '"' {
			for i++; i < len(ct) && ct[i] != '"'; i++ {
				if ct[i] == '\\' {
					i++
				}
			}
			if i >= len(ct) {
				return want + ": unterminated quoted parameter value"
			}
			i++
		} else if j = tokenEnd(ct, i); j == i {
			return want + ": a parameter must be name=value"
		} else {
			i = j
		}
	}
	return ""
}

// tokenEnd returns the index after the RFC 9110 token starting at i.
func tokenEnd(s string, i int) int {
	for i < len(s) && (isAlpha(s[i]) || (s[i] >= '0' && s[i] <= '9') || strings.IndexByte("!#$%&'*+-.^_`|~", s[i]) >= 0) {
		i++
	}
	return i
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// mediaType returns ct without parameters, trimmed and lower-cased: the part
// that decides a content mode or whether data is JSON.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

// isJSONMediaType reports whether ct declares JSON data: the JSON format's
// rule is a subtype of "json" or one ending in "+json", parameters aside.
func isJSONMediaType(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	slash := strings.IndexByte(ct, '/')
	if slash < 0 {
		return false
	}
	sub := ct[slash+1:]
	return strings.EqualFold(sub, "json") ||
		(len(sub) > len("+json") && strings.EqualFold(sub[len(sub)-len("+json"):], "+json"))
}

// parseTime reads an RFC 3339 timestamp. RFC 3339 allows a lower-case "t"
// and "z", which Go's parser refuses, so those are upper-cased first.
func parseTime(s string) (time.Time, string) {
	v := s
	if strings.ContainsAny(v, "tz") {
		v = strings.NewReplacer("t", "T", "z", "Z").Replace(v)
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Sprintf("must be an RFC 3339 timestamp such as 2018-04-05T17:31:00Z, got %s", quote(s))
	}
	return t, ""
}
