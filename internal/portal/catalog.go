package portal

import (
	"context"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/contract"
	"github.com/weir-dev/weir/internal/event"
	"github.com/weir-dev/weir/internal/portal/chart"
	"github.com/weir-dev/weir/internal/traffic"
)

// The catalog: every event type with a contract that the viewer may see
// (token.CanSee: admin, or a publish or subscribe role covering it), with
// its versions, fields, example, producers and consumers. A type the viewer
// may not see answers 404, as an unknown one does.

// registerCatalog adds the catalog's routes.
func (p *Portal) registerCatalog(mux *http.ServeMux) {
	p.handle(mux, "GET /ui/catalog", p.catalogList)
	p.handle(mux, "GET /ui/catalog/{type}", p.catalogType)
	p.handle(mux, "GET /ui/catalog/{type}/diff", p.catalogDiff)
	p.handle(mux, "POST /ui/catalog/{type}/check", p.catalogCheck)
	p.handle(mux, "GET /ui/asyncapi.json", p.asyncAPIJSON)
	p.handle(mux, "GET /ui/asyncapi.yaml", p.asyncAPIYAML)
}

// catalogRow is one type of the list.
type catalogRow struct {
	Type, Owner, Description string
	// Latest is the newest version's number (also the count of versions).
	Latest int
	// Updated is when the newest version was registered.
	Updated    time.Time
	Deprecated *contract.Deprecation
}

// listData is the list page's.
type listData struct {
	Rows []catalogRow
	// Query filters the rows by type, owner or description.
	Query string
	// Total is how many types the viewer may see before the filter.
	Total int
	// Undeclared are types sources send that the viewer may see and that
	// have no contract yet.
	Undeclared []string
}

func (p *Portal) catalogList(w http.ResponseWriter, r *http.Request, v *viewer) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > 200 {
		q = q[:200]
	}
	d := listData{Query: q}
	known := map[string]bool{}
	for _, c := range p.deps.Contracts.List() {
		known[c.Type] = true
		if !v.Token.CanSee(c.Type) || len(c.Versions) == 0 {
			continue
		}
		d.Total++
		if q != "" && !containsFold(c.Type, q) && !containsFold(c.Owner, q) && !containsFold(c.Description, q) {
			continue
		}
		latest := c.Latest()
		d.Rows = append(d.Rows, catalogRow{Type: c.Type, Owner: c.Owner, Description: c.Description,
			Latest: latest.Version, Updated: latest.CreatedAt, Deprecated: c.Deprecated})
	}
	for _, s := range p.deps.Catalog().Sources {
		for _, t := range s.Types {
			if !known[t] && v.Token.CanSee(t) && !slices.Contains(d.Undeclared, t) {
				d.Undeclared = append(d.Undeclared, t)
			}
		}
	}
	slices.Sort(d.Undeclared)
	p.render(w, r, http.StatusOK, "catalog", page{Title: "Catalog", Nav: "catalog", Viewer: v, Data: d})
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// producer is a source that sends, or may send, a type.
type producer struct {
	Name string
	// Fixed is set when the source sends only this type; otherwise each
	// request names its type (after Prefix).
	Fixed  bool
	Prefix string
}

// typeData is the type page's.
type typeData struct {
	Contract *contract.Contract
	// Version is the version shown (?version=N, default the latest).
	Version *contract.Version
	Fields  fieldTable
	// Schema is the version's schema, indented.
	Schema  string
	Example exampleEvent
	// Producers are the sources that send the type; Consumers the
	// subscriptions the viewer may see whose patterns match it.
	Producers []producer
	Consumers []contract.CatalogSubscription
	// Traffic holds the live figures (events per minute, last seen), from
	// the counters the home page uses; nil without counters.
	Traffic *typeTraffic
	// Check is the compatibility form's state and result.
	Check checkForm
	// Modes are the compatibility modes the form offers.
	Modes []contract.Mode
	// Retired is set when the type's sunset has passed with policy reject.
	Retired bool
	// DiffFrom and DiffTo are the versions the compare form starts with:
	// the one shown and the one before it.
	DiffFrom, DiffTo int
}

// typeTraffic is a type's live figures on its catalog page.
type typeTraffic struct {
	// Chart is the type's events per minute over the last hour.
	Chart template.HTML
	// LastHour counts them; Total counts since this node started.
	LastHour, Total uint64
	// LastSeen is when an event of the type was last stored, on any node
	// (the stream's last message of the type); zero when never.
	LastSeen time.Time
	// LastSeenError says why it could not be read, if so.
	LastSeenError bool
}

