package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// writeSegment writes members, each a list of lines, as the archiver would.
func writeSegment(t *testing.T, dir, typ string, hour time.Time, members ...[]line) string {
	t.Helper()
	var buf bytes.Buffer
	for _, m := range members {
		require.NoError(t, appendMembers(&buf, m))
	}
	rel := segmentPath(typ, hour)
	name := filepath.Join(dir, filepath.FromSlash(rel))
	require.NoError(t, os.MkdirAll(filepath.Dir(name), 0o755))
	require.NoError(t, os.WriteFile(name, buf.Bytes(), 0o644))
	return rel
}

func ev(typ, id string, seq uint64, at time.Time) line {
	return line{seq: seq, time: at, data: eventBody(typ, id)}
}

func TestReadFiltersAndMerges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h9 := time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC)
	h10 := h9.Add(time.Hour) // the next day, month and year
	at := func(h time.Time, m int) time.Time { return h.Add(time.Duration(m) * time.Minute) }
	writeSegment(t, dir, "order.created", h9,
		[]line{ev("order.created", "oc-1", 1, at(h9, 1)), ev("order.created", "oc-3", 3, at(h9, 30))},
		[]line{ev("order.created", "oc-5", 5, at(h9, 59))})
	writeSegment(t, dir, "order.paid", h9,
		[]line{ev("order.paid", "op-2", 2, at(h9, 10)), ev("order.paid", "op-4", 4, at(h9, 45))})
	writeSegment(t, dir, "order.paid", h10,
		[]line{ev("order.paid", "op-6", 6, at(h10, 0)), ev("order.paid", "op-8", 8, at(h10, 20))})
	writeSegment(t, dir, "customer.vip.deleted", h10,
		[]line{ev("customer.vip.deleted", "cd-7", 7, at(h10, 5))})
	cfg := Config{Dir: dir}

	require.Equal(t, []string{"oc-1", "op-2", "oc-3", "op-4", "oc-5", "op-6", "cd-7", "op-8"},
		ids(readAll(t, cfg, time.Time{}, time.Time{})), "merged into time order across types and hours")

	for _, tc := range []struct {
		name     string
		from, to time.Time
		patterns []string
		want     []string
	}{
		{"from is inclusive, to exclusive", at(h9, 10), at(h10, 5), nil, []string{"op-2", "oc-3", "op-4", "oc-5", "op-6"}},
		{"one hour", h10, h10.Add(time.Hour), nil, []string{"op-6", "cd-7", "op-8"}},
		{"exact type", time.Time{}, time.Time{}, []string{"order.paid"}, []string{"op-2", "op-4", "op-6", "op-8"}},
		{"star is one element", time.Time{}, time.Time{}, []string{"order.*"}, []string{"oc-1", "op-2", "oc-3", "op-4", "oc-5", "op-6", "op-8"}},
		{"star does not span elements", time.Time{}, time.Time{}, []string{"customer.*"}, nil},
		{"gt is one or more at the end", time.Time{}, time.Time{}, []string{"customer.>"}, []string{"cd-7"}},
		{"several patterns", at(h9, 30), time.Time{}, []string{"*.created", "*.*.deleted"}, []string{"oc-3", "oc-5", "cd-7"}},
		{"before everything", time.Time{}, h9, nil, nil},
		{"after everything", at(h10, 21), time.Time{}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := readAll(t, cfg, tc.from, tc.to, tc.patterns...)
			if tc.want == nil {
				require.Empty(t, got)
				return
			}
			require.Equal(t, tc.want, ids(got))
		})
	}

	recs := readAll(t, cfg, at(h10, 5), at(h10, 6))
	require.Len(t, recs, 1)
	require.Equal(t, Record{Type: "customer.vip.deleted", ID: "cd-7", Time: at(h10, 5), Event: recs[0].Event}, recs[0])
	require.Contains(t, string(recs[0].Event), `"id":"cd-7"`)

	stop := errors.New("stop")
	n := 0
	err := Read(context.Background(), cfg, time.Time{}, time.Time{}, nil, func(Record) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 3, n)
}

func TestReadPassesADuplicateLineOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC)
	a, b := ev("x.y", "dup-1", 10, h.Add(time.Minute)), ev("x.y", "dup-2", 11, h.Add(2*time.Minute))
	writeSegment(t, dir, "x.y", h, []line{a, b}, []line{a}, []line{b})
	require.Equal(t, []string{"dup-1", "dup-2"}, ids(readAll(t, Config{Dir: dir}, time.Time{}, time.Time{})))
}

