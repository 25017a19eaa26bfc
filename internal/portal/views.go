package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/field"
	"github.com/weir-dev/weir/internal/portal/chart"
	"github.com/weir-dev/weir/internal/view"
)

// Bounds of a view's page: the rows of one page of a latest view, the
// buckets charted and the records listed for a count view.
const (
	viewRowsPerPage = 50
	viewBuckets     = 60
	viewLastRecords = 20
)

// registerViews adds the view pages: reads for admins and tokens with
// read:views or read:views:<name> (token.CanReadView), as /v1/views;
// rebuilds for admins.
func (p *Portal) registerViews(mux *http.ServeMux) {
	if p.deps.Views == nil {
		return
	}
	p.handle(mux, "GET /ui/views", p.viewsList)
	p.handle(mux, "GET /ui/views/{name}", p.viewPage)
	p.handle(mux, "POST /ui/views/{name}/rebuild", p.rebuildView)
}

// viewsData is the list page's.
type viewsData struct {
	Views []view.Info
	// Declared counts every view, also those the viewer may not read.
	Declared int
}

func (p *Portal) viewsList(w http.ResponseWriter, r *http.Request, v *viewer) {
	all := p.deps.Views.List()
	d := viewsData{Views: []view.Info{}, Declared: len(all)}
	for _, i := range all {
		if v.Token.CanReadView(i.Name) {
			d.Views = append(d.Views, i)
		}
	}
	p.render(w, r, http.StatusOK, "views", page{Title: "Views", Nav: "views", Viewer: v, Data: d})
}

// viewData is a view's page.
type viewData struct {
	Info view.Info
	Spec config.View
	// Every is a count view's bucket width as text ("1m").
	Every string
	// Admin may rebuild.
	Admin bool
	Flash *flash
	// Error says why the records could not be read, if so.
	Error string
	// Latest views: the page of rows, the prefix searched, and the next
	// page's address ("" on the last).
	Columns []string
	Rows    []viewRow
	Prefix  string
	Next    template.URL
	// Paged is set past the first page.
	Paged bool
	// PerPage is how many rows a page shows.
	PerPage int
	// Count views: the chart of the last buckets, and the last records.
	Chart     template.HTML
	Points    []view.Point
	Truncated bool
	// Use are the "use in Retool / Appsmith" boxes.
	Use []integration
}

// viewRow is one record of a latest view, its values in Columns' order.
type viewRow struct {
	Key     string
	Values  []string
	Time    time.Time
	Type    string
	EventID string
}

// readableView returns the view of the path if the viewer may read it; an
// unknown view and one the viewer may not read get the same 404.
func (p *Portal) readableView(w http.ResponseWriter, r *http.Request, v *viewer) (view.Info, *view.Spec, bool) {
	name := r.PathValue("name")
	info, err := p.deps.Views.Info(name)
	spec := p.deps.Views.Spec(name)
	if err != nil || spec == nil || !v.Token.CanReadView(name) {
		p.fail(w, r, v, http.StatusNotFound, "There is no view named "+name+" that you may read. The list of views shows those you may; reading one needs the role read:views or read:views:<name>.")
		return view.Info{}, nil, false
	}
	return info, spec, true
}

func (p *Portal) viewPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	info, spec, ok := p.readableView(w, r, v)
	if !ok {
		return
	}
	d := &viewData{Info: info, Spec: spec.Config, Admin: v.Token.IsAdmin(),
		Flash: p.flash.take(v.Token.Name, r.URL.Query().Get("flash"))}
	status := http.StatusOK
	d.Every = durationText(spec.Config.Every.D())
	if spec.Config.Kind == config.ViewCount {
		p.countPage(r, d)
	} else {
		status = p.latestPage(r, d)
	}
	d.Use = integrations(p.baseURL(r), info.Name, spec.Config)
	p.render(w, r, status, "views_detail", page{Title: "View " + info.Name, Nav: "views", Viewer: v, Data: d,
		Scripts: []string{"copy.js"}, Refresh: d.Admin && info.Rebuilding != nil})
}

