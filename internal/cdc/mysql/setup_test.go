package mysql

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/cdc"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

// recorder stands in for the core's Publisher (cdc.Emitter, built in the
// cdc package): it keeps every change and every table shape, and confirms a
// transaction at once unless hold is set, in which case Release confirms.
type recorder struct {
	mu      sync.Mutex
	changes []*cdc.Change
	tables  []*cdc.Table
	hold    bool
	held    []any
	reader  *Reader
}

func (e *recorder) Emit(ctx context.Context, c *cdc.Change) error {
	e.mu.Lock()
	e.changes = append(e.changes, c)
	confirm := c.EndOfTx && !e.hold
	if c.EndOfTx && e.hold {
		e.held = append(e.held, c.Position)
	}
	r := e.reader
	e.mu.Unlock()
	if confirm {
		r.Confirm(c.Position)
	}
	return nil
}

func (e *recorder) TableChanged(ctx context.Context, t *cdc.Table) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tables = append(e.tables, t)
	return nil
}

// release confirms the first n held positions.
func (e *recorder) release(n int) {
	e.mu.Lock()
	held := e.held[:n]
	e.held = e.held[n:]
	e.mu.Unlock()
	for _, p := range held {
		e.reader.Confirm(p)
	}
}

func (e *recorder) all() []*cdc.Change {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*cdc.Change{}, e.changes...)
}

func (e *recorder) waitN(t testing.TB, n int) []*cdc.Change {
	t.Helper()
	weirtest.Eventually(t, 60*time.Second, func() error {
		if got := len(e.all()); got < n {
			return fmt.Errorf("%d changes of %d (reader: %+v)", got, n, e.reader.Status(context.Background()))
		}
		return nil
	})
	return e.all()
}

// bundle is one test's database, bucket and reader.
type bundle struct {
	db  *weirtest.MariaDB
	kv  jetstream.KeyValue
	rec *recorder
	r   *Reader
}

func startKV(t testing.TB) jetstream.KeyValue {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: "cdc"})
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func spec(m *weirtest.MariaDB, snapshot string, tables ...string) *config.CDC {
	s := &config.CDC{MySQL: &config.MySQLCDC{DSN: m.DSN(""), ServerID: 1001, Snapshot: snapshot, Tables: map[string]*config.CDCTable{}}}
	for _, t := range tables {
		s.MySQL.Tables[t] = &config.CDCTable{}
	}
	return s
}

// newReader builds and starts a reader on kv with a fresh recorder.
func newReader(t testing.TB, kv jetstream.KeyValue, s *config.CDC, hold bool) (*Reader, *recorder) {
	t.Helper()
	rec := &recorder{hold: hold}
	r, err := New("shop", s, rec, kv, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rec.reader = r
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop(context.Background()) })
	return r, rec
}

// stopOnceSaved waits until the reader saved a position, then stops it: what
// comes after is read by the next reader.
func (b *bundle) stopOnceSaved(t testing.TB) {
	t.Helper()
	weirtest.Eventually(t, 10*time.Second, func() error {
		_, err := b.kv.Get(context.Background(), "shop.position")
		return err
	})
	if err := b.r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func setup(t testing.TB, snapshot string, ddl ...string) *bundle {
	t.Helper()
	m := weirtest.StartMariaDB(t)
	m.Exec(t, append([]string{"CREATE DATABASE shop"}, ddl...)...)
	kv := startKV(t)
	r, rec := newReader(t, kv, spec(m, snapshot, "shop.orders"), false)
	b := &bundle{db: m, kv: kv, rec: rec, r: r}
	weirtest.EventuallyTrue(t, 30*time.Second, func() bool { return r.Status(context.Background()).State == "streaming" }, "not streaming")
	return b
}

func obj(t testing.TB, raw json.RawMessage) map[string]any {
	t.Helper()
	if raw == nil {
		return nil
	}
	var m map[string]any
	d := json.NewDecoder(bytesReader(raw))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return m
}
