package api

import "strconv"

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// quote renders s for a sentence, cut short so that a stranger's input cannot
// blow up an error body.
func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strconv.Quote(s)
}
