// Package target is the address policy of push deliveries: which URLs a
// subscription may be saved with, and which resolved addresses weir may dial
// (Policy.Control, Policy.Transport), so that a push URL cannot reach cloud
// metadata, or loopback and private ranges for untrusted subscriptions.
package target

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrDenied is wrapped by every refusal of the address policy, whether
// CheckURL refuses an IP literal when a subscription is saved or Control refuses
// a resolved address at dial time. Callers test for it with errors.Is to tell a
// policy refusal (fix the URL or delivery.allow; retrying will not help) from an
// endpoint that is down.
var ErrDenied = errors.New("delivery target denied by address policy")

// deniedRange is one of the ranges Policy denies unless told otherwise,
// with the words that explain it to whoever pasted the URL.
type deniedRange struct {
	prefix netip.Prefix
	why    string
}

// defaultDenied is what an unconfigured weir refuses to call. Loopback and
// private ranges are absent on purpose: a micro app on the same laptop or
// network is the common case, and delivery.deny removes them where weir shares
// a network with things it must not reach.
var defaultDenied = []deniedRange{
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local, where cloud metadata services such as 169.254.169.254 answer"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "the AWS instance metadata service"},
	{netip.MustParsePrefix("100.100.100.200/32"), "the Alibaba Cloud metadata service"},
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified (\"this network\")"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
}

// untrustedDenied is what weir also refuses to call for a subscription that an
// untrusted token (one without admin) created through the API. Such a token
// could otherwise point weir at a service on weir's own host or network and
// read the first bytes of each answer in the attempt records. Subscriptions
// from weir.yaml and admin tokens are trusted and keep the laptop-friendly
// defaults above. IPv4-mapped forms (::ffff:127.0.0.1) are unmapped before the
// check and NAT64 forms are checked by their IPv4 address, as for the defaults.
var untrustedDenied = []deniedRange{
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (carrier-grade NAT)"},
	{netip.MustParsePrefix("fc00::/7"), "a unique-local address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking network address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol assignment"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
	// Prefixes that carry an IPv4 address inside an IPv6 one, where a
	// network routes them: local-use NAT64 (RFC 8215), 6to4 and Teredo.
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a local-use NAT64 address"},
	{netip.MustParsePrefix("2002::/16"), "a 6to4 address"},
	{netip.MustParsePrefix("2001::/32"), "a Teredo address"},
}

// nat64 is the well-known NAT64 prefix (RFC 6052): on an IPv6-only network
// 64:ff9b::a9fe:a9fe reaches 169.254.169.254, so the embedded IPv4 address is
// checked as well.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Policy decides which delivery URLs and addresses weir may call. By
// default it denies link-local (169.254.0.0/16, fe80::/10, which includes cloud
// metadata 169.254.169.254), other cloud metadata addresses (fd00:ec2::254,
// 100.100.100.200), unspecified (0.0.0.0/8, ::), multicast and broadcast;
// loopback and private ranges are allowed (so http://127.0.0.1:9000/hook works
// on a laptop) unless listed in Deny, or unless Untrusted is set. Allow
// overrides the default denies, the untrusted denies AND Deny for the prefixes
// it lists.
//
// IPv4 addresses are IPv4 prefixes: an IPv4-mapped IPv6 address
// (::ffff:169.254.169.254) is unmapped before it is checked, and mapped
// prefixes given to New are stored as IPv4 ones. A nil policy is
// the default policy.
type Policy struct {
	// Allow lists prefixes weir may call even where the defaults or Deny refuse.
	Allow []netip.Prefix
	// Deny lists further prefixes weir may not call.
	Deny []netip.Prefix
	// Untrusted also denies loopback, private, shared (100.64.0.0/10),
	// unique-local and site-local addresses: the policy of subscriptions made
	// through the API by tokens without admin.
	Untrusted bool
}

// ForUntrusted returns a copy of p, with the same Allow and Deny, that also
// refuses the ranges an untrusted subscription may not reach.
func (p *Policy) ForUntrusted() *Policy {
	u := &Policy{Untrusted: true}
	if p != nil {
		u.Allow, u.Deny = p.Allow, p.Deny
	}
	return u
}

// New builds a policy from weir.yaml's delivery.allow and
// delivery.deny: CIDR prefixes ("10.0.0.0/8") or single addresses ("10.1.2.3",
// "::1"). An error names the bad entry, e.g.
// `delivery.deny[1]: "10.0.0.0/33" is not an address or CIDR prefix`.
func New(allow, deny []string) (*Policy, error) {
	a, err := parsePrefixes("delivery.allow", allow)
	if err != nil {
		return nil, err
	}
	d, err := parsePrefixes("delivery.deny", deny)
	if err != nil {
		return nil, err
	}
	return &Policy{Allow: a, Deny: d}, nil
}

// parsePrefixes reads the entries of the config list at path.
func parsePrefixes(path string, entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, e := range entries {
		p, err := parsePrefix(strings.TrimSpace(e))
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %q %v", path, i, e, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// parsePrefix reads one CIDR prefix or address; the error completes a sentence
// that starts with the entry.
func parsePrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, errors.New("is not an address or CIDR prefix")
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return p, errors.New("is not an address or CIDR prefix")
		}
		if a.Zone() != "" {
			// Prefix.Contains never matches a zoned address, so the entry
			// would silently do nothing.
			return p, errors.New("has an IPv6 zone; list the address without %zone")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// CheckURL validates a push URL before it is saved: scheme http or https, a
// host, no user:password, no fragment; when the host is an IP literal it is
// checked against the policy now. Hostnames are checked at dial time by
// Control, since what they resolve to can change. Errors are sentences naming
// the problem; they never repeat a password found in the URL.
func (p *Policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("the push URL is not a valid URL: %v", err)
	}
	if u.User != nil {
		return errors.New("the push URL must not carry a user name or password: weir signs every delivery with the subscription secret instead")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		if u.Scheme == "" {
			return fmt.Errorf("the push URL %q must start with http:// or https://", raw)
		}
		return fmt.Errorf("the push URL %q uses %s://; weir delivers only over http:// or https://", raw, u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("the push URL %q has no host; write it as %s://host[:port]/path", raw, u.Scheme)
	}
	if strings.Contains(raw, "#") {
		return fmt.Errorf("the push URL %q has a #fragment, which is never sent to the server; remove it", raw)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("the push URL %q has port %s, which is not between 1 and 65535", raw, port)
		}
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		return p.CheckAddr(ip)
	}
	if looksNumeric(host) {
		// Some resolvers read "2852039166" or "0xa9fea9fe" as 169.254.169.254;
		// Control would still refuse it, but the user deserves to hear now.
		return fmt.Errorf("the push URL %q has host %s, which looks like an IPv4 address in a non-standard form; write it as four decimal numbers (e.g. 10.1.2.3)", raw, host)
	}
	return nil
}

// looksNumeric reports whether host is one to four dot-separated numbers in
// decimal, octal or hex, the forms inet_aton accepts as an IPv4 address.
func looksNumeric(host string) bool {
	parts := strings.Split(strings.TrimSuffix(host, "."), ".")
	if len(parts) > 4 {
		return false
	}
	for _, part := range parts {
		digits := part
		if len(part) > 2 && (part[:2] == "0x" || part[:2] == "0X") {
			digits = part[2:]
			for _, c := range digits {
				if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
					return false
				}
			}
			continue
		}
		if digits == "" || strings.Trim(digits, "0123456789") != "" {
			return false
		}
	}
	return true
}

// CheckAddr checks one resolved address. The error wraps ErrDenied and
// says why the address is refused and how to permit it.
func (p *Policy) CheckAddr(ip netip.Addr) error {
	if !ip.IsValid() {
		return fmt.Errorf("%w: no address to check", ErrDenied)
	}
	// Prefix.Contains never matches a zoned address, and an IPv4-mapped
	// address never matches an IPv4 prefix; both would slip through.
	ip = ip.WithZone("").Unmap()
	if err := p.checkPlain(ip); err != nil {
		return err
	}
	if nat64.Contains(ip) && !p.allowed(ip) {
		b := ip.As16()
		v4 := netip.AddrFrom4([4]byte(b[12:]))
		if err := p.checkPlain(v4); err != nil {
			return fmt.Errorf("%w (%s is %s through NAT64)", err, ip, v4)
		}
	}
	return nil
}

// checkPlain checks an unzoned, unmapped address against the lists.
func (p *Policy) checkPlain(ip netip.Addr) error {
	if p.allowed(ip) {
		return nil
	}
	for _, d := range defaultDenied {
		if d.prefix.Contains(ip) {
			return fmt.Errorf("%w: %s is %s; list it under delivery.allow to permit it", ErrDenied, ip, d.why)
		}
	}
	if p != nil && p.Untrusted {
		for _, d := range untrustedDenied {
			if d.prefix.Contains(ip) {
				return fmt.Errorf("%w: %s is %s, which subscriptions created by tokens without admin may not reach; an admin token may create it, or list the range under delivery.allow to permit it", ErrDenied, ip, d.why)
			}
		}
	}
	if p != nil {
		for _, d := range p.Deny {
			if d.Contains(ip) {
				return fmt.Errorf("%w: %s is in %s, listed under delivery.deny", ErrDenied, ip, d)
			}
		}
	}
	return nil
}

// allowed reports whether the Allow list names ip.
func (p *Policy) allowed(ip netip.Addr) bool {
	if p == nil {
		return false
	}
	for _, a := range p.Allow {
		if a.Contains(ip) {
			return true
		}
	}
	return false
}

// Control is a net.Dialer Control function that refuses connections to denied
// addresses at dial time, after name resolution, so that a hostname resolving
// to a metadata address (DNS rebinding included) is refused too. The error
// wraps ErrDenied and names the address; an address it cannot read is
// refused rather than let through.
func (p *Policy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read the %s address %q", ErrDenied, network, address)
	}
	return p.CheckAddr(ap.Addr())
}

// Transport returns an *http.Transport whose dialer uses Control, for push
// deliveries. It keeps many idle connections per host because a subscription
// sends a high rate of requests to one receiver, and it ignores HTTP_PROXY and
// friends: through a proxy, Control would check the proxy's address instead of
// the receiver's. The deadline of one attempt comes from the request's context,
// so no response timeout is set here.
func (p *Policy) Transport() *http.Transport {
	d := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Control:   p.Control,
	}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10, // a receiver answers with a status, not a payload
	}
}
