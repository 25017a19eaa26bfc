package server

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// latestPerKey reads the events stored under filter in order and keeps the
// latest state per subject: op r, c or u its after, d deleted, t none.
func latestPerKey(t *testing.T, js jetstream.JetStream, filter string, total uint64) map[string]string {
	t.Helper()
	state := map[string]string{}
	eachStored(t, js, filter, total, func(data []byte) {
		var ev struct {
			Subject string `json:"subject"`
			Data    struct {
				Op    string `json:"op"`
				After *struct {
					V int64 `json:"v"`
				} `json:"after"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal(data, &ev))
		switch ev.Data.Op {
		case "r", "c", "u":
			require.NotNil(t, ev.Data.After, "op %s of %s without after", ev.Data.Op, ev.Subject)
			state[ev.Subject] = fmt.Sprint(ev.Data.After.V)
		case "d":
			delete(state, ev.Subject)
		case "t":
			clear(state)
		}
	})
	return state
}

// The snapshot of a 200,000-row table (snapshotRows) taken while updates,
// inserts and deletes go on ends with the bus's latest state per key equal
// to the table.
func TestPostgresCDCSnapshotUnderWritesEndsEqualToTheTable(t *testing.T) {
	t.Parallel()
	rows := snapshotRows(t)
	pg := weirtest.StartPostgres(t)
	pg.Exec(t, "", fmt.Sprintf(`CREATE TABLE snap (id int8 PRIMARY KEY, v int8 NOT NULL, pad text);
INSERT INTO snap SELECT g, 0, 'row '||g FROM generate_series(1, %d) g;
CREATE TABLE marker (id int PRIMARY KEY)`, rows))

	// The writer runs from before weir starts until the snapshot is over
	// and some more: each transaction updates two rows, inserts one and
	// deletes one.
	stop := make(chan struct{})
	werr := make(chan error, 1)
	written := 0
	go func() {
		rng := rand.New(rand.NewPCG(1, 2))
		next := int64(rows)
		for {
			select {
			case <-stop:
				werr <- nil
				return
			default:
			}
			next++
			a, b, d := rng.Int64N(next)+1, rng.Int64N(next)+1, rng.Int64N(next)+1
			_, err := pg.TryExec("", fmt.Sprintf(`BEGIN;
UPDATE snap SET v = v + 1 WHERE id = %d; UPDATE snap SET v = v + 1 WHERE id = %d;
INSERT INTO snap VALUES (%d, %d, 'new'); DELETE FROM snap WHERE id = %d; COMMIT`, a, b, next, next, d))
			if err != nil {
				werr <- err
				return
			}
			written++
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
			<-werr
		}
	}()

	p, js, base := serveCDC(t, pgCDCYAML(pg, []string{"snap", "marker"}, "snapshot: initial"))
	defer p.Kill()
	client := &http.Client{Timeout: 10 * time.Second}
	weirtest.Eventually(t, 3*time.Minute, func() error {
		req, _ := http.NewRequest("GET", base+"/v1/cdc/shop", nil)
		req.Header.Set("Authorization", "Bearer "+adminSecret)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var st struct {
			State string `json:"state"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			return err
		}
		if st.State != "streaming" {
			return fmt.Errorf("state %q", st.State)
		}
		return nil
	})
	// More writes on the stream after the snapshot.
	floor, _ := countStored(js, "events.db.public.snap")
	weirtest.EventuallyTrue(t, time.Minute, func() bool {
		n, _ := countStored(js, "events.db.public.snap")
		return n > floor+1000
	}, "no changes streamed after the snapshot")
	close(stop)
	require.NoError(t, <-werr)
	require.Positive(t, written)

	// Everything committed before the marker is on the bus once it is.
	pg.Exec(t, "", `INSERT INTO marker VALUES (1)`)
	waitStored(t, js, "events.db.public.marker", 1, 2*time.Minute)
	total, err := countStored(js, "events.db.public.snap")
	require.NoError(t, err)
	t.Logf("%d rows, %d writer transactions, %d events", rows, written, total)
	got := latestPerKey(t, js, "events.db.public.snap", total)

	want := map[string]string{}
	for _, r := range pg.Exec(t, "", `SELECT id, v FROM snap`) {
		want[r[0]] = r[1]
	}
	require.Equal(t, len(want), len(got), "keys on the bus and rows in the table")
	var diff []string
	for k, v := range want {
		if got[k] != v {
			diff = append(diff, fmt.Sprintf("%s: table %s, bus %q", k, v, got[k]))
		}
	}
	require.Empty(t, diff, "first differences: %s", strings.Join(diff[:min(len(diff), 10)], "; "))
}
