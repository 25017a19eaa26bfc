package chart_test

import (
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-dev/weir/internal/portal/chart"
)

// element is one parsed SVG element.
type element struct {
	name  string
	attrs map[string]string
	text  string
}

// parse reads the SVG as XML, which also proves it well-formed.
func parse(t *testing.T, svg string) []element {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	var out []element
	var stack []int
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "the SVG is well-formed XML")
		switch tok := tok.(type) {
		case xml.StartElement:
			e := element{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			out = append(out, e)
			stack = append(stack, len(out)-1)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				out[stack[len(stack)-1]].text += string(tok)
			}
		}
	}
	return out
}

func named(es []element, name string) []element {
	var out []element
	for _, e := range es {
		if e.name == name {
			out = append(out, e)
		}
	}
	return out
}

func TestBarsAreAccessibleAndScaled(t *testing.T) {
	t.Parallel()
	svg := string(chart.SVG(chart.Chart{ID: "orders", Title: "order.created per minute", Values: []uint64{0, 5, 10}, Width: 300, Height: 114}))
	es := parse(t, svg)
	root := es[0]
	require.Equal(t, "svg", root.name)
	require.Equal(t, "img", root.attrs["role"])
	require.Equal(t, "orders-title orders-desc", root.attrs["aria-labelledby"])
	require.Equal(t, "order.created per minute", es[1].text)
	require.Equal(t, "orders-title", es[1].attrs["id"])
	require.Equal(t, "orders-desc", es[2].attrs["id"])
	require.Equal(t, "Total 15 over 3 minutes; peak this minute: 10; latest this minute: 10.", es[2].text)

	rects := named(es, "rect")
	require.Len(t, rects, 3)
	// 100 units of height for the peak (114 less the scale's margin).
	for i, want := range []float64{0, 50, 100} {
		got, err := strconv.ParseFloat(rects[i].attrs["height"], 64)
		require.NoError(t, err)
		require.InDelta(t, want, got, 0.01, "bar %d", i)
	}
	titles := named(es, "title")
	require.Equal(t, "2 minutes ago: 0", titles[1].text)
	require.Equal(t, "1 minute ago: 5", titles[2].text)
}

func TestNoInlineStyleOrScriptAndTextEscaped(t *testing.T) {
	t.Parallel()
	evil := `"><script>alert(1)</script><g style="x`
	for _, kind := range []chart.Kind{chart.Bars, chart.Line} {
		svg := string(chart.SVG(chart.Chart{ID: `x" onload="y`, Title: evil, Desc: evil, Labels: []string{evil}, Values: []uint64{1, 2}, Kind: kind}))
		es := parse(t, svg)
		for _, e := range es {
			require.NotEqual(t, "script", e.name)
			require.NotContains(t, e.attrs, "style")
			for a := range e.attrs {
				require.False(t, strings.HasPrefix(a, "on"), "no event handler attribute: %s", a)
			}
		}
		require.Equal(t, evil, es[1].text, "the title comes back as written")
		require.Equal(t, "xonloady-title xonloady-desc", es[0].attrs["aria-labelledby"])
	}
}

func TestLineAndEmpty(t *testing.T) {
	t.Parallel()
	es := parse(t, string(chart.SVG(chart.Chart{Title: "t", Values: []uint64{3, 1}, Labels: []string{"10:41", ""}, Kind: chart.Line})))
	require.Equal(t, "chart chart-line", es[0].attrs["class"])
	require.Len(t, named(es, "polyline"), 1)
	circles := named(es, "circle")
	require.Len(t, circles, 2)
	require.Equal(t, "10:41: 3", named(es, "title")[1].text)
	require.Equal(t, "chart-title", es[1].attrs["id"], "the default id")

	es = parse(t, string(chart.SVG(chart.Chart{Title: "nothing"})))
	require.Equal(t, "No data.", es[2].text)
	require.Empty(t, named(es, "rect"))
}

func TestMinuteLabels(t *testing.T) {
	t.Parallel()
	end := time.Date(2026, 12, 7, 10, 1, 42, 0, time.UTC)
	require.Equal(t, []string{"09:59", "10:00", "10:01"}, chart.MinuteLabels(end, 3))
	require.Empty(t, chart.MinuteLabels(end, 0))
}
