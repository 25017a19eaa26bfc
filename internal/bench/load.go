package bench

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// requestTimeout bounds one request; weir's own bus publish timeout is 5s,
	// so a request that takes longer is stuck, not slow.
	requestTimeout = 30 * time.Second
	// lateGrace is how long after the measured window an open-loop request
	// that is still waiting for a connection may be sent. Requests whose time
	// came but that were not sent by then are counted as not sent.
	lateGrace = 10 * time.Second
	// errorBodyLimit bounds how much of a non-2xx answer is read for its
	// problem type.
	errorBodyLimit = 4 << 10
)

// loadSpec describes one run of the load generator.
type loadSpec struct {
	url   string      // the POST target: <base>/in/<source>
	key   []byte      // the source's HMAC key (the bytes after whsec_)
	conns int         // connections and sending goroutines
	size  int         // body size in bytes
	rate  float64     // requests per second; 0 sends back to back
	table *eventTable // where every event's fate is recorded

	// start is when the warmup begins; the measured window is
	// [start+warmup, start+warmup+duration).
	start    time.Time
	warmup   time.Duration
	duration time.Duration

	// count, when positive, replaces the window: exactly count requests are
	// sent back to back, all of them measured.
	count int64
}

// measureWindow is the measured window of a time-bound run.
func (s *loadSpec) measureWindow() (from, to time.Time) {
	from = s.start.Add(s.warmup)
	return from, from.Add(s.duration)
}

// loadResult is what the sender saw in the measured window.
type loadResult struct {
	sent      int64            // requests sent
	accepted  int64            // requests answered 2xx
	notSent   int64            // open loop: requests whose time came but never went out
	latencies []time.Duration  // of the accepted requests, from the intended send time
	errors    map[string]int64 // every other outcome, by kind
	from, to  time.Time        // the window the figures cover; to is later than planned if sending fell behind
}

// runLoad drives spec's load and returns once every request it started has
// been answered (or failed).
func runLoad(ctx context.Context, spec *loadSpec) *loadResult {
	tr := &http.Transport{
		Proxy:               nil, // never a proxy between the bench and weir
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxConnsPerHost:     spec.conns,
		MaxIdleConns:        spec.conns,
		MaxIdleConnsPerHost: spec.conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: requestTimeout}

	workers := make([]*worker, spec.conns)
	for i := range workers {
		workers[i] = newWorker(spec, client)
	}
	from, to := spec.measureWindow()
	var wg sync.WaitGroup
	switch {
	case spec.count > 0:
		from = time.Now()
		var issued atomic.Int64
		for _, w := range workers {
			wg.Go(func() {
				for ctx.Err() == nil && issued.Add(1) <= spec.count {
					w.send(ctx, time.Now(), true)
				}
			})
		}
		wg.Wait()
		to = time.Now()
	case spec.rate == 0:
		for _, w := range workers {
			wg.Go(func() {
				for ctx.Err() == nil {
					now := time.Now()
					if !now.Before(to) {
						return
					}
					w.send(ctx, now, !now.Before(from))
				}
			})
		}
		wg.Wait()
	default:
		tickets := make(chan time.Time, max(1024, 4*spec.conns))
		hardStop := to.Add(lateGrace)
		for _, w := range workers {
			wg.Go(func() {
				for at := range tickets {
					if ctx.Err() != nil {
						continue
					}
					measured := !at.Before(from)
					if time.Now().After(hardStop) {
						if measured {
							w.notSent++
						}
						continue
					}
					w.send(ctx, at, measured)
				}
			})
		}
		dispatch(ctx, spec, to, tickets)
		wg.Wait()
	}

	res := &loadResult{errors: map[string]int64{}, from: from, to: to}
	for _, w := range workers {
		// An open loop that fell behind sent its last requests after the
		// window; the rate it achieved counts until then.
		if w.lastSent.After(res.to) {
			res.to = w.lastSent
		}
		res.sent += w.sent
		res.accepted += w.accepted
		res.notSent += w.notSent
		res.latencies = append(res.latencies, w.latencies...)
		for k, v := range w.errors {
			res.errors[k] += v
		}
	}
	if res.notSent > 0 {
		res.errors["bench: not sent, no free connection before the window ended"] += res.notSent
	}
	return res
}

// dispatch emits one ticket per request at its intended time, 1/rate apart
// from spec.start until end, then closes tickets. Sleeping overshoots; the
// tickets that fell due meanwhile go out at once, each with its own intended
// time, so the average rate holds and the latency of a late request counts
// from when it should have gone out.
func dispatch(ctx context.Context, spec *loadSpec, end time.Time, tickets chan<- time.Time) {
	defer close(tickets)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := int64(0); ; i++ {
		at := spec.start.Add(time.Duration(float64(i) * float64(time.Second) / spec.rate))
		if !at.Before(end) {
			return
		}
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		select {
		case tickets <- at:
		case <-ctx.Done():
			return
		}
	}
}

// worker is one sending goroutine's state: its HMAC and buffers are reused
// for every request, and its counters are merged only at the end.
type worker struct {
	spec   *loadSpec
	client *http.Client
	mac    hash.Hash
	sum    []byte
	sig    []byte
	pad    string

	sent, accepted, notSent int64
	lastSent                time.Time // when the latest measured request went out
	latencies               []time.Duration
	errors                  map[string]int64
}

