package deadletter

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Error classes of an attempt (Attempt.ErrorClass): what kind of failure came
// instead of an answer, decided where the error's type is known.
const (
	// ClassRefused: nothing listened at the address (connection refused).
	ClassRefused = "refused"
	// ClassNoSuchHost: the host name does not resolve.
	ClassNoSuchHost = "no_such_host"
	// ClassConnect: the connection failed another way (unreachable, reset).
	ClassConnect = "connect"
	// ClassTimeout: no answer within the subscription's timeout.
	ClassTimeout = "timeout"
	// ClassDenied: weir's delivery policy does not call that address.
	ClassDenied = "denied"
	// ClassFilterLimit: the filter went over its bounds on the event.
	ClassFilterLimit = "filter_limit"
	// ClassFilterData: the filter could not read the event's data.
	ClassFilterData = "filter_data"
	// ClassUnacknowledged: a pull subscriber never acknowledged the event.
	ClassUnacknowledged = "unacknowledged"
	// ClassMaxAge: the event was older than the subscription's max_age.
	ClassMaxAge = "max_age"
	// ClassOther: any other failure without an answer.
	ClassOther = "other"
)

// maxCauseKey bounds a cause key: a violation's pointer comes from the
// payload's shape and could be long.
const maxCauseKey = 256

// Cause is why a dead letter stopped, shared by every dead letter that
// stopped the same way.
type Cause struct {
	// Key identifies the cause, stably: "http:401", "error:refused",
	// "contract:minimum:/total". It is what the cause filter takes.
	Key string `json:"cause"`
	// Label says the cause in plain words.
	Label string `json:"label"`
	// Guidance says what to do about it.
	Guidance string `json:"guidance"`
}

// CauseOf computes d's cause from its stored fields: its kind, its first
// violation (quarantined), or its last attempt's status or error class
// (undeliverable). Dead letters stored before attempts had an error class
// are classed from the error's words, as their guidance was.
func CauseOf(d *DeadLetter) Cause {
	if d.Kind == "quarantined" {
		if len(d.Violations) == 0 {
			return Cause{Key: "contract", Label: "the payload breaks its contract", Guidance: contractGuidance}
		}
		v := d.Violations[0]
		key := "contract:" + v.Rule + ":" + v.Pointer
		if len(key) > maxCauseKey {
			key = key[:maxCauseKey]
		}
		at := v.Pointer
		if at == "" {
			at = "the top level"
		}
		return Cause{Key: key, Label: fmt.Sprintf("the payload breaks the contract at %s (%s)", at, v.Rule), Guidance: contractGuidance}
	}
	if d.Kind == KindSink {
		return Cause{Key: "sink:" + d.Sink, Label: "the sink's store refused the event", Guidance: SinkGuidance}
	}
	var last Attempt
	if len(d.Attempts) > 0 {
		last = d.Attempts[len(d.Attempts)-1]
	}
	if last.Error == "" && last.Status != 0 {
		return statusCause(last.Status)
	}
	var code int
	if _, err := fmt.Sscanf(d.LastError, "HTTP %d", &code); err == nil && last.Error == "" && code > 0 {
		return statusCause(code) // stored without its attempts
	}
	class := last.ErrorClass
	if class == "" {
		class = classFromText(last.Error + " " + d.LastError)
	}
	if c, ok := errorCauses[class]; ok {
		c.Key = "error:" + class
		return c
	}
	c := errorCauses[ClassOther]
	c.Key = "error:" + ClassOther
	return c
}

// SinkGuidance says what to do about an event a sink's store refused.
const SinkGuidance = "The store refused this event's data for the sink's table: a value does not fit its column's type (see the reason). Either fix the sender so that the event's data has the right type, or change the column's type in the sink's tables; then replay the sink from before the event (POST /v1/sinks/{name}/replay), which loads it again, and resolve this dead letter; resolve it alone if the store should not have it."

const contractGuidance = "The sender's payload differs from the published contract. Either the sender fixes the payload, or the contract's owner publishes a new version that allows it; then correct and redrive these events."

