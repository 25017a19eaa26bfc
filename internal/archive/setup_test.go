package archive

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/weirtest"
)

// bundle is what most tests need: a real embedded JetStream with the EVENTS
// stream, and a directory for the archive.
type bundle struct {
	bus *bus.Bus
	js  jetstream.JetStream
	dir string
	log *slog.Logger
}

func setup(t *testing.T) *bundle {
	t.Helper()
	log := weirtest.Logger(t)
	b, err := bus.Open(context.Background(), bus.Config{StoreDir: t.TempDir(), Replicas: 1, MaxAge: time.Hour,
		DedupeWindow: time.Hour, MaxPayload: 8 << 20, Name: "test"}, log)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return &bundle{bus: b, js: b.JetStream(), dir: t.TempDir(), log: log}
}

// start runs an archiver over the bundle's bus until the test ends.
func (b *bundle) start(t *testing.T, cfg Config, tune func(a *Archiver)) *Archiver {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = b.dir
	}
	if cfg.FlushEvery == 0 {
		cfg.FlushEvery = 10 * time.Millisecond
	}
	a, err := New(b.js, cfg, b.log)
	require.NoError(t, err)
	if tune != nil {
		tune(a)
	}
	require.NoError(t, a.Start(context.Background()))
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	return a
}

// eventBody is a CloudEvent as ingress would put it on the bus.
func eventBody(typ, id string) []byte {
	return fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"/test","type":%q,"time":%q,"datacontenttype":"application/json","data":{"id":%q}}`,
		id, typ, time.Now().UTC().Format(time.RFC3339Nano), id)
}

func eventMsg(typ, id string) *nats.Msg {
	m := nats.NewMsg(bus.EventsPrefix + typ)
	m.Header.Set(bus.HeaderEventID, id)
	m.Header.Set(bus.HeaderEventType, typ)
	m.Header.Set(bus.HeaderEventSource, "/test")
	m.Data = eventBody(typ, id)
	return m
}

// publish stores one event and returns its stream sequence.
func publish(t *testing.T, js jetstream.JetStream, typ, id string) uint64 {
	t.Helper()
	ack, err := js.PublishMsg(context.Background(), eventMsg(typ, id))
	require.NoError(t, err)
	return ack.Sequence
}

// waitArchived waits until the archiver has committed everything up to seq.
func waitArchived(t *testing.T, a *Archiver, seq uint64) {
	t.Helper()
	require.Eventually(t, func() bool { return a.Status().LastSeq >= seq }, 45*time.Second, 5*time.Millisecond,
		"archived up to %d of %d", a.Status().LastSeq, seq)
}

// readAll collects what Read returns.
func readAll(t *testing.T, cfg Config, from, to time.Time, patterns ...string) []Record {
	t.Helper()
	var out []Record
	require.NoError(t, Read(context.Background(), cfg, from, to, patterns, func(r Record) error {
		out = append(out, r)
		return nil
	}))
	return out
}

func ids(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// segmentFiles lists the segment files under dir, relative and with "/".
func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, segmentExt) {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return err
	}))
	return out
}

// rawLines reads a segment file the way zcat does: every gzip member, whole.
func rawLines(t *testing.T, name string) [][]byte {
	t.Helper()
	f, err := os.Open(name)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	data, err := io.ReadAll(zr)
	require.NoError(t, err, name)
	if len(data) == 0 {
		return nil
	}
	require.Equal(t, byte('\n'), data[len(data)-1], "%s ends with a newline", name)
	return bytes.Split(data[:len(data)-1], []byte{'\n'})
}

// lineID is the id of one archived line.
func lineID(t *testing.T, l []byte) string {
	t.Helper()
	var ev struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal(l, &ev), "%s", l)
	return ev.ID
}
