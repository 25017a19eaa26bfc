package ingress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/field"
)

// RequestsStream keeps the last requests of every source, one subject per
// source (requests.<source>), for people finding out why a sender's
// webhooks are refused.
const RequestsStream = "WEIR_REQUESTS"

// Bounds of the request log: the stream discards the oldest record past any
// of them, so a flood of requests costs a fixed amount of storage.
const (
	// RequestsPerSource is how many records each source keeps.
	RequestsPerSource = 100
	// requestsMaxBytes bounds the whole stream: 1000 sources of 100 records
	// of about 300 bytes fit.
	requestsMaxBytes = 32 << 20
	// requestsMaxAge drops the records of a source that went quiet.
	requestsMaxAge = 7 * 24 * time.Hour
	// maxRecordDetail bounds a refusal's detail and the delivery id in a
	// record: both quote what senders sent.
	maxRecordDetail = 300
	// recordStallWait is the most a request waits when the log's publishes
	// pile up; past it the record is dropped and counted, never the request.
	recordStallWait = time.Millisecond
	// recordAckTimeout is how long a record's ack may take before it counts
	// as lost.
	recordAckTimeout = 5 * time.Second
)

// Outcomes of a request, as a record gives them.
const (
	OutcomeAccepted    = "accepted"
	OutcomeDuplicate   = "duplicate"
	OutcomeQuarantined = "quarantined"
	OutcomeRefused     = "refused"
)

// RequestRecord is what the request log keeps of one request to a source.
type RequestRecord struct {
	// Time is when weir answered.
	Time time.Time `json:"time"`
	// Outcome is accepted, duplicate, quarantined or refused.
	Outcome string `json:"outcome"`
	// Status is the HTTP status of the answer.
	Status int `json:"status"`
	// ProblemType and Detail are the refusal's problem (docs/errors.md).
	ProblemType string `json:"problem_type,omitempty"`
	Detail      string `json:"detail,omitempty"`
	// Field names the request part at fault, when the refusal says.
	Field string `json:"field,omitempty"`
	// EventID and EventType are the event's, when weir got that far.
	EventID   string `json:"event_id,omitempty"`
	EventType string `json:"event_type,omitempty"`
	// DeliveryID is the sender's delivery id, when the request carried one.
	DeliveryID string `json:"delivery_id,omitempty"`
	// RemoteAddr is the address the request came from.
	RemoteAddr string `json:"remote_addr"`
}

// RequestLog records the requests of each source on the bus, where every
// node's records meet and survive a restart. Recording never waits for the
// bus: records are published without waiting for the ack, and one that
// cannot be stored is counted in weir_ingress_request_log_errors_total.
type RequestLog struct {
	js       jetstream.JetStream // its own context: its own async error handler
	replicas int
	stream   jetstream.Stream
	errors   prometheus.Counter
	log      *slog.Logger

	mu      sync.Mutex
	started bool
	stopped bool
}

// NewRequestLog prepares the log over the connection nc; Start creates its
// stream.
func NewRequestLog(nc *nats.Conn, replicas int, reg prometheus.Registerer, log *slog.Logger) (*RequestLog, error) {
	l := &RequestLog{replicas: replicas, log: log, errors: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "weir_ingress_request_log_errors_total",
		Help: "Records of the per-source request log that could not be stored (the requests themselves were answered).",
	})}
	// A record whose ack does not come within the timeout counts as lost,
	// so that nothing waits on it for long (Stop included).
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096), jetstream.WithPublishAsyncTimeout(recordAckTimeout),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { l.errors.Inc() }))
	if err != nil {
		return nil, err
	}
	l.js = js
	reg.MustRegister(l.errors)
	return l, nil
}

// Start creates or updates the stream; ctx bounds the start-up.
func (l *RequestLog) Start(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.stopped {
		return errors.New("ingress: the request log was already started")
	}
	l.started = true
	s, err := l.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              RequestsStream,
		Description:       "weir: the last requests of every webhook source",
		Subjects:          []string{"requests.>"},
		Storage:           jetstream.FileStorage,
		Replicas:          max(1, l.replicas),
		MaxMsgsPerSubject: RequestsPerSource,
		MaxBytes:          requestsMaxBytes,
		MaxAge:            requestsMaxAge,
		MaxMsgSize:        4 << 10,
		Discard:           jetstream.DiscardOld,
		AllowDirect:       true,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", RequestsStream, err)
	}
	l.stream = s
	return nil
}

// Stop waits for the records in flight (at most recordAckTimeout), or until
// ctx ends. It may be called twice, and before Start.
func (l *RequestLog) Stop(ctx context.Context) error {
	l.mu.Lock()
	started := l.started && !l.stopped
	l.stopped = true
	l.mu.Unlock()
	if !started {
		return nil
	}
	defer l.js.CleanupPublisher()
	timer := time.NewTimer(recordAckTimeout)
	defer timer.Stop()
	select {
	case <-l.js.PublishAsyncComplete():
		return nil
	case <-timer.C:
		return nil // the records still in flight are lost, as when the bus fails
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Record stores rec for source without waiting; a nil log records nothing.
func (l *RequestLog) Record(source string, rec RequestRecord) {
	if l == nil {
		return
	}
	// What the sender chose is cut, so that a record always fits the
	// stream's MaxMsgSize.
	rec.Detail = clip(rec.Detail, maxRecordDetail)
	rec.DeliveryID = clip(rec.DeliveryID, maxRecordDetail)
	rec.RemoteAddr = clip(rec.RemoteAddr, maxRecordDetail)
	raw, err := json.Marshal(rec)
	if err == nil {
		_, err = l.js.PublishAsync("requests."+source, raw, jetstream.WithStallWait(recordStallWait))
	}
	if err != nil {
		l.errors.Inc()
	}
}

// clip cuts s to at most n bytes and a mark, at a character's start.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Recent returns the last n (1 to RequestsPerSource) records of source,
// newest first. A bad source name is a *field.Error for "source".
func (l *RequestLog) Recent(ctx context.Context, source string, n int) ([]RequestRecord, error) {
	if err := config.ValidSourceName(source); err != nil {
		return nil, field.Wrap("source", err)
	}
	n = min(max(n, 1), RequestsPerSource)
	l.mu.Lock()
	s := l.stream
	l.mu.Unlock()
	if s == nil {
		return nil, errors.New("ingress: the request log is not started")
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{"requests." + source},
		InactiveThreshold: 5 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: read the request log: %v", bus.ErrUnavailable, err)
	}
	// The subject holds at most RequestsPerSource records: one batch takes
	// them all, and no_wait ends it at the last one.
	batch, err := c.FetchNoWait(RequestsPerSource)
	if err != nil {
		return nil, fmt.Errorf("%w: read the request log: %v", bus.ErrUnavailable, err)
	}
	var out []RequestRecord
	for m := range batch.Messages() {
		var rec RequestRecord
		if json.Unmarshal(m.Data(), &rec) == nil {
			out = append(out, rec)
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
		return nil, fmt.Errorf("%w: read the request log: %v", bus.ErrUnavailable, err)
	}
	slices.Reverse(out)
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// Forget drops the records of source (a source deleted, whose name may be
// taken again). A nil log has nothing to forget.
func (l *RequestLog) Forget(ctx context.Context, source string) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	s := l.stream
	l.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.Purge(ctx, jetstream.WithPurgeSubject("requests."+source))
}
