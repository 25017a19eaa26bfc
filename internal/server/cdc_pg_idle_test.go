package server

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// metricValue is the value of the sample whose line starts with prefix
// (name and labels) on GET /metrics, or an error.
func metricValue(base, prefix string) (float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), prefix+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return 0, fmt.Errorf("no %s in /metrics", prefix)
}

// A minute without changes to the captured table, while another database
// writes WAL: the heartbeat keeps moving the slot, so that its confirmed
// position passes every WAL position seen before, round after round, and
// weir_cdc_lag_seconds stays small.
func TestPostgresCDCIdleSlotKeepsUpWithHeartbeats(t *testing.T) {
	t.Parallel()
	pg := weirtest.StartPostgres(t)
	pg.Exec(t, "", `CREATE TABLE orders (id int PRIMARY KEY)`)
	pg.Exec(t, "", `CREATE DATABASE other`)
	pg.Exec(t, "other", `CREATE TABLE noise (id serial PRIMARY KEY, pad text)`)
	b := start(t, pgCDCConfig(t, pg, []string{"orders"}, "snapshot: never\nheartbeat: 1s", ""))
	pg.Exec(t, "", `INSERT INTO orders VALUES (1)`)
	waitStored(t, b.srv.Bus().JetStream(), "events.db.public.orders", 1, time.Minute)

	stop := make(chan struct{})
	werr := make(chan error, 1)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				werr <- nil
				return
			case <-tick.C:
			}
			if _, err := pg.TryExec("other", `INSERT INTO noise (pad) SELECT repeat('x', 200) FROM generate_series(1, 20)`); err != nil {
				werr <- err
				return
			}
		}
	}()
	defer func() {
		close(stop)
		require.NoError(t, <-werr)
	}()

	lsn := func(sql string) string { return pg.Exec(t, "", sql)[0][0] }
	idleFor := envInt("WEIR_CDC_IDLE_SECONDS", 60)
	began := time.Now()
	rounds := 0
	for time.Since(began) < time.Duration(idleFor)*time.Second {
		rounds++
		cur := lsn(`SELECT pg_current_wal_lsn()`)
		weirtest.Eventually(t, 30*time.Second, func() error {
			behind := lsn(fmt.Sprintf(`SELECT pg_wal_lsn_diff('%s', confirmed_flush_lsn) FROM pg_replication_slots WHERE slot_name = 'weir_shop'`, cur))
			if n, _ := strconv.ParseFloat(behind, 64); n > 0 {
				return fmt.Errorf("the slot's confirmed position is %s bytes behind %s", behind, cur)
			}
			return nil
		})
		lag, err := metricValue(b.base, `weir_cdc_lag_seconds{source="shop"}`)
		require.NoError(t, err)
		require.Less(t, lag, 5.0, "weir_cdc_lag_seconds while idle")
		// Space the rounds: each one asks for WAL written since the last.
		time.Sleep(5 * time.Second)
	}
	require.GreaterOrEqual(t, rounds, 2)
	retained := lsn(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) FROM pg_replication_slots WHERE slot_name = 'weir_shop'`)
	t.Logf("%d rounds; at the end the slot's confirmed position is %s bytes behind the WAL", rounds, retained)
}
