package portal

import (
	"context"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/weir-dev/weir/internal/deadletter"
	"github.com/weir-dev/weir/internal/delivery"
	"github.com/weir-dev/weir/internal/portal/chart"
	"github.com/weir-dev/weir/internal/traffic"
)

// Bounds of the home page, so that a page view costs the same whatever the
// traffic: the counters hold up to a thousand types and sources each, and the
// dead-letter bucket can hold many thousands.
const (
	// homeRows is how many types, and how many sources, get a chart; the
	// rest are counted in a sentence that points at GET /v1/traffic.
	homeRows = 10
	// deadLetterCap is how many open dead letters the page counts before it
	// says "100 or more".
	deadLetterCap = 100
)

// homeData is the home page's.
type homeData struct {
	// Ready is nil when the bus takes requests, else why not.
	Ready error
	// Subscriptions the viewer may see, with lag and breaker.
	Subscriptions []*delivery.View
	// Sources counts the sources declared; none makes the first-run page.
	Sources int
	// Traffic is nil when the node keeps no live figures.
	Traffic *homeTraffic
	// DeadLetters counts the open dead letters the viewer may handle.
	DeadLetters deadLetterCount
	// CDC are the change-data-capture sources whose slot keeps more WAL
	// than max_retained_wal (admins only).
	CDC []cdcWarning
}

// cdcWarning is a cdc source whose database keeps too much WAL for it.
type cdcWarning struct {
	Name, State   string
	Retained, Max string
	Paused        bool
}

// homeTraffic is the viewer's share of the live figures (traffic.Snapshot.For).
type homeTraffic struct {
	// Since is when this node started counting; At is now.
	Since, At time.Time
	// All charts every type the viewer sees, summed, minute by minute.
	All template.HTML
	// LastHour sums All.
	LastHour uint64
	// Types and Sources are the busiest, each with its chart.
	Types, Sources chartTable
	// SourceBound is true when the viewer's token is bound to sources, and
	// so may see some; Admin when it sees them all and the deliveries.
	SourceBound, Admin bool
	// Deliveries are by outcome, for admins only.
	Deliveries chartTable
	// View names the count view All and LastHour come from, "" when they
	// come from this node's counters; ViewLink when the viewer may open it.
	View     string
	ViewLink bool
}

// chartTable is a table of keys with their charts.
type chartTable struct {
	// Head names the key column; Label is the id of the heading that
	// names the table.
	Head, Label string
	Rows        []keyChart
	// More counts the keys left out.
	More int
}

// keyChart is one type's, source's or outcome's figures and chart.
type keyChart struct {
	Key             string
	LastHour, Total uint64
	SVG             template.HTML
}

// deadLetterCount is a bounded count: N, and More when there are at least
// deadLetterCap.
type deadLetterCount struct {
	N    int
	More bool
	// Failed is set when the store did not answer in time.
	Failed bool
}

func (p *Portal) home(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	d := homeData{Ready: p.deps.Ready(ctx)}
	d.Subscriptions = p.deps.Delivery.Visible(r.Context(), v.Token)
	d.Sources = len(p.deps.Catalog().Sources)
	if p.deps.Traffic != nil {
		d.Traffic = homeFigures(p.deps.Traffic.Snapshot().For(v.Token), v)
		if vs, ok := p.homeViewSeries(ctx, v.Token, d.Traffic.At); ok {
			d.Traffic.View, d.Traffic.ViewLink, d.Traffic.LastHour = vs.Name, v.Token.CanReadView(vs.Name), vs.LastHour
			d.Traffic.All = chart.SVG(chart.Chart{ID: "all", Title: "Events per minute over the last hour (UTC), all the types you can see, from view " + vs.Name,
				Values: vs.Values, Labels: chart.MinuteLabels(d.Traffic.At.UTC(), traffic.Minutes), Height: 100})
		}
	}
	d.DeadLetters = p.openDeadLetters(ctx, v)
	if p.deps.CDC != nil && v.Token.IsAdmin() {
		for _, st := range p.deps.CDC.RetainedWarnings(ctx) {
			d.CDC = append(d.CDC, cdcWarning{Name: st.Name, State: st.State, Paused: st.Paused,
				Retained: bytesText(st.RetainedBytes), Max: bytesText(st.MaxRetainedBytes)})
		}
	}
	p.render(w, r, http.StatusOK, "home", page{Title: "Home", Nav: "home", Viewer: v, Data: d})
}

// homeFigures charts a snapshot already cut to what v may see.
func homeFigures(snap traffic.Snapshot, v *viewer) *homeTraffic {
	// Minutes are labelled in UTC: the server cannot know the browser's zone,
	// and the page says so.
	labels := chart.MinuteLabels(snap.At.UTC(), traffic.Minutes)
	t := &homeTraffic{Since: snap.Since, At: snap.At, Admin: traffic.MaySeeDeliveries(v.Token),
		SourceBound: len(v.Token.Sources) > 0}
	sum := make([]uint64, traffic.Minutes)
	for _, s := range snap.Types {
		for i, n := range s.PerMinute {
			sum[i] += n
		}
		t.LastHour += s.LastHour
	}
	t.All = chart.SVG(chart.Chart{ID: "all", Title: "Events per minute over the last hour (UTC), all the types you can see",
		Values: sum, Labels: labels, Height: 100})
	t.Types = keyCharts("Type", "types-h", "events per minute", snap.Types, labels, homeRows)
	t.Sources = keyCharts("Source", "sources-h", "events per minute", snap.Sources, labels, homeRows)
	if t.Admin {
		t.Deliveries = keyCharts("Outcome", "deliveries-h", "deliveries per minute", snap.Outcomes, labels, 0)
	}
	return t
}

// keyCharts charts the first n series (all when n <= 0) and counts the rest;
// head names the key column and label the table's heading.
func keyCharts(head, label, what string, list []traffic.Series, labels []string, n int) chartTable {
	t := chartTable{Head: head, Label: label}
	if n > 0 && len(list) > n {
		list, t.More = list[:n], len(list)-n
	}
	t.Rows = make([]keyChart, len(list))
	for i, s := range list {
		t.Rows[i] = keyChart{Key: s.Key, LastHour: s.LastHour, Total: s.Total,
			SVG: chart.SVG(chart.Chart{ID: label + "-" + strconv.Itoa(i), Title: s.Key + ": " + what + " over the last hour (UTC)",
				Values: s.PerMinute, Labels: labels, Height: 40})}
	}
	return t
}

// openDeadLetters counts the open dead letters v may handle, with the API's
// rule (delivery.Manager.VisibleTo), up to deadLetterCap.
func (p *Portal) openDeadLetters(ctx context.Context, v *viewer) deadLetterCount {
	list, next, err := p.deps.Delivery.DeadLetters().List(ctx, deadletter.Filter{
		Status: deadletter.StatusOpen, Limit: deadLetterCap, Visible: p.deps.Delivery.VisibleTo(v.Token)})
	if err != nil {
		p.log.WarnContext(ctx, "portal: open dead letters not counted", "error", err)
		return deadLetterCount{Failed: true}
	}
	return deadLetterCount{N: len(list), More: next != ""}
}

// bytesText is a size in binary units: 512 B, 3.0 MiB, 1.2 GiB.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "iB"
}
