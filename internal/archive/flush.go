package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weir-dev/weir/internal/bus"
)

// handle takes one delivery into the buffer, or acknowledges it when it is
// already archived.
func (a *Archiver) handle(ctx context.Context, m jetstream.Msg) {
	if m == nil {
		a.lastDseq = 0 // a new session: nothing is known about what came before
		a.syncDelivered(ctx)
		return
	}
	a.lastMsg = time.Now()
	meta, err := m.Metadata()
	if err != nil {
		a.fail(ctx, "archive: a delivery without JetStream metadata", err, slog.String("subject", m.Subject()))
		return
	}
	seq := meta.Sequence.Stream
	first := meta.NumDelivered == 1
	// Two first deliveries in a row with consecutive consumer sequences leave
	// no event of the filter between them undelivered: whatever sequences they
	// skip are other subjects or deleted messages.
	consecutive := a.lastDseq != 0 && meta.Sequence.Consumer == a.lastDseq+1 && a.lastFirst && first
	a.lastDseq, a.lastFirst = meta.Sequence.Consumer, first

	switch {
	case seq <= a.committed:
		_ = m.Ack() // archived before; a lost ack is answered again next time
		return
	case seq < a.next:
		a.acks = append(a.acks, m) // buffered or written already; ack it with them
		return
	case seq > a.next && !consecutive:
		if err := a.fill(ctx, seq); err != nil {
			a.fail(ctx, "archive: cannot read skipped events from the stream; the event comes again", err, slog.Uint64("seq", seq))
			_ = m.NakWithDelay(time.Second)
			a.lastDseq = 0
			return
		}
	}
	a.add(seq, meta.Timestamp, m.Subject(), m.Data())
	a.acks = append(a.acks, m)
}

// fill reads the events between a.next and upTo (exclusive) from the stream
// and buffers them in order: events the consumer delivered to a process that
// crashed, or whose delivery was lost, would otherwise come back only after
// the ack wait, behind newer ones.
func (a *Archiver) fill(ctx context.Context, upTo uint64) error {
	if a.stream == nil {
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		s, err := a.js.Stream(cctx, bus.EventsStream)
		cancel()
		if err != nil {
			return err
		}
		a.stream = s
	}
	scanned := false
	for a.next < upTo {
		if upTo-a.next > scanFrom && !scanned {
			scanned = true
			if err := a.scan(ctx, upTo); err != nil {
				a.log.WarnContext(ctx, "archive: scanning the stream failed; reading event by event", slog.Any("error", err))
			}
			continue
		}
		// One event at a time; also the last word on where the hole ends,
		// since "not found" is definite where an empty fetch is not.
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		rm, err := a.stream.GetMsg(cctx, a.next, jetstream.WithGetMsgSubject(bus.EventsPrefix+">"))
		cancel()
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if rm.Sequence >= upTo {
			return nil
		}
		if err := a.addFilled(ctx, rm.Sequence, rm.Time, rm.Subject, rm.Data); err != nil {
			return err
		}
	}
	return nil
}

// scanFrom is the size of a hole from which fill reads the stream in batches.
const scanFrom = 64

// scan reads a long hole with an ordered consumer, a batch per request
// instead of a request per event (a whole stream, when the archive starts
// empty beside a consumer that is ahead). It may stop early; fill goes on.
func (a *Archiver) scan(ctx context.Context, upTo uint64) error {
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	oc, err := a.js.OrderedConsumer(cctx, bus.EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{bus.EventsPrefix + ">"},
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       a.next,
		InactiveThreshold: 10 * time.Second,
	})
	cancel()
	if err != nil {
		return err
	}
	for a.next < upTo {
		batch, err := oc.FetchNoWait(500)
		if err != nil {
			return err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return err
			}
			seq := meta.Sequence.Stream
			if seq >= upTo {
				return nil
			}
			if seq < a.next {
				continue
			}
			if err := a.addFilled(ctx, seq, meta.Timestamp, m.Subject(), m.Data()); err != nil {
				return err
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return err
		}
		if n == 0 {
			return nil
		}
	}
	return nil
}

