package target

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func policy(t *testing.T, allow, deny []string) *Policy {
	t.Helper()
	p, err := New(allow, deny)
	require.NoError(t, err)
	return p
}

func TestTargetDefaults(t *testing.T) {
	t.Parallel()
	p := policy(t, nil, nil)
	for _, s := range []string{
		"169.254.169.254", "169.254.170.2", "fe80::1", "fe80::1%eth0", "::ffff:169.254.169.254",
		"fd00:ec2::254", "100.100.100.200", "0.0.0.0", "0.1.2.3", "::", "224.0.0.1",
		"239.255.255.250", "ff02::1", "255.255.255.255", "64:ff9b::a9fe:a9fe",
	} {
		err := p.CheckAddr(netip.MustParseAddr(s))
		require.ErrorIs(t, err, ErrDenied, s)
		require.Contains(t, err.Error(), "delivery.allow", "%s: the error says how to permit it", s)
	}
	for _, s := range []string{
		"127.0.0.1", "10.1.2.3", "192.168.1.10", "172.16.0.1", "::1", "fd00::1", "8.8.8.8",
		"2001:db8::1", "::ffff:10.1.2.3", "100.100.100.201", "64:ff9b::808:808",
	} {
		require.NoError(t, p.CheckAddr(netip.MustParseAddr(s)), s)
	}
	require.ErrorIs(t, p.CheckAddr(netip.Addr{}), ErrDenied, "the zero address is refused")
	require.ErrorIs(t, (*Policy)(nil).CheckAddr(netip.MustParseAddr("169.254.169.254")), ErrDenied,
		"a nil policy is the default one")
	require.NoError(t, (*Policy)(nil).CheckAddr(netip.MustParseAddr("127.0.0.1")))
}

func TestTargetErrorText(t *testing.T) {
	t.Parallel()
	p := policy(t, nil, []string{"10.0.0.0/8"})
	require.EqualError(t, p.CheckAddr(netip.MustParseAddr("::ffff:169.254.169.254")),
		"delivery target denied by address policy: 169.254.169.254 is link-local, where cloud metadata services such as 169.254.169.254 answer; list it under delivery.allow to permit it")
	require.EqualError(t, p.CheckAddr(netip.MustParseAddr("10.9.9.9")),
		"delivery target denied by address policy: 10.9.9.9 is in 10.0.0.0/8, listed under delivery.deny")
}

func TestTargetDenyList(t *testing.T) {
	t.Parallel()
	p := policy(t, nil, []string{"127.0.0.0/8", " 10.1.2.3 ", "::1", "::ffff:192.168.0.0/112"})
	for _, s := range []string{"127.0.0.1", "127.9.9.9", "10.1.2.3", "::1", "::ffff:127.0.0.1", "192.168.5.5"} {
		require.ErrorIs(t, p.CheckAddr(netip.MustParseAddr(s)), ErrDenied, s)
	}
	require.NoError(t, p.CheckAddr(netip.MustParseAddr("10.1.2.4")))
	require.Equal(t, netip.MustParsePrefix("192.168.0.0/16"), p.Deny[3], "mapped prefixes are stored as IPv4")
}

