package portal_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// An admin's home warns about a cdc source whose slot keeps more WAL than
// its max_retained_wal, and says what to do; other tokens see no cdc.
func TestHomeWarnsAboutRetainedWAL(t *testing.T) {
	t.Parallel()
	pg := weirtest.StartPostgres(t)
	pg.Exec(t, "", `CREATE TABLE orders (id int PRIMARY KEY)`)
	n := startWeir(t, fmt.Sprintf(`
cdc:
  shop:
    postgres: {dsn: %q, snapshot: never, max_retained_wal: 1, tables: {orders: {}}}
  calm:
    postgres: {dsn: %q, snapshot: never, tables: {orders: {}}}
`, pg.DSN(), pg.DSN()))
	b := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, b.signIn(adminSecret).status)
	var body string
	weirtest.Eventually(t, 30*time.Second, func() error {
		a := b.get("/ui/")
		if a.status != http.StatusOK {
			return fmt.Errorf("status %d", a.status)
		}
		body = a.body
		if !containsAll(body, "Change data capture", "cdc source <strong>shop</strong>") {
			return fmt.Errorf("no warning yet")
		}
		return nil
	})
	has(t, body, "more than its max_retained_wal of 1 B")
	has(t, body, "weir cdc status shop")
	hasNot(t, body, "<strong>calm</strong>", "a source under its limit is not warned about")

	orders := newBrowser(t, n.base)
	require.Equal(t, http.StatusSeeOther, orders.signIn(ordersSecret).status)
	hasNot(t, orders.get("/ui/").body, "Change data capture", "cdc is for admins")
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
