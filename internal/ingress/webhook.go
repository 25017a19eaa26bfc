package ingress

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/weir-dev/weir/internal/bus"
	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/problem"
)

// Webhooks serves POST /in/{source}: verify, read, find type and delivery id,
// wrap as a CloudEvent, then hand to the Publisher, which answers only after
// JetStream acked the event.
type Webhooks struct {
	sources     *SourceSet
	requests    *RequestLog // nil: no request log
	bodyTimeout time.Duration
	pub         *Publisher
	metrics     *Metrics
	log         *slog.Logger
	now         func() time.Time
}

// NewWebhooks builds the handler over a set of sources, which may change
// while it serves; bodyTimeout bounds how long a sender may take to send a
// body.
func NewWebhooks(sources *SourceSet, pub *Publisher, bodyTimeout time.Duration, m *Metrics, log *slog.Logger) *Webhooks {
	return &Webhooks{sources: sources, bodyTimeout: bodyTimeout, pub: pub, metrics: m, log: log, now: time.Now}
}

// RecordTo has every request to a known source recorded in l, and returns wh.
func (wh *Webhooks) RecordTo(l *RequestLog) *Webhooks {
	wh.requests = l
	return wh
}

// unknownSourceLabel keeps metric cardinality bounded when strangers probe names.
const unknownSourceLabel = "_unknown"

// ServeHTTP handles one webhook.
func (wh *Webhooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("source")
	src, ok := wh.sources.Get(name)
	if !ok {
		// Not recorded: strangers' probes would fill the log with names.
		wh.metrics.Count(unknownSourceLabel, "unknown_source")
		problem.New(http.StatusNotFound, "unknown-source", "there is no source named "+quote(name)+
			"; sources are declared under sources: in weir.yaml or created with POST /v1/sources").WithField("source").Write(w, r)
		return
	}
	if src.limiter != nil {
		// Refused before the body is read: a flood costs as little as possible.
		if res := src.limiter.Reserve(); res.Delay() > 0 {
			retry := res.Delay()
			res.Cancel()
			p := problem.New(http.StatusTooManyRequests, "rate-limited",
				"this source sends more than its rate_limit allows; retry after the time in Retry-After").WithField("source")
			p.RetryAfter = retry
			wh.fail(w, r, name, "rate_limited", p)
			return
		}
	}
	release, p := wh.pub.gate.Enter(src.priority)
	if p != nil {
		wh.fail(w, r, name, "shed", p)
		return
	}
	defer release()
	body, outcome, p := ReadBody(w, r, src.maxBody, "max_body of source "+quote(name), wh.bodyTimeout)
	if p != nil {
		wh.fail(w, r, name, outcome, p)
		return
	}
	isJSON, ctype, p := src.mediaType(r.Header.Get("Content-Type"), body)
	if p != nil {
		wh.fail(w, r, name, "unsupported_media", p)
		return
	}
	if err := src.verifier.Verify(r.Header, body, wh.now()); err != nil {
		wh.fail(w, r, name, "unauthorized", problem.New(http.StatusUnauthorized, "signature-invalid", err.Error()).WithField(verifyField(err)))
		return
	}
	var doc any
	var decoded bool
	decode := func() (any, bool) {
		if !decoded && isJSON {
			doc, _ = decodeJSON(body)
			decoded = true
		}
		return doc, doc != nil
	}
	if isJSON {
		if p := checkBody(body); p != nil {
			wh.fail(w, r, name, "malformed", p)
			return
		}
	}
	typ, p := src.eventType(r.Header, decode)
	if p != nil {
		wh.fail(w, r, name, "bad_type", p)
		return
	}
	deliveryID := src.deliveryID(r.Header, decode)

	ev := &event.Event{
		ID:          ulid.Make().String(),
		Source:      SourcePrefix + name,
		SpecVersion: "1.0",
		Type:        typ,
		Time:        wh.now().UTC(),
		Extensions:  map[string]any{"traceparent": Traceparent(r.Header.Get("Traceparent"))},
	}
	if ts := r.Header.Get("Tracestate"); ts != "" {
		ev.Extensions["tracestate"] = ts
	}
	if deliveryID != "" {
		ev.Extensions[DeliveryIDExtension] = deliveryID
	}
	if isJSON {
		ev.DataContentType = "application/json"
		// The signature covered the raw bytes; the stored data drops the
		// surrounding whitespace (often a trailing newline), which is not data.
		ev.Data = bytes.TrimSpace(body)
	} else {
		ev.DataContentType = ctype
		ev.DataBase64 = body
	}
	adm := wh.pub.Admit(ev, src.onInvalid, "")
	if adm.Problem != nil {
		wh.failEvent(w, r, name, "refused", adm.Problem, ev)
		return
	}
	DeprecationHeaders(w.Header(), adm.Verdict.Deprecation)
	if adm.Quarantine {
		res, err := wh.pub.Quarantine(r.Context(), ev, adm)
		if err != nil {
			wh.failEvent(w, r, name, "unavailable", Unavailable(err), ev)
			return
		}
		wh.metrics.Count(name, string(res.Status))
		wh.record(r, name, OutcomeQuarantined, WriteResult(w, res), nil, ev, res.ID)
		return
	}
	key := ""
	switch {
	case src.onBody:
		// The raw bytes, as signed: what a replay cannot change.
		sum := sha256.Sum256(body)
		key = "inbody\x00" + name + "\x00" + string(sum[:])
	case deliveryID != "":
		key = "in\x00" + name + "\x00" + deliveryID
	}
	res, err := wh.pub.Publish(r.Context(), ev, key, src.window)
	if err != nil {
		wh.log.WarnContext(r.Context(), "event not stored", slog.String("source", name), slog.String("event_id", ev.ID), slog.Any("error", err))
		wh.failEvent(w, r, name, "unavailable", Unavailable(err), ev)
		return
	}
	wh.metrics.Count(name, string(res.Status))
	wh.log.DebugContext(r.Context(), "event "+string(res.Status), slog.String("source", name), slog.String("event_id", res.ID), slog.String("type", typ), slog.String("delivery_id", deliveryID))
	wh.record(r, name, string(res.Status), WriteResult(w, res), nil, ev, res.ID)
}

