package delivery

import (
	"fmt"
	"strings"

	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/token"
)

// MayHandle is the one rule of who may see and handle a dead letter, for
// listings, groupings, reads, redrives and resolutions alike, in the API
// and the portal (docs/history.md):
//   - admin tokens: every dead letter;
//   - a quarantined event: tokens whose publish roles cover its type;
//   - an undeliverable event: tokens whose subscribe roles cover both the
//     event's own type and the types of the subscription that gave up on it,
//     while that very subscription exists. A subscription deleted and created
//     again under the same name is another one (another UID) and does not
//     inherit the dead letters; neither do dead letters stored before weir
//     kept the UID, which only admins see.
func (m *Manager) MayHandle(t *token.Token, d *deadletter.DeadLetter) bool {
	if t.IsAdmin() {
		return true
	}
	if d.Kind == "quarantined" {
		return t.Can("publish", d.EventType)
	}
	if d.SubscriptionUID == "" || !t.Can("subscribe", d.EventType) {
		return false
	}
	id, err := m.Identity(d.Subscription)
	return err == nil && id.UID == d.SubscriptionUID && t.CanSubscribe(id.Types)
}

// VisibleTo is MayHandle for t in the form deadletter.Filter.Visible
// takes: nil (no check) for an admin token.
func (m *Manager) VisibleTo(t *token.Token) func(*deadletter.DeadLetter) bool {
	if t.IsAdmin() {
		return nil
	}
	return func(d *deadletter.DeadLetter) bool { return m.MayHandle(t, d) }
}

// MayFilterBy checks a subscription= filter of a dead-letter listing,
// grouping or bulk redrive: a token without admin may only name a
// subscription that exists (ErrNotFound) and that its roles cover
// (ErrNotCovered), as it could read it; admins may name any, deleted ones
// included. An empty name filters nothing and passes.
func (m *Manager) MayFilterBy(t *token.Token, name string) error {
	if name == "" || t.IsAdmin() {
		return nil
	}
	id, err := m.Identity(name)
	if err != nil {
		return ErrNotFound
	}
	if !t.CanSubscribe(id.Types) {
		return fmt.Errorf("%w: %s", ErrNotCovered, strings.Join(id.Types, ", "))
	}
	return nil
}
