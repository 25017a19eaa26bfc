package delivery

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/config"
	fielderr "github.com/weir-dev/weir/internal/field"
)

func TestParseReplayRequestNamesTheRefusedField(t *testing.T) {
	t.Parallel()
	req, err := ParseReplayRequest("2026-12-01T10:00:00Z", "42", 0, false)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), req.From.UTC())
	require.Equal(t, uint64(42), req.ToSeq)

	for _, c := range []struct {
		from, to string
		rate     int
		field    string
	}{
		{"yesterday", "", 0, "from"},
		{"0", "", 0, "from"},
		{"1", "-3", 0, "to"},
		{"1", "", -1, "rate"},
		{"1", "", MaxReplayRate + 1, "rate"},
	} {
		_, err := ParseReplayRequest(c.from, c.to, c.rate, false)
		var fe *fielderr.Error
		require.True(t, errors.As(err, &fe), "%+v: %v", c, err)
		require.Equal(t, c.field, fe.Path)
	}
}

func TestNewPushSecretPassesValidation(t *testing.T) {
	t.Parallel()
	a, b := NewPushSecret(), NewPushSecret()
	require.NotEqual(t, a, b)
	s := config.Subscription{Types: []string{"order.*"}, Push: &config.Push{URL: "https://example.com/hook", Secret: a}}
	s.WithDefaults()
	require.NoError(t, s.Validate(""))
}

// FuzzParseReplayRequest: any text is parsed or refused with a field error,
// never a panic, and the error text stays short.
func FuzzParseReplayRequest(f *testing.F) {
	f.Add("2026-12-01T10:00:00Z", "", 10)
	f.Add("17", "99", 0)
	f.Add(strings.Repeat("9", 300), "x", -1)
	f.Fuzz(func(t *testing.T, from, to string, rate int) {
		_, err := ParseReplayRequest(from, to, rate, false)
		if err == nil {
			return
		}
		var fe *fielderr.Error
		if !errors.As(err, &fe) {
			t.Fatalf("not a field error: %v", err)
		}
		if len(fe.Reason) > 400 {
			t.Fatalf("reason of %d bytes", len(fe.Reason))
		}
	})
}
