package delivery

import (
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/weir-dev/weir/internal/deadletter"
)

// Bounds of what an attempt record keeps of the exchange. A record is
// published for every attempt and copied into a dead letter (up to 100
// attempts), so its size must not follow what the app chooses to answer.
const (
	// responseKeep is how much of an answer's body an attempt keeps.
	responseKeep = 1024
	// headersKeep is how many header names of an answer are kept; the
	// rest are dropped in name order, so that the record is the same for the
	// same answer.
	headersKeep = 32
	// headerValueKeep is how many bytes of each header value are kept.
	headerValueKeep = 256
	// headerValuesKeep is how many values of one header name are kept.
	headerValuesKeep = 4
)

// sentRequest is the record of the request weir sent. The headers come from
// the signer (webhook-id, webhook-timestamp, webhook-signature) and weir
// itself: the secret is never among them, only signatures made with it.
func sentRequest(req *http.Request) *deadletter.Request {
	return &deadletter.Request{Method: req.Method, URL: req.URL.String(), Headers: boundHeaders(req.Header)}
}

// boundHeaders copies h within the bounds above.
func boundHeaders(h http.Header) map[string][]string {
	if len(h) == 0 {
		return nil
	}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	names = names[:min(len(names), headersKeep)]
	out := make(map[string][]string, len(names))
	for _, k := range names {
		vs := h[k][:min(len(h[k]), headerValuesKeep)]
		kept := make([]string, len(vs))
		for i, v := range vs {
			kept[i] = cutUTF8([]byte(v), headerValueKeep)
		}
		out[cutUTF8([]byte(k), headerValueKeep)] = kept
	}
	return out
}

// cutUTF8 keeps at most n bytes of b, ending at a whole UTF-8 character, and
// replaces each run of invalid bytes with U+FFFD so that the record is text
// (a binary answer can at most triple in size this way).
func cutUTF8(b []byte, n int) string {
	b = b[:min(len(b), n)]
	// A character split by the cut (or by the reader's limit) is dropped whole.
	if i := lastStart(b); i >= 0 && !utf8.FullRune(b[i:]) {
		b = b[:i]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// lastStart is the index where the last character of b starts, or -1 when
// none of its last bytes can start one.
func lastStart(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return -1
}
