package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/weirtest"
)

// The stream's timestamps cannot be chosen, so the test shifts the time the
// archiver files events under: the moment cut (between two batches) becomes
// 11:00 UTC, which puts the first batch in hour 10 and the second in hour 11.
func TestArchiverLayout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	boundary := time.Date(2024, 3, 9, 11, 0, 0, 0, time.UTC)
	var cut time.Time
	// The archiver waits for cut before filing an event under a time.
	cutSet := make(chan struct{})
	var once sync.Once
	setCut := func() { once.Do(func() { cut = time.Now(); close(cutSet) }) }
	a := b.start(t, Config{}, func(a *Archiver) {
		a.eventTime = func(ts time.Time) time.Time {
			<-cutSet
			return boundary.Add(ts.Sub(cut))
		}
	})
	t.Cleanup(setCut) // before Stop, should the test end early

	types := []string{"order.created", "order.paid", "customer.deleted"}
	bodies := map[string][]byte{}
	want := map[string][]string{} // segment -> ids in order
	for i := range 4 {
		for _, typ := range types {
			id := fmt.Sprintf("%s-10-%d", typ, i)
			m := eventMsg(typ, id)
			bodies[id] = m.Data
			_, err := b.js.PublishMsg(context.Background(), m)
			require.NoError(t, err)
			want[typ+"/2024/03/09/10.ndjson.gz"] = append(want[typ+"/2024/03/09/10.ndjson.gz"], id)
		}
	}
	setCut()
	var last uint64
	for i := range 3 {
		for _, typ := range types {
			id := fmt.Sprintf("%s-11-%d", typ, i)
			m := eventMsg(typ, id)
			bodies[id] = m.Data
			ack, err := b.js.PublishMsg(context.Background(), m)
			require.NoError(t, err)
			last = ack.Sequence
			want[typ+"/2024/03/09/11.ndjson.gz"] = append(want[typ+"/2024/03/09/11.ndjson.gz"], id)
		}
	}
	waitArchived(t, a, last)
	a.Stop(context.Background())

	files := segmentFiles(t, b.dir)
	require.ElementsMatch(t, slices.Collect(maps.Keys(want)), files, "one file per type and hour")
	for rel, wantIDs := range want {
		lines := rawLines(t, filepath.Join(b.dir, rel))
		require.Len(t, lines, len(wantIDs), rel)
		for i, l := range lines {
			require.Equal(t, wantIDs[i], lineID(t, l))
			require.Equal(t, string(bodies[wantIDs[i]]), string(l), "a line is the event exactly as on the bus")
		}
	}

	st := a.Status()
	require.Equal(t, last, st.LastSeq)
	require.Zero(t, st.Errors, st.LastError)

	// Read merges the types into time order, and filters by type pattern.
	cfg := Config{Dir: b.dir}
	recs := readAll(t, cfg, boundary.Add(-time.Hour), boundary.Add(time.Hour))
	require.Len(t, recs, 21)
	for i := 1; i < len(recs); i++ {
		require.False(t, recs[i].Time.Before(recs[i-1].Time), "time order")
	}
	require.Equal(t, "order.created-10-0", recs[0].ID)
	require.Equal(t, "customer.deleted-11-2", recs[20].ID)
	require.Len(t, readAll(t, cfg, time.Time{}, time.Time{}, "order.*"), 14)
	require.Len(t, readAll(t, cfg, boundary, time.Time{}, "customer.>"), 3)
	require.Len(t, readAll(t, cfg, time.Time{}, boundary, "*.paid", "customer.deleted"), 8)
}

