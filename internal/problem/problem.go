// Package problem writes RFC 9457 problem details (application/problem+json), the
// one shape every weir error takes on the wire.
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// TypeBase prefixes every problem type URI; the part after it names the problem
// and is documented in docs/errors.md.
const TypeBase = "https://weir.dev/problems/"

// Problem is an RFC 9457 problem details object, with weir's extension members.
type Problem struct {
	// Type is a URI naming the kind of problem.
	Type string `json:"type"`
	// Title is a short summary of the kind of problem.
	Title string `json:"title"`
	// Status repeats the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence in a sentence a person can act on.
	Detail string `json:"detail,omitempty"`
	// Instance is the request path.
	Instance string `json:"instance,omitempty"`
	// Field names the request part at fault: a header, a JSON pointer, a config
	// key or a CloudEvents attribute.
	Field string `json:"field,omitempty"`
	// Errors lists several faults where one request has many.
	Errors []FieldError `json:"errors,omitempty"`
	// CorrelationID names a 500 answer in weir's log, where the cause is
	// written; the answer itself carries no internal text.
	CorrelationID string `json:"correlation_id,omitempty"`
	// RetryAfter, when set, is sent as the Retry-After header (seconds).
	RetryAfter time.Duration `json:"-"`
}

// FieldError is one fault among several.
type FieldError struct {
	// Field names the part at fault.
	Field string `json:"field"`
	// Rule names the check that failed, where there is one (a schema keyword).
	Rule string `json:"rule,omitempty"`
	// Detail says what is wrong with it.
	Detail string `json:"detail"`
}

// New builds a problem of the given kind (the last part of its type URI).
func New(status int, kind, detail string) *Problem {
	return &Problem{Type: TypeBase + kind, Title: http.StatusText(status), Status: status, Detail: detail}
}

// WithField names the request part at fault.
func (p *Problem) WithField(field string) *Problem {
	p.Field = field
	return p
}

// Error makes a Problem usable as an error.
func (p *Problem) Error() string { return p.Detail }

// Write sends p as the response.
func (p *Problem) Write(w http.ResponseWriter, r *http.Request) {
	if p.Instance == "" && r != nil {
		p.Instance = r.URL.Path
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if p.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((p.RetryAfter+time.Second-1)/time.Second)))
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
