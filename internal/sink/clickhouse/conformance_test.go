package clickhouse

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/sink"
	"github.com/weir-dev/weir/internal/sink/sinktest"
)

// The ClickHouse sink passes the conformance suite every provider passes,
// on a private server per check.
func TestConformance(t *testing.T) {
	t.Parallel()
	sinktest.Run(t, sinktest.Harness{New: func(t *testing.T, b sink.Batching) (sink.Sink, sinktest.Store) {
		spec := &config.Sink{Types: []string{">"}, ClickHouse: &config.ClickHouseSink{
			Batch: config.SinkBatch{MaxRows: b.MaxRows, MaxWait: config.Duration(b.MaxWait)},
		}}
		h := NewHarness(t, spec)
		return h.Sink, store{h}
	}})
}

// store reads what a reader of the events table sees, with FINAL.
type store struct{ h *Harness }

func (s store) Copies(ctx context.Context) (map[string]int, error) {
	out, err := s.h.Server.TryQuery("SELECT id, count() FROM " + s.h.Sink.quoted(s.h.Sink.events) + " FINAL GROUP BY id")
	if err != nil {
		return nil, err
	}
	copies := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		id, n, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		copies[id], _ = strconv.Atoi(n)
	}
	return copies, nil
}

func (s store) Break(*testing.T) { s.h.Break() }
func (s store) Mend(*testing.T)  { s.h.Mend() }
