package portal

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/token"
)

func TestChartViewRule(t *testing.T) {
	admin := &token.Token{Name: "admin", Roles: []string{"admin"}}
	orders := &token.Token{Name: "orders", Roles: []string{"subscribe:order.*", "publish:order.created", "read:views"}}
	viewsOnly := &token.Token{Name: "dash", Roles: []string{"read:views"}}
	count := func(types []string, by ...string) config.View {
		return config.View{Kind: config.ViewCount, Types: types, Every: config.Duration(time.Minute), By: by}
	}
	for _, c := range []struct {
		name        string
		v           config.View
		tok         *token.Token
		usable, cut bool
	}{
		{"every type, for an admin", count([]string{">"}), admin, true, false},
		{"every type by source, for an admin", count([]string{">"}, "source"), admin, true, false},
		{"some types do not cover an admin's", count([]string{"order.*"}), admin, false, false},
		{"exactly the token's types", count([]string{"order.*"}), orders, true, false},
		{"more than the token's, by type: cut", count([]string{"order.>", "payment.*"}, "type"), orders, true, true},
		{"more than the token's, not by type", count([]string{">"}, "source"), orders, false, false},
		{"fewer than the token's", count([]string{"order.created"}), orders, false, false},
		{"a filter counts a part", func() config.View { v := count([]string{">"}); v.Filter = "true"; return v }(), admin, false, false},
		{"buckets of 5m", func() config.View { v := count([]string{">"}); v.Every = config.Duration(5 * time.Minute); return v }(), admin, false, false},
		{"a latest view", config.View{Kind: config.ViewLatest, Types: []string{">"}, Key: "/id"}, admin, false, false},
		{"a token that sees no type", count([]string{">"}, "type"), viewsOnly, false, false},
	} {
		usable, cut := chartView(c.v, c.tok)
		require.Equal(t, c.usable, usable, c.name)
		if usable {
			require.Equal(t, c.cut, cut, c.name)
		}
	}
}

func TestDurationText(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Minute: "1m", 90 * time.Minute: "1h30m", time.Hour: "1h", 10 * time.Second: "10s", 90 * time.Second: "1m30s"} {
		require.Equal(t, want, durationText(d))
	}
}
