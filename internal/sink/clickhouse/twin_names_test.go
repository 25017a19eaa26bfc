package clickhouse

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/sink"
	"github.com/weir-dev/weir/internal/view"
)

// compile compiles views for a sink's Deps.
func compile(t testing.TB, views map[string]*config.View) map[string]*view.Spec {
	t.Helper()
	out := map[string]*view.Spec{}
	for name, v := range views {
		s, err := view.Compile(name, v)
		require.NoError(t, err)
		out[name] = s
	}
	return out
}

func TestTwinViewsAreTheViewsASinkCovers(t *testing.T) {
	t.Parallel()
	views := compile(t, map[string]*config.View{
		"orders":   {Kind: config.ViewLatest, Types: []string{"order.*"}, Key: "/id"},
		"paid":     {Kind: config.ViewCount, Types: []string{"order.paid"}},
		"mixed":    {Kind: config.ViewCount, Types: []string{"order.paid", "user.created"}},
		"everyone": {Kind: config.ViewCount, Types: []string{">"}},
	})
	ch := &config.ClickHouseSink{Addr: "localhost"}
	require.Equal(t, []string{"everyone", "mixed", "orders", "paid"}, TwinViews(&config.Sink{Types: []string{">"}, ClickHouse: ch}, views))
	require.Equal(t, []string{"orders", "paid"}, TwinViews(&config.Sink{Types: []string{"order.>"}, ClickHouse: ch}, views))
	require.Equal(t, []string{"mixed", "paid"}, TwinViews(&config.Sink{Types: []string{"order.paid", "user.*"}, ClickHouse: ch}, views))
	require.Empty(t, TwinViews(&config.Sink{Types: []string{"order.created"}, ClickHouse: ch}, views),
		"a sink that sees part of a view's types keeps no twin of it")
	require.Empty(t, TwinViews(&config.Sink{Types: []string{">"}, Filter: "data.test != true", ClickHouse: ch}, views),
		"a filtered sink may not see every event a view takes")
}

func TestByColumnsAreIdentifiers(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"type", "source", "customer_region", "_1st", "a_b", "a_b_6", "id_7", "sum_8"},
		byColumns([]string{"type", "source", "/customer/region", "/1st", "/a-b", "/a_b", "/id", "/sum"}))
}

func TestVersionOrdersLikeTheView(t *testing.T) {
	t.Parallel()
	at := func(sec int64) time.Time { return time.Unix(sec, 0).UTC() }
	// The later time wins, whatever the sequences.
	require.Greater(t, version(at(100), 1, 5), version(at(100), 0, 900))
	require.Greater(t, version(at(101), 0, 1), version(at(100), 999, 1<<40))
	// The same millisecond: the higher sequence wins.
	require.Greater(t, version(at(100), 7, 12), version(at(100), 7, 11))
	// The latest time DateTime holds still fits.
	require.Greater(t, version(at(maxDateTime), 999, 0), version(at(maxDateTime), 998, 1<<seqBits-1))
}

func TestSinkTablesMayNotTakeATwinsName(t *testing.T) {
	t.Parallel()
	views := compile(t, map[string]*config.View{"paid": {Kind: config.ViewCount, Types: []string{"order.paid"}}})
	_, err := New(&config.Sink{Types: []string{">"}, ClickHouse: &config.ClickHouseSink{Addr: "localhost", Table: "weir_view_paid_events"}},
		sink.Deps{Views: views})
	var fe *field.Error
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "clickhouse.table", fe.Path)
}