// trafficFor returns the live figures of typ for the type page, from the
// counters (never a scan of the stream: last seen is one lookup of the
// stream's last message of the type, cached by the counters).
func (p *Portal) trafficFor(ctx context.Context, typ string) *typeTraffic {
	if p.deps.Traffic == nil {
		return nil
	}
	t := &typeTraffic{}
	s, ok := p.deps.Traffic.Get(traffic.Types, typ)
	if !ok {
		s = traffic.Series{Key: typ, PerMinute: make([]uint64, traffic.Minutes)}
	}
	t.LastHour, t.Total = s.LastHour, s.Total
	t.Chart = chart.SVG(chart.Chart{ID: "type-traffic", Title: typ + ": events per minute over the last hour (UTC)",
		Values: s.PerMinute, Labels: chart.MinuteLabels(p.now().UTC(), traffic.Minutes), Height: 80})
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	seen, err := p.deps.Traffic.LastSeen(ctx, []string{typ})
	t.LastSeen, t.LastSeenError = seen[typ], err != nil
	return t
}

func (p *Portal) catalogType(w http.ResponseWriter, r *http.Request, v *viewer) {
	c, ok := p.visibleContract(w, r, v)
	if !ok {
		return
	}
	n, ok := p.versionParam(w, r, v, c, "version", len(c.Versions))
	if !ok {
		return
	}
	d := p.typePage(r.Context(), v, c, n)
	p.render(w, r, http.StatusOK, "catalog_type", page{Title: c.Type, Nav: "catalog", Viewer: v, Data: d})
}

// typePage gathers what the type page shows the viewer of version n.
func (p *Portal) typePage(ctx context.Context, v *viewer, c *contract.Contract, n int) *typeData {
	ver := &c.Versions[n-1]
	d := &typeData{Contract: c, Version: ver, Fields: fieldsOf(ver.Schema), Traffic: p.trafficFor(ctx, c.Type), Modes: compatModes()}
	d.DiffFrom, d.DiffTo = max(1, n-1), max(2, n)
	d.Schema = clipBlock(strings.Join(indentLines(ver.Schema), "\n"))
	if dep := c.Deprecated; dep != nil && dep.Policy == "reject" && !dep.Sunset.IsZero() && p.now().After(dep.Sunset) {
		d.Retired = true
	}
	cat := p.deps.Catalog()
	source := "/apps/your-app"
	for _, s := range cat.Sources {
		switch {
		case slices.Contains(s.Types, c.Type):
			d.Producers = append(d.Producers, producer{Name: s.Name, Fixed: true})
			if !strings.HasPrefix(source, "/sources/") {
				source = "/sources/" + s.Name
			}
		case len(s.Types) == 0 && strings.HasPrefix(c.Type, s.TypePrefix):
			d.Producers = append(d.Producers, producer{Name: s.Name, Prefix: s.TypePrefix})
		}
	}
	for _, s := range cat.Subscriptions {
		// Subscriptions the viewer may not see stay out, as on
		// GET /v1/subscriptions.
		if event.MatchAnyType(s.Types, c.Type) && v.Token.CanSubscribe(s.Types) {
			d.Consumers = append(d.Consumers, s)
		}
	}
	d.Example = p.exampleFor(c, ver, source)
	return d
}

// visibleContract is the contract named by the path, or a 404 page when
// there is none or the viewer may not see it: the two look the same, so
// that the page does not tell which types exist.
func (p *Portal) visibleContract(w http.ResponseWriter, r *http.Request, v *viewer) (*contract.Contract, bool) {
	typ := r.PathValue("type")
	c, ok := p.deps.Contracts.Get(typ)
	if !ok || len(c.Versions) == 0 || !v.Token.CanSee(typ) {
		p.fail(w, r, v, http.StatusNotFound, "There is no event type "+strconv.Quote(typ)+" in the catalog you can see. "+
			"The catalog lists the types your token may publish or subscribe to.")
		return nil, false
	}
	return c, true
}

// versionParam reads a version number from the query (def when absent): a
// number that is not a version answers 404, text that is not a number 400.
func (p *Portal) versionParam(w http.ResponseWriter, r *http.Request, v *viewer, c *contract.Contract, name string, def int) (int, bool) {
	raw := r.URL.Query().Get(name)
	if raw == "" || raw == "latest" {
		return def, true
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		p.fail(w, r, v, http.StatusBadRequest, name+": "+strconv.Quote(clipText(raw))+" is not a version number.")
		return 0, false
	}
	if n < 1 || n > len(c.Versions) {
		p.fail(w, r, v, http.StatusNotFound, "The "+c.Type+" contract has versions 1 to "+strconv.Itoa(len(c.Versions))+", not "+strconv.Itoa(n)+".")
		return 0, false
	}
	return n, true
}

// maxBlock bounds a schema or example shown whole on a page.
const maxBlock = 256 << 10

func clipBlock(s string) string {
	if len(s) <= maxBlock {
		return s
	}
	cut := maxBlock
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + "\n… (cut: the rest is in the API's GET /v1/contracts/{type}/versions/{n})"
}
