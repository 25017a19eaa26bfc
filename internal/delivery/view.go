package delivery

import (
	"context"
	"time"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/delivery/breaker"
)

// maskedSecret stands for a push secret in what the API shows.
const maskedSecret = "whsec_********"

// View is a subscription as the API shows it.
type View struct {
	// Name of the subscription.
	Name string `json:"name"`
	// Origin is config (weir.yaml) or api.
	Origin string `json:"origin"`
	// UID names this incarnation of the subscription; its dead letters carry it.
	UID string `json:"uid"`
	// Trusted is true for subscriptions from weir.yaml or last written by an
	// admin token: their push URL may reach loopback and private addresses.
	Trusted bool `json:"trusted"`
	// Mode is push or pull.
	Mode string `json:"mode"`
	// State is active or disabled; Reason and Since explain it.
	State  string    `json:"state"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	// Lag is how many stored events the subscription has not been handed yet.
	Lag uint64 `json:"lag"`
	// InFlight is how many events are handed out and not yet acknowledged.
	InFlight int `json:"in_flight"`
	// Redelivered counts events handed out more than once, now pending.
	Redelivered int `json:"redelivered"`
	// Breaker is the push endpoint's circuit breaker.
	Breaker *breaker.Snapshot `json:"breaker,omitempty"`
	// RetrySchedule lists the nominal delays between attempts.
	RetrySchedule []string `json:"retry_schedule,omitempty"`
	// Spec is the subscription's definition (secret hidden).
	Spec *config.Subscription `json:"spec"`
}

func (s *Sub) view(ctx context.Context) *View {
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	v := &View{Name: s.name, Origin: s.origin, UID: s.uid, Trusted: s.trusted, Mode: "pull", State: st.State, Reason: st.Reason, Since: st.Since}
	if v.State == "" {
		v.State = StateActive
	}
	spec := *s.spec
	if s.spec.Push != nil {
		v.Mode = "push"
		p := *s.spec.Push
		p.Secret = maskedSecret
		spec.Push = &p
		snap := s.breaker.Snapshot()
		v.Breaker = &snap
		for _, d := range s.backoff.Schedule(p.MaxAttempts) {
			v.RetrySchedule = append(v.RetrySchedule, d.String())
		}
	}
	v.Spec = &spec
	if info, err := s.cons.Info(ctx); err == nil {
		v.Lag = info.NumPending
		v.InFlight = info.NumAckPending
		v.Redelivered = info.NumRedelivered
	}
	return v
}
