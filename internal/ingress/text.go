package ingress

import (
	"encoding/json"
	"strconv"
)

func itoa[T int | int64](n T) string { return strconv.FormatInt(int64(n), 10) }

// quote renders s for a sentence, cut short so that a stranger's input cannot
// blow up an error body.
func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strconv.Quote(s)
}

func appendQuoted(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}
