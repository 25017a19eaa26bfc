package portal

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/cdc"
	"github.com/weir-dev/weir/internal/contract"
	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/ingress"
	"github.com/weir-dev/weir/internal/sink"
	"github.com/weir-dev/weir/internal/tail"
	"github.com/weir-dev/weir/internal/token"
	"github.com/weir-dev/weir/internal/traffic"
	"github.com/weir-dev/weir/internal/view"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// csp allows nothing but this origin's own scripts, styles, images and
// connections (the live tail's EventSource): no inline script or style, no
// remote origin, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Config are the portal's settings.
type Config struct {
	// PublicURL is where browsers reach weir (server.public_url, or the
	// listener's address); sign-in links start with it, and an https URL
	// makes cookies Secure even behind a proxy that ends TLS.
	PublicURL string
	// SessionTTL bounds a session opened with a token (default 12h). A
	// session opened with a link ends when the link would have.
	SessionTTL time.Duration
}

// Deps are the services the portal shows and acts through: the same ones
// the /v1 API calls.
type Deps struct {
	// Tokens authenticate a pasted token.
	Tokens *token.Store
	// Links redeem sign-in links and keep the session key.
	Links *token.Links
	// Delivery runs subscriptions, replays and dead letters.
	Delivery *delivery.Manager
	// Contracts is the contract registry.
	Contracts *contract.Registry
	// Catalog describes every event type, source and subscription.
	Catalog func() contract.Catalog
	// Publisher stores events, as POST /v1/events does: the subscription
	// page's "send a test event" goes through it.
	Publisher *ingress.Publisher
	// Sources lists, creates and deletes webhook sources, as /v1/sources
	// does; without it the sources pages are absent.
	Sources *ingress.Sources
	// Requests is each source's request log, shown to those who manage the source since it
	// holds senders' addresses.
	Requests *ingress.RequestLog
	// Readmitter publishes a quarantined event again when a dead letter is
	// redriven, as POST /v1/deadletters/{id}/redrive does.
	Readmitter *ingress.Readmitter
	// Ready reports whether the bus can take requests (readiness).
	Ready func(ctx context.Context) error
	// Traffic are this node's live figures (events per minute by type and
	// source, deliveries by outcome), which the home page charts instead of
	// reading the stream.
	Traffic *traffic.Counters
	// Tails open the live tails of the tail page, under the same caps as
	// GET /v1/events/stream.
	Tails *tail.Tailer
	// Sinks runs the sinks, as /v1/sinks does; admins see them beside the
	// subscriptions. Without it the sink pages are absent.
	Sinks *sink.Manager
	// Views keeps and reads the views, as /v1/views does; the home page's
	// chart reads a count view when one fits. Without it the view pages
	// are absent.
	Views *view.Manager
	// CDC runs the change-data-capture sources; admins' home warns about a
	// source whose database keeps more WAL for it than max_retained_wal.
	// Without it the home shows none.
	CDC *cdc.Manager
	// Log receives the portal's logs.
	Log *slog.Logger
}

// Portal serves the web UI.
type Portal struct {
	cfg   Config
	deps  Deps
	log   *slog.Logger
	sess  *sessions
	pages map[string]*template.Template
	now   func() time.Time
	// flash keeps what a page shows once after a POST (a new secret, a notice).
	flash *flashes
}

// New builds the portal; ctx bounds reading the shared session key.
func New(ctx context.Context, cfg Config, deps Deps) (*Portal, error) {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	key, err := deps.Links.SessionKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	p := &Portal{cfg: cfg, deps: deps, log: deps.Log, now: time.Now}
	p.flash = &flashes{now: p.now}
	p.sess = &sessions{key: key, tokens: deps.Tokens, secure: strings.HasPrefix(cfg.PublicURL, "https://"), now: p.now}
	if p.pages, err = parsePages(); err != nil {
		return nil, err
	}
	return p, nil
}

