package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	"github.com/weir-dev/weir/internal/deadletter"
)

// AttemptsStream records every delivery attempt, for the API and for dead
// letters: on attempts.<subscription>.ok.<bucket> for a delivery at the first
// attempt, on attempts.<subscription>.<event key> otherwise (see attemptSubject).
const AttemptsStream = "WEIR_ATTEMPTS"

// Outcomes of one attempt.
const (
	OutcomeDelivered  = "delivered"   // 2xx
	OutcomeFailed     = "failed"      // will be retried
	OutcomeRetryAfter = "retry_after" // 429/503 with Retry-After, retried then
	OutcomeGone       = "gone"        // 410: the subscription is disabled
	OutcomeDeadLetter = "dead_letter" // failed, and no attempts are left
	OutcomeDenied     = "denied"      // the target address is not allowed
)

// Attempts stores and queries attempt records.
type Attempts struct {
	js jetstream.JetStream
	s  jetstream.Stream
}

func openAttempts(ctx context.Context, js jetstream.JetStream, maxAge time.Duration, replicas int) (*Attempts, error) {
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        AttemptsStream,
		Description: "weir: delivery attempts per subscription and event",
		Subjects:    []string{"attempts.>"},
		Storage:     jetstream.FileStorage,
		MaxAge:      maxAge,
		Replicas:    replicas,
		AllowDirect: true,
	})
	if err != nil {
		return nil, fmt.Errorf("create stream %s: %w", AttemptsStream, err)
	}
	return &Attempts{js: js, s: s}, nil
}

var subjectSafe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// eventKey makes an event id usable as one subject token: ULIDs and other plain
// ids as they are, anything else hashed.
func eventKey(id string) string {
	if subjectSafe.MatchString(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "h-" + base64.RawURLEncoding.EncodeToString(sum[:18])
}

// The subject of an attempt record. JetStream keeps an index entry in memory
// for every subject a stream holds (about 160 bytes), so a subject per event
// would make memory grow with every delivery for as long as attempts are kept.
// Most events are delivered at the first attempt: those records share one of
// sharedBuckets subjects per subscription (picked by the event id's hash). An
// event that needs more than one attempt gets its own subject, which keeps its
// whole history (what a dead letter shows) one exact read away.
func attemptSubject(at *deadletter.Attempt) string {
	if at.Number == 1 && at.Outcome == OutcomeDelivered {
		return sharedSubject(at.Subscription, at.EventID)
	}
	return eventSubject(at.Subscription, at.EventID)
}

func eventSubject(sub, eventID string) string {
	return "attempts." + sub + "." + eventKey(eventID)
}

// sharedBuckets is how many shared subjects each subscription's first-attempt
// deliveries are spread over.
const sharedBuckets = 256

func sharedSubject(sub, eventID string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(eventID))
	return "attempts." + sub + ".ok." + strconv.Itoa(int(h.Sum32()%sharedBuckets))
}

// startHint is where an event's attempts can begin in the stream: an hour
// before the time in its id when the id is a ULID (as weir's own ids are);
// otherwise the zero time (read from the start).
func startHint(eventID string) time.Time {
	id, err := ulid.ParseStrict(eventID)
	if err != nil {
		return time.Time{}
	}
	return ulid.Time(id.Time()).Add(-time.Hour)
}

// record stores a; it waits for the ack only when wait is set (before a dead
// letter reads the history back), otherwise the record is pipelined.
func (a *Attempts) record(ctx context.Context, at *deadletter.Attempt, wait bool) error {
	raw, _ := json.Marshal(at)
	subj := attemptSubject(at)
	if wait {
		_, err := a.js.Publish(ctx, subj, raw)
		return err
	}
	_, err := a.js.PublishAsync(subj, raw, jetstream.WithStallWait(time.Second))
	return err
}

// Query selects attempts.
type Query struct {
	// Subscription whose attempts to read (required).
	Subscription string
	// UID, when set, keeps only the attempts of that incarnation of the
	// subscription (records stored without one are left out).
	UID string
	// EventID restricts to one event's attempts (all of them, oldest first).
	EventID string
	// Outcome restricts to one outcome.
	Outcome string
	// Limit caps the result; default 100, at most 1000.
	Limit int
}

// recentWindow is how many of the latest attempt records (of all subscriptions)
// a query without an event id looks through.
const recentWindow = 20000

// List returns attempts matching q: for one event, all of them oldest first;
// otherwise the most recent, newest first.
func (a *Attempts) List(ctx context.Context, q Query) ([]deadletter.Attempt, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 1000)
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{"attempts." + q.Subscription + ".>"}}
	if q.EventID != "" {
		cfg.FilterSubjects = []string{eventSubject(q.Subscription, q.EventID), sharedSubject(q.Subscription, q.EventID)}
		if from := startHint(q.EventID); !from.IsZero() {
			cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &from
		}
	} else {
		info, err := a.s.Info(ctx)
		if err != nil {
			return nil, err
		}
		if info.State.Msgs == 0 {
			return nil, nil
		}
		if last := info.State.LastSeq; last > recentWindow {
			cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
			cfg.OptStartSeq = last - recentWindow
		}
	}
	c, err := a.js.OrderedConsumer(ctx, AttemptsStream, cfg)
	if err != nil {
		return nil, err
	}
	var out []deadletter.Attempt
	for {
		batch, err := c.FetchNoWait(500)
		if err != nil {
			return nil, err
		}
		n, pending := 0, uint64(1)
		for m := range batch.Messages() {
			n++
			if meta, err := m.Metadata(); err == nil {
				pending = meta.NumPending
			}
			var at deadletter.Attempt
			if json.Unmarshal(m.Data(), &at) != nil {
				continue
			}
			if q.EventID != "" && at.EventID != q.EventID {
				continue // another event of the same shared subject
			}
			if q.UID != "" && at.SubscriptionUID != q.UID {
				continue // an earlier subscription of the same name
			}
			if q.Outcome != "" && at.Outcome != q.Outcome {
				continue
			}
			out = append(out, at)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, err
		}
		if n == 0 || pending == 0 {
			break
		}
	}
	if q.EventID == "" {
		// newest first
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}
