package config

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/field"
)

// Validate's errors carry the field as a value, under the path it is given:
// callers read it with errors.As, never out of the message.
func TestSubscriptionValidateNamesTheFieldAsAValue(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		sub  Subscription
		want string
	}{
		{"no types", Subscription{Start: "new", Pull: &Pull{AckWait: Duration(30e9)}}, "types"},
		{"bad type", Subscription{Types: []string{"a..b"}, Start: "new", Pull: &Pull{AckWait: Duration(30e9)}}, "types[0]"},
		{"neither push nor pull", Subscription{Types: []string{"a.b"}, Start: "new"}, ""},
		{"bad url", Subscription{Types: []string{"a.b"}, Start: "new", Push: &Push{URL: "ftp://x"}}, "push.url"},
		{"short ack wait", Subscription{Types: []string{"a.b"}, Start: "new", Pull: &Pull{AckWait: 1}}, "pull.ack_wait"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, parent := range []string{"", "subscriptions.orders"} {
				var fe *field.Error
				require.ErrorAs(t, c.sub.Validate(parent), &fe)
				require.Equal(t, field.Join(parent, c.want), fe.Path)
				require.NotEmpty(t, fe.Reason)
				require.NotContains(t, fe.Reason, fe.Path+":", "the reason does not repeat the path")
			}
		})
	}
}
