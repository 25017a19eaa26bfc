package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/minio/minio-go/v7"
)

// segReader reads a segment's records member by member.
type segReader struct {
	src    *source
	closer io.Closer
	br     *bufio.Reader
	zr     *gzip.Reader
	lines  [][]byte
	seqs   []uint64
	times  []int64
	i      int
}

func openSegment(ctx context.Context, c *minio.Client, s *S3Config, src *source) (*segReader, error) {
	var r io.Reader
	var closer io.Closer
	if src.file != "" {
		f, err := os.Open(src.file)
		if err != nil {
			return nil, err
		}
		r, closer = f, f
		if src.limit >= 0 {
			r = io.LimitReader(f, src.limit)
		}
	} else {
		obj, err := c.GetObject(ctx, s.Bucket, s.key(src.rel), minio.GetObjectOptions{})
		if err != nil {
			return nil, fmt.Errorf("get s3://%s/%s: %w", s.Bucket, s.key(src.rel), err)
		}
		r, closer = obj, obj
	}
	// gzip reads through a bufio.Reader as is, so each member ends exactly
	// where the next begins.
	return &segReader{src: src, closer: closer, br: bufio.NewReaderSize(r, 64<<10)}, nil
}

func (s *segReader) close() { _ = s.closer.Close() }

// next returns the segment's next record; ok is false at its end.
func (s *segReader) next() (rec Record, seq uint64, ok bool, err error) {
	for s.i >= len(s.lines) {
		more, err := s.member()
		if err != nil || !more {
			return rec, 0, false, err
		}
	}
	i := s.i
	s.i++
	data := s.lines[i]
	var head struct {
		ID   string `json:"id"`
		Time string `json:"time"`
	}
	_ = json.Unmarshal(data, &head)
	rec = Record{Type: s.src.typ, ID: head.ID, Event: json.RawMessage(data)}
	if s.seqs != nil {
		rec.Time, seq = time.Unix(0, s.times[i]).UTC(), s.seqs[i]
	} else if t, err := time.Parse(time.RFC3339Nano, head.Time); err == nil {
		rec.Time = t.UTC() // a member without an index: the best time there is
	} else {
		rec.Time = s.src.hour
	}
	return rec, seq, true, nil
}

// member decodes the next gzip member; more is false at the end of the
// segment. A torn member at the end (a crash during a flush, not yet repaired)
// ends the segment: its events were never committed.
func (s *segReader) member() (more bool, err error) {
	if s.zr == nil {
		s.zr, err = gzip.NewReader(s.br)
	} else {
		err = s.zr.Reset(s.br)
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", s.src.rel, err)
	}
	s.zr.Multistream(false)
	data, err := io.ReadAll(s.zr)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", s.src.rel, err)
	}
	s.lines, s.i = nil, 0
	if len(data) > 0 {
		s.lines = bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'})
	}
	s.seqs, s.times = nil, nil
	if seqs, times, ok := memberIndex(s.zr.Header.Extra); ok && len(seqs) == len(s.lines) {
		s.seqs, s.times = seqs, times
	}
	return true, nil
}
