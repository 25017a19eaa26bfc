package traffic_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/token"
	"github.com/weir-dev/weir/internal/traffic"
)

func keysOf(list []traffic.Series) []string {
	out := []string{}
	for _, s := range list {
		out = append(out, s.Key)
	}
	return out
}

func TestSnapshotForCutsToTheToken(t *testing.T) {
	t.Parallel()
	tc, _ := setup(t, traffic.Options{MaxTypes: 3, MaxSources: 3})
	tc.Accepted("order.created", "/apps/shop")
	tc.Accepted("order.created", "/apps/shop")
	tc.Accepted("payment.captured", "/apps/billing")
	tc.Accepted("invoice.sent", "/apps/billing")
	tc.Accepted("user.signed_up", "/apps/auth") // past the bounds: (other)
	tc.Accepted("user.left", "/apps/people")
	tc.Delivered("delivered")
	snap := tc.Snapshot()

	admin := snap.For(&token.Token{Name: "admin", Roles: []string{"admin"}})
	require.Equal(t, keysOf(snap.Types), keysOf(admin.Types))
	require.Contains(t, keysOf(admin.Types), traffic.Other)
	require.Equal(t, keysOf(snap.Sources), keysOf(admin.Sources))
	require.Equal(t, []string{"delivered"}, keysOf(admin.Outcomes))

	orders := snap.For(&token.Token{Name: "orders", Roles: []string{"subscribe:order.*"}})
	require.Equal(t, []string{"order.created"}, keysOf(orders.Types))
	require.Empty(t, orders.Sources, "a token bound to no source sees none")
	require.Nil(t, orders.Outcomes, "deliveries are an admin's")
	require.Equal(t, snap.At, orders.At)

	publisher := snap.For(&token.Token{Name: "billing", Roles: []string{"publish:*.*"}, Sources: []string{"/apps/billing"}})
	require.NotContains(t, keysOf(publisher.Types), traffic.Other, "(other) mixes everyone's types")
	require.Equal(t, []string{"/apps/billing"}, keysOf(publisher.Sources))

	require.Empty(t, snap.For(nil).Types, "no token sees nothing")
	require.False(t, traffic.MaySeeDeliveries(&token.Token{Roles: []string{"subscribe:>"}}))
}