func newWorker(spec *loadSpec, client *http.Client) *worker {
	w := &worker{
		spec:   spec,
		client: client,
		mac:    hmac.New(sha256.New, spec.key),
		pad:    strings.Repeat("x", spec.size),
		errors: map[string]int64{},
	}
	if spec.rate > 0 {
		w.latencies = make([]time.Duration, 0, int(spec.rate*spec.duration.Seconds())/spec.conns+16)
	}
	return w
}

var dot = []byte(".")

// send makes one signed request whose intended send time is at.
func (w *worker) send(ctx context.Context, at time.Time, measured bool) {
	t := w.spec.table
	n, ok := t.take(at, measured)
	if !ok {
		w.count(measured, "bench: event table full")
		return
	}
	body := w.body(n)
	id := "msg_" + t.run + "_" + strconv.FormatInt(n, 10)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.spec.url, bytes.NewReader(body))
	if err != nil {
		w.count(measured, "bench: "+err.Error())
		return
	}
	if measured {
		w.lastSent = time.Now()
	}
	req.Header = http.Header{
		"Content-Type":      {"application/json"},
		"Webhook-Id":        {id},
		"Webhook-Timestamp": {ts},
		"Webhook-Signature": {w.sign(id, ts, body)},
	}
	resp, err := w.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			w.count(measured, classifyTransport(err))
		}
		return
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyLimit))
		resp.Body.Close()
		w.count(measured, classifyStatus(resp.StatusCode, b))
		return
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		// The answer was cut off: weir may or may not have stored the event,
		// and the sender cannot know, so it is not acked.
		if ctx.Err() == nil {
			w.count(measured, classifyTransport(err))
		}
		return
	}
	now := time.Now()
	t.ack(n, now)
	if measured {
		w.sent++
		w.accepted++
		w.latencies = append(w.latencies, now.Sub(at))
	}
}

// count records a request that was not accepted.
func (w *worker) count(measured bool, kind string) {
	if measured {
		w.sent++
		w.errors[kind]++
	}
}

// body is {"n":<n>,"run":"<run>","pad":"xxx..."}, padded to the spec's size
// where the size allows. A new slice each time: the transport may still read
// the previous body after its answer arrived.
func (w *worker) body(n int64) []byte {
	const (
		open = `{"n":`
		run  = `,"run":"`
		pad  = `","pad":"`
		end  = `"}`
	)
	b := make([]byte, 0, max(w.spec.size, 64+len(w.spec.table.run)))
	b = append(b, open...)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, run...)
	b = append(b, w.spec.table.run...)
	b = append(b, pad...)
	if fill := w.spec.size - len(b) - len(end); fill > 0 {
		b = append(b, w.pad[:fill]...)
	}
	return append(b, end...)
}

// sign is the Standard Webhooks signature of one request: v1, and the base64
// HMAC-SHA256 of "<id>.<timestamp>.<body>".
func (w *worker) sign(id, ts string, body []byte) string {
	w.mac.Reset()
	_, _ = io.WriteString(w.mac, id)
	w.mac.Write(dot)
	_, _ = io.WriteString(w.mac, ts)
	w.mac.Write(dot)
	w.mac.Write(body)
	w.sum = w.mac.Sum(w.sum[:0])
	w.sig = append(w.sig[:0], "v1,"...)
	w.sig = base64.StdEncoding.AppendEncode(w.sig, w.sum)
	return string(w.sig)
}

// standardKey decodes a whsec_ secret into its HMAC key.
func standardKey(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return nil, errors.New("want whsec_ followed by base64")
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		if key, err = base64.RawStdEncoding.DecodeString(rest); err != nil {
			return nil, errors.New("the part after whsec_ is not base64")
		}
	}
	if len(key) == 0 {
		return nil, errors.New("the key after whsec_ is empty")
	}
	return key, nil
}

// classifyStatus names a non-2xx answer "<status> <problem kind>", the kind
// being the last path segment of the RFC 9457 problem type, such as
// "503 bus-unavailable"; answers without one use the status text.
func classifyStatus(status int, body []byte) string {
	var p struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(body, &p) == nil && p.Type != "" {
		kind := p.Type[strings.LastIndexByte(p.Type, '/')+1:]
		if kind != "" {
			return strconv.Itoa(status) + " " + kind
		}
	}
	text := strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "-"))
	if text == "" {
		text = "unknown-status"
	}
	return strconv.Itoa(status) + " " + text
}

// classifyTransport names a request that got no answer "transport: <reason>",
// short enough to be a map key in the report.
func classifyTransport(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "transport: connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "transport: connection reset"
	case errors.Is(err, syscall.EPIPE):
		return "transport: broken pipe"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "transport: no free local port"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "transport: timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "transport: connection closed"
	case errors.Is(err, context.Canceled):
		return "transport: canceled"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	if len(msg) > 60 {
		msg = msg[:60]
	}
	return fmt.Sprintf("transport: %s", msg)
}