// addFilled buffers an event read from the stream, flushing when the buffer
// is full.
func (a *Archiver) addFilled(ctx context.Context, seq uint64, streamTime time.Time, subject string, data []byte) error {
	a.add(seq, streamTime, subject, data)
	if a.bufN >= maxBufferEvents || a.bufBytes >= maxBufferBytes {
		if !a.flush(ctx) {
			return errors.New("flush failed")
		}
	}
	return nil
}

// syncDelivered archives, from the stream, the events the consumer has
// already delivered (to a run that crashed, or on a delivery that was lost)
// and that are not archived: they would come again only after the ack wait,
// and a quiet bus sends nothing newer that would reveal the hole.
func (a *Archiver) syncDelivered(ctx context.Context) {
	a.lastSync = time.Now()
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	c, err := a.js.Consumer(cctx, bus.EventsStream, ConsumerName)
	cancel()
	if err != nil {
		a.fail(ctx, "archive: cannot read the consumer's state", err)
		return
	}
	if d := c.CachedInfo().Delivered.Stream; d >= a.next {
		if err := a.fill(ctx, d+1); err != nil {
			a.fail(ctx, "archive: cannot read delivered events from the stream", err)
		}
	}
}

// add buffers the event at seq.
func (a *Archiver) add(seq uint64, streamTime time.Time, subject string, data []byte) {
	t := a.eventTime(streamTime)
	hour := hourOf(t)
	if subject != a.lastSubject || !hour.Equal(a.lastHour) {
		a.lastSubject, a.lastHour = subject, hour
		a.lastRel = segmentPath(strings.TrimPrefix(subject, bus.EventsPrefix), hour)
	}
	rel := a.lastRel
	data = a.oneLine(data, seq)
	a.buf[rel] = append(a.buf[rel], line{seq: seq, time: t, data: data})
	a.bufN++
	a.bufBytes += len(data)
	a.next, a.bufLast, a.bufTime = seq+1, seq, t
}

// oneLine keeps an event on one line: the bus holds compact JSON, and JSON
// spread over lines is compacted (same value). Anything else is kept as a
// JSON string, so that the archive stays complete and every line parses.
func (a *Archiver) oneLine(data []byte, seq uint64) []byte {
	if !bytes.ContainsAny(data, "\r\n") && len(data) > 0 {
		return data
	}
	var b bytes.Buffer
	if err := json.Compact(&b, data); err == nil && b.Len() > 0 {
		return b.Bytes()
	}
	q, _ := json.Marshal(string(data))
	a.fail(context.Background(), "archive: an event that is not JSON is archived as a JSON string", errors.New("not JSON"), slog.Uint64("seq", seq))
	return q
}

// flush makes the buffer durable: one gzip member appended to each segment
// it touches, the files fsynced, the position saved, then the acks sent. It
// reports whether everything up to a.next is now committed.
func (a *Archiver) flush(ctx context.Context) bool {
	if a.bufN > 0 {
		if err := a.write(); err != nil {
			a.fail(ctx, "archive: writing segments failed; retrying", err)
			return false
		}
	}
	if len(a.unsaved) == 0 && a.committed == a.next-1 {
		return true
	}
	a.posMu.Lock()
	err := a.pos.save(a.cfg.Dir)
	if err == nil {
		a.savedLocked()
	}
	last := a.pos.LastSeq
	a.posMu.Unlock()
	if err != nil {
		// The data is written; whether the new position reached the disk is
		// unknown, and either way a restart is exact. Acks wait for a save.
		a.fail(ctx, "archive: saving the position failed; retrying", err)
		return false
	}
	// Everything below a.next is now committed: the buffer is empty (write
	// emptied it), so the redeliveries held in a.acks are committed too.
	for _, m := range a.unsaved {
		_ = m.Ack()
	}
	for _, m := range a.acks {
		_ = m.Ack()
	}
	a.unsaved, a.acks = a.unsaved[:0], a.acks[:0]
	a.committed = last
	return true
}

