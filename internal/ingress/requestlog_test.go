package ingress

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/weirtest"
)

func TestRequestLogCutsWhatSendersChoseAndKeepsTheNewestFirst(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := bus.Open(t.Context(), bus.Config{
		StoreDir: t.TempDir(), Replicas: 1, MaxAge: time.Hour, DedupeWindow: time.Hour, MaxPayload: 8 << 20, Name: "requests",
	}, log)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	l, err := NewRequestLog(b.Conn(), 1, prometheus.NewRegistry(), log)
	require.NoError(t, err)
	require.NoError(t, l.Stop(t.Context()), "a stop before start is harmless")
	l, err = NewRequestLog(b.Conn(), 1, prometheus.NewRegistry(), log)
	require.NoError(t, err)
	require.NoError(t, l.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, l.Stop(context.Background())) })

	huge := strings.Repeat("é", 10_000) // far past the stream's MaxMsgSize
	l.Record("shop", RequestRecord{Outcome: OutcomeRefused, Status: 400, Detail: huge, DeliveryID: huge})
	for i := range 3 {
		l.Record("shop", RequestRecord{Outcome: OutcomeAccepted, Status: 202, EventID: fmt.Sprint(i)})
	}
	var recs []RequestRecord
	weirtest.Eventually(t, 5*time.Second, func() error {
		recs, err = l.Recent(t.Context(), "shop", 10)
		if err == nil && len(recs) != 4 {
			err = fmt.Errorf("%d records", len(recs))
		}
		return err
	})
	require.Equal(t, "2", recs[0].EventID, "newest first")
	require.LessOrEqual(t, len(recs[3].Detail), maxRecordDetail+len("…"))
	require.True(t, strings.HasSuffix(recs[3].DeliveryID, "…"))
	require.True(t, strings.HasPrefix(recs[3].DeliveryID, "éé"), "cut between characters")

	two, err := l.Recent(t.Context(), "shop", 2)
	require.NoError(t, err)
	require.Len(t, two, 2)
	none, err := l.Recent(t.Context(), "quiet", 10)
	require.NoError(t, err)
	require.Empty(t, none)
	_, err = l.Recent(t.Context(), "a.b", 10)
	var fe *field.Error
	require.ErrorAs(t, err, &fe, "a name that is not a subject token is refused")
	require.Equal(t, "source", fe.Path)
}
