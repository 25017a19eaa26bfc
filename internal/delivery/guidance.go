package delivery

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/delivery/filter"
)

// explain turns the last attempt into a reason and guidance in plain words, for
// the app's owner who may not be an integration engineer.
func explain(target string, last deadletter.Attempt, why string) (reason, guidance string) {
	host := target
	if u, err := url.Parse(target); err == nil {
		host = u.Host
	}
	reason = fmt.Sprintf("weir could not deliver this event to %s: %s; the last attempt %s.", target, why, describe(last))
	switch {
	case last.Outcome == OutcomeDenied || strings.Contains(last.Error, "denied"):
		guidance = "The address " + host + " is blocked by weir's delivery policy (link-local and cloud metadata addresses are never called). Use the app's real address, or ask the platform team to allow it under delivery.allow."
	case strings.Contains(last.Error, "connection refused"):
		guidance = "Nothing was listening at " + host + ". Check that the app is running and that the URL's host and port are right, then redrive this event."
	case strings.Contains(last.Error, "no such host"):
		guidance = "The host name " + host + " does not exist. Check the subscription's URL for typos, then redrive this event."
	case strings.Contains(last.Error, "timeout"):
		guidance = "The app took too long to answer. It should answer 2xx as soon as it has the event and do slow work afterwards; or raise the subscription's push.timeout. Then redrive this event."
	case last.Status == 401 || last.Status == 403:
		guidance = "The app refused the request as unauthorised. It should verify the webhook-signature header with the subscription's secret (any Standard Webhooks library does this). Check that the app uses the same whsec_ secret, then redrive this event."
	case last.Status == 400 || last.Status == 422:
		guidance = "The app said the event is not what it expects. It receives CloudEvents JSON (Content-Type application/cloudevents+json) with the payload under \"data\"; check the app's parsing against the event shown here, fix it, then redrive this event."
	case last.Status == 404 || last.Status == 405:
		guidance = "The URL's path does not exist on the app (or does not take POST). Check the path in the subscription's URL, then redrive this event."
	case last.Status >= 300 && last.Status < 400:
		guidance = "The app answered with a redirect; weir does not follow redirects. Put the final URL in the subscription, then redrive this event."
	case last.Status == 429:
		guidance = "The app kept saying it was overloaded (429). Lower the subscription's max_in_flight or give the app more capacity, then redrive this event."
	case last.Status >= 500:
		guidance = "The app failed while handling the event (it answered " + fmt.Sprint(last.Status) + "). Look at the app's logs around the attempt times below, fix the error, then redrive this event."
	default:
		guidance = "Look at the attempts below for what the app answered, fix the cause, then redrive this event."
	}
	return reason, guidance
}

func describe(a deadletter.Attempt) string {
	switch {
	case a.Error != "":
		return "failed: " + a.Error
	case a.Status != 0:
		s := fmt.Sprintf("was answered %d", a.Status)
		if a.Response != "" {
			r := a.Response
			if len(r) > 120 {
				r = r[:120] + "..."
			}
			s += fmt.Sprintf(" %q", r)
		}
		return s
	}
	return "did not happen"
}

// explainFilter says why a filter could not judge an event, and what to do.
func explainFilter(sub string, err error) (reason, guidance string) {
	if errors.Is(err, filter.ErrData) {
		reason = "the filter of subscription " + sub + " could not read this event's data, so it could not tell whether the subscription wants it: " + err.Error() + "."
		guidance = "The event's data is not valid UTF-8 JSON that weir can decode (for example a number too large for a double, such as 1e999999). Fix the sender so that it sends valid JSON, then publish the event again; or resolve this dead letter if the subscription should not have it."
		return reason, guidance
	}
	reason = "the filter of subscription " + sub + " went over the limits of one evaluation on this event, so it could not tell whether the subscription wants it: " + err.Error() + "."
	guidance = "The filter does too much work on an event this large: it loops over a big list inside another loop, or builds long strings. Make the filter simpler (test a field directly rather than building a value from the payload; avoid a comprehension inside another), change the subscription, then redrive this event. Resolve it if the subscription should not have it."
	return reason, guidance
}
