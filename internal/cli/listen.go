package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/weir-dev/weir/internal/verify"
)

const (
	// listenMaxBody matches the bus's default largest message: weir cannot
	// deliver a bigger event, so a bigger body did not come from weir.
	listenMaxBody = 8 << 20
	// listenDataLines and listenLineWidth keep one event to a screenful.
	listenDataLines = 40
	listenLineWidth = 200
	// listenSeenMax bounds the per-delivery-id attempt counts; past it they
	// start again from zero, which only makes an attempt number restart.
	listenSeenMax = 10000
)

// listenOptions configures the receiver of weir listen.
type listenOptions struct {
	// Secret is the subscription's whsec_ secret; empty accepts every request
	// unchecked.
	Secret string
	// Path is the only request path accepted; empty means "/".
	Path string
	// Status is the answer to a good delivery; 0 means 200.
	Status int
	// Fail is how many good deliveries are answered 503 before Status.
	Fail int
}

// listen receives weir's push deliveries and prints them, so that a
// subscription can be seen working before the real receiver exists.
func listen(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// Once stopping, a second interrupt ends the process at once.
	context.AfterFunc(ctx, stop)
	return runListen(ctx, args, stdout, stderr)
}

// runListen is listen without the signal handling: it serves until ctx ends.
func runListen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("listen", "listen --port N [--secret whsec_...] [--path P] [--fail N] [--status CODE]",
		"Receive a push subscription's deliveries, check their signature and print them.", stderr)
	// A string, so that "required" is not shown as a default of -1.
	port := fs.String("port", "", "TCP port to listen on; 0 picks a free one (required)")
	host := fs.String("host", "127.0.0.1", "address to listen on; 0.0.0.0 accepts other machines")
	secret := fs.String("secret", "", "the subscription's secret (whsec_...); without it deliveries are not verified")
	path := fs.String("path", "/", "request path to receive on, the path of the subscription's url")
	fail := fs.Int("fail", 0, "answer 503 to the first N deliveries, to watch weir retry")
	status := fs.Int("status", 0, "answer every delivery with this status (default 200), e.g. 500 to watch weir retry")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("listen: unexpected argument %q (usage: weir listen --port N [--secret whsec_...])", fs.Arg(0))
	}
	if *port == "" {
		return errors.New("listen: --port is required (0 picks a free port)")
	}
	if n, err := strconv.Atoi(*port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("listen: --port %q: want a number from 0 to 65535", *port)
	}
	h, err := newListener(listenOptions{Secret: *secret, Path: *path, Status: *status, Fail: *fail}, stdout)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(*host, *port))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	checked := "yes"
	if *secret == "" {
		checked = "no"
	}
	fmt.Fprintf(stdout, "weir listen: receiving on http://%s%s (secret checked: %s)\n", ln.Addr(), *path, checked)
	if *secret == "" {
		fmt.Fprintln(stdout, "weir listen: WARNING: no --secret, so deliveries are NOT verified: anyone who can reach this port can post here")
	}

	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("listen: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shutErr := srv.Shutdown(sctx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("listen: %w", err)
	}
	if shutErr != nil {
		return fmt.Errorf("listen: stopping: %w", shutErr)
	}
	fmt.Fprintln(stdout, "weir listen: stopped")
	return nil
}

// listener is the HTTP handler of weir listen.
type listener struct {
	verifier verify.Verifier // nil: nothing is checked
	opts     listenOptions

	mu       sync.Mutex // guards out and the counters
	out      io.Writer
	accepted int            // good deliveries so far, for --fail
	seen     map[string]int // deliveries per webhook-id, to number attempts
}

// newListener builds the handler that checks, prints and answers each
// delivery. Output goes to out, one whole block per request.
func newListener(opts listenOptions, out io.Writer) (http.Handler, error) {
	if opts.Path == "" {
		opts.Path = "/"
	}
	switch {
	case !strings.HasPrefix(opts.Path, "/"):
		return nil, fmt.Errorf("listen: --path %q: must start with /", opts.Path)
	case opts.Status != 0 && (opts.Status < 200 || opts.Status > 599):
		return nil, fmt.Errorf("listen: --status %d: want 200 to 599", opts.Status)
	case opts.Fail < 0:
		return nil, fmt.Errorf("listen: --fail %d: must not be negative", opts.Fail)
	}
	if opts.Status == 0 {
		opts.Status = http.StatusOK
	}
	l := &listener{opts: opts, out: out, seen: map[string]int{}}
	if opts.Secret != "" {
		v, err := verify.New(verify.Config{Scheme: verify.SchemeStandardWebhooks, Secrets: []string{opts.Secret}})
		if err != nil {
			return nil, fmt.Errorf("listen: --secret: %w", err)
		}
		l.verifier = v
	}
	return l, nil
}

