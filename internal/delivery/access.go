package delivery

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"

	"github.com/weir-dev/weir/internal/field"
)

// Access is what delivery needs to know of whoever asks (a *token.Token):
// the API and the portal pass the same value, so that both apply the same
// rules of who may see, create and replay what.
type Access interface {
	// CanSubscribe reports whether the caller may read events of every pattern.
	CanSubscribe(patterns []string) bool
	// IsAdmin reports whether the caller is an administrator.
	IsAdmin() bool
}

// MayRead reports whether a may see, pause, resume, replay or delete the
// subscription v: its subscribe roles cover every type pattern of it.
func MayRead(a Access, v *View) bool { return a.CanSubscribe(v.Spec.Types) }

// Visible returns the subscriptions a may see, by name. Those it may not see
// are left out rather than shown redacted: their names are not its business.
func (m *Manager) Visible(ctx context.Context, a Access) []*View {
	out := []*View{}
	for _, v := range m.List(ctx) {
		if MayRead(a, v) {
			out = append(out, v)
		}
	}
	return out
}

// CreatorFor is the Creator of a subscription written by the token named
// name: an admin's push URLs may reach private addresses, and a replace is
// checked against the types the caller's roles cover.
func CreatorFor(name string, a Access) Creator {
	return Creator{Token: name, Trusted: a.IsAdmin(), Covers: a.CanSubscribe}
}

// MayReplay reports whether a may see or cancel replay rp: it may read the
// replay's subscription; once that subscription is gone (deleted, or replaced
// by a new one of the same name), the types it had decide.
func (m *Manager) MayReplay(ctx context.Context, a Access, rp *Replay) bool {
	types := rp.Types()
	if v, err := m.Get(ctx, rp.Subscription); err == nil && v.UID == rp.SubscriptionUID() {
		types = v.Spec.Types
	}
	if len(types) == 0 {
		return a.IsAdmin() // CanSubscribe covers an empty list
	}
	return a.CanSubscribe(types)
}

// MaxReplayRate bounds the events per second a replay may ask for.
const MaxReplayRate = 100000

// ParseReplayRequest reads a replay's range as people write it: from and to
// each an RFC 3339 time or a stream sequence (a whole number from 1), either
// empty; rate in events per second (0 takes the default). A refused value is
// a *field.Error naming from, to or rate.
func ParseReplayRequest(from, to string, rate int, fromArchive bool) (ReplayRequest, error) {
	req := ReplayRequest{Rate: rate, FromArchive: fromArchive}
	for _, p := range []struct {
		name, in string
		t        *time.Time
		seq      *uint64
	}{{"from", from, &req.From, &req.FromSeq}, {"to", to, &req.To, &req.ToSeq}} {
		if p.in == "" {
			continue
		}
		if t, err := time.Parse(time.RFC3339, p.in); err == nil {
			*p.t = t
			continue
		}
		var n uint64
		if err := json.Unmarshal([]byte(p.in), &n); err == nil && n > 0 {
			*p.seq = n
			continue
		}
		return ReplayRequest{}, field.Errorf(p.name, "%s is neither an RFC 3339 time nor a stream sequence", quote(p.in))
	}
	if rate < 0 || rate > MaxReplayRate {
		return ReplayRequest{}, field.Errorf("rate", "events per second, from 1 to %d", MaxReplayRate)
	}
	return req, nil
}

// quote renders s for a sentence, cut short so that a stranger's input cannot
// blow up an error message.
func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strconv.Quote(s)
}

// NewPushSecret returns a fresh Standard Webhooks signing secret
// (whsec_ and 32 random bytes in base64), for a push subscription whose
// creator lets weir choose one.
func NewPushSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error (Go 1.24+)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}
