// Package chart draws small charts of per-minute series as inline SVG, on the
// server: the portal's pages need no script to show them, and the SVG carries no
// style attribute, so that the portal's Content-Security-Policy (no inline
// styles) holds. Colours come from CSS through the classes, or from
// currentColor, the presentation attributes' default.
package chart

import (
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// Kind is the shape of a chart.
type Kind int

// The kinds of chart.
const (
	// Bars draws one bar per value.
	Bars Kind = iota
	// Line draws a line through the values, with a dot on each.
	Line
)

// Chart is what to draw.
type Chart struct {
	// ID prefixes the ids of the chart's title and description, which
	// aria-labelledby points at; it must be unique on the page. Only
	// letters, digits, '-' and '_' are kept. Default "chart".
	ID string
	// Title names the chart for assistive technology and as a tooltip.
	Title string
	// Desc describes it in words; default: a summary of the values (total,
	// peak and latest).
	Desc string
	// Values are the points, oldest first.
	Values []uint64
	// Labels, when given, name each value in its tooltip ("10:42"); missing
	// ones are "n minutes ago", counting back from the last value.
	Labels []string
	// Kind is Bars (default) or Line.
	Kind Kind
	// Width and Height are the viewBox's size; the chart scales to its box in
	// the page. Default 600 by 120.
	Width, Height int
}

// topMargin keeps room for the scale's label above the highest value.
const topMargin = 14

// SVG renders c as an <svg> element. Every text in it is escaped, so the
// result is safe to put into a page as it is.
func SVG(c Chart) template.HTML {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 600
	}
	if h <= topMargin {
		h = 120
	}
	id := cleanID(c.ID)
	desc := c.Desc
	if desc == "" {
		desc = summary(c)
	}
	var peak uint64
	for _, v := range c.Values {
		peak = max(peak, v)
	}
	kind := "bars"
	if c.Kind == Line {
		kind = "line"
	}
	var b strings.Builder
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-` + kind + `" viewBox="0 0 ` + itoa(w) + " " + itoa(h) +
		`" role="img" aria-labelledby="` + id + `-title ` + id + `-desc">`)
	b.WriteString(`<title id="` + id + `-title">` + esc(c.Title) + `</title>`)
	b.WriteString(`<desc id="` + id + `-desc">` + esc(desc) + `</desc>`)
	b.WriteString(`<line class="chart-axis" x1="0" y1="` + num(float64(h)-0.5) + `" x2="` + itoa(w) + `" y2="` + num(float64(h)-0.5) + `" stroke="currentColor" stroke-width="1"/>`)
	b.WriteString(`<text class="chart-scale" x="2" y="10" font-size="10" fill="currentColor">` + strconv.FormatUint(peak, 10) + `</text>`)
	if n := len(c.Values); n > 0 {
		scale := float64(h-topMargin) / float64(max(peak, 1))
		step := float64(w) / float64(n)
		if c.Kind == Line {
			line(&b, c, step, scale, float64(h))
		} else {
			bars(&b, c, step, scale, float64(h))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text above went through esc
}

func bars(b *strings.Builder, c Chart, step, scale, h float64) {
	gap := 0.0
	if step > 3 {
		gap = 1
	}
	b.WriteString(`<g class="chart-bars" fill="currentColor">`)
	for i, v := range c.Values {
		bh := float64(v) * scale
		b.WriteString(`<rect class="chart-bar" x="` + num(float64(i)*step) + `" y="` + num(h-bh) + `" width="` + num(step-gap) +
			`" height="` + num(bh) + `"><title>` + esc(label(c, i)) + `</title></rect>`)
	}
	b.WriteString(`</g>`)
}

func line(b *strings.Builder, c Chart, step, scale, h float64) {
	pts := make([]string, len(c.Values))
	for i, v := range c.Values {
		pts[i] = num(float64(i)*step+step/2) + "," + num(h-float64(v)*scale)
	}
	b.WriteString(`<polyline class="chart-line" fill="none" stroke="currentColor" stroke-width="2" points="` + strings.Join(pts, " ") + `"/>`)
	b.WriteString(`<g class="chart-points" fill="currentColor">`)
	for i, p := range pts {
		x, y, _ := strings.Cut(p, ",")
		b.WriteString(`<circle class="chart-point" cx="` + x + `" cy="` + y + `" r="2"><title>` + esc(label(c, i)) + `</title></circle>`)
	}
	b.WriteString(`</g>`)
}

// label is the tooltip of value i.
func label(c Chart, i int) string {
	v := strconv.FormatUint(c.Values[i], 10)
	if i < len(c.Labels) && c.Labels[i] != "" {
		return c.Labels[i] + ": " + v
	}
	switch ago := len(c.Values) - 1 - i; ago {
	case 0:
		return "this minute: " + v
	case 1:
		return "1 minute ago: " + v
	default:
		return itoa(ago) + " minutes ago: " + v
	}
}

// summary says in words what the chart shows, for its description.
func summary(c Chart) string {
	if len(c.Values) == 0 {
		return "No data."
	}
	var total, peak uint64
	at := 0
	for i, v := range c.Values {
		total += v
		if v > peak {
			peak, at = v, i
		}
	}
	s := "Total " + strconv.FormatUint(total, 10) + " over " + itoa(len(c.Values)) + " minutes"
	if peak > 0 {
		s += "; peak " + label(c, at)
	}
	return s + "; latest " + label(c, len(c.Values)-1) + "."
}

// esc escapes text for an SVG element or attribute (SVG is XML; the HTML
// escapes of <, >, &, ' and " are XML's too).
func esc(s string) string { return html.EscapeString(s) }

func cleanID(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return -1
	}, s)
	if s == "" {
		return "chart"
	}
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }

// num writes a coordinate with at most two decimals, which is finer than any
// screen shows at these sizes.
func num(f float64) string { return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64) }

// MinuteLabels names n one-minute buckets ending with the minute end falls in,
// oldest first, as clock times ("15:04") in end's location: the Labels of a
// chart of traffic.Series.PerMinute with end = traffic.Snapshot.At.
func MinuteLabels(end time.Time, n int) []string {
	out := make([]string, n)
	end = end.Truncate(time.Minute)
	for i := range n {
		out[i] = end.Add(-time.Duration(n-1-i) * time.Minute).Format("15:04")
	}
	return out
}
