package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/weir-dev/weir/internal/verify"
)

// deliveryBodyLimit is larger than any event the bench sends can become.
const deliveryBodyLimit = 2 << 20

// receiver is the micro app: it takes weir's push deliveries, checks their
// signature, and records each event's first arrival in the current
// scenario's table. Deliveries of another run (an earlier scenario's, still
// being sent by a weir that outlived it) are answered and ignored.
type receiver struct {
	verifier verify.Verifier // nil: signatures are not checked
	current  atomic.Pointer[eventTable]
	foreign  atomic.Int64 // deliveries of another run

	srv    *http.Server
	ln     net.Listener
	served chan error
}

// startReceiver listens on addr and serves until close. secret is the
// subscriptions' whsec_ secret; empty leaves signatures unchecked.
func startReceiver(addr, secret string) (*receiver, error) {
	r := &receiver{served: make(chan error, 1)}
	if secret != "" {
		v, err := verify.New(verify.Config{Scheme: verify.SchemeStandardWebhooks, Secrets: []string{secret}})
		if err != nil {
			return nil, fmt.Errorf("push secret: %w", err)
		}
		r.verifier = v
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--receiver-addr %s: %w", addr, err)
	}
	r.ln = ln
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { r.served <- r.srv.Serve(ln) }()
	return r, nil
}

// url is the receiver's URL for a subscription, with path.
func (r *receiver) url(path string) string { return "http://" + r.ln.Addr().String() + path }

// track sends the deliveries of t's run to t from now on.
func (r *receiver) track(t *eventTable) { r.current.Store(t) }

// close stops the server, waiting a little for deliveries in flight.
func (r *receiver) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	if err != nil {
		_ = r.srv.Close()
	}
	if serr := <-r.served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// benchEvent is the part of a delivered CloudEvent that the receiver reads.
type benchEvent struct {
	Data struct {
		N   *int64 `json:"n"`
		Run string `json:"run"`
	} `json:"data"`
}

// ServeHTTP answers every well-formed delivery 204 at once. Only a bad
// signature gets an error status (401), as a real app would answer, so that
// weir's retry of it shows in the figures.
func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, deliveryBodyLimit))
	now := time.Now()
	t := r.current.Load()
	if t == nil {
		r.foreign.Add(1)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err != nil {
		t.addError("delivery: body unreadable")
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.verifier != nil {
		if err := r.verifier.Verify(req.Header, body, now); err != nil {
			t.addError("delivery: signature-invalid")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	var ev benchEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.Data.N == nil {
		t.addError("delivery: not a bench event")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if ev.Data.Run != t.run {
		r.foreign.Add(1)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !t.receive(*ev.Data.N, now) {
		t.addError("delivery: unknown event number")
	}
	w.WriteHeader(http.StatusNoContent)
}
