package cdc

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/weir-dev/weir/internal/contract"
)

// A table's contract is registered from its columns when the reader first
// sees the table and whenever its shape changes. A compatible change (an
// added nullable column) becomes the type's next version. An incompatible
// one (a dropped or retyped column) must not stop capture: rows keep
// coming from the database whatever the contract says. The registry is not
// forced (that would change the contract's mode for everyone): the change
// is published as it is, the contract keeps its last version, and the
// publisher warns (log, TableState.Incompatible in GET /v1/cdc/{name},
// weir_cdc_incompatible_changes_total) so that the table's subscribers can
// be told. A contract declared in weir.yaml for the type wins: the
// generated schema is not registered.

// TableState is what the publisher knows of a table's contract.
type TableState struct {
	// Table is schema.table; Type the event type.
	Table string `json:"table"`
	Type  string `json:"type"`
	// Version is the contract version the table's events follow (0: none).
	Version int `json:"version,omitempty"`
	// Incompatible is set when the table's latest shape could not be
	// registered because it breaks the contract; Issues says why.
	Incompatible bool     `json:"incompatible,omitempty"`
	Issues       []string `json:"issues,omitempty"`
}

type tables struct {
	mu sync.Mutex
	m  map[string]*TableState
}

// TableChanged registers the contract of t's events when it differs from the
// latest registered version. It fails only when ctx ends: a registry that
// refuses the schema is logged, counted and shown in Tables.
func (p *Publisher) TableChanged(ctx context.Context, t *Table) error {
	typ, err := EventType(p.cfg.Prefix, t)
	if err != nil {
		return err
	}
	st := TableState{Table: t.Schema + "." + t.Name, Type: typ}
	if p.cfg.Contracts != nil {
		schema := TableSchema(t, p.cfg.Numeric)
		var reg *contract.Registered
		err := p.retry(ctx, "register the contract of "+typ, func() error {
			var e error
			reg, e = p.cfg.Contracts.Register(ctx, typ, schema, nil, contract.Meta{
				Origin:      "cdc",
				Description: "Row changes of " + st.Table + " (cdc source " + p.cfg.Name + "), generated from the table's columns.",
			})
			if errors.Is(e, contract.ErrIncompatible) || errors.Is(e, contract.ErrDeclaredInConfig) || errors.Is(e, contract.ErrInvalidSchema) {
				return nil // decided below, not retried
			}
			return e
		})
		if err != nil {
			return err
		}
		p.registered(ctx, &st, reg)
	}
	p.tables.mu.Lock()
	if p.tables.m == nil {
		p.tables.m = map[string]*TableState{}
	}
	if old := p.tables.m[st.Table]; old != nil && st.Version == 0 {
		st.Version = old.Version // still publishing under the old version
	}
	p.tables.m[st.Table] = &st
	p.tables.mu.Unlock()
	return nil
}

// registered records the registry's answer in st.
func (p *Publisher) registered(ctx context.Context, st *TableState, reg *contract.Registered) {
	switch {
	case reg != nil && reg.Version != nil:
		st.Version = reg.Version.Version
		if reg.Created {
			p.cfg.Log.InfoContext(ctx, "cdc: contract version registered", slog.String("source", p.cfg.Name), slog.String("type", st.Type), slog.Int("version", st.Version))
		}
	case reg != nil && reg.Result != nil && !reg.Result.Compatible:
		st.Incompatible = true
		for _, is := range reg.Result.Issues {
			st.Issues = append(st.Issues, is.Pointer+": "+is.Message)
		}
		p.cfg.Metrics.incompatibleChange(p.cfg.Name)
		p.cfg.Log.WarnContext(ctx, "cdc: the table changed incompatibly with its contract; changes keep flowing under the new shape, tell the table's subscribers",
			slog.String("source", p.cfg.Name), slog.String("type", st.Type), slog.Any("issues", st.Issues))
	default:
		p.cfg.Log.InfoContext(ctx, "cdc: contract not generated (declared in weir.yaml, or refused)", slog.String("source", p.cfg.Name), slog.String("type", st.Type))
	}
}

// Tables is the contract state of every table seen, for the API.
func (p *Publisher) Tables() []TableState {
	p.tables.mu.Lock()
	defer p.tables.mu.Unlock()
	out := make([]TableState, 0, len(p.tables.m))
	for _, st := range p.tables.m {
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b TableState) int { return strings.Compare(a.Table, b.Table) })
	return out
}
