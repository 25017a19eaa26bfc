package ingress

import (
	"maps"
	"sync"
	"sync/atomic"
)

// SourceSet is the set of sources POST /in/{source} serves: the ones declared
// in weir.yaml and the ones created through the API. Every request reads it
// and changes are rare, so a change copies the map and readers never lock.
// It is safe for concurrent use.
type SourceSet struct {
	mu sync.Mutex // serialises writers
	m  atomic.Pointer[map[string]*Source]
}

// NewSourceSet returns a set holding sources.
func NewSourceSet(sources ...*Source) *SourceSet {
	m := make(map[string]*Source, len(sources))
	for _, s := range sources {
		m[s.name] = s
	}
	set := &SourceSet{}
	set.m.Store(&m)
	return set
}

// Get returns the source named name.
func (s *SourceSet) Get(name string) (*Source, bool) {
	src, ok := (*s.m.Load())[name]
	return src, ok
}

// Len is the number of sources.
func (s *SourceSet) Len() int { return len(*s.m.Load()) }

// put adds or replaces src.
func (s *SourceSet) put(src *Source) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := maps.Clone(*s.m.Load())
	m[src.name] = src
	s.m.Store(&m)
}

// remove drops the source named name, if any.
func (s *SourceSet) remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := (*s.m.Load())[name]; !ok {
		return
	}
	m := maps.Clone(*s.m.Load())
	delete(m, name)
	s.m.Store(&m)
}
