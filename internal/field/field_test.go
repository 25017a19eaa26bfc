package field

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

var errSentinel = errors.New("sentinel")

func TestErrorPathReasonCause(t *testing.T) {
	t.Parallel()
	err := Errorf("push.url", "%q is refused: %w", "http://x", errSentinel).Prefix("subscriptions.orders")
	require.Equal(t, "subscriptions.orders.push.url", err.Path)
	require.Equal(t, `"http://x" is refused: sentinel`, err.Reason)
	require.Equal(t, `subscriptions.orders.push.url: "http://x" is refused: sentinel`, err.Error())
	require.ErrorIs(t, err, errSentinel)

	var fe *Error
	require.ErrorAs(t, errors.Join(errors.New("other"), err), &fe)
	require.Equal(t, "subscriptions.orders.push.url", fe.Path)
}

func TestJoin(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ parent, child, want string }{
		{"", "types", "types"},
		{"subscriptions.a", "", "subscriptions.a"},
		{"subscriptions.a", "types[0]", "subscriptions.a.types[0]"},
		{"acks", "[2].ack_id", "acks[2].ack_id"},
	} {
		require.Equal(t, c.want, Join(c.parent, c.child))
	}
	require.Equal(t, "no path", (&Error{Reason: "no path"}).Error())
}