// Unavailable is the 503 answer when the bus cannot take an event.
func Unavailable(err error) *problem.Problem {
	p := problem.New(http.StatusServiceUnavailable, "bus-unavailable",
		"the event was not stored because the event bus is unavailable; retry later, it will not be treated as a duplicate")
	if !errors.Is(err, bus.ErrUnavailable) {
		p.Detail = "the event was not stored: " + err.Error()
	}
	p.RetryAfter = 5 * time.Second
	return p
}

// WriteResult answers 202 for a stored event and 200 for a duplicate, and
// returns the status it answered.
func WriteResult(w http.ResponseWriter, res Result) int {
	w.Header().Set("Content-Type", "application/json")
	status := http.StatusAccepted
	if res.Status == StatusDuplicate {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	if res.DeadLetterID != "" {
		_ = json.NewEncoder(w).Encode(res)
		return status
	}
	b := make([]byte, 0, 64)
	b = append(b, `{"id":`...)
	b = appendQuoted(b, res.ID)
	b = append(b, `,"status":"`...)
	b = append(b, res.Status...)
	b = append(b, "\"}\n"...)
	_, _ = w.Write(b)
	return status
}

// fail answers a refusal of a request to a known source, before its event
// was built.
func (wh *Webhooks) fail(w http.ResponseWriter, r *http.Request, source, outcome string, p *problem.Problem) {
	wh.failEvent(w, r, source, outcome, p, nil)
}

// failEvent answers a refusal; ev is the event when weir got that far.
func (wh *Webhooks) failEvent(w http.ResponseWriter, r *http.Request, source, outcome string, p *problem.Problem, ev *event.Event) {
	wh.metrics.Count(source, outcome)
	p.Write(w, r)
	wh.record(r, source, OutcomeRefused, p.Status, p, ev, "")
}

// record adds the request to the source's request log, without waiting.
func (wh *Webhooks) record(r *http.Request, source, outcome string, status int, p *problem.Problem, ev *event.Event, id string) {
	if wh.requests == nil {
		return
	}
	rec := RequestRecord{Time: wh.now().UTC(), Outcome: outcome, Status: status, EventID: id, RemoteAddr: r.RemoteAddr}
	if p != nil {
		rec.ProblemType, rec.Detail, rec.Field = p.Type, p.Detail, p.Field
	}
	if ev != nil {
		rec.EventType = ev.Type
		if rec.EventID == "" && outcome != OutcomeRefused {
			rec.EventID = ev.ID
		}
		rec.DeliveryID, _ = ev.Extensions[DeliveryIDExtension].(string)
	}
	wh.requests.Record(source, rec)
}

// mediaType decides whether the body is JSON. A missing Content-Type is taken as
// JSON, since many senders omit it; anything else that is not JSON needs
// allow_raw.
func (s *Source) mediaType(ct string, body []byte) (isJSON bool, mediatype string, p *problem.Problem) {
	if ct == "" {
		if s.allowRaw && !json.Valid(body) {
			return false, "application/octet-stream", nil
		}
		return true, "", nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false, "", problem.New(http.StatusUnsupportedMediaType, "unsupported-media-type", "the Content-Type header "+quote(ct)+" cannot be parsed").WithField("Content-Type")
	}
	if mt == "application/json" || strings.HasSuffix(mt, "+json") {
		return true, mt, nil
	}
	if s.allowRaw {
		return false, ct, nil
	}
	return false, "", problem.New(http.StatusUnsupportedMediaType, "unsupported-media-type",
		"this source accepts JSON bodies only, but Content-Type is "+quote(mt)+"; send application/json or set allow_raw: true on the source").WithField("Content-Type")
}

// eventType finds and checks the event type.
func (s *Source) eventType(h http.Header, doc func() (any, bool)) (string, *problem.Problem) {
	if s.typ != "" {
		return s.typ, nil
	}
	v, ok := s.typeFrom.find(h, doc)
	if !ok {
		return "", problem.New(http.StatusBadRequest, "missing-type",
			"this source takes the event type from "+s.typeFrom.String()+", which is missing or empty").WithField(s.typeFrom.field())
	}
	t := s.typePrefix + v
	if err := config.ValidType(t); err != nil {
		return "", problem.New(http.StatusBadRequest, "invalid-type", "the event type "+err.Error()).WithField(s.typeFrom.field())
	}
	return t, nil
}

func (l locator) field() string {
	if l.header != "" {
		return l.header
	}
	return l.pointer
}

// verifyField names the header a signature error is about, when it says.
func verifyField(err error) string {
	var he interface{ HeaderName() string }
	if errors.As(err, &he) {
		return he.HeaderName()
	}
	return "signature"
}

// checkBody refuses a JSON body that is not valid UTF-8 JSON (with the byte
// offset), or not I-JSON: a member name repeated in one object would let the
// contract check, type_from and every subscriber read different documents,
// and a number beyond a float64 cannot be read by most of them.
func checkBody(body []byte) *problem.Problem {
	err := event.CheckJSON(body)
	if err == nil {
		return nil
	}
	if je, ok := err.(*event.JSONError); ok {
		field := je.Field
		if field == "" {
			field = "body"
		}
		return problem.New(http.StatusBadRequest, string(je.Kind), je.Error()).WithField(field)
	}
	return problem.New(http.StatusBadRequest, "malformed-json", err.Error()).WithField("body")
}

// Traceparent keeps a valid W3C traceparent, or starts a new trace so that every
// event carries one.
func Traceparent(tp string) string {
	if validTraceparent(tp) {
		return tp
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	out := make([]byte, 0, 55)
	out = append(out, "00-"...)
	out = hex.AppendEncode(out, b[:16])
	out = append(out, '-')
	out = hex.AppendEncode(out, b[16:])
	out = append(out, "-01"...)
	return string(out)
}

func validTraceparent(tp string) bool {
	if len(tp) != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' || tp[:2] == "ff" {
		return false
	}
	for i := 0; i < len(tp); i++ {
		if i == 2 || i == 35 || i == 52 {
			continue
		}
		c := tp[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return tp[3:35] != "00000000000000000000000000000000" && tp[36:52] != "0000000000000000"
}