func TestReadSegmentsWithoutIndex(t *testing.T) {
	t.Parallel()
	// A segment written by other means (gzip of NDJSON): the event's own time
	// orders it.
	dir := t.TempDir()
	h := time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC)
	rel := segmentPath("plain.type", h)
	name := filepath.Join(dir, filepath.FromSlash(rel))
	require.NoError(t, os.MkdirAll(filepath.Dir(name), 0o755))
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	fmt.Fprintf(zw, `{"id":"p-2","time":"2024-06-01T08:20:00Z"}`+"\n")
	fmt.Fprintf(zw, `{"id":"p-1","time":"2024-06-01T08:10:00Z"}`+"\n")
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(name, buf.Bytes(), 0o644))
	recs := readAll(t, Config{Dir: dir}, time.Time{}, time.Time{})
	require.Len(t, recs, 2)
	require.Equal(t, h.Add(20*time.Minute), recs[0].Time)
}

func TestReadStopsAtATornMemberAndFailsOnACorruptOne(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC)
	rel := writeSegment(t, dir, "t.t", h, []line{ev("t.t", "ok", 1, h)})
	name := filepath.Join(dir, filepath.FromSlash(rel))
	var torn bytes.Buffer
	require.NoError(t, appendMembers(&torn, []line{ev("t.t", "torn", 2, h.Add(time.Second))}))
	appendFile(t, name, torn.Bytes()[:torn.Len()-3])
	require.Equal(t, []string{"ok"}, ids(readAll(t, Config{Dir: dir}, time.Time{}, time.Time{})))

	data, err := os.ReadFile(name)
	require.NoError(t, err)
	// The member's CRC-32 (the first 4 of its last 8 bytes; the last 3 of the
	// member are still missing from the file): flipping a byte of the
	// compressed data instead may land in padding the decoder ignores.
	data[len(data)-5] ^= 0xFF
	require.NoError(t, os.WriteFile(name, append(data, torn.Bytes()[torn.Len()-3:]...), 0o644))
	err = Read(context.Background(), Config{Dir: dir}, time.Time{}, time.Time{}, nil, func(Record) error { return nil })
	require.Error(t, err)
}

func TestMemberIndexSplitsLargeFlushes(t *testing.T) {
	t.Parallel()
	// Far-apart sequences and times make each line's index entry large, so
	// one flush needs several members.
	var lines []line
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 8000 {
		lines = append(lines, line{seq: uint64(i) << 40, time: base.Add(time.Duration(i) * 1e14), data: []byte(fmt.Sprintf(`{"id":"%d"}`, i))})
	}
	var buf bytes.Buffer
	require.NoError(t, appendMembers(&buf, lines))
	require.Equal(t, 8000, bytes.Count(gzipWhole(t, buf.Bytes()), []byte{'\n'}))

	r := &segReader{src: &source{typ: "t"}, br: bufio.NewReader(bytes.NewReader(buf.Bytes()))}
	members := 0
	for i := 0; ; i++ {
		rec, seq, ok, err := r.next()
		require.NoError(t, err)
		if !ok {
			require.Equal(t, 8000, i)
			break
		}
		if r.i == 1 {
			members++
		}
		require.Equal(t, lines[i].seq, seq)
		require.True(t, lines[i].time.Equal(rec.Time))
		require.Equal(t, fmt.Sprint(i), rec.ID)
	}
	require.Greater(t, members, 1)
}

func TestSegmentPaths(t *testing.T) {
	t.Parallel()
	h := time.Date(2024, 2, 29, 7, 0, 0, 0, time.UTC)
	for _, typ := range []string{"order.created", "a", "a/b", ".hidden", "..", "50%", `back\slash`, "position.json", "x.position.json"} {
		rel := segmentPath(typ, h)
		gotType, gotHour, ok := parseSegmentPath(rel)
		require.True(t, ok, rel)
		require.Equal(t, typ, gotType)
		require.Equal(t, h, gotHour)
		dirName := rel[:len(rel)-len("/2024/02/29/07.ndjson.gz")]
		require.NotContains(t, dirName, "/")
		require.NotEqual(t, positionFile, dirName)
		require.NotEqual(t, '.', rune(dirName[0]))
	}
	require.Equal(t, "order.created/2024/02/29/07.ndjson.gz", segmentPath("order.created", h.Add(59*time.Minute)))
	for _, bad := range []string{"a/2024/02/30/07.ndjson.gz", "a/2024/02/29/24.ndjson.gz", "a/2024/2/29/07.ndjson.gz", "a/2024/02/29/07.json", "2024/02/29/07.ndjson.gz"} {
		_, _, ok := parseSegmentPath(bad)
		require.False(t, ok, bad)
	}
}