// errorCauses are the causes of failures without an answer, by class.
var errorCauses = map[string]Cause{
	ClassRefused:        {Label: "nothing listening (connection refused)", Guidance: "Nothing was listening at the subscription's address. Check that the app is running and that the URL's host and port are right, then redrive these events."},
	ClassNoSuchHost:     {Label: "the host name does not exist", Guidance: "The host name in the subscription's URL does not resolve. Check the URL for typos, then redrive these events."},
	ClassConnect:        {Label: "the app could not be reached", Guidance: "weir could not open a connection to the app. Check the network path between weir and the app, then redrive these events."},
	ClassTimeout:        {Label: "the app did not answer in time", Guidance: "The app took too long to answer. It should answer 2xx as soon as it has the event and do slow work afterwards; or raise the subscription's push.timeout. Then redrive these events."},
	ClassDenied:         {Label: "the address is blocked by weir's delivery policy", Guidance: "Use the app's real address, or ask the platform team to allow it under delivery.allow; then redrive these events."},
	ClassFilterLimit:    {Label: "the filter went over its limits", Guidance: "The subscription's filter does too much work on these events. Make it simpler, change the subscription, then redrive them; resolve them if the subscription should not have them."},
	ClassFilterData:     {Label: "the filter could not read the event's data", Guidance: "The events' data is not JSON weir can decode. Fix the sender and publish them again, or resolve them."},
	ClassUnacknowledged: {Label: "handed out but never acknowledged", Guidance: "The app fetched these events but never acknowledged them. Check that the app acknowledges what it has handled, then redrive them."},
	ClassMaxAge:         {Label: "still undelivered after max_age", Guidance: "The events waited longer than the subscription's max_age. Fix what kept them from being delivered (see their attempts), then redrive them or resolve them."},
	ClassOther:          {Label: "the delivery failed without an answer", Guidance: "Look at the attempts of one of these dead letters for the error, fix the cause, then redrive them."},
}

// statusCause is the cause of an answer with status code.
func statusCause(code int) Cause {
	c := Cause{Key: "http:" + strconv.Itoa(code), Label: fmt.Sprintf("the app answered %d %s", code, http.StatusText(code))}
	switch {
	case code == 401 || code == 403:
		c.Guidance = "The app refused the requests as unauthorised. It should verify the webhook-signature header with the subscription's whsec_ secret; check that it uses the same secret, then redrive these events."
	case code == 400 || code == 422:
		c.Guidance = "The app said the events are not what it expects. It receives CloudEvents JSON with the payload under \"data\"; fix its parsing, then redrive these events."
	case code == 404 || code == 405:
		c.Guidance = "The URL's path does not exist on the app (or does not take POST). Check the path in the subscription's URL, then redrive these events."
	case code >= 300 && code < 400:
		c.Guidance = "The app answered with a redirect, which weir does not follow. Put the final URL in the subscription, then redrive these events."
	case code == 429:
		c.Guidance = "The app kept saying it was overloaded. Lower the subscription's max_in_flight or give the app more capacity, then redrive these events."
	case code >= 500:
		c.Guidance = "The app failed while handling the events. Look at its logs around the attempt times, fix the error, then redrive these events."
	default:
		c.Guidance = "Look at the attempts of one of these dead letters for what the app answered, fix the cause, then redrive them."
	}
	return c
}

// classFromText classes the error of a record stored without ErrorClass by
// the words weir itself wrote into it (see delivery's attemptError).
func classFromText(s string) string {
	for _, c := range []struct{ words, class string }{
		{"denied", ClassDenied},
		{"connection refused", ClassRefused},
		{"no such host", ClassNoSuchHost},
		{"timeout", ClassTimeout},
		{"never acknowledged", ClassUnacknowledged},
		{"max_age", ClassMaxAge},
		{"exceeded the limits", ClassFilterLimit},
		{"cannot be read by the filter", ClassFilterData},
		{"could not connect", ClassConnect},
	} {
		if strings.Contains(s, c.words) {
			return c.class
		}
	}
	return ClassOther
}
