package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/cdc"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

// recorder is an Emitter that records what it is given. It stands in for
// the cdc package's Publisher (which publishes to the bus and confirms once
// the bus acknowledged): it confirms each end of transaction at once, or
// only when told (hold).
type recorder struct {
	mu      sync.Mutex
	changes []*cdc.Change
	tables  []*cdc.Table
	hold    bool
	held    []any
	reader  func() *Reader
}

func (e *recorder) Emit(ctx context.Context, c *cdc.Change) error {
	e.mu.Lock()
	e.changes = append(e.changes, c)
	hold := e.hold
	if hold && c.EndOfTx {
		e.held = append(e.held, c.Position)
	}
	e.mu.Unlock()
	if !hold && c.EndOfTx {
		e.reader().Confirm(c.Position)
	}
	return nil
}

func (e *recorder) TableChanged(ctx context.Context, t *cdc.Table) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tables = append(e.tables, t)
	return nil
}

// release confirms what was held.
func (e *recorder) release() {
	e.mu.Lock()
	held := e.held
	e.held = nil
	e.mu.Unlock()
	for _, p := range held {
		e.reader().Confirm(p)
	}
}

func (e *recorder) all() []*cdc.Change {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*cdc.Change(nil), e.changes...)
}

func (e *recorder) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.changes)
}

// waitFor waits until n changes were recorded and returns them.
func (e *recorder) waitFor(t *testing.T, n int) []*cdc.Change {
	t.Helper()
	weirtest.Eventually(t, 30*time.Second, func() error {
		if c := e.count(); c < n {
			return fmt.Errorf("%d of %d changes", c, n)
		}
		return nil
	})
	return e.all()
}

// env is a private PostgreSQL cluster and a KV bucket.
type env struct {
	pg *weirtest.Postgres
	kv jetstream.KeyValue
}

func newEnv(t *testing.T) *env { return newEnvTB(t) }

func newEnvTB(t testing.TB) *env {
	t.Helper()
	log := weirtest.Logger(t)
	b, err := bus.Open(context.Background(), bus.Config{StoreDir: t.TempDir(), Replicas: 1, MaxAge: time.Hour,
		DedupeWindow: time.Hour, MaxPayload: 8 << 20, Name: "test"}, log)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	kv, err := b.JetStream().CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: "cdc"})
	require.NoError(t, err)
	return &env{pg: weirtest.StartPostgres(t), kv: kv}
}

// spec is a cdc source over tables, with no snapshot unless asked.
func (e *env) spec(snapshot string, tables ...string) *config.CDC {
	ts := map[string]*config.CDCTable{}
	for _, t := range tables {
		ts[t] = &config.CDCTable{}
	}
	if snapshot == "" {
		snapshot = "never"
	}
	return &config.CDC{Postgres: &config.PostgresCDC{DSN: e.pg.DSN(), Tables: ts, Snapshot: snapshot, Heartbeat: config.Duration(200 * time.Millisecond)}}
}

// start builds and starts a reader with a recorder.
func (e *env) start(t *testing.T, spec *config.CDC, rec *recorder) *Reader {
	return e.startTB(t, spec, rec)
}

func (e *env) startTB(t testing.TB, spec *config.CDC, rec *recorder) *Reader {
	t.Helper()
	r, err := New("shop", spec, rec, e.kv, weirtest.Logger(t))
	require.NoError(t, err)
	rec.reader = func() *Reader { return r }
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() { _ = r.Stop(context.Background()) })
	return r
}

// obj decodes a before/after.
func obj(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	if string(raw) == "null" {
		return nil
	}
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m), string(raw))
	return m
}