func TestArchiverCompleteness(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.start(t, Config{}, nil)

	const n = 2000
	types := []string{"order.created", "order.paid", "invoice.sent"}
	futures := make([]jetstream.PubAckFuture, n)
	for i := range n {
		f, err := b.js.PublishMsgAsync(eventMsg(types[i%3], fmt.Sprintf("evt-%04d", i)), jetstream.WithStallWait(5*time.Second))
		require.NoError(t, err)
		futures[i] = f
	}
	bySeq := make([]string, n+1)
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			bySeq[ack.Sequence] = fmt.Sprintf("evt-%04d", i)
		case err := <-f.Err():
			t.Fatal(err)
		case <-time.After(20 * time.Second):
			t.Fatal("no ack")
		}
	}
	waitArchived(t, a, n)
	a.Stop(context.Background())
	a.Stop(context.Background()) // twice is fine

	recs := readAll(t, Config{Dir: b.dir}, time.Time{}, time.Time{})
	require.Equal(t, bySeq[1:], ids(recs), "every event once, in stream order")
	for _, r := range recs {
		require.Contains(t, types, r.Type)
		require.Contains(t, string(r.Event), `"id":"`+r.ID+`"`)
	}
	// Each flush appended a gzip member; zcat reads a segment whole.
	zcat, zcatErr := exec.LookPath("zcat")
	for _, rel := range segmentFiles(t, b.dir) {
		name := filepath.Join(b.dir, rel)
		require.Greater(t, countMembers(t, name), 1, rel)
		if zcatErr == nil {
			out, err := exec.Command(zcat, name).Output()
			require.NoError(t, err)
			require.Equal(t, string(bytes.Join(rawLines(t, name), []byte{'\n'}))+"\n", string(out))
		}
	}

	st := a.Status()
	require.Equal(t, uint64(n), st.LastSeq)
	require.Equal(t, 3, st.Segments)
	require.Zero(t, st.Errors, st.LastError)
}

// A crash during a flush leaves bytes after the committed length: a torn gzip
// member, and whole members whose commit never happened. Start cuts them off,
// and the events they held come again from the bus, once.
func TestArchiverRepairsTornTail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.start(t, Config{}, nil)
	var last uint64
	for i := range 10 {
		last = publish(t, b.js, []string{"a.one", "b.two"}[i%2], fmt.Sprintf("first-%d", i))
	}
	waitArchived(t, a, last)
	a.Stop(context.Background())

	pos, found, err := loadPosition(b.dir)
	require.NoError(t, err)
	require.True(t, found)
	require.Len(t, pos.Files, 2)
	var torn, extra string
	for rel := range pos.Files {
		if torn == "" {
			torn = rel
		} else {
			extra = rel
		}
	}
	// A member cut a few bytes short, as kill -9 in the middle of a write leaves it.
	var member bytes.Buffer
	require.NoError(t, appendMembers(&member, []line{{seq: 99, time: time.Now(), data: eventBody("a.one", "ghost")}}))
	appendFile(t, filepath.Join(b.dir, torn), member.Bytes()[:member.Len()-5])
	// A whole member written after the last commit.
	appendFile(t, filepath.Join(b.dir, extra), member.Bytes())

	// Read stops at the committed length even before the repair.
	require.Len(t, readAll(t, Config{Dir: b.dir}, time.Time{}, time.Time{}), 10)

	a2 := b.start(t, Config{}, nil)
	for rel, n := range pos.Files {
		st, err := os.Stat(filepath.Join(b.dir, rel))
		require.NoError(t, err)
		require.Equal(t, n, st.Size(), "%s cut to its committed length", rel)
		rawLines(t, filepath.Join(b.dir, rel)) // a valid gzip stream again
	}
	for i := range 6 {
		last = publish(t, b.js, []string{"a.one", "b.two"}[i%2], fmt.Sprintf("second-%d", i))
	}
	waitArchived(t, a2, last)
	a2.Stop(context.Background())

	var got []string
	for _, rel := range segmentFiles(t, b.dir) {
		for _, l := range rawLines(t, filepath.Join(b.dir, rel)) {
			got = append(got, lineID(t, l))
		}
	}
	require.Len(t, got, 16)
	require.NotContains(t, got, "ghost")
	recs := readAll(t, Config{Dir: b.dir}, time.Time{}, time.Time{})
	require.Len(t, recs, 16)
	require.Equal(t, "first-0", recs[0].ID)
	require.Equal(t, "second-5", recs[15].ID)
}

func appendFile(t *testing.T, name string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write(data)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// After a restart the consumer delivers newer events before the ones the
// previous run held unacknowledged; the archiver reads those from the stream
// first, so the archive stays in order and whole.
func TestArchiverFillsWhatAnEarlierRunLeftUnacked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var last uint64
	for i := range 50 {
		last = publish(t, b.js, "gap.test", fmt.Sprintf("g-%02d", i))
	}
	a := b.start(t, Config{}, nil)
	waitArchived(t, a, last)
	a.Stop(context.Background())
	for i := 50; i < 80; i++ {
		last = publish(t, b.js, "gap.test", fmt.Sprintf("g-%02d", i))
	}
	// Events delivered on the archive's consumer and never acknowledged are,
	// to the server, what a crashed archiver held in its buffer. A client
	// takes some; the pull request the stopped archiver left open until it
	// expires may take the others.
	cons, err := b.js.Consumer(ctx, "EVENTS", ConsumerName)
	require.NoError(t, err)
	batch, err := cons.Fetch(15, jetstream.FetchMaxWait(time.Second))
	require.NoError(t, err)
	for range batch.Messages() {
	}
	info, err := cons.Info(ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, info.NumAckPending, 15, "delivered and not acknowledged")

	a2 := b.start(t, Config{}, nil)
	waitArchived(t, a2, last)
	a2.Stop(context.Background())
	recs := readAll(t, Config{Dir: b.dir}, time.Time{}, time.Time{})
	want := make([]string, 80)
	for i := range want {
		want[i] = fmt.Sprintf("g-%02d", i)
	}
	require.Equal(t, want, ids(recs))
	require.Zero(t, a2.Status().Errors, a2.Status().LastError)
}

