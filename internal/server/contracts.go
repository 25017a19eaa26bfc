package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/contract"
)

// declareContracts registers the contracts of weir.yaml: a changed schema file
// becomes the type's next version, checked against the earlier ones; an
// incompatible change stops the start with the explanation.
func (s *Server) declareContracts(ctx context.Context) error {
	for _, typ := range sortedKeys(s.cfg.Contracts) {
		ct := s.cfg.Contracts[typ]
		p := "contracts." + typ
		schema, err := s.cfg.ReadFile(ct.Schema)
		if err != nil {
			return fmt.Errorf("%s.schema: %w", p, err)
		}
		var example []byte
		if ct.Example != "" {
			if example, err = s.cfg.ReadFile(ct.Example); err != nil {
				return fmt.Errorf("%s.example: %w", p, err)
			}
		}
		mode, err := contract.ParseMode(ct.Compatibility)
		if err != nil {
			return fmt.Errorf("%s.compatibility: %w", p, err)
		}
		reg, err := s.contracts.Register(ctx, typ, schema, example, contract.Meta{
			Owner: ct.Owner, Description: ct.Description, Compatibility: mode, Lenient: &ct.Lenient, Origin: "config",
		})
		switch {
		case errors.Is(err, contract.ErrIncompatible):
			var b strings.Builder
			fmt.Fprintf(&b, "%s.schema: %s is not %s compatible with the registered versions of %s:", p, ct.Schema, reg.Result.Mode, typ)
			for _, is := range reg.Result.Issues {
				fmt.Fprintf(&b, "\n  - %s (%s, version %d): %s %s", is.Pointer, is.Rule, is.Against, is.Message, is.Fix)
			}
			return errors.New(b.String())
		case err != nil:
			return fmt.Errorf("%s.schema: %w", p, err)
		}
		if reg.Created {
			s.log.Info("contract version registered", "type", typ, "version", reg.Version.Version)
		}
		if err := s.declareDeprecation(ctx, typ); err != nil {
			return fmt.Errorf("%s.deprecated: %w", p, err)
		}
	}
	return nil
}

// declareDeprecation makes the contract's deprecation match weir.yaml, keeping
// the date it was first deprecated.
func (s *Server) declareDeprecation(ctx context.Context, typ string) error {
	ct := s.cfg.Contracts[typ]
	current, _ := s.contracts.Get(typ)
	var want *contract.Deprecation
	if d := ct.Deprecated; d != nil {
		sunset, err := d.SunsetTime()
		if err != nil {
			return err
		}
		policy := d.Policy
		if policy == "" {
			policy = "warn"
		}
		want = &contract.Deprecation{Since: time.Now().UTC(), Sunset: sunset, Policy: policy, Note: d.Note}
		if current != nil && current.Deprecated != nil {
			want.Since = current.Deprecated.Since
		}
	}
	if current != nil && equalDeprecation(current.Deprecated, want) {
		return nil
	}
	return s.contracts.Deprecate(ctx, typ, 0, want, "config")
}

func equalDeprecation(a, b *contract.Deprecation) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Sunset.Equal(b.Sunset) && a.Policy == b.Policy && a.Note == b.Note
}

// catalog describes this node's events for GET /v1/asyncapi.
func (s *Server) catalog() contract.Catalog {
	cat := contract.Catalog{
		Title:       "weir event catalog",
		Version:     time.Now().UTC().Format("2006.01.02"),
		Description: "Every event type weir carries, with its contract, the webhook sources that send it and the subscriptions that receive it.",
		ServerURL:   s.cfg.PublicURL,
	}
	if cat.ServerURL == "" {
		cat.ServerURL = "http://" + s.listener.Addr().String()
	}
	for _, c := range s.contracts.List() {
		cc := contract.CatalogContract{Type: c.Type, Owner: c.Owner, Description: c.Description}
		if c.Deprecated != nil {
			cc.Deprecated, cc.Sunset = true, c.Deprecated.Sunset
		}
		for _, v := range c.Versions {
			cc.Versions = append(cc.Versions, contract.CatalogVersion{Version: v.Version, Schema: v.Schema, Example: v.Example})
		}
		cat.Contracts = append(cat.Contracts, cc)
	}
	// weir.yaml's sources and those created through the API.
	for _, src := range s.sources.List() {
		cs := contract.CatalogSource{Name: src.Name}
		if src.Type != "" {
			cs.Types = []string{src.Type}
		} else {
			cs.Description = "The event type comes from each request (" + src.TypeFrom + ")."
			cs.TypePrefix = src.TypePrefix
		}
		cat.Sources = append(cat.Sources, cs)
	}
	for _, v := range s.deliv.List(context.Background()) {
		cat.Subscriptions = append(cat.Subscriptions, contract.CatalogSubscription{Name: v.Name, Types: v.Spec.Types, Mode: v.Mode})
	}
	return cat
}
