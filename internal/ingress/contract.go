package ingress

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-dev/weir/internal/contract"
	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/problem"
)

// StatusQuarantined: the event broke its contract and was kept as a dead letter
// instead of being published.
const StatusQuarantined Status = "quarantined"

// Contracts is what ingress needs to hold events to their contracts.
type Contracts struct {
	// Registry holds the contracts; nil disables checking.
	Registry *contract.Registry
	// DeadLetters keeps quarantined events.
	DeadLetters *deadletter.Store
	// RequireContract refuses types without a contract.
	RequireContract bool
	// deprecated counts events of deprecated types or versions.
	deprecated *prometheus.CounterVec
}

// Admission is the contract's word on one event, before anything is stored.
type Admission struct {
	// Verdict is the validation's result.
	Verdict contract.Verdict
	// Problem, when set, refuses the event (422): nothing is stored.
	Problem *problem.Problem
	// Quarantine is true when the event breaks its contract and the policy keeps
	// it as a dead letter instead of publishing it.
	Quarantine bool
}

// Admit checks ev against its contract and sets its dataschema to the version
// it was checked against. It stores nothing; field prefixes the names of
// attributes in problems (e.g. "[2]." in a batch).
//
// dataschema is weir's word, never the producer's: an incoming one only
// pins the contract version to check against, and is replaced by that
// version's URI. An event whose type has no contract is stored without
// dataschema, so that a subscriber never reads a schema URI weir did not
// check. (A quarantined event keeps what was sent, as evidence.)
func (p *Publisher) Admit(ev *event.Event, onInvalid, field string) Admission {
	c := p.contracts
	if c == nil || c.Registry == nil {
		ev.DataSchema = ""
		return Admission{}
	}
	data := []byte(ev.Data)
	if ev.DataBase64 != nil {
		data = []byte(`"<binary data>"`)
	}
	v, err := c.Registry.Validate(ev.Type, ev.DataSchema, data, time.Now())
	if err != nil {
		// A stored schema that will not compile is weir's fault, not the
		// sender's: the cause goes to the log, the sender gets its id.
		pr := problem.Internal(context.Background(), p.log.With(slog.String("type", ev.Type)), "contract-error", err)
		return Admission{Problem: pr.WithField(field + "type")}
	}
	a := Admission{Verdict: v}
	switch {
	case !v.Checked && c.RequireContract:
		a.Problem = problem.New(http.StatusUnprocessableEntity, "no-contract",
			fmt.Sprintf("there is no contract for event type %q, and this weir requires one (policy.require_contract); register a schema with POST /v1/contracts/%s/versions", ev.Type, ev.Type)).WithField(field + "type")
	case v.Sunset:
		a.Problem = problem.New(http.StatusUnprocessableEntity, "contract-sunset",
			fmt.Sprintf("events of type %q (version %d) are no longer accepted: the contract's sunset was %s. %s", ev.Type, v.Version, v.Deprecation.Sunset.Format(time.DateOnly), v.Deprecation.Note)).WithField(field + "type")
	case len(v.Violations) > 0 && onInvalid == "reject":
		a.Problem = violationProblem(ev.Type, v, field)
	case len(v.Violations) > 0:
		a.Quarantine = true
	case v.Checked:
		ev.DataSchema = v.DataSchema
	default:
		ev.DataSchema = ""
	}
	if v.Deprecation != nil && c.deprecated != nil {
		c.deprecated.WithLabelValues(ev.Type).Inc()
	}
	return a
}

func violationProblem(typ string, v contract.Verdict, field string) *problem.Problem {
	pr := problem.New(http.StatusUnprocessableEntity, "contract-violation",
		fmt.Sprintf("the event's data does not match the %s contract (version %d): %s", typ, v.Version, v.Violations[0].Message)).WithField(field + "data" + v.Violations[0].Pointer)
	for _, vi := range v.Violations {
		pr.Errors = append(pr.Errors, problem.FieldError{Field: field + "data" + vi.Pointer, Rule: vi.Rule, Detail: vi.Message})
	}
	return pr
}

// Quarantine keeps an event that broke its contract as a dead letter, with
// every violation, instead of publishing it.
func (p *Publisher) Quarantine(ctx context.Context, ev *event.Event, a Admission) (Result, error) {
	v := a.Verdict
	raw, err := json.Marshal(ev)
	if err != nil {
		raw = ev.AppendJSON(nil)
	}
	first := v.Violations[0]
	d := &deadletter.DeadLetter{
		Kind:      "quarantined",
		EventID:   ev.ID,
		EventType: ev.Type,
		Source:    ev.Source,
		Event:     raw,
		Reason:    fmt.Sprintf("the event's data does not match the %s contract (version %d): %s", ev.Type, v.Version, first.Message),
		Guidance: "The sender's payload differs from the published contract. Either the sender fixes the payload, " +
			"or the contract's owner publishes a new version that allows it. The event can then be corrected and sent on (redriven).",
		LastError:  first.Message,
		Violations: make([]deadletter.Violation, 0, len(v.Violations)),
	}
	for _, vi := range v.Violations {
		d.Violations = append(d.Violations, deadletter.Violation{Pointer: vi.Pointer, Rule: vi.Rule, Message: vi.Message})
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if err := p.contracts.DeadLetters.Add(ctx, d); err != nil {
		return Result{}, fmt.Errorf("%w: quarantine: %v", errUnavailable, err)
	}
	return Result{ID: ev.ID, Status: StatusQuarantined, DeadLetterID: d.ID}, nil
}

// DeprecationHeaders tells the producer that what it sent is deprecated:
// Deprecation (RFC 9745, a date as @<unix seconds>) and Sunset (RFC 8594).
func DeprecationHeaders(h http.Header, d *contract.Deprecation) {
	if d == nil {
		return
	}
	h.Set("Deprecation", "@"+strconv.FormatInt(d.Since.Unix(), 10))
	if !d.Sunset.IsZero() {
		h.Set("Sunset", d.Sunset.UTC().Format(http.TimeFormat))
	}
}