// latestPage reads one page of a latest view's rows, with the prefix and
// cursor of the query (the API's cursor); a bad one answers 400.
func (p *Portal) latestPage(r *http.Request, d *viewData) int {
	q := r.URL.Query()
	d.Prefix, d.Paged, d.PerPage = q.Get("prefix"), q.Get("cursor") != "", viewRowsPerPage
	d.Columns = slices.Sorted(maps.Keys(d.Spec.Fields))
	items, next, err := p.deps.Views.Page(r.Context(), d.Info.Name, d.Prefix, q.Get("cursor"), viewRowsPerPage)
	var fe *field.Error
	switch {
	case errors.As(err, &fe):
		d.Error = "The " + fe.Path + " is not valid: " + fe.Reason + "."
		return http.StatusBadRequest
	case err != nil:
		p.log.WarnContext(r.Context(), "portal: view not read", "view", d.Info.Name, "error", err)
		d.Error = "The view could not be read just now; reload in a moment."
		return http.StatusServiceUnavailable
	}
	for _, raw := range items {
		var it view.Item
		if json.Unmarshal(raw, &it) != nil {
			continue
		}
		row := viewRow{Key: it.Key, Time: it.Time, Type: it.Type, EventID: it.EventID}
		if len(d.Columns) == 0 {
			row.Values = []string{compactJSON(it.Data)}
		}
		for _, c := range d.Columns {
			row.Values = append(row.Values, valueText(it.Fields[c]))
		}
		d.Rows = append(d.Rows, row)
	}
	if next != "" {
		u := url.Values{"cursor": {next}}
		if d.Prefix != "" {
			u.Set("prefix", d.Prefix)
		}
		d.Next = template.URL("/ui/views/" + url.PathEscape(d.Info.Name) + "?" + u.Encode()) //nolint:gosec // a fixed path, the name path-escaped and the query encoded
	}
	return http.StatusOK
}

// countPage charts a count view's last buckets, summed over its by-values,
// and lists its newest records.
func (p *Portal) countPage(r *http.Request, d *viewData) {
	every := d.Spec.Every.D()
	end := time.Now().UTC().Truncate(every).Add(every)
	from := end.Add(-viewBuckets * every)
	points, next, err := p.deps.Views.Series(r.Context(), d.Info.Name, view.SeriesQuery{From: from, To: end, Limit: view.MaxBuckets})
	if err != nil {
		p.log.WarnContext(r.Context(), "portal: view series not read", "view", d.Info.Name, "error", err)
		d.Error = "The view could not be read just now; reload in a moment."
		return
	}
	d.Truncated = next != ""
	values, labels := bucketSums(points, from, every, viewBuckets)
	d.Chart = chart.SVG(chart.Chart{ID: "view-series", Title: "Events counted per " + durationText(every) + " by view " + d.Info.Name + " (UTC)",
		Values: values, Labels: labels, Height: 100})
	slices.SortStableFunc(points, func(a, b view.Point) int { return b.Bucket.Compare(a.Bucket) })
	d.Points = points[:min(len(points), viewLastRecords)]
}

// bucketSums adds up points per bucket: n buckets of width every from from,
// with their labels in UTC.
func bucketSums(points []view.Point, from time.Time, every time.Duration, n int) ([]uint64, []string) {
	values, labels := make([]uint64, n), make([]string, n)
	layout := "15:04"
	if every%time.Minute != 0 {
		layout = "15:04:05"
	} else if every >= 24*time.Hour {
		layout = "2006-01-02"
	}
	for i := range n {
		labels[i] = from.Add(time.Duration(i) * every).Format(layout)
	}
	for _, pt := range points {
		i := int(pt.Bucket.Sub(from) / every)
		if i >= 0 && i < n && pt.Count > 0 {
			values[i] += uint64(pt.Count)
		}
	}
	return values, labels
}

// rebuildView starts a rebuild, as POST /v1/views/{name}/rebuild (admins).
func (p *Portal) rebuildView(w http.ResponseWriter, r *http.Request, v *viewer) {
	info, _, ok := p.readableView(w, r, v)
	if !ok {
		return
	}
	if !v.Token.IsAdmin() {
		p.fail(w, r, v, http.StatusForbidden, "Only admins may rebuild a view: a rebuild reads the whole history on the bus.")
		return
	}
	notice := flash{Notice: "Rebuilding: a new generation is filled from every event the bus holds, while reads keep answering from the current one; it is swapped in once it has caught up."}
	_, err := p.deps.Views.Rebuild(r.Context(), info.Name)
	switch {
	case errors.Is(err, view.ErrRebuilding):
		notice = flash{Notice: "A rebuild of this view is already running; its progress is below.", Warn: true}
	case err != nil:
		p.failErr(w, r, v, err)
		return
	}
	id := p.flash.put(v.Token.Name, notice)
	http.Redirect(w, r, "/ui/views/"+url.PathEscape(info.Name)+"?flash="+id, http.StatusSeeOther)
}

// baseURL is where Retool or Appsmith reach weir: server.public_url, or
// the address this request came to.
func (p *Portal) baseURL(r *http.Request) string {
	if p.cfg.PublicURL != "" {
		return strings.TrimSuffix(p.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// valueText is a JSON value as text: a string without its quotes, anything
// else as compact JSON, nothing for an absent value.
func valueText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return compactJSON(raw)
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if len(raw) == 0 {
		return ""
	}
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// durationText is d as weir.yaml writes it: 1m, 1h30m, 10s.
func durationText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
