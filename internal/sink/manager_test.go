package sink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/weirtest"
)

// pickies is a provider of kind clickhouse whose sinks are pickies, one
// store per sink name shared by the sinks built for it, so that a test
// reads what every runner of a sink stored.
type pickies struct {
	mu     sync.Mutex
	stores map[string]*picky
}

func (p *pickies) Kind() string { return "clickhouse" }

func (p *pickies) New(spec *config.Sink, deps Deps) (Sink, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stores[deps.Name]
	if s == nil {
		s = &picky{rows: map[string]int{}}
		p.stores[deps.Name] = s
	}
	s.mu.Lock()
	s.batching = Batching{MaxRows: spec.ClickHouse.Batch.MaxRows, MaxWait: spec.ClickHouse.Batch.MaxWait.D()}
	s.mu.Unlock()
	return s, nil
}

func (p *pickies) store(name string) *picky {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stores[name]
}

func chSink(types ...string) *config.Sink {
	return &config.Sink{Types: types, ClickHouse: &config.ClickHouseSink{Addr: "localhost:9000", Password: "s3cret",
		Batch: config.SinkBatch{MaxRows: 10, MaxWait: config.Duration(20 * time.Millisecond)}}}
}

func TestManagerRunsConfigAndAPISinks(t *testing.T) {
	t.Parallel()
	b, dead := openBus(t)
	prov := &pickies{stores: map[string]*picky{}}
	reg := prometheus.NewRegistry()
	m, err := NewManager(b, ManagerConfig{Sinks: map[string]*config.Sink{"all": chSink("order.>")}, Registry: NewRegistry(prov),
		DeadLetters: dead, Log: weirtest.Logger(t)}, NewMetrics(reg))
	require.NoError(t, err)
	require.NoError(t, m.Start(t.Context()))
	t.Cleanup(func() { _ = m.Stop(context.Background()) })

	for i := range 20 {
		publishData(t, b, "order.created", fmt.Sprintf("o-%d", i), `{}`)
	}
	weirtest.EventuallyTrue(t, 30*time.Second, func() bool { return len(prov.store("all").stored()) == 20 }, "the config sink loads every event")

	require.ErrorIs(t, m.Create(t.Context(), "all", chSink("order.>"), true), ErrDeclaredInConfig)
	require.ErrorIs(t, m.Delete(t.Context(), "all"), ErrDeclaredInConfig)
	var fe *field.Error
	bad := chSink("order.>")
	bad.ClickHouse.Addr = "nowhere"
	require.ErrorAs(t, m.Create(t.Context(), "api", bad, false), &fe)
	require.Equal(t, "clickhouse.addr", fe.Path)
	require.ErrorAs(t, m.Create(t.Context(), "no good", chSink("order.>"), false), &fe)
	require.Equal(t, "name", fe.Path)

	require.NoError(t, m.Create(t.Context(), "api", chSink("order.created"), false))
	require.ErrorIs(t, m.Create(t.Context(), "api", chSink("order.created"), false), ErrExists)
	weirtest.EventuallyTrue(t, 30*time.Second, func() bool { return len(prov.store("api").stored()) == 20 }, "an API sink starts from all by default")

	v, err := m.Get(t.Context(), "api")
	require.NoError(t, err)
	require.Equal(t, OriginAPI, v.Origin)
	require.Equal(t, "clickhouse", v.Kind)
	require.Equal(t, Masked, v.Spec.ClickHouse.Password)
	require.Equal(t, StateActive, v.State)
	require.EqualValues(t, 20, v.Rows)
	// A definition sent back as read keeps its password.
	require.NoError(t, m.Create(t.Context(), "api", &v.Spec, true))
	m.mu.Lock()
	require.Equal(t, "s3cret", m.sinks["api"].spec.ClickHouse.Password)
	m.mu.Unlock()

	// Paused: events wait on the bus, and the lag shows them.
	require.NoError(t, m.SetState(t.Context(), "api", StateDisabled, "maintenance"))
	publishData(t, b, "order.created", "late", `{}`)
	weirtest.Eventually(t, 30*time.Second, func() error {
		v, err := m.Get(t.Context(), "api")
		if err != nil {
			return err
		}
		if v.State != StateDisabled || v.Lag != 1 || v.Reason != "maintenance" {
			return fmt.Errorf("state %s, lag %d", v.State, v.Lag)
		}
		return nil
	})
	require.NotContains(t, prov.store("api").stored(), "late")
	require.NoError(t, m.SetState(t.Context(), "api", StateActive, ""))
	weirtest.EventuallyTrue(t, 30*time.Second, func() bool { return prov.store("api").stored()["late"] == 1 }, "a resumed sink loads what waited")

	// A replay loads everything since the start again.
	out, err := m.Replay(t.Context(), "api", ReplayFrom{Seq: 1})
	require.NoError(t, err)
	require.EqualValues(t, 1, out.FromSeq)
	require.EqualValues(t, 21, out.Pending)
	weirtest.EventuallyTrue(t, 30*time.Second, func() bool { return prov.store("api").stored()["o-0"] == 2 }, "replayed events are written again")
	_, err = m.Replay(t.Context(), "api", ReplayFrom{})
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "from", fe.Path)
	_, err = m.Replay(t.Context(), "nope", ReplayFrom{Time: time.Now()})
	require.ErrorIs(t, err, ErrNotFound)

	families, err := reg.Gather()
	require.NoError(t, err)
	series := map[string]int{}
	for _, f := range families {
		series[f.GetName()] = len(f.GetMetric())
	}
	require.Equal(t, 2, series["weir_sink_lag"], "a lag per sink")
	require.Equal(t, 2, series["weir_sink_rows_total"], "a row count per sink")

	require.NoError(t, m.Delete(t.Context(), "api"))
	_, err = m.Get(t.Context(), "api")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = b.JetStream().Consumer(t.Context(), bus.EventsStream, ConsumerPrefix+"api")
	require.Error(t, err, "the consumer is deleted with the sink")
	require.ErrorIs(t, m.Delete(t.Context(), "api"), ErrNotFound)
	require.Len(t, m.List(t.Context()), 1)
}

