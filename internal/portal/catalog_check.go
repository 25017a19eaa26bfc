package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/weir-dev/weir/internal/contract"
	"github.com/weir-dev/weir/internal/contract/compat"
	"github.com/weir-dev/weir/internal/field"
)

// maxPastedSchema bounds the schema pasted into the compatibility form. Any
// text up to it fits the form's 1 MiB body even when URL-encoding triples
// it; the compatibility checker bounds its own work (subschemas, depth).
const maxPastedSchema = 256 << 10

// checkForm is the compatibility form's state.
type checkForm struct {
	// Schema is the pasted text, shown again in the textarea.
	Schema string
	// Mode is the mode chosen; "" is the contract's own.
	Mode string
	// Err is the refused field's error (schema or compatibility).
	Err *field.Error
	// Result is the checker's verdict, when the check ran.
	Result *contract.Result
}

// FieldErr returns the error's reason when it is about name.
func (f checkForm) FieldErr(name string) string {
	if f.Err != nil && f.Err.Path == name {
		return f.Err.Reason
	}
	return ""
}

func compatModes() []contract.Mode { return compat.Modes() }

// catalogCheck checks a pasted schema against the type's versions, as
// POST /v1/contracts/{type}/compatibility does, without registering it. A
// check changes nothing, so the answer is the type page with the verdict
// (200), or with the refused field (422).
func (p *Portal) catalogCheck(w http.ResponseWriter, r *http.Request, v *viewer) {
	c, ok := p.visibleContract(w, r, v)
	if !ok {
		return
	}
	f := checkForm{Schema: r.PostFormValue("schema"), Mode: r.PostFormValue("compatibility")}
	f.Result, f.Err = p.check(c.Type, f)
	if f.Err != nil && len(f.Schema) > maxPastedSchema {
		// The text is not put back: the page would carry it twice over.
		f.Schema = ""
	}
	d := p.typePage(r.Context(), v, c, len(c.Versions))
	d.Check = f
	status := http.StatusOK
	if f.Err != nil {
		status = http.StatusUnprocessableEntity
	}
	p.render(w, r, status, "catalog_type", page{Title: c.Type, Nav: "catalog", Viewer: v, Data: d})
}

// check runs the compatibility checker on the form's schema.
func (p *Portal) check(typ string, f checkForm) (*contract.Result, *field.Error) {
	switch {
	case strings.TrimSpace(f.Schema) == "":
		return nil, field.Errorf("schema", "Paste a JSON Schema to check.")
	case len(f.Schema) > maxPastedSchema:
		return nil, field.Errorf("schema", "The schema is %d KiB; the form takes at most %d KiB.", len(f.Schema)>>10, maxPastedSchema>>10)
	}
	var mode contract.Mode
	if f.Mode != "" {
		m, err := contract.ParseMode(f.Mode)
		if err != nil {
			return nil, field.Wrap("compatibility", err)
		}
		mode = m
	}
	res, err := p.deps.Contracts.CheckOnly(typ, []byte(f.Schema), mode)
	if errors.Is(err, contract.ErrInvalidSchema) {
		return nil, field.Wrap("schema", err)
	}
	if err != nil {
		return nil, field.Errorf("schema", "The schema could not be checked: %w", err)
	}
	return res, nil
}

// asyncAPIDoc renders the catalog as GET /v1/asyncapi does for the
// viewer's token (the same function, the same subscription filter), with
// only the types the viewer's catalog pages show.
func (p *Portal) asyncAPIDoc(w http.ResponseWriter, r *http.Request, v *viewer) ([]byte, bool) {
	doc, err := contract.RenderAsyncAPI(p.deps.Catalog().VisibleTo(v.Token.CanSubscribe).OnlyTypes(v.Token.CanSee))
	if err != nil {
		p.failErr(w, r, v, err)
		return nil, false
	}
	return doc, true
}

func (p *Portal) asyncAPIJSON(w http.ResponseWriter, r *http.Request, v *viewer) {
	doc, ok := p.asyncAPIDoc(w, r, v)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="weir-asyncapi.json"`)
	_, _ = w.Write(doc)
}

func (p *Portal) asyncAPIYAML(w http.ResponseWriter, r *http.Request, v *viewer) {
	doc, ok := p.asyncAPIDoc(w, r, v)
	if !ok {
		return
	}
	out, err := jsonToYAML(doc)
	if err != nil {
		p.failErr(w, r, v, err)
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Content-Disposition", `attachment; filename="weir-asyncapi.yaml"`)
	_, _ = w.Write(out)
}

// jsonToYAML writes a JSON document as YAML, members in their order and
// numbers as written (a YAML library would turn them into float64 and
// lose 64-bit integers and long decimals).
func jsonToYAML(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(yamlNode(v)); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func yamlNode(v any) *yaml.Node {
	switch t := v.(type) {
	case *object:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range t.keys {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, yamlNode(t.vals[k]))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for _, e := range t {
			n.Content = append(n.Content, yamlNode(e))
		}
		return n
	case json.Number:
		tag := "!!float"
		if _, err := strconv.ParseInt(t.String(), 10, 64); err == nil {
			tag = "!!int"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: t.String()}
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t}
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t)}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
}
