package archive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
)

// segmentExt ends every segment's file name.
const segmentExt = ".ndjson.gz"

// The archive holds every event, personal data included, so only weir's own
// user may read it: directories 0700 and files 0600, whatever the umask
// would allow. Directories made by an earlier version keep their mode.
const (
	dirMode  = 0o700
	fileMode = 0o600
)

// segmentPath is the path of type typ's segment of the hour starting at hour,
// relative to Dir (and to the S3 prefix), with "/" separators.
func segmentPath(typ string, hour time.Time) string {
	return escapeType(typ) + "/" + hourPath(hour) + segmentExt
}

// hourPath is YYYY/MM/DD/HH of the UTC hour of t.
func hourPath(t time.Time) string {
	return t.UTC().Format("2006/01/02/15")
}

// parseSegmentPath is segmentPath's inverse; ok is false for anything else.
func parseSegmentPath(rel string) (typ string, hour time.Time, ok bool) {
	parts := strings.Split(rel, "/")
	if len(parts) != 5 || !strings.HasSuffix(parts[4], segmentExt) {
		return "", time.Time{}, false
	}
	typ, err := unescapeType(parts[0])
	if err != nil || typ == "" {
		return "", time.Time{}, false
	}
	hour, ok = parseHour(parts[1], parts[2], parts[3], strings.TrimSuffix(parts[4], segmentExt))
	return typ, hour, ok
}

// parseHour reads the hour of YYYY/MM/DD/HH path elements.
func parseHour(y, m, d, h string) (time.Time, bool) {
	var n [4]int
	for i, s := range []string{y, m, d, h} {
		want := 2
		if i == 0 {
			want = 4
		}
		v, err := strconv.Atoi(s)
		if err != nil || len(s) != want || v < 0 {
			return time.Time{}, false
		}
		n[i] = v
	}
	t := time.Date(n[0], time.Month(n[1]), n[2], n[3], 0, 0, 0, time.UTC)
	if t.Year() != n[0] || int(t.Month()) != n[1] || t.Day() != n[2] || t.Hour() != n[3] {
		return time.Time{}, false
	}
	return t, true
}

// escapeType makes a type a safe directory name: "%", "/" and "\" become
// %XX, and so does a leading "." (no "." or ".." directories, no hidden
// ones) and the first letter of a type named like position.json.
// The usual dotted type names pass unchanged.
func escapeType(typ string) string {
	// Names of Dir's own files are never a type's directory.
	reserved := strings.HasPrefix(typ, positionFile)
	var b strings.Builder
	for i := 0; i < len(typ); i++ {
		c := typ[i]
		if c == '%' || c == '/' || c == '\\' || c == 0 || (i == 0 && (c == '.' || reserved)) {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func unescapeType(name string) (string, error) {
	if !strings.Contains(name, "%") {
		return name, nil
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] != '%' {
			b.WriteByte(name[i])
			continue
		}
		if i+2 >= len(name) {
			return "", fmt.Errorf("bad escape in %q", name)
		}
		v, err := strconv.ParseUint(name[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape in %q", name)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

// hourOf is the UTC hour t falls in.
func hourOf(t time.Time) time.Time { return t.UTC().Truncate(time.Hour) }

// line is one event waiting in a flush.
type line struct {
	seq  uint64
	time time.Time
	data []byte
}

// The index of a gzip member: an RFC 1952 extra subfield "WA" holding, for
// each line of the member, its stream sequence and stream time (version byte,
// count, first sequence and time, then differences to the line before).
const (
	indexSI1, indexSI2 = 'W', 'A'
	indexVersion       = 1
	// maxIndexData is the largest subfield that fits the 16-bit extra length.
	maxIndexData = 0xFFFF - 4
)

// appendMembers compresses lines into as few gzip members as their indexes
// allow (one, unless the member would describe more lines than its header
// holds) and appends them to dst.
func appendMembers(dst *bytes.Buffer, lines []line) error {
	for len(lines) > 0 {
		var body []byte
		var tmp [2 * binary.MaxVarintLen64]byte
		n := 0
		for ; n < len(lines); n++ {
			var k int
			if n == 0 {
				k = binary.PutUvarint(tmp[:], lines[0].seq)
				k += binary.PutVarint(tmp[k:], lines[0].time.UnixNano())
			} else {
				k = binary.PutUvarint(tmp[:], lines[n].seq-lines[n-1].seq)
				k += binary.PutVarint(tmp[k:], lines[n].time.UnixNano()-lines[n-1].time.UnixNano())
			}
			if 1+binary.MaxVarintLen64+len(body)+k > maxIndexData {
				break
			}
			body = append(body, tmp[:k]...)
		}
		data := binary.AppendUvarint([]byte{indexVersion}, uint64(n))
		data = append(data, body...)
		extra := make([]byte, 0, 4+len(data))
		extra = append(extra, indexSI1, indexSI2, byte(len(data)), byte(len(data)>>8))
		extra = append(extra, data...)

		// klauspost/compress writes the same format as compress/gzip (the
		// readers stay on the standard library) with ~30 % less CPU (1,000
		// event lines: 1.48 ms against 2.06 ms per member).
		zw, err := gzip.NewWriterLevel(dst, gzip.DefaultCompression)
		if err != nil {
			return err
		}
		zw.Extra = extra
		for _, l := range lines[:n] {
			if _, err := zw.Write(l.data); err != nil {
				return err
			}
			if _, err := zw.Write([]byte{'\n'}); err != nil {
				return err
			}
		}
		if err := zw.Close(); err != nil {
			return err
		}
		lines = lines[n:]
	}
	return nil
}

// memberIndex reads the sequences and times of a member's lines from its
// header's extra field; ok is false when it has none.
func memberIndex(extra []byte) (seqs []uint64, times []int64, ok bool) {
	for len(extra) >= 4 {
		n := int(extra[2]) | int(extra[3])<<8
		if len(extra) < 4+n {
			return nil, nil, false
		}
		if extra[0] == indexSI1 && extra[1] == indexSI2 {
			return decodeIndex(extra[4 : 4+n])
		}
		extra = extra[4+n:]
	}
	return nil, nil, false
}

func decodeIndex(b []byte) (seqs []uint64, times []int64, ok bool) {
	if len(b) == 0 || b[0] != indexVersion {
		return nil, nil, false
	}
	r := bytes.NewReader(b[1:])
	count, err := binary.ReadUvarint(r)
	if err != nil || count > uint64(len(b)) {
		return nil, nil, false
	}
	seqs, times = make([]uint64, count), make([]int64, count)
	for i := range seqs {
		ds, err1 := binary.ReadUvarint(r)
		dt, err2 := binary.ReadVarint(r)
		if err := errors.Join(err1, err2); err != nil {
			return nil, nil, false
		}
		if i == 0 {
			seqs[i], times[i] = ds, dt
		} else {
			seqs[i], times[i] = seqs[i-1]+ds, times[i-1]+dt
		}
	}
	return seqs, times, true
}
