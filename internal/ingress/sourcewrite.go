package ingress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/field"
)

// appliedWait bounds how long a change waits to be served by this node
// before its answer; the change is stored either way and is served as soon
// as the bucket's follower sees it.
const appliedWait = 5 * time.Second

// Create adds a source. Without secrets in spec (and a scheme that signs),
// weir generates one and returns it in Created.Secret: the only time it is
// shown. by names who creates it (a token's name). The source takes requests
// on this node when Create returns, and on the others within moments.
//
// Errors: a *field.Error for a bad spec (its path relative to the source:
// "name", "verify.scheme" ...), ErrSourceDeclaredInConfig, ErrSourceExists,
// ErrTooManySources, or one wrapping bus.ErrUnavailable.
func (s *Sources) Create(ctx context.Context, spec SourceSpec, by string) (Created, error) {
	name := spec.Name
	if name == "" {
		return Created{}, field.Errorf("name", "required")
	}
	if _, ok := s.cfg.Config.Sources[name]; ok {
		return Created{}, refuse(ErrSourceDeclaredInConfig, "a source named %q is declared in weir.yaml; choose another name", name)
	}
	s.mu.RLock()
	_, exists := s.api[name]
	n := len(s.api)
	s.mu.RUnlock()
	if exists {
		return Created{}, refuse(ErrSourceExists, "a source named %q exists already; use PUT /v1/sources/%s to replace it", name, name)
	}
	if n >= s.cfg.MaxSources {
		return Created{}, refuse(ErrTooManySources, "there are %d sources created through the API, the most allowed; delete one first", n)
	}
	secret := fillSecret(&spec)
	if _, err := s.compile(name, spec); err != nil {
		return Created{}, err
	}
	now := time.Now().UTC()
	st := &storedSource{Spec: spec, CreatedBy: by, CreatedAt: now, UpdatedAt: now}
	raw, err := json.Marshal(st)
	if err != nil {
		return Created{}, err
	}
	rev, err := s.kv.Create(ctx, name, raw)
	switch {
	case errors.Is(err, jetstream.ErrKeyExists):
		return Created{}, refuse(ErrSourceExists, "a source named %q exists already; use PUT /v1/sources/%s to replace it", name, name)
	case err != nil:
		return Created{}, fmt.Errorf("%w: store source %q: %v", bus.ErrUnavailable, name, err)
	}
	s.awaitApplied(ctx, func() bool { st, ok := s.api[name]; return ok && st.rev >= rev })
	st.rev = rev
	return Created{SourceView: s.view(name, st), Secret: secret}, nil
}

// Replace changes an API source to spec. Without secrets in spec it keeps
// the source's secrets if the scheme stays the same, and otherwise generates
// a new one, returned in Created.Secret once. Errors are Create's, and
// ErrSourceNotFound.
func (s *Sources) Replace(ctx context.Context, name string, spec SourceSpec, by string) (Created, error) {
	if spec.Name != "" && spec.Name != name {
		return Created{}, field.Errorf("name", "the body's name %q differs from the source's %q", spec.Name, name)
	}
	spec.Name = name
	if _, ok := s.cfg.Config.Sources[name]; ok {
		return Created{}, refuse(ErrSourceDeclaredInConfig, "source %q is declared in weir.yaml, which owns it; change it there", name)
	}
	e, err := s.kv.Get(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return Created{}, refuse(ErrSourceNotFound, "there is no source named %q", name)
	case err != nil:
		return Created{}, fmt.Errorf("%w: read source %q: %v", bus.ErrUnavailable, name, err)
	}
	var old storedSource
	if err := json.Unmarshal(e.Value(), &old); err != nil {
		return Created{}, fmt.Errorf("read source %q: %w", name, err)
	}
	if len(spec.Verify.Secrets) == 0 && spec.Verify.Scheme == old.Spec.Verify.Scheme {
		spec.Verify.Secrets = slices.Clone(old.Spec.Verify.Secrets)
	}
	secret := fillSecret(&spec)
	if _, err := s.compile(name, spec); err != nil {
		return Created{}, err
	}
	st := &storedSource{Spec: spec, CreatedBy: old.CreatedBy, CreatedAt: old.CreatedAt, UpdatedAt: time.Now().UTC()}
	raw, err := json.Marshal(st)
	if err != nil {
		return Created{}, err
	}
	// Compare and set: a change made meanwhile on another node is not
	// overwritten unseen.
	rev, err := s.kv.Update(ctx, name, raw, e.Revision())
	switch {
	case errors.Is(err, jetstream.ErrKeyExists):
		return Created{}, refuse(ErrSourceChanged, "source %q changed meanwhile; read it again and retry", name)
	case err != nil:
		return Created{}, fmt.Errorf("%w: store source %q: %v", bus.ErrUnavailable, name, err)
	}
	s.awaitApplied(ctx, func() bool { st, ok := s.api[name]; return ok && st.rev >= rev })
	st.rev = rev
	return Created{SourceView: s.view(name, st), Secret: secret}, nil
}

