package sinktest_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/weir-dev/weir/internal/sink"
	"github.com/weir-dev/weir/internal/sink/sinktest"
)

// memory stands in for a store only to test the suite itself; the run
// that matters for a provider is its own (ClickHouse's runs over a real
// server). Like a ReplacingMergeTree read with FINAL, it keeps one row per
// event id however often the id is written.
type memory struct {
	batching sink.Batching
	mu       sync.Mutex
	rows     map[string]int // id -> rows before de-duplication
	broken   bool
	started  int
}

var errBroken = errors.New("the store is unavailable")

func (m *memory) Start(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.started++
	return nil
}

func (m *memory) Write(_ context.Context, batch []sink.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.broken {
		return errBroken
	}
	for _, r := range batch {
		m.rows[r.Event.ID]++
	}
	return nil
}

func (m *memory) Batching() sink.Batching    { return m.batching }
func (m *memory) Stop(context.Context) error { return nil }

func (m *memory) Copies(context.Context) (map[string]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for id := range m.rows {
		out[id] = 1 // the store's de-duplication: one row per id
	}
	return out, nil
}

func (m *memory) Break(*testing.T) { m.mu.Lock(); m.broken = true; m.mu.Unlock() }
func (m *memory) Mend(*testing.T)  { m.mu.Lock(); m.broken = false; m.mu.Unlock() }

func TestSuiteOnMemory(t *testing.T) {
	t.Parallel()
	sinktest.Run(t, sinktest.Harness{New: func(t *testing.T, b sink.Batching) (sink.Sink, sinktest.Store) {
		m := &memory{batching: b, rows: map[string]int{}}
		return m, m
	}})
}
