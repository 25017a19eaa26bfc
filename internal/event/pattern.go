package event

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// maxTypeLen is the longest event type weir accepts.
const maxTypeLen = 200

// typeToken is one dot-separated segment of an event type.
var typeToken = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ValidType reports why t cannot be an event type, or nil. Types become NATS
// subjects (events.<type>), so each dot-separated segment is letters, digits,
// '-' or '_'.
func ValidType(t string) error {
	if t == "" {
		return errors.New("is empty")
	}
	if len(t) > maxTypeLen {
		return fmt.Errorf("is longer than %d characters", maxTypeLen)
	}
	for seg := range strings.SplitSeq(t, ".") {
		if !typeToken.MatchString(seg) {
			return fmt.Errorf("%q is not a valid event type: use dot-separated segments of letters, digits, '-' and '_' (e.g. order.created)", t)
		}
	}
	return nil
}

// ValidPattern reports why p cannot be a type pattern, or nil. A pattern is a
// type whose segments may be "*" (one segment), and whose last may be ">" (one
// or more).
func ValidPattern(p string) error {
	if p == "" {
		return errors.New("is empty")
	}
	segs := strings.Split(p, ".")
	for i, seg := range segs {
		switch {
		case seg == "*":
		case seg == ">" && i == len(segs)-1:
		case typeToken.MatchString(seg):
		default:
			return fmt.Errorf("%q is not a valid type pattern: use segments of letters, digits, '-', '_', '*' for one segment, '>' last for the rest", p)
		}
	}
	return nil
}

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

// MatchAnyType reports whether typ matches one of patterns.
func MatchAnyType(patterns []string, typ string) bool {
	for _, p := range patterns {
		if MatchType(p, typ) {
			return true
		}
	}
	return false
}

// CoversPattern reports whether every type matched by pattern sub is matched
// by pattern p.
func CoversPattern(p, sub string) bool {
	for {
		pseg, prest, pmore := strings.Cut(p, ".")
		sseg, srest, smore := strings.Cut(sub, ".")
		switch {
		case pseg == ">" && !pmore:
			return sseg != ""
		case sseg == ">":
			return false // sub reaches further than p
		case pseg == "*":
		case pseg != sseg:
			return false
		}
		if pmore != smore {
			return false
		}
		if !pmore {
			return true
		}
		p, sub = prest, srest
	}
}

// PatternsOverlap reports whether some event type matches both patterns.
func PatternsOverlap(a, b string) bool {
	for {
		as, arest, amore := strings.Cut(a, ".")
		bs, brest, bmore := strings.Cut(b, ".")
		switch {
		case as == ">" || bs == ">":
			return true
		case as != "*" && bs != "*" && as != bs:
			return false
		case amore != bmore:
			return false
		case !amore:
			return true
		}
		a, b = arest, brest
	}
}

// ReducePatterns leaves out every pattern another one covers (of equal
// ones, the first stays), in the order given: the bus refuses a consumer
// whose filters overlap, and a covered pattern selects nothing more.
func ReducePatterns(patterns []string) []string {
	var kept []string
	for i, p := range patterns {
		covered := false
		for j, q := range patterns {
			if i != j && CoversPattern(q, p) && (!CoversPattern(p, q) || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			kept = append(kept, p)
		}
	}
	return kept
}
