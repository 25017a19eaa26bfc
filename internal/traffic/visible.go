package traffic

import "github.com/weir-dev/weir/internal/token"

// The rule of what a token may see of the figures, shared by GET /v1/traffic
// and the portal's home page, so that neither shows more than the other.
// Figures are only counts, but the name of a type or a source is already
// something a token outside it should not learn.

// MaySeeType reports whether tok may see the figures of event type typ: an
// admin sees every type; any other token the types its publish or subscribe
// roles cover, and never Other, which mixes everyone's types.
func MaySeeType(tok *token.Token, typ string) bool {
	if tok == nil {
		return false
	}
	return tok.IsAdmin() || (typ != Other && (tok.Can("subscribe", typ) || tok.Can("publish", typ)))
}

// MaySeeSource reports whether tok may see the figures of source src: an
// admin sees every source; any other token only those under its source
// bindings (weir.yaml tokens[].sources). A token bound to no source publishes
// for no source of its own and sees none, and Other is an admin's alone.
func MaySeeSource(tok *token.Token, src string) bool {
	if tok == nil {
		return false
	}
	return tok.IsAdmin() || (src != Other && len(tok.Sources) > 0 && tok.CanSource(src))
}

// MaySeeDeliveries reports whether tok may see deliveries by outcome and the
// totals: they mix every subscription's traffic, so only an admin does.
func MaySeeDeliveries(tok *token.Token) bool { return tok != nil && tok.IsAdmin() }

// For is s cut to what tok may see: the types and sources it may see, keeping
// their order; Outcomes only for an admin (nil otherwise).
func (s Snapshot) For(tok *token.Token) Snapshot {
	out := Snapshot{Since: s.Since, At: s.At, Types: []Series{}, Sources: []Series{}}
	for _, x := range s.Types {
		if MaySeeType(tok, x.Key) {
			out.Types = append(out.Types, x)
		}
	}
	for _, x := range s.Sources {
		if MaySeeSource(tok, x.Key) {
			out.Sources = append(out.Sources, x)
		}
	}
	if MaySeeDeliveries(tok) {
		out.Outcomes = s.Outcomes
	}
	return out
}