// parsePages parses every page template with the shared layout.
func parsePages() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := make(map[string]*template.Template, len(names))
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFiles, n)
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// Register adds the portal's routes to mux: / redirects to /ui/.
func (p *Portal) Register(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFiles, "static")
	files := http.StripPrefix("/ui/static/", http.FileServerFS(static))
	mux.Handle("GET /ui/static/", p.secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})))
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusSeeOther))
	mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusSeeOther))
	mux.Handle("GET /ui/signin", p.secure(http.HandlerFunc(p.signInPage)))
	mux.Handle("POST /ui/signin", p.secure(p.form(http.HandlerFunc(p.signIn))))
	mux.Handle("POST /ui/signout", p.secure(p.form(http.HandlerFunc(p.signOut))))
	p.registerTail(mux)
	p.handle(mux, "GET /ui/{$}", p.home)
	p.registerCatalog(mux)
	p.registerSubscriptions(mux)
	p.handle(mux, "POST /ui/filters/preview", p.previewFilter)
	p.registerSources(mux)
	p.registerDeadLetters(mux)
	p.registerSinks(mux)
	p.registerViews(mux)
	mux.Handle("/ui/", p.secure(p.signedIn(func(w http.ResponseWriter, r *http.Request, v *viewer) {
		p.fail(w, r, v, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
	})))
}

// viewer is the signed-in person: the token they act as.
type viewer struct {
	Token *token.Token
	// Link is set when they signed in with a link.
	Link bool
	// Expires is when their session ends.
	Expires time.Time
}

// handle registers a page that needs a session; a POST also needs the CSRF token.
func (p *Portal) handle(mux *http.ServeMux, pattern string, h func(http.ResponseWriter, *http.Request, *viewer)) {
	var handler http.Handler = p.signedIn(h)
	if strings.HasPrefix(pattern, "POST ") {
		handler = p.form(handler)
	}
	mux.Handle(pattern, p.secure(handler))
}

// secure sets the headers every portal answer carries.
func (p *Portal) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if !strings.HasPrefix(r.URL.Path, "/ui/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// form checks a POST's CSRF token (and the size of its body) before it runs.
func (p *Portal) form(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if err := r.ParseForm(); err != nil {
			p.fail(w, r, nil, http.StatusBadRequest, "The form could not be read: it is larger than 1 MiB or malformed.")
			return
		}
		if !p.sess.checkCSRF(r) {
			p.fail(w, r, nil, http.StatusForbidden,
				"This form is missing its security token or the token is stale. Go back, reload the page and send it again.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// signedIn runs h with the request's viewer, or sends the browser to sign in.
func (p *Portal) signedIn(h func(http.ResponseWriter, *http.Request, *viewer)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, sess, err := p.sess.read(r)
		if err != nil {
			if _, cerr := r.Cookie(sessionCookie); cerr == nil {
				p.sess.end(w, r)
			}
			next := r.URL.Path
			if r.Method != http.MethodGet {
				next = "/ui/"
			} else if r.URL.RawQuery != "" {
				next += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, "/ui/signin?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		h(w, r, &viewer{Token: t, Link: sess.Kind == "link", Expires: time.Unix(sess.Expires, 0)})
	})
}

// page is what every template gets.
type page struct {
	Title string
	// Nav names the section highlighted in the navigation.
	Nav    string
	Viewer *viewer
	CSRF   string
	// Scripts are the page's own script files under /ui/static/.
	Scripts []string
	// Refresh reloads the page every 2 seconds (a meta refresh: progress
	// that updates without JavaScript, which the CSP allows).
	Refresh bool
	Data    any
}

// render writes a page; a template that fails answers 500 without a half page.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, name string, pg page) {
	t, ok := p.pages[name]
	if !ok {
		p.log.ErrorContext(r.Context(), "portal: no template", slog.String("page", name))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	pg.CSRF = p.sess.csrfToken(w, r)
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", pg); err != nil {
		p.log.ErrorContext(r.Context(), "portal: render", slog.String("page", name), slog.Any("error", err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail renders the error page with a sentence that says what to do.
func (p *Portal) fail(w http.ResponseWriter, r *http.Request, v *viewer, status int, msg string) {
	p.render(w, r, status, "error", page{Title: http.StatusText(status), Viewer: v,
		Data: struct {
			Status  int
			Message string
		}{status, msg}})
}

// failErr renders err: a bus that is away is a 503, anything else a 500 whose
// cause is logged, never shown.
func (p *Portal) failErr(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	p.log.ErrorContext(r.Context(), "portal request failed", slog.String("path", r.URL.Path), slog.Any("error", err))
	p.fail(w, r, v, http.StatusInternalServerError, "Something went wrong on weir's side; the cause is in weir's log. Try again in a moment.")
}
