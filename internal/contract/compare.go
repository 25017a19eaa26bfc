package contract

import (
	"fmt"

	"github.com/weir-dev/weir/internal/contract/compat"
)

// CompareVersions checks version to of typ against version from alone, with
// the contract's mode and leniency: the verdict registering to right after
// from would have had. It lets a reader see why two versions differ in what
// they accept, in either order. A mode of NONE accepts anything, so the
// result then has no issues.
func (r *Registry) CompareVersions(typ string, from, to int) (*Result, error) {
	c, ok := r.Get(typ)
	if !ok || from < 1 || to < 1 || from > len(c.Versions) || to > len(c.Versions) {
		return nil, ErrNotFound
	}
	mode := c.Compatibility
	if mode == "" {
		mode = Backward
	}
	res, err := compat.Check(mode, c.Lenient, c.Versions[to-1].Schema, [][]byte{c.Versions[from-1].Schema})
	if err != nil {
		return nil, fmt.Errorf("compare %s versions %d and %d: %w", typ, from, to, err)
	}
	return &res, nil
}
