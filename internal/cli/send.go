package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/weir-dev/weir/internal/verify"
)

// headerFlags collects repeated --header Name:Value flags.
type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// send signs a JSON file the way the source's sender would and posts it, so a
// citizen developer can try a source without writing a client.
func send(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("send", "send [--config FILE] [--server URL] --source NAME [--type TYPE] [--id ID] FILE|-",
		"Sign a JSON file the way the source's sender would and POST it to /in/NAME.", stderr)
	cfgPath := fs.String("config", "", "configuration file with the source (default ./weir.yaml when present)")
	server := fs.String("server", "", serverFlagHelp)
	url := fs.String("url", "", "same as --server")
	source := fs.String("source", "", "source name: the request goes to /in/NAME (required)")
	scheme := fs.String("scheme", "", "signature scheme (default: the source's, from the configuration)")
	secret := fs.String("secret", "", "signing secret (default: the source's first secret)")
	typ := fs.String("type", "", "event type, sent in the header named by the source's type_from")
	id := fs.String("id", "", "delivery id (default: a new one; repeat an id to see de-duplication)")
	var headers headerFlags
	fs.Var(&headers, "header", "extra header Name:Value (repeatable)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *source == "" || fs.NArg() != 1 {
		return errors.New("usage: weir send --source NAME [--type TYPE] FILE (or - for standard input)")
	}
	var body []byte
	var err error
	if fs.Arg(0) == "-" {
		body, err = io.ReadAll(os.Stdin)
	} else {
		body, err = os.ReadFile(fs.Arg(0))
	}
	if err != nil {
		return err
	}
	// Only the source's own ${NAME} variables are needed.
	cfg, err := loadClientConfig(*cfgPath, "sources."+*source)
	if err != nil {
		return err
	}
	vc := verify.Config{Scheme: *scheme}
	src, known := cfg.Sources[*source]
	if known {
		v := src.Verify
		vc = verify.Config{Scheme: v.Scheme, Secrets: v.Secrets, Header: v.Header, Algorithm: v.Algorithm,
			Encoding: v.Encoding, Prefix: v.Prefix, TimestampHeader: v.TimestampHeader}
		if *scheme != "" {
			vc.Scheme = *scheme
		}
	}
	if *secret != "" {
		vc.Secrets = []string{*secret}
	}
	if vc.Scheme == "" {
		return fmt.Errorf("source %q is not in the configuration: give --scheme and --secret, or --config", *source)
	}
	if *id == "" {
		*id = "msg_" + ulid.Make().String()
	}
	h, err := verify.Sign(vc, body, time.Now(), *id)
	if err != nil {
		return err
	}
	h.Set("Content-Type", "application/json")
	if *typ != "" {
		name := "X-Weir-Type"
		if from, ok := strings.CutPrefix(src.TypeFrom, "header:"); ok {
			name = from
		}
		h.Set(name, *typ)
	}
	for _, kv := range headers {
		k, v, ok := strings.Cut(kv, ":")
		if !ok {
			return fmt.Errorf("--header %q: want Name:Value", kv)
		}
		h.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if *server == "" {
		*server = *url
	}
	base, err := serverURL(*server, *cfgPath)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, base+"/in/"+*source, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = h
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	fmt.Fprintf(stdout, "%s %s\n%s", resp.Proto, resp.Status, out)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		fmt.Fprintln(stdout)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("weir answered %s", resp.Status)
	}
	return nil
}