func TestArchiverRefusesSegmentsWithoutPosition(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "a.b", "2024"), 0o755))
	a, err := New(nil, Config{Dir: dir}, weirtest.Logger(t))
	require.NoError(t, err)
	require.ErrorContains(t, a.Start(context.Background()), "no position.json")
	a.Stop(context.Background())
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "archive.dir"},
		{Config{Dir: "x", FlushEvery: -1}, "archive.flush_every"},
		{Config{Dir: "x", S3: &S3Config{Bucket: "b"}}, "archive.s3.endpoint"},
		{Config{Dir: "x", S3: &S3Config{Endpoint: "http://h:9000", Bucket: "b"}}, "archive.s3.endpoint"},
		{Config{Dir: "x", S3: &S3Config{Endpoint: "h:9000"}}, "archive.s3.bucket"},
	} {
		_, err := New(nil, tc.cfg, weirtest.Logger(t))
		require.ErrorContains(t, err, tc.want)
	}
	cfg := Config{Dir: "x"}.WithDefaults()
	require.Equal(t, time.Second, cfg.FlushEvery)
	require.Equal(t, 10*time.Minute, cfg.CloseAfter)
}

// gzipWhole reads a whole gzip stream, every member.
func gzipWhole(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	out, err := io.ReadAll(zr)
	require.NoError(t, err)
	return out
}

// countMembers counts the gzip members of a segment file.
func countMembers(t *testing.T, name string) int {
	t.Helper()
	data, err := os.ReadFile(name)
	require.NoError(t, err)
	br := bufio.NewReader(bytes.NewReader(data))
	zr, err := gzip.NewReader(br)
	require.NoError(t, err)
	n := 0
	for {
		zr.Multistream(false)
		_, err := io.Copy(io.Discard, zr)
		require.NoError(t, err)
		n++
		err = zr.Reset(br)
		if err == io.EOF {
			return n
		}
		require.NoError(t, err)
	}
}

// fill reads a hole from the stream in order, skipping deleted messages: event
// by event for a short hole, in batches for a long one.
func TestFillReadsHolesInOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var last uint64
	for i := range 300 {
		last = publish(t, b.js, "hole.test", fmt.Sprintf("h-%03d", i))
	}
	deleted := map[uint64]bool{3: true, 100: true, 101: true, 250: true, 299: true}
	for seq := range deleted {
		require.NoError(t, b.bus.Events().DeleteMsg(ctx, seq))
	}
	for _, tc := range []struct{ from, upTo uint64 }{{1, last + 1}, {240, 260}, {120, 290}} {
		a, err := New(b.js, Config{Dir: t.TempDir()}, b.log)
		require.NoError(t, err)
		a.next = tc.from
		require.NoError(t, a.fill(ctx, tc.upTo))
		var got []uint64
		for _, ls := range a.buf {
			for _, l := range ls {
				got = append(got, l.seq)
				require.Equal(t, fmt.Sprintf("h-%03d", l.seq-1), lineID(t, l.data))
			}
		}
		var want []uint64
		for seq := tc.from; seq < tc.upTo; seq++ {
			if !deleted[seq] {
				want = append(want, seq)
			}
		}
		require.Equal(t, want, got, "%d..%d", tc.from, tc.upTo)
		require.Equal(t, want[len(want)-1]+1, a.next, "next follows the last event read")
	}

	// The batch reader alone covers a long hole.
	a, err := New(b.js, Config{Dir: t.TempDir()}, b.log)
	require.NoError(t, err)
	a.next = 1
	require.NoError(t, a.scan(ctx, last+1))
	require.Equal(t, last+1, a.next)
	require.Equal(t, 300-len(deleted), a.bufN)
}
