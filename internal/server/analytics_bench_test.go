package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/verify"
	"github.com/weir-dev/weir/internal/weirtest"
)

// e2eRate is the steady rate of BenchmarkClickHouseEndToEnd, in webhooks/s.
const e2eRate = 2000

// e2eMaxWait is the sink's batch.max_wait in BenchmarkClickHouseEndToEnd:
// chosen for latency (the default, 1 s, is chosen for fewer, larger inserts).
const e2eMaxWait = 100 * time.Millisecond

// e2ePoll is how often BenchmarkClickHouseEndToEnd asks ClickHouse which
// events became visible: it bounds the figures' resolution.
const e2ePoll = 20 * time.Millisecond

// BenchmarkClickHouseEndToEnd measures how soon an accepted webhook can be
// read in ClickHouse: b.N signed webhooks are sent to a source at a steady
// 2,000/s, each event's 202 is timed, and a poller asks ClickHouse over HTTP
// every 20 ms which of the accepted events' ids it now holds. Reported: the
// p50, p99 and max of the time from an event's 202 to the first poll that
// saw its row (seconds; the poll interval and the query's own time bound
// the resolution, always upwards), and the rate the webhooks were accepted at.
// The sink writes weir_events with batch.max_wait 100ms. Run it with
// -benchtime 20000x (10 s); scripts/test's short run (-benchtime 200x)
// takes a few seconds, most of them starting ClickHouse.
func BenchmarkClickHouseEndToEnd(b *testing.B) {
	ch := weirtest.StartClickHouse(b)
	bb := startB(b, e2eConfig(b, ch))
	// The sink creates its table when it starts, in the background.
	weirtest.Eventually(b, time.Minute, func() error {
		_, err := ch.TryQuery("SELECT count() FROM weir_events")
		return err
	})
	signer, err := verify.NewSigner(verify.Config{Scheme: "standard-webhooks", Secrets: []string{shopSecret}})
	if err != nil {
		b.Fatal(err)
	}

	n := b.N
	sentAt := make([]time.Time, n)   // when the request went out
	acceptAt := make([]time.Time, n) // when its 202 was read
	ids := make([]string, n)
	accepted := make(chan int, n) // indexes whose 202 came, for the poller
	work := make(chan int, n)
	var senders sync.WaitGroup
	for range 16 {
		senders.Go(func() {
			for i := range work {
				id, err := bb.sendSigned(signer, i, &sentAt[i], &acceptAt[i])
				if err != nil {
					b.Error(err)
					continue
				}
				ids[i] = id
				accepted <- i
			}
		})
	}
	seenAt := make([]time.Time, n)
	polled := make(chan error, 1)
	go func() { polled <- pollVisible(ch, accepted, ids, sentAt, seenAt) }()

	b.ResetTimer()
	start := time.Now()
	for i := range n {
		// The i-th webhook is due at start + i/rate; a sender that falls
		// behind catches up, so the rate holds over the run.
		if d := time.Until(start.Add(time.Duration(i) * time.Second / e2eRate)); d > 0 {
			time.Sleep(d)
		}
		work <- i
	}
	close(work)
	senders.Wait()
	sending := time.Since(start)
	close(accepted)
	if err := <-polled; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()

	lat := make([]time.Duration, 0, n)
	for i := range n {
		if !acceptAt[i].IsZero() {
			lat = append(lat, max(seenAt[i].Sub(acceptAt[i]), 0))
		}
	}
	if len(lat) < n {
		b.Fatalf("%d of %d webhooks accepted", len(lat), n)
	}
	slices.Sort(lat)
	b.ReportMetric(lat[len(lat)/2].Seconds(), "p50-s")
	b.ReportMetric(lat[len(lat)*99/100].Seconds(), "p99-s")
	b.ReportMetric(lat[len(lat)-1].Seconds(), "max-s")
	b.ReportMetric(float64(n)/sending.Seconds(), "accepted/s")
}

