package event

import "strings"

// MatchType reports whether event type typ matches pattern, with NATS wildcard
// rules over dot-separated segments: "*" is one segment, a final ">" one or
// more. Types become subjects (events.<type>), so this is the rule the bus
// itself applies to subscriptions.
func MatchType(pattern, typ string) bool {
	for {
		pseg, prest, pmore := strings.Cut(pattern, ".")
		tseg, trest, tmore := strings.Cut(typ, ".")
		switch {
		case pseg == ">" && !pmore:
			return tseg != ""
		case pseg != "*" && pseg != tseg:
			return false
		case pmore != tmore:
			return false
		case !pmore:
			return true
		}
		pattern, typ = prest, trest
	}
}
