package portal

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/weir-dev/weir/internal/contract"
)

// Bounds on a diff: its LCS table, and the lines it shows.
const (
	// maxDiffCells bounds the table of the part that differs (lines of one
	// side times lines of the other), 2 bytes a cell: 4 MiB. Larger
	// changes are shown as the old lines removed, then the new ones added.
	maxDiffCells = 2 << 20
	maxDiffLines = 4000 // lines shown
	maxLineText  = 500  // bytes of one line shown
	diffContext  = 3    // unchanged lines kept around each change
)

// diffLine is one line of a diff.
type diffLine struct {
	// Op is "+" (added), "-" (removed), " " (same) or "…" (unchanged lines
	// left out; Text says how many).
	Op string
	// Old and New are the line's numbers in each side; 0 when absent.
	Old, New int
	Text     string
}

// Class is the line's CSS class.
func (l diffLine) Class() string {
	switch l.Op {
	case "+":
		return "add"
	case "-":
		return "del"
	case "…":
		return "skip"
	}
	return "same"
}

// lineDiff compares two texts line by line (longest common subsequence
// after the common head and tail are set aside). Exact is false when the
// differing part was too large for the table and is shown as a whole
// removal and addition.
func lineDiff(a, b []string) (lines []diffLine, exact bool) {
	head := 0
	for head < len(a) && head < len(b) && a[head] == b[head] {
		head++
	}
	tail := 0
	for tail < len(a)-head && tail < len(b)-head && a[len(a)-1-tail] == b[len(b)-1-tail] {
		tail++
	}
	am, bm := a[head:len(a)-tail], b[head:len(b)-tail]
	var all []diffLine
	for i := range head {
		all = append(all, diffLine{Op: " ", Old: i + 1, New: i + 1, Text: a[i]})
	}
	exact = true
	if (len(am)+1)*(len(bm)+1) > maxDiffCells {
		exact = false
		for i, l := range am {
			all = append(all, diffLine{Op: "-", Old: head + i + 1, Text: l})
		}
		for j, l := range bm {
			all = append(all, diffLine{Op: "+", New: head + j + 1, Text: l})
		}
	} else {
		all = append(all, lcsLines(am, bm, head)...)
	}
	for i := range tail {
		ai, bi := len(a)-tail+i, len(b)-tail+i
		all = append(all, diffLine{Op: " ", Old: ai + 1, New: bi + 1, Text: a[ai]})
	}
	return collapse(all), exact
}

// lcsLines diffs a and b, whose first lines are numbered off+1.
func lcsLines(a, b []string, off int) []diffLine {
	n, m := len(a), len(b)
	w := m + 1
	// t[i*w+j] is the LCS length of a[i:] and b[j:]; it fits in uint16
	// since the table is bounded to maxDiffCells.
	t := make([]uint16, (n+1)*w)
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				t[i*w+j] = t[(i+1)*w+j+1] + 1
			} else {
				t[i*w+j] = max(t[(i+1)*w+j], t[i*w+j+1])
			}
		}
	}
	out := make([]diffLine, 0, n+m)
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			out = append(out, diffLine{Op: " ", Old: off + i + 1, New: off + j + 1, Text: a[i]})
			i, j = i+1, j+1
		case i < n && (j == m || t[(i+1)*w+j] >= t[i*w+j+1]):
			// Removals before additions, as diff(1) shows them.
			out = append(out, diffLine{Op: "-", Old: off + i + 1, Text: a[i]})
			i++
		default:
			out = append(out, diffLine{Op: "+", New: off + j + 1, Text: b[j]})
			j++
		}
	}
	return out
}

// collapse keeps diffContext unchanged lines around each change, replaces
// longer runs by one "…" line, clips long lines and bounds the total.
func collapse(all []diffLine) []diffLine {
	near := make([]bool, len(all))
	for i, l := range all {
		if l.Op != " " {
			for k := max(0, i-diffContext); k <= min(len(all)-1, i+diffContext); k++ {
				near[k] = true
			}
		}
	}
	var out []diffLine
	skipped := 0
	flush := func() {
		if skipped > 0 {
			out = append(out, diffLine{Op: "…", Text: strconv.Itoa(skipped) + " unchanged lines"})
			skipped = 0
		}
	}
	for i, l := range all {
		if !near[i] {
			skipped++
			continue
		}
		flush()
		if len(out) == maxDiffLines {
			out = append(out, diffLine{Op: "…", Text: "the rest of the diff is not shown (more than " + strconv.Itoa(maxDiffLines) + " lines)"})
			return out
		}
		if len(l.Text) > maxLineText {
			l.Text = clipLine(l.Text)
		}
		out = append(out, l)
	}
	flush()
	return out
}

func clipLine(s string) string {
	cut := maxLineText
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// indentLines is a JSON document indented, as lines, keeping its members'
// order.
func indentLines(raw []byte) []string {
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		return strings.Split(string(raw), "\n")
	}
	return strings.Split(buf.String(), "\n")
}

// diffData is the diff page's.
type diffData struct {
	Contract *contract.Contract
	From, To int
	Lines    []diffLine
	// Exact is false when the change was too large for a line-by-line
	// comparison.
	Exact bool
	// Same is set when the two schemas are identical.
	Same bool
	// Result is the compatibility checker's verdict on To after From.
	Result *contract.Result
	// CheckErr says why the checker could not compare them.
	CheckErr string
}

func (p *Portal) catalogDiff(w http.ResponseWriter, r *http.Request, v *viewer) {
	c, ok := p.visibleContract(w, r, v)
	if !ok {
		return
	}
	n := len(c.Versions)
	from, ok := p.versionParam(w, r, v, c, "from", max(1, n-1))
	if !ok {
		return
	}
	to, ok := p.versionParam(w, r, v, c, "to", n)
	if !ok {
		return
	}
	d := diffData{Contract: c, From: from, To: to}
	a, b := indentLines(c.Versions[from-1].Schema), indentLines(c.Versions[to-1].Schema)
	d.Lines, d.Exact = lineDiff(a, b)
	d.Same = c.Versions[from-1].Fingerprint == c.Versions[to-1].Fingerprint
	if res, err := p.deps.Contracts.CompareVersions(c.Type, from, to); err != nil {
		d.CheckErr = err.Error()
	} else {
		d.Result = res
	}
	p.render(w, r, http.StatusOK, "catalog_diff", page{Title: c.Type + ": versions " + strconv.Itoa(from) + " and " + strconv.Itoa(to),
		Nav: "catalog", Viewer: v, Data: d})
}
