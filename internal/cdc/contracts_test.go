package cdc

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/contract"
	"github.com/weir-dev/weir/internal/weirtest"
)

func TestTableChangedRegistersVersions(t *testing.T) {
	t.Parallel()
	b, kv := setup(t)
	ctx := context.Background()
	reg, err := contract.Open(ctx, b.JetStream(), 1, "http://weir.test")
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Stop(ctx) })
	m := NewMetrics(prometheus.NewRegistry())
	p := NewPublisher(b, PublisherConfig{Name: "shop", KV: kv, Contracts: reg, Metrics: m})

	cols := []Column{{Name: "id", Type: "int4", Key: true, NotNull: true}, {Name: "total", Type: "numeric", NotNull: true}}
	require.NoError(t, p.TableChanged(ctx, &Table{Schema: "public", Name: "orders", Columns: cols}))
	require.NoError(t, p.TableChanged(ctx, &Table{Schema: "public", Name: "orders", Columns: cols}))
	require.Equal(t, 1, p.Tables()[0].Version, "the same shape is the same version")

	added := append(append([]Column{}, cols...), Column{Name: "note", Type: "text"})
	require.NoError(t, p.TableChanged(ctx, &Table{Schema: "public", Name: "orders", Columns: added}))
	require.Equal(t, 2, p.Tables()[0].Version, "an added column is a new version")
	weirtest.EventuallyTrue(t, 5*time.Second, func() bool {
		c, ok := reg.Get("db.public.orders")
		return ok && len(c.Versions) == 2
	}, "the registry holds two versions")

	retyped := []Column{{Name: "id", Type: "text", Key: true, NotNull: true}, {Name: "total", Type: "numeric", NotNull: true}, {Name: "note", Type: "text"}}
	require.NoError(t, p.TableChanged(ctx, &Table{Schema: "public", Name: "orders", Columns: retyped}), "capture goes on")
	st := p.Tables()[0]
	require.True(t, st.Incompatible)
	require.NotEmpty(t, st.Issues)
	require.Equal(t, 2, st.Version, "events follow the last registered version")
	var got dto.Metric
	require.NoError(t, m.incompatible.WithLabelValues("shop").Write(&got))
	require.Equal(t, 1.0, got.GetCounter().GetValue())

}

func TestColumnSchemas(t *testing.T) {
	t.Parallel()
	for typ, want := range map[string]string{
		"int8": `{"type":"integer"}`, "numeric": `{"type":"string"}`, "float8": `{"type":"number"}`,
		"bool": `{"type":"boolean"}`, "uuid": `{"format":"uuid","type":"string"}`,
		"timestamptz": `{"format":"date-time","type":"string"}`, "jsonb": `{}`,
		"bytea": `{"contentEncoding":"base64","type":"string"}`, "_int4": `{"items":{"anyOf":[{"type":"integer"},{"type":"null"}]},"type":"array"}`,
		"int(11) unsigned": `{"type":"integer"}`, "tinyint(1)": `{"type":"boolean"}`, "decimal(10,2)": `{"type":"string"}`, "varchar(20)": `{"type":"string"}`,
	} {
		got, _ := json.Marshal(columnSchema(typ, "string"))
		require.JSONEq(t, want, string(got), typ)
	}
	got, _ := json.Marshal(columnSchema("numeric", "number"))
	require.JSONEq(t, `{"type":"number"}`, string(got))
}

func TestTablesTagFollowsTheCapturedTables(t *testing.T) {
	a := TablesTag(map[string]int{"public.orders": 1, "public.items": 2})
	require.Equal(t, a, TablesTag(map[string]int{"public.items": 0, "public.orders": 0}), "the same tables, whatever the map order")
	require.NotEqual(t, a, TablesTag(map[string]int{"public.orders": 1}), "a table less: another tag")
	require.Len(t, a, 12)
}