// Delete removes an API source; it stops taking requests on every node.
// Errors: ErrSourceDeclaredInConfig, ErrSourceNotFound, or one wrapping
// bus.ErrUnavailable.
func (s *Sources) Delete(ctx context.Context, name string) error {
	if _, ok := s.cfg.Config.Sources[name]; ok {
		return refuse(ErrSourceDeclaredInConfig, "source %q is declared in weir.yaml, which owns it; remove it there", name)
	}
	s.mu.RLock()
	_, ok := s.api[name]
	s.mu.RUnlock()
	if !ok {
		return refuse(ErrSourceNotFound, "there is no source named %q", name)
	}
	if err := s.kv.Delete(ctx, name); err != nil {
		return fmt.Errorf("%w: delete source %q: %v", bus.ErrUnavailable, name, err)
	}
	s.awaitApplied(ctx, func() bool { _, ok := s.api[name]; return !ok })
	// A later source of the same name starts with an empty log.
	if err := s.cfg.Requests.Forget(ctx, name); err != nil {
		s.log.WarnContext(ctx, "the request log of a deleted source was not purged", slog.String("source", name), slog.Any("error", err))
	}
	return nil
}

// fillSecret generates a secret when spec has none and its scheme signs.
func fillSecret(spec *SourceSpec) string {
	if len(spec.Verify.Secrets) > 0 || !needsSecret(spec.Verify.Scheme) {
		return ""
	}
	sec := newSecret()
	spec.Verify.Secrets = []string{sec}
	return sec
}

// awaitApplied waits until done holds (under the read lock) for the
// bucket's follower, so that this node serves a change before it is
// answered; at most appliedWait, or until ctx ends.
func (s *Sources) awaitApplied(ctx context.Context, done func() bool) {
	timer := time.NewTimer(appliedWait)
	defer timer.Stop()
	for {
		s.mu.RLock()
		ok, changed := done(), s.changed
		s.mu.RUnlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// RotateSecret gives the API source name a new generated secret, returned
// once in Created.Secret. With keepOld the source's current first secret
// stays valid next to it, so that the sender can switch without a refused
// request (until the next rotation drops it); without, it stops at once, as
// after a leak. It is Replace with the source's own spec and new secrets, so
// its errors are Replace's, and a *field.Error for verify.scheme when the
// source is unsigned (scheme none has no secret). The spec is this node's
// view: a change another node stored a moment before may be undone.
func (s *Sources) RotateSecret(ctx context.Context, name string, keepOld bool, by string) (Created, error) {
	if _, ok := s.cfg.Config.Sources[name]; ok {
		return Created{}, refuse(ErrSourceDeclaredInConfig, "source %q is declared in weir.yaml, which owns it; change its secrets there", name)
	}
	s.mu.RLock()
	st, ok := s.api[name]
	var spec SourceSpec
	if ok {
		spec = st.Spec
		spec.Verify.Secrets = slices.Clone(st.Spec.Verify.Secrets)
	}
	s.mu.RUnlock()
	if !ok {
		return Created{}, refuse(ErrSourceNotFound, "there is no source named %q", name)
	}
	if !needsSecret(spec.Verify.Scheme) {
		return Created{}, field.Errorf("verify.scheme", "source %q is unsigned (scheme %s): it has no secret to rotate", name, spec.Verify.Scheme)
	}
	secret := newSecret()
	secrets := []string{secret}
	if keepOld && len(spec.Verify.Secrets) > 0 {
		secrets = append(secrets, spec.Verify.Secrets[0])
	}
	spec.Verify.Secrets = secrets
	c, err := s.Replace(ctx, name, spec, by)
	if err != nil {
		return Created{}, err
	}
	c.Secret = secret
	return c, nil
}
