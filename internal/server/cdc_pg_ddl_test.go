package server

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/weirtest"
)

// With ddl: trigger, weir registers a table's new contract version as soon
// as an ALTER TABLE commits, with no row change after it; a dropped column
// warns as a relation message's would: tables[].incompatible, the metric
// and the log line.
func TestPostgresCDCDDLTriggerRegistersTheContractAtOnce(t *testing.T) {
	t.Parallel()
	pg := weirtest.StartPostgres(t)
	pg.Exec(t, "", `CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL, note text); INSERT INTO orders VALUES (1, 'new', NULL)`)
	logs := &weirtest.LockedBuffer{}
	b := startLogged(t, pgCDCConfig(t, pg, []string{"orders"}, "ddl: trigger", ""), logs)
	js := b.srv.Bus().JetStream()
	waitStored(t, js, "events.db.public.orders", 1, time.Minute) // the snapshot's row
	versions := func() ([]any, error) {
		r := do(t, sinkRequest(t, "GET", b.base+"/v1/contracts/db.public.orders", adminSecret, ""))
		if r.status != http.StatusOK {
			return nil, fmt.Errorf("%d: %s", r.status, r.raw)
		}
		v, _ := r.body["versions"].([]any)
		return v, nil
	}
	v, err := versions()
	require.NoError(t, err)
	require.Len(t, v, 1)

	pg.Exec(t, "", `ALTER TABLE orders ADD COLUMN total numeric`)
	weirtest.Eventually(t, 30*time.Second, func() error {
		v, err := versions()
		if err != nil {
			return err
		}
		if len(v) != 2 {
			return fmt.Errorf("%d versions", len(v))
		}
		return nil
	})
	v, _ = versions()
	raw, _ := json.Marshal(v[1])
	require.Contains(t, string(raw), "total")
	n, err := countStored(js, "events.db.public.orders")
	require.NoError(t, err)
	require.Equal(t, uint64(1), n, "no row changed")

	pg.Exec(t, "", `ALTER TABLE orders DROP COLUMN note`)
	type table struct {
		Table        string   `json:"table"`
		Version      int      `json:"version"`
		Incompatible bool     `json:"incompatible"`
		Issues       []string `json:"issues"`
	}
	var got table
	weirtest.Eventually(t, 30*time.Second, func() error {
		r := do(t, sinkRequest(t, "GET", b.base+"/v1/cdc/shop", adminSecret, ""))
		var st struct {
			Tables []table `json:"tables"`
		}
		if err := json.Unmarshal(r.raw, &st); err != nil {
			return err
		}
		if len(st.Tables) != 1 || !st.Tables[0].Incompatible {
			return fmt.Errorf("tables: %s", r.raw)
		}
		got = st.Tables[0]
		return nil
	})
	require.Equal(t, "public.orders", got.Table)
	require.Equal(t, 2, got.Version, "events keep the last registered version")
	require.NotEmpty(t, got.Issues)
	m, err := metricValue(b.base, `weir_cdc_incompatible_changes_total{source="shop"}`)
	require.NoError(t, err)
	require.Equal(t, 1.0, m)
	require.Contains(t, logs.String(), "cdc: the table changed incompatibly with its contract")
	v, _ = versions()
	require.Len(t, v, 2)
}

// startLogged is start with weir's warnings written to logs.
func startLogged(t *testing.T, cfg *config.Config, logs io.Writer) *bundle {
	t.Helper()
	return startWithLog(t, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
}
