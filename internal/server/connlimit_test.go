package server

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestClientAddrGroupsAnIPv6Prefix: one IPv6 client commands a whole /64,
// so its addresses share one count; IPv4 (also written IPv4-mapped) counts
// per address.
func TestClientAddrGroupsAnIPv6Prefix(t *testing.T) {
	t.Parallel()
	tcp := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000} }
	require.Equal(t, clientAddr(tcp("2001:db8:1:2::1")), clientAddr(tcp("2001:db8:1:2:ffff:ffff:ffff:fffe")))
	require.Equal(t, "2001:db8:1:2::/64", clientAddr(tcp("2001:db8:1:2::1")))
	require.NotEqual(t, clientAddr(tcp("2001:db8:1:2::1")), clientAddr(tcp("2001:db8:1:3::1")))
	require.Equal(t, "192.0.2.7", clientAddr(tcp("192.0.2.7")))
	require.Equal(t, "192.0.2.7", clientAddr(tcp("::ffff:192.0.2.7")))
	require.NotEqual(t, clientAddr(tcp("192.0.2.7")), clientAddr(tcp("192.0.2.8")))
	require.Equal(t, "2001:db8::/64", clientAddr(&net.UnixAddr{Name: "[2001:db8::5]:80", Net: "unix"}))
}
