package delivery

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	"github.com/weir-dev/weir/internal/config"
)

// storedSpec is an API subscription as the bucket keeps it under
// spec.<name>: its definition, and who made it. Who made it decides which
// addresses a push subscription may reach (TargetPolicy.Untrusted); the UID
// tells this subscription's dead letters and attempts from those of an
// earlier subscription that had the same name.
type storedSpec struct {
	config.Subscription
	// UID names this incarnation of the subscription: new when the name is
	// created, kept when the definition is replaced.
	UID string `json:"uid,omitempty"`
	// Trusted is set when an admin token wrote the definition last. A
	// definition stored without it (by a token without admin, or by a weir
	// older than this field) is untrusted.
	Trusted bool `json:"trusted,omitempty"`
	// CreatedBy is the name of the token that wrote the definition last.
	CreatedBy string `json:"created_by,omitempty"`
}

// Creator is who creates or replaces a subscription through the API.
type Creator struct {
	// Token is the token's name, kept with the definition.
	Token string
	// Trusted is true for admin tokens: their push subscriptions may reach
	// loopback and private addresses, like those of weir.yaml.
	Trusted bool
	// Covers, when set, says whether the token's roles cover a list of type
	// patterns; a replace of a stored subscription it does not cover is
	// refused with ErrNotCovered.
	Covers func(types []string) bool
}

// Identity is which subscription runs under a name now: enough to decide who
// may see what it, or an earlier subscription of the same name, left behind.
type Identity struct {
	// Name of the subscription.
	Name string
	// UID of this incarnation; see storedSpec.UID.
	UID string
	// Types are the subscription's type patterns.
	Types []string
	// Origin is config or api.
	Origin string
	// Trusted reports whether its push target is checked with the trusted policy.
	Trusted bool
}

// configUID is the UID of a subscription declared in weir.yaml. It is fixed,
// so a restart keeps it; a subscription created through the API under the
// same name later gets a random one, and does not inherit what the declared
// one left behind.
func configUID(name string) string { return "config:" + name }

// newUID names a new incarnation.
func newUID() string { return ulid.Make().String() }

// Identity returns who runs under name now.
func (m *Manager) Identity(name string) (Identity, error) {
	s, err := m.sub(name)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Name: s.name, UID: s.uid, Types: s.spec.Types, Origin: s.origin, Trusted: s.trusted}, nil
}

// readStored reads one stored definition; a definition stored without a UID
// by an older weir is given one here, written back so that every node agrees
// on it.
func (m *Manager) readStored(ctx context.Context, e jetstream.KeyValueEntry) (*storedSpec, error) {
	var st storedSpec
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return nil, err
	}
	if st.UID != "" {
		return &st, nil
	}
	st.UID = newUID()
	raw, _ := json.Marshal(&st)
	if _, err := m.kv.Update(ctx, e.Key(), raw, e.Revision()); err != nil {
		// Another node (or an API call) wrote it first: use what it wrote.
		again, gerr := m.kv.Get(ctx, e.Key())
		if gerr != nil {
			return nil, errors.Join(err, gerr)
		}
		var other storedSpec
		if err := json.Unmarshal(again.Value(), &other); err != nil || other.UID == "" {
			return nil, errors.New("the stored definition has no uid and cannot be given one")
		}
		return &other, nil
	}
	return &st, nil
}

// storedSpec reads the definition stored under name, if there is one that decodes.
func (m *Manager) storedSpec(ctx context.Context, name string) (*storedSpec, bool) {
	e, err := m.kv.Get(ctx, "spec."+name)
	if err != nil {
		return nil, false
	}
	var st storedSpec
	if json.Unmarshal(e.Value(), &st) != nil {
		return nil, false
	}
	return &st, true
}
