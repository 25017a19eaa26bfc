package portal

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/field"
)

// previewAnswer is what the subscription form's preview script shows: one
// sentence, or an error for a field. A refused expression or pattern is a
// preview like any other (200): the script asks while the person types, and
// half an expression is the normal case, not a failed request.
type previewAnswer struct {
	// Text is "matches 7 of the last 50 order.* events".
	Text string `json:"text,omitempty"`
	// Field and Error name what is wrong (types or filter) and why.
	Field string `json:"field,omitempty"`
	Error string `json:"error,omitempty"`
	// Reasons are up to 10 reasons events were not matched or not judged.
	Reasons []string `json:"reasons,omitempty"`
}

// previewFilter runs the filter being typed on the latest events of the
// types, with the rules of POST /v1/filters/preview: valid patterns, that the
// viewer may subscribe to, and the preview's own bounds.
func (p *Portal) previewFilter(w http.ResponseWriter, r *http.Request, v *viewer) {
	types := splitTypes(r.PostFormValue("types"))
	expr := r.PostFormValue("filter")
	answer := func(status int, a previewAnswer) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(a)
	}
	if err := delivery.CheckPreviewTypes(types); err != nil {
		answer(http.StatusOK, previewAnswer{Field: "types", Error: fieldReason(err)})
		return
	}
	if !v.Token.CanSubscribe(types) {
		answer(http.StatusOK, previewAnswer{Field: "types",
			Error: "your roles do not let you read events of " + strings.Join(types, ", ")})
		return
	}
	res, err := p.deps.Delivery.PreviewFilter(r.Context(), types, expr, 0)
	var fe *field.Error
	switch {
	case errors.As(err, &fe):
		answer(http.StatusOK, previewAnswer{Field: "filter", Error: fe.Reason})
		return
	case err != nil:
		answer(http.StatusServiceUnavailable, previewAnswer{Error: "the preview could not read the bus; try again in a moment"})
		return
	}
	what := strings.Join(types, ", ")
	text := fmt.Sprintf("matches %d of the last %d %s events", res.Matched, res.Examined, what)
	switch {
	case res.Examined == 0:
		text = "no " + what + " event is stored yet, so there is nothing to preview"
	case strings.TrimSpace(expr) == "":
		text = fmt.Sprintf("no filter: all of the last %d %s events", res.Examined, what)
	}
	if res.Unjudged > 0 {
		text += fmt.Sprintf("; %d could not be judged and would become dead letters", res.Unjudged)
	}
	if res.Truncated {
		text += " (the preview stopped at its bounds)"
	}
	answer(http.StatusOK, previewAnswer{Text: text, Reasons: res.Errors})
}

// fieldReason is a field error's reason, or the error's text.
func fieldReason(err error) string {
	var fe *field.Error
	if errors.As(err, &fe) {
		return fe.Error()
	}
	return err.Error()
}
