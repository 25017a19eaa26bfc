package verify

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNoneAcceptsEverything(t *testing.T) {
	t.Parallel()
	v, err := New(Config{Scheme: SchemeNone})
	require.NoError(t, err)
	require.NoError(t, v.Verify(nil, nil, time.Time{}))
	require.NoError(t, v.Verify(http.Header{"X-Hub-Signature-256": {"sha256=00"}}, []byte("{}"), testNow))

	h, err := Sign(Config{Scheme: SchemeNone}, []byte("{}"), testNow, "dlv")
	require.NoError(t, err)
	require.Empty(t, h)
}

func FuzzVerifyNone(f *testing.F) {
	f.Add("X-Anything", "value", []byte("{}"))
	f.Fuzz(func(t *testing.T, name, value string, body []byte) {
		v, err := New(Config{Scheme: SchemeNone})
		require.NoError(t, err)
		require.NoError(t, v.Verify(http.Header{name: {value}}, body, testNow))
	})
}