// e2eConfig is a server with one Standard Webhooks source and a ClickHouse
// sink of its events into the default table.
func e2eConfig(b *testing.B, ch *weirtest.ClickHouse) *config.Config {
	cfg, err := config.Parse(fmt.Appendf(nil, `
server: {addr: "127.0.0.1:0"}
log: {level: error}
tokens: [{name: admin, secret: bench-admin-token-0123, roles: [admin]}]
sources:
  shop: {verify: {scheme: standard-webhooks, secrets: [%q]}, type: order.created}
sinks:
  warehouse:
    types: [order.*]
    clickhouse: {addr: %q, batch: {max_rows: 10000, max_wait: %s}}
`, shopSecret, ch.NativeAddr, e2eMaxWait), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	cfg.DataDir = b.TempDir()
	return cfg
}

// sendSigned posts the i-th order, signed, to the shop source and returns
// the id of the event it became; it stamps when the request went out and
// when the 202 was read.
func (bb *benchBundle) sendSigned(signer *verify.Signer, i int, sent, accepted *time.Time) (string, error) {
	body := fmt.Appendf(nil, `{"order_id":"o-%d","customer":{"id":"c-%d","email":"c%d@example.com"},"total":%d.99,"currency":"EUR","items":[{"sku":"SKU-%d","qty":%d}],"n":%d}`,
		i, i%977, i%977, i%500, i%100, i%5+1, i)
	req, err := http.NewRequest(http.MethodPost, bb.base+"/in/shop", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	*sent = time.Now()
	h, err := signer.Sign(body, *sent, fmt.Sprintf("msg_e2e_%d", i))
	if err != nil {
		return "", err
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	resp, err := bb.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	*accepted = time.Now()
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("webhook %d: %s: %s", i, resp.Status, raw)
	}
	var res struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &res); err != nil || res.ID == "" {
		return "", fmt.Errorf("webhook %d: no event id in %s", i, raw)
	}
	return res.ID, nil
}

// pollVisible asks ClickHouse every e2ePoll which of the accepted events it
// holds, until it has seen all of them (accepted closed and nothing left) or
// two minutes pass, and stamps seenAt[i] with the end of the first poll
// that returned event i. The query names the ids still unseen, and a lower
// bound on their time column (the second the oldest of them was sent, as
// an event's time is set when weir accepts it) so that ClickHouse reads
// only the last seconds of the table: the answer is exactly the newly
// visible ids, and the query stays small at 2,000/s (a few hundred ids).
func pollVisible(ch *weirtest.ClickHouse, accepted <-chan int, ids []string, sentAt, seenAt []time.Time) error {
	pending := map[string]int{}
	open := true
	tick := time.NewTicker(e2ePoll)
	defer tick.Stop()
	deadline := time.Now().Add(2 * time.Minute)
	var q strings.Builder
	for open || len(pending) > 0 {
		<-tick.C
		if time.Now().After(deadline) {
			return fmt.Errorf("%d accepted events not in ClickHouse after 2 minutes", len(pending))
		}
	take:
		for open {
			select {
			case i, ok := <-accepted:
				if !ok {
					open = false
					break take
				}
				pending[ids[i]] = i
			default:
				break take
			}
		}
		if len(pending) == 0 {
			continue
		}
		oldest := time.Now()
		q.Reset()
		for id, i := range pending {
			if q.Len() > 0 {
				q.WriteByte(',')
			}
			q.WriteString("'" + id + "'") // a ULID: letters and digits only
			if sentAt[i].Before(oldest) {
				oldest = sentAt[i]
			}
		}
		out, err := ch.TryQuery(fmt.Sprintf("SELECT id FROM weir_events WHERE time >= toDateTime(%d) AND id IN (%s)", oldest.Unix()-1, q.String()))
		if err != nil {
			return err
		}
		now := time.Now()
		for id := range strings.FieldsSeq(out) {
			if i, ok := pending[id]; ok {
				seenAt[i] = now
				delete(pending, id)
			}
		}
	}
	return nil
}
