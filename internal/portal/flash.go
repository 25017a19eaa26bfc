package portal

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// Bounds of the flash store: a flash not read within flashTTL is dropped, and
// at most flashMax wait at once (the oldest go first), so that a stream of
// POSTs whose redirects are never followed cannot grow memory.
const (
	flashTTL = 10 * time.Minute
	flashMax = 1000
)

// flash is what the page after a POST shows once: a notice, and for a new
// push subscription its signing secret. Reloading that page shows it no more,
// since the flash is taken when read.
type flash struct {
	// Notice is a sentence about what was done.
	Notice string
	// Warn shows the notice as a warning rather than a success.
	Warn bool
	// Secret is a new subscription's signing secret, shown this one time.
	Secret string

	owner   string
	expires time.Time
}

// flashes keeps flashes in memory, on the node that answered the POST: the
// redirect that follows goes back to it on a single node (behind a load
// balancer without affinity, the page may come up without its flash).
type flashes struct {
	mu    sync.Mutex
	now   func() time.Time
	m     map[string]*flash
	order []string
}

// put keeps f for the viewer named owner and returns its id for the redirect.
func (s *flashes) put(owner string, f flash) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*flash{}
	}
	now := s.now()
	for len(s.order) > 0 {
		old, ok := s.m[s.order[0]]
		if ok && len(s.m) < flashMax && now.Before(old.expires) {
			break
		}
		delete(s.m, s.order[0])
		s.order = s.order[1:]
	}
	f.owner, f.expires = owner, now.Add(flashTTL)
	s.m[id] = &f
	s.order = append(s.order, id)
	return id
}

// take returns and forgets the flash id, if owner put it and it is fresh.
func (s *flashes) take(owner, id string) *flash {
	if id == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.m[id]
	if !ok || f.owner != owner || !s.now().Before(f.expires) {
		return nil
	}
	delete(s.m, id)
	return f
}
