// Package portal is weir's web UI, served by weir serve under /ui/: the place
// where a citizen developer sees which events exist, wires a source or a
// subscription, watches traffic and fixes dead letters without writing YAML.
//
// Pages are rendered on the server with html/template from files embedded with
// go:embed, styled by one hand-written stylesheet; JavaScript is used only
// where a page is live (the tail, the filter preview) and every other page
// works without it. The portal calls the same services the /v1 API calls (the
// delivery manager, the contract registry, the dead-letter store ...): it
// never calls the API over HTTP and holds no rule of its own that the API
// lacks.
//
// Security: a session is a signed, expiring cookie (HttpOnly, SameSite=Strict,
// Secure over TLS) that names a token by its hash, or a one-time sign-in
// link's roles; every form carries a CSRF token; every answer carries a
// Content-Security-Policy that allows no inline script, no inline style and
// no other origin; every user-supplied string reaches the page through
// html/template's contextual escaping.
package portal