func TestTargetAllowOverrides(t *testing.T) {
	t.Parallel()
	p := policy(t, []string{"169.254.169.254", "10.0.0.0/24", "fe80::/64"}, []string{"10.0.0.0/8"})
	for _, s := range []string{"169.254.169.254", "::ffff:169.254.169.254", "10.0.0.7", "fe80::1%eth0"} {
		require.NoError(t, p.CheckAddr(netip.MustParseAddr(s)), s)
	}
	require.ErrorIs(t, p.CheckAddr(netip.MustParseAddr("169.254.169.253")), ErrDenied)
	require.ErrorIs(t, p.CheckAddr(netip.MustParseAddr("10.0.1.7")), ErrDenied)
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	_, err := New(nil, []string{"10.0.0.0/8", "10.0.0.0/33"})
	require.EqualError(t, err, `delivery.deny[1]: "10.0.0.0/33" is not an address or CIDR prefix`)
	_, err = New([]string{"example.com"}, nil)
	require.EqualError(t, err, `delivery.allow[0]: "example.com" is not an address or CIDR prefix`)
	_, err = New([]string{""}, nil)
	require.ErrorContains(t, err, "delivery.allow[0]")
	_, err = New(nil, []string{"fe80::1%eth0"})
	require.ErrorContains(t, err, "zone")
	p := policy(t, []string{"10.1.2.3/8"}, nil)
	require.Equal(t, netip.MustParsePrefix("10.0.0.0/8"), p.Allow[0], "host bits are masked off")
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	p := policy(t, nil, nil)
	for _, u := range []string{
		"http://127.0.0.1:9000/hook", "https://app.example.com/events?x=1", "http://[::1]:8080/",
		"http://localhost/hook", "HTTPS://Example.COM", "http://10.1.2.3",
	} {
		require.NoError(t, p.CheckURL(u), u)
	}
	cases := []struct{ url, text string }{
		{"ftp://example.com/x", "uses ftp://"},
		{"example.com/hook", "must start with http:// or https://"},
		{"//example.com/hook", "must start with http:// or https://"},
		{"http:///hook", "has no host"},
		{"http://:80/hook", "has no host"},
		{"http:example.com", "has no host"},
		{"https://user:hunter2@example.com/", "user name or password"},
		{"https://user@example.com/", "user name or password"},
		{"https://example.com/hook#top", "#fragment"},
		{"https://example.com/hook#", "#fragment"},
		{"http://example.com:99999/", "not between 1 and 65535"},
		{"http://example.com:0/", "not between 1 and 65535"},
		{"http://exa mple.com/", "not a valid URL"},
		{"http://[::1/", "not a valid URL"},
		{"http://example.com:port/", "not a valid URL"},
		{"http://2852039166/", "non-standard form"},
		{"http://0xa9.0xfe.0xa9.0xfe/", "non-standard form"},
		{"http://0251.0376.0251.0376/", "non-standard form"},
		{"", "must start with http:// or https://"},
		{"\x7f", "not a valid URL"},
	}
	for _, c := range cases {
		err := p.CheckURL(c.url)
		require.ErrorContains(t, err, c.text, c.url)
		require.NotErrorIs(t, err, ErrDenied, c.url)
	}
	require.NotContains(t, p.CheckURL("https://user:hunter2@example.com/").Error(), "hunter2",
		"the error never repeats a password")

	for _, u := range []string{
		"http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://[fe80::1%25eth0]:80/",
		"http://[::ffff:169.254.169.254]/", "http://0.0.0.0:8080/", "http://224.0.0.1/", "http://100.100.100.200/",
	} {
		require.ErrorIs(t, p.CheckURL(u), ErrDenied, u)
	}
	require.ErrorIs(t, policy(t, nil, []string{"127.0.0.0/8"}).CheckURL("http://127.0.0.1:9000/hook"), ErrDenied)
}

func TestControlRefusesUnreadableAddress(t *testing.T) {
	t.Parallel()
	p := policy(t, nil, nil)
	require.ErrorIs(t, p.Control("tcp", "not an address", nil), ErrDenied)
	require.ErrorIs(t, p.Control("tcp6", "[fe80::1%eth0]:443", nil), ErrDenied)
	require.NoError(t, p.Control("tcp4", "127.0.0.1:443", nil))
}

func TestTransportDelivers(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	require.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)

	tr := policy(t, nil, nil).Transport()
	t.Cleanup(tr.CloseIdleConnections)
	require.Nil(t, tr.Proxy, "no proxy from the environment")
	c := &http.Client{Transport: tr}
	for range 3 {
		resp, err := c.Post(srv.URL+"/hook", "application/cloudevents+json", strings.NewReader(`{}`))
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
	}

	denied := policy(t, nil, []string{"127.0.0.0/8"}).Transport()
	t.Cleanup(denied.CloseIdleConnections)
	_, err := (&http.Client{Transport: denied}).Post(srv.URL+"/hook", "application/cloudevents+json", strings.NewReader(`{}`))
	require.ErrorIs(t, err, ErrDenied)
	var ue *url.Error
	require.ErrorAs(t, err, &ue)
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "dial", oe.Op)
	require.Contains(t, err.Error(), "127.0.0.1 is in 127.0.0.0/8")
}

