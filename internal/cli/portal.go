package cli

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// portalGroup lists the subcommands of weir portal.
var portalGroup = group{name: "portal", subs: []string{
	"link --roles ROLE[,ROLE...] [--ttl 24h] [--server URL] [--token T]",
}}

// portalCmd runs `weir portal link`.
func portalCmd(args []string, stdout, stderr io.Writer) error {
	cmd, err := portalGroup.pick(args, stdout)
	if err != nil {
		return err
	}
	if cmd == "link" {
		return portalLink(args[1:], stdout, stderr)
	}
	return fmt.Errorf("weir portal: unknown command %q (want link)", cmd)
}

// portalLink asks weir for a one-time portal sign-in link and prints it.
func portalLink(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("portal link", "portal link --roles ROLE[,ROLE...] [--ttl 24h]",
		"Make a one-time sign-in link to the portal, scoped to roles (admin token needed). "+
			"Hand it to the person who should use it; its secret is in the part after #, which never reaches a server log.", stderr)
	af := addAPIFlags(fs)
	roles := fs.String("roles", "", "comma-separated roles: subscribe:order.*, publish:order.*, admin (required)")
	ttl := fs.String("ttl", "24h", "how long the link, and the session it opens, last (at most 720h)")
	if err := parseInterleaved(fs, args, stdout); err != nil {
		return err
	}
	if *roles == "" || fs.NArg() != 0 {
		return errors.New("usage: weir portal link --roles 'subscribe:order.*' [--ttl 24h]")
	}
	var list []string
	for _, r := range strings.Split(*roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			list = append(list, r)
		}
	}
	out, err := af.call(http.MethodPost, "/v1/portal/links", map[string]any{"roles": list, "ttl": *ttl}, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%v\n\nOne-time sign-in link for %s, usable until %v.\n", out["url"], strings.Join(list, ", "), out["expires_at"])
	return nil
}
