package bench

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"
)

// The table of events is chunked so that it grows without copying and
// without a lock: chunks of 64 Ki events are created on first use, and the
// directory of chunks is allocated once, large enough for 2^30 events (a
// 10-minute soak at 100 000/s is 6·10^7).
const (
	chunkBits = 16
	chunkSize = 1 << chunkBits
	maxChunks = 1 << 14
)

// eventChunk holds the timings of chunkSize consecutive events. Times are
// nanoseconds since the table's base plus one, so that 0 means "not yet".
type eventChunk struct {
	sent     [chunkSize]atomic.Int64 // when the request was meant to go out
	acked    [chunkSize]atomic.Int64 // when the sender read the 2xx answer
	received [chunkSize]atomic.Int64 // when the first delivery arrived
	count    [chunkSize]atomic.Int32 // deliveries received
	measured [chunkSize]atomic.Bool  // sent inside the measured window
}

// eventTable records every event of one scenario, indexed by its number n:
// the sender writes acked, the receiver writes received and count. Both sides
// touch only their own event's slots, with atomics, so neither waits for the
// other.
type eventTable struct {
	run  string    // this scenario's run id, in every body and webhook-id
	base time.Time // origin of the stored times

	next    atomic.Int64 // the next event number to hand out
	nAcked  atomic.Int64 // events answered 2xx
	nRecv   atomic.Int64 // distinct events received
	nDup    atomic.Int64 // deliveries of an event already received
	lastRcv atomic.Int64 // time of the latest first delivery, as stored

	chunks [maxChunks]atomic.Pointer[eventChunk]

	mu     sync.Mutex       // guards errors
	errors map[string]int64 // what the receiver refused, by kind
}

// newEventTable starts an empty table with a fresh run id.
func newEventTable() *eventTable {
	return &eventTable{run: newRunID(), base: time.Now(), errors: map[string]int64{}}
}

// newRunID is 8 random hex digits: enough to tell this run's deliveries from
// an earlier run's that weir may still be sending.
func newRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// stamp turns t into the stored form.
func (t *eventTable) stamp(at time.Time) int64 { return int64(at.Sub(t.base)) + 1 }

// timeOf turns a stored stamp back into a time.
func (t *eventTable) timeOf(v int64) time.Time { return t.base.Add(time.Duration(v - 1)) }

// chunk returns the chunk holding event n, creating it if create is set; nil
// when it does not exist (yet).
func (t *eventTable) chunk(n int64, create bool) *eventChunk {
	i := n >> chunkBits
	if n < 0 || i >= maxChunks {
		return nil
	}
	c := t.chunks[i].Load()
	if c != nil || !create {
		return c
	}
	c = new(eventChunk)
	if t.chunks[i].CompareAndSwap(nil, c) {
		return c
	}
	return t.chunks[i].Load()
}

// take hands out the next event number, meant to be sent at at, and marks
// whether it is measured. ok is false once the table is full.
func (t *eventTable) take(at time.Time, measured bool) (n int64, ok bool) {
	n = t.next.Add(1) - 1
	c := t.chunk(n, true)
	if c == nil {
		return n, false
	}
	c.sent[n&(chunkSize-1)].Store(t.stamp(at))
	if measured {
		c.measured[n&(chunkSize-1)].Store(true)
	}
	return n, true
}

// ack records that event n was answered 2xx at time at.
func (t *eventTable) ack(n int64, at time.Time) {
	t.chunk(n, false).acked[n&(chunkSize-1)].Store(t.stamp(at))
	t.nAcked.Add(1)
}

// receive records a delivery of event n at time at. It returns false for a
// number this table never handed out.
func (t *eventTable) receive(n int64, at time.Time) bool {
	if n < 0 || n >= t.next.Load() {
		return false
	}
	c := t.chunk(n, false)
	if c == nil {
		return false
	}
	i := n & (chunkSize - 1)
	if c.count[i].Add(1) > 1 {
		t.nDup.Add(1)
		return true
	}
	s := t.stamp(at)
	c.received[i].Store(s)
	t.nRecv.Add(1)
	for {
		last := t.lastRcv.Load()
		if s <= last || t.lastRcv.CompareAndSwap(last, s) {
			return true
		}
	}
}

// addError counts one refused delivery.
func (t *eventTable) addError(kind string) {
	t.mu.Lock()
	t.errors[kind]++
	t.mu.Unlock()
}

// receiverErrors copies the receiver's error counts.
func (t *eventTable) receiverErrors() map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int64, len(t.errors))
	for k, v := range t.errors {
		out[k] = v
	}
	return out
}

// each calls f for every event handed out so far, in order.
func (t *eventTable) each(f func(n int64, c *eventChunk, i int64)) {
	end := t.next.Load()
	for n := int64(0); n < end; n++ {
		c := t.chunk(n, false)
		if c == nil {
			n |= chunkSize - 1 // skip the missing chunk
			continue
		}
		f(n, c, n&(chunkSize-1))
	}
}

// allReceived reports whether every acked event has been received. It
// compares the counters first, which costs nothing, and scans only when they
// say all might have arrived: a delivery can come before its 2xx is read, and
// an event can be stored although its sender timed out, so the counters
// alone cannot say.
func (t *eventTable) allReceived() bool {
	if t.nAcked.Load() > t.nRecv.Load() {
		return false
	}
	return t.lost() == 0
}

// lost counts the acked events that were never received.
func (t *eventTable) lost() int64 {
	var lost int64
	t.each(func(_ int64, c *eventChunk, i int64) {
		if c.acked[i].Load() != 0 && c.count[i].Load() == 0 {
			lost++
		}
	})
	return lost
}