// write appends the buffer to its segments and records the new lengths in
// the in-memory position; the buffer's acks then wait for the position save.
func (a *Archiver) write() error {
	rels := slices.Sorted(maps.Keys(a.buf))
	if err := a.register(rels); err != nil {
		return err
	}
	a.posMu.Lock()
	committed := make(map[string]int64, len(rels))
	for _, rel := range rels {
		committed[rel] = a.pos.Files[rel]
	}
	a.posMu.Unlock()

	lengths := make(map[string]int64, len(rels))
	var member bytes.Buffer
	for _, rel := range rels {
		member.Reset()
		if err := appendMembers(&member, a.buf[rel]); err != nil {
			return err
		}
		if err := a.appendSegment(rel, committed[rel], member.Bytes()); err != nil {
			// Cut what this flush wrote; appendSegment also checks before the next write.
			for done := range lengths {
				_ = cut(a.segmentFile(done), committed[done])
			}
			_ = cut(a.segmentFile(rel), committed[rel])
			return err
		}
		lengths[rel] = committed[rel] + int64(member.Len())
	}
	if a.beforeCommit != nil {
		a.beforeCommit()
	}
	a.posMu.Lock()
	maps.Copy(a.pos.Files, lengths)
	a.pos.LastSeq, a.pos.LastTime = a.bufLast, a.bufTime
	a.posMu.Unlock()

	a.unsaved = append(a.unsaved, a.acks...)
	a.acks = a.acks[:0]
	clear(a.buf)
	a.bufN, a.bufBytes = 0, 0
	return nil
}

// register enters the segments that are not open yet in the position file,
// with their current length, before anything is written to them: a file the
// position file does not name never holds uncommitted bytes.
func (a *Archiver) register(rels []string) error {
	a.posMu.Lock()
	defer a.posMu.Unlock()
	var added []string
	toUpload := a.pos.ToUpload
	for _, rel := range rels {
		if _, ok := a.pos.Files[rel]; ok {
			continue
		}
		var size int64
		st, err := os.Stat(a.segmentFile(rel))
		switch {
		case err == nil:
			size = st.Size() // a closed segment that an event reopens
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		a.pos.Files[rel] = size
		a.pos.ToUpload = slices.DeleteFunc(slices.Clone(a.pos.ToUpload), func(s string) bool { return s == rel })
		added = append(added, rel)
	}
	if len(added) == 0 {
		return nil
	}
	if err := a.pos.save(a.cfg.Dir); err != nil {
		for _, rel := range added {
			delete(a.pos.Files, rel)
		}
		a.pos.ToUpload = toUpload
		return err
	}
	a.savedLocked()
	return nil
}

func (a *Archiver) segmentFile(rel string) string {
	return filepath.Join(a.cfg.Dir, filepath.FromSlash(rel))
}

// appendSegment appends data to the segment at rel, whose committed length is
// committed, and fsyncs it (and, for a new file, its directories).
func (a *Archiver) appendSegment(rel string, committed int64, data []byte) error {
	name := a.segmentFile(rel)
	created := false
	if _, err := os.Stat(name); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(name), dirMode); err != nil {
			return err
		}
		created = true
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, fileMode)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	switch {
	case st.Size() > committed: // left by a flush that failed
		if err := f.Truncate(committed); err != nil {
			return err
		}
	case st.Size() < committed:
		return fmt.Errorf("%s: %d bytes, shorter than its committed %d", name, st.Size(), committed)
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if created {
		// The new file's entry, and the directories made for it, up to Dir.
		for d := filepath.Dir(name); ; d = filepath.Dir(d) {
			if err := syncDir(d); err != nil {
				return err
			}
			if d == filepath.Clean(a.cfg.Dir) || d == filepath.Dir(d) {
				break
			}
		}
	}
	return nil
}
