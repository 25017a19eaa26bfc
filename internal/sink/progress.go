package sink

import (
	"encoding/json"
	"sync"
	"time"
)

// Progress counts what the runners of one sink did; the manager keeps one
// per sink across pauses and changes. It is safe for concurrent use.
type Progress struct {
	mu sync.Mutex
	t  Totals
}

// Totals is a Progress read at one moment.
type Totals struct {
	// Batches and Rows are what the store accepted.
	Batches uint64 `json:"batches_written"`
	Rows    uint64 `json:"rows_written"`
	// DeadLettered are the events that became dead letters of the sink.
	DeadLettered uint64 `json:"rows_dead_lettered"`
	// Failing is true while the last start, read or write failed and is
	// being tried again.
	Failing bool `json:"failing"`
	// LastError and LastErrorAt are the last failure and when it came.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// Totals reads p.
func (p *Progress) Totals() Totals {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.t
}

func (p *Progress) wrote(rows int) {
	p.mu.Lock()
	p.t.Batches++
	p.t.Rows += uint64(rows)
	p.t.Failing = false
	p.mu.Unlock()
}

func (p *Progress) failed(err error) {
	p.mu.Lock()
	p.t.Failing, p.t.LastError, p.t.LastErrorAt = true, err.Error(), time.Now().UTC()
	p.mu.Unlock()
}

func (p *Progress) recovered() {
	p.mu.Lock()
	p.t.Failing = false
	p.mu.Unlock()
}

func (p *Progress) deadLettered() {
	p.mu.Lock()
	p.t.DeadLettered++
	p.mu.Unlock()
}

func jsonValid(b []byte) bool { return json.Valid(b) }

// quoteJSON is b as a JSON string (invalid UTF-8 replaced).
func quoteJSON(b []byte) json.RawMessage {
	out, _ := json.Marshal(string(b))
	return out
}
