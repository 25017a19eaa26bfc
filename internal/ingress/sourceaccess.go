package ingress

import "errors"

// ErrSourceNotYours means a token without the admin role asked to manage a
// source outside its publish roles.
var ErrSourceNotYours = errors.New("only admin tokens manage sources that take their type from the request, set a priority, or whose type the token may not publish")

// Manager is what decides who manages a source: *token.Token.
type Manager interface {
	IsAdmin() bool
	Can(action, typ string) bool
}

// MayManageSource reports whether t may create, change or delete a source
// like spec, and read its request log: admins any source; another token a
// source with one fixed type that its publish roles cover, at normal or low
// priority, so that a citizen developer can wire their own app's webhooks
// without being able to publish what they could not publish through the API
// or jump the load-shedding queue.
func MayManageSource(t Manager, spec SourceSpec) bool {
	if t.IsAdmin() {
		return true
	}
	if spec.Type == "" || spec.TypeFrom != "" || spec.Priority == "essential" {
		return false
	}
	return t.Can("publish", spec.Type)
}
