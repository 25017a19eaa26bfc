package deadletter

import (
	"cmp"
	"context"
	"slices"
)

// MaxGroupScan is how many dead letters Groups reads at most, newest
// first: each is one read from the bucket, and a grouping is asked for by
// people looking at a page, so its cost must not follow the bucket's size.
const MaxGroupScan = 10000

// Group is every scanned dead letter of one cause.
type Group struct {
	Cause
	// Count is how many of the scanned dead letters have this cause.
	Count int `json:"count"`
	// ExampleID is the id of the newest of them, to open as an example.
	ExampleID string `json:"example_id"`
}

// Grouping is what Groups found.
type Grouping struct {
	// Groups, the largest first (ties by cause key).
	Groups []Group `json:"groups"`
	// Scanned is how many dead letters were read.
	Scanned int `json:"scanned"`
	// Truncated says older dead letters were left unread: the counts
	// cover only the newest Scanned ones.
	Truncated bool `json:"truncated"`
}

// Groups counts the dead letters that pass f by cause (see CauseOf),
// reading at most maxScan of them, newest first (MaxGroupScan when maxScan
// is out of 1..MaxGroupScan). f.Limit is ignored; f.Before and every other
// field, f.Visible included, apply as in List, so that a group's Cause
// added to f lists exactly that group.
func (s *Store) Groups(ctx context.Context, f Filter, maxScan int) (*Grouping, error) {
	if maxScan <= 0 || maxScan > MaxGroupScan {
		maxScan = MaxGroupScan
	}
	keys, err := s.keysNewestFirst(ctx, f.Before)
	if err != nil {
		return nil, err
	}
	out := &Grouping{Groups: []Group{}}
	if len(keys) > maxScan {
		keys, out.Truncated = keys[:maxScan], true
	}
	index := map[string]int{}
	all, err := s.getMany(ctx, keys)
	if err != nil {
		return nil, err
	}
	for _, d := range all {
		out.Scanned++
		if !f.match(d) {
			continue
		}
		c := CauseOf(d)
		i, ok := index[c.Key]
		if !ok {
			i = len(out.Groups)
			index[c.Key] = i
			out.Groups = append(out.Groups, Group{Cause: c, ExampleID: d.ID})
		}
		out.Groups[i].Count++
	}
	slices.SortStableFunc(out.Groups, func(a, b Group) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Key, b.Key))
	})
	return out, nil
}
