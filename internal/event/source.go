package event

import (
	"path"
	"strings"
)

// CleanSource is source as a URI-normalising reader would take it (RFC 3986
// section 6.2.2): percent-encoded unreserved characters decoded, and for a
// path ("/a/./b/../c"), dot segments removed and repeated slashes merged. It
// is what rules about source prefixes are checked against, alongside the
// source as written, so that "/apps/../sources/x" or "/%73ources/x" cannot
// pass for something else.
func CleanSource(source string) string {
	s := source
	if strings.IndexByte(s, '%') >= 0 {
		b := make([]byte, 0, len(s))
		for i := 0; i < len(s); i++ {
			if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				if c := unhex(s[i+1])<<4 | unhex(s[i+2]); unreserved(c) {
					b = append(b, c)
					i += 2
					continue
				}
			}
			b = append(b, s[i])
		}
		s = string(b)
	}
	if !strings.HasPrefix(s, "/") {
		return s
	}
	p, rest := s, ""
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		p, rest = s[:i], s[i:]
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean + rest
}

// unreserved reports whether c is an RFC 3986 unreserved character, which
// means the same percent-encoded or not.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