// delivery is the part of a CloudEvents structured event that is printed.
// Fields are read leniently: the point is to show what arrived.
type delivery struct {
	SpecVersion string          `json:"specversion"`
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Source      string          `json:"source"`
	Data        json.RawMessage `json:"data"`
	DataBase64  string          `json:"data_base64"`
}

func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now().UTC()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		l.refuse(w, now, http.StatusMethodNotAllowed, r.Method+" "+r.URL.Path+": weir delivers with POST only")
		return
	}
	if r.URL.Path != l.opts.Path {
		l.refuse(w, now, http.StatusNotFound, fmt.Sprintf("POST %s: this listener receives on %s; give --path %s to receive here",
			r.URL.Path, l.opts.Path, r.URL.Path))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, listenMaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			l.refuse(w, now, http.StatusRequestEntityTooLarge, "body over 8 MiB, more than weir ever delivers")
			return
		}
		l.refuse(w, now, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	if l.verifier != nil {
		if err := l.verifier.Verify(r.Header, body, now); err != nil {
			l.refuse(w, now, http.StatusUnauthorized, "bad signature: "+err.Error())
			return
		}
	}
	var ev delivery
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		l.refuse(w, now, http.StatusBadRequest, "body is not a JSON object; weir sends one CloudEvents event as JSON")
		return
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		l.refuse(w, now, http.StatusBadRequest, "body is not a CloudEvents JSON event: "+err.Error())
		return
	}

	webhookID := r.Header.Get("webhook-id")
	// Counting and printing happen under one lock so that attempt numbers
	// and --fail follow the order the lines appear in.
	l.mu.Lock()
	status, why := l.opts.Status, ""
	l.accepted++
	if l.accepted <= l.opts.Fail {
		status, why = http.StatusServiceUnavailable, fmt.Sprintf(" (--fail: %d of %d)", l.accepted, l.opts.Fail)
	} else if status != http.StatusOK {
		why = " (--status)"
	}
	key := webhookID
	if key == "" {
		key = ev.ID
	}
	if len(l.seen) >= listenSeenMax {
		clear(l.seen)
	}
	l.seen[key]++

	var b strings.Builder
	fmt.Fprintf(&b, "%s  ", now.Format(time.RFC3339))
	if ev.SpecVersion == "" {
		b.WriteString("(not a CloudEvents event: no specversion)")
		ev.Data = body
	} else {
		fmt.Fprintf(&b, "%s  %s  from %s", orUnknown(ev.Type), orUnknown(ev.ID), orUnknown(ev.Source))
	}
	fmt.Fprintf(&b, "  (attempt %d", l.seen[key])
	if webhookID != "" && webhookID != ev.ID {
		fmt.Fprintf(&b, ", webhook-id=%s", printable(webhookID))
	}
	fmt.Fprintf(&b, ")  -> %d%s\n", status, why)
	writeData(&b, ev)
	_, _ = io.WriteString(l.out, b.String())
	l.mu.Unlock()

	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "weir listen: %d%s\n", status, why)
}

// refuse prints why a request was refused and answers it.
func (l *listener) refuse(w http.ResponseWriter, now time.Time, status int, why string) {
	l.mu.Lock()
	fmt.Fprintf(l.out, "%s  -> %d  %s\n", now.Format(time.RFC3339), status, printable(why))
	l.mu.Unlock()
	http.Error(w, why, status)
}

// writeData writes the event's data indented under its line, cut to a
// screenful.
func writeData(b *strings.Builder, ev delivery) {
	switch {
	case ev.Data == nil && ev.DataBase64 != "":
		fmt.Fprintf(b, "  data_base64: %d characters of base64\n", len(ev.DataBase64))
		return
	case ev.Data == nil:
		b.WriteString("  (no data)\n")
		return
	}
	var buf bytes.Buffer
	text := string(ev.Data)
	if json.Indent(&buf, ev.Data, "", "  ") == nil {
		text = buf.String()
	}
	for i, line := range strings.Split(text, "\n") {
		if i == listenDataLines {
			b.WriteString("  …\n")
			return
		}
		b.WriteString("  ")
		b.WriteString(clip(printable(line), listenLineWidth))
		b.WriteByte('\n')
	}
}

// orUnknown stands in for an absent attribute, and makes a present one safe
// to print.
func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return printable(s)
}

// printable escapes what a terminal would act on instead of show: a sender
// controls these strings, and JSON decoding turns \u001b back into ESC.
func printable(s string) string {
	ok := true
	for _, r := range s {
		if !unicode.IsGraphic(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsGraphic(r) {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

// clip cuts s to at most width runes, marking the cut.
func clip(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	n := 0
	for i := range s {
		if n == width {
			return s[:i] + "…"
		}
		n++
	}
	return s
}