func TestTransportRefusesHostnameResolvingToDenied(t *testing.T) {
	t.Parallel()
	// "localhost" passes CheckURL as a name; the refusal must come at dial time.
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	target := "http://localhost:" + u.Port() + "/hook"

	p := policy(t, nil, []string{"127.0.0.0/8", "::1"})
	require.NoError(t, p.CheckURL(target))
	tr := p.Transport()
	t.Cleanup(tr.CloseIdleConnections)
	_, err = (&http.Client{Transport: tr}).Get(target)
	require.Error(t, err)
	require.True(t, errors.Is(err, ErrDenied), "%v", err)
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1:9000/hook", "https://example.com/x?y#z", "ftp://a", "http://[::ffff:169.254.169.254]/",
		"http://user:pw@host/", "http://[fe80::1%25eth0]/", "http://0x7f.1/", "http://:0", "http:opaque", "",
	} {
		f.Add(s)
	}
	p, err := New([]string{"169.254.169.254"}, []string{"10.0.0.0/8"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if p.CheckURL(raw) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
			t.Fatalf("CheckURL accepted %q", raw)
		}
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil && p.CheckAddr(ip) != nil {
			t.Fatalf("CheckURL accepted %q, whose address the policy denies", raw)
		}
	})
}

func TestUntrustedPolicyDeniesPrivateRanges(t *testing.T) {
	t.Parallel()
	trusted := policy(t, nil, nil)
	u := trusted.ForUntrusted()
	for _, s := range []string{
		"127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255",
		"192.168.1.10", "::ffff:192.168.1.10", "100.64.0.1", "100.127.255.254", "fc00::1", "fd00::1",
		"fec0::1", "169.254.169.254", "0.0.0.0", "::", "64:ff9b::7f00:1", "64:ff9b::a00:1",
		"192.0.0.170", "240.0.0.1", "64:ff9b:1::a00:1", "2002:7f00:1::1", "2001:0:7f00:1::1",
	} {
		err := u.CheckAddr(netip.MustParseAddr(s))
		require.ErrorIs(t, err, ErrDenied, s)
		require.Contains(t, err.Error(), "delivery.allow", "%s: the error says how to permit it", s)
	}
	for _, s := range []string{"8.8.8.8", "2001:4860:4860::8888", "100.128.0.1", "172.32.0.1", "64:ff9b::808:808"} {
		require.NoError(t, u.CheckAddr(netip.MustParseAddr(s)), s)
	}
	require.NoError(t, trusted.CheckAddr(netip.MustParseAddr("127.0.0.1")), "the trusted policy is unchanged")
	require.ErrorIs(t, u.CheckURL("http://127.0.0.1:9000/"), ErrDenied, "an IP literal is refused when saved")
	require.NoError(t, u.CheckURL("http://localhost:9000/"), "a name is checked when dialled")
	require.EqualError(t, u.CheckAddr(netip.MustParseAddr("::ffff:127.0.0.1")),
		"delivery target denied by address policy: 127.0.0.1 is loopback, which subscriptions created by tokens without admin may not reach; an admin token may create it, or list the range under delivery.allow to permit it")

	// delivery.allow opens a range for untrusted subscriptions too; delivery.deny still applies.
	u = policy(t, []string{"10.20.0.0/16", "::1"}, []string{"8.8.8.0/24"}).ForUntrusted()
	require.NoError(t, u.CheckAddr(netip.MustParseAddr("10.20.1.7")))
	require.NoError(t, u.CheckAddr(netip.MustParseAddr("::1")))
	require.ErrorIs(t, u.CheckAddr(netip.MustParseAddr("10.21.1.7")), ErrDenied)
	require.ErrorIs(t, u.CheckAddr(netip.MustParseAddr("8.8.8.8")), ErrDenied)
	require.ErrorIs(t, (*Policy)(nil).ForUntrusted().CheckAddr(netip.MustParseAddr("10.0.0.1")), ErrDenied)
}

func TestUntrustedTransportRefusesLocalhost(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	tr := policy(t, nil, nil).ForUntrusted().Transport()
	t.Cleanup(tr.CloseIdleConnections)
	_, err = (&http.Client{Transport: tr}).Get("http://localhost:" + u.Port() + "/")
	require.ErrorIs(t, err, ErrDenied, "a name resolving to loopback is refused at dial time")
}