func TestCheckConfigRefusesAnUnknownKind(t *testing.T) {
	t.Parallel()
	err := CheckConfig(NewRegistry(), map[string]*config.Sink{"orders": chSink("order.>")})
	var fe *field.Error
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "sinks.orders.clickhouse", fe.Path)
	require.True(t, errors.Is(err, ErrUnknownKind))
}

// A pause followed at once by a resume ends resumed on this node, even when
// the watcher brings the pause after the node applied its own resume: an
// entry older than what the node applied is not applied over it.
func TestAPauseThatArrivesLateIsNotApplied(t *testing.T) {
	t.Parallel()
	b, dead := openBus(t)
	prov := &pickies{stores: map[string]*picky{}}
	m, err := NewManager(b, ManagerConfig{Sinks: map[string]*config.Sink{"all": chSink("order.>")}, Registry: NewRegistry(prov),
		DeadLetters: dead, Log: weirtest.Logger(t)}, NewMetrics(prometheus.NewRegistry()))
	require.NoError(t, err)
	require.NoError(t, m.Start(t.Context()))
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	kv, err := m.bucket()
	require.NoError(t, err)

	require.NoError(t, m.SetState(t.Context(), "all", StateDisabled, "quick"))
	pause, err := kv.Get(t.Context(), "state.all")
	require.NoError(t, err)
	require.NoError(t, m.SetState(t.Context(), "all", StateActive, ""))
	active, err := kv.Get(t.Context(), "state.all")
	require.NoError(t, err)
	weirtest.EventuallyTrue(t, 30*time.Second, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.revs["state.all"] >= active.Revision()
	}, "the watcher brought the resume")
	m.apply(pause) // the pause again, late: as a watcher behind the node's own write brings it
	v, err := m.Get(t.Context(), "all")
	require.NoError(t, err)
	require.Equal(t, StateActive, v.State)
}
