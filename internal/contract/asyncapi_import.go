package contract

import (
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/weir-dev/weir/internal/event"
)

// ImportedContract is a contract found in an AsyncAPI document.
type ImportedContract struct {
	// Type is the event type the contract is for.
	Type string
	// Description is the channel's description or summary, else its first
	// message's (the message's first when the channel carries several types).
	Description string
	// Versions are the message schemas, oldest first.
	Versions []CatalogVersion
}

// ImportError says where in an AsyncAPI document an import failed.
type ImportError struct {
	// Path is the place in the document as dot-separated keys, e.g.
	// channels.orderCreated.messages.v1.payload; empty for the whole document.
	Path string
	// Reason says what is wrong there.
	Reason string
}

// Error returns "asyncapi: <path>: <reason>".
func (e *ImportError) Error() string {
	if e.Path == "" {
		return "asyncapi: " + e.Reason
	}
	return "asyncapi: " + e.Path + ": " + e.Reason
}

// The bounds of one import.
const (
	// maxDocNodes bounds the values one import may build, YAML aliases and
	// resolved $refs included, so a small document cannot expand without end.
	maxDocNodes = 1 << 20
	// maxDocBytes bounds the document itself: importing is linear, at
	// about 3-5 MB/s (BenchmarkImportAsyncAPI), so this is a few seconds.
	maxDocBytes = 8 << 20
	maxDocDepth = 1000
	maxRefHops  = 32
)

// ImportAsyncAPI reads an AsyncAPI 2.x (up to 2.6) or 3.0 document, JSON or
// YAML, and returns its contracts in document order. Messages are grouped
// into families by name less a version suffix (order.created.v2, OrderV2,
// v2); a channel with one family is one contract, typed by weir's address
// events.<type>, else the channel's name (made a type: user/signedup becomes
// user.signedup); a channel with several families has one contract per family,
// typed by its name. Versions are numbered by x-weir-version or the name's
// suffix when every message has a distinct one, else 1, 2, ... in document
// order. A payload may be inline, a local $ref, or (3.0) a multi-format schema
// in a JSON Schema or AsyncAPI schema format; references from it to elsewhere
// in the document are copied into its $defs, so each schema stands alone.
// Messages without a payload are skipped. A document may have up to 8 MiB.
// Errors are *ImportError values.
func ImportAsyncAPI(doc []byte) ([]ImportedContract, error) {
	if len(doc) > maxDocBytes {
		return nil, &ImportError{Reason: fmt.Sprintf("the document is %d bytes; weir imports AsyncAPI documents of up to %d MiB: split it into several documents", len(doc), maxDocBytes>>20)}
	}
	im := &asyncImporter{budget: maxDocNodes, byType: map[string]*importedContract{}}
	root, err := parseDoc(doc, &im.budget)
	if err != nil {
		return nil, &ImportError{Reason: "not a JSON or YAML document: " + err.Error()}
	}
	im.root = root
	if root.kind != docObject {
		return nil, &ImportError{Reason: "not an AsyncAPI document: want an object at the top"}
	}
	ver := root.get("asyncapi")
	if ver == nil {
		return nil, &ImportError{Reason: "not an AsyncAPI document: it has no asyncapi field"}
	}
	switch m := specVersion.FindStringSubmatch(ver.text); {
	case ver.kind == docString && m != nil && m[1] == "2" && len(m[2]) == 1 && m[2] <= "6":
		im.major = 2
	case ver.kind == docString && m != nil && m[1] == "3" && m[2] == "0":
		im.major = 3
	default:
		return nil, &ImportError{Path: "asyncapi", Reason: fmt.Sprintf("version %s is not supported: want 2.0.0 to 2.6.x, or 3.0.x", ver.appendJSON(nil))}
	}
	channels := root.get("channels")
	if channels == nil {
		return nil, nil
	}
	if channels.kind != docObject {
		return nil, &ImportError{Path: "channels", Reason: "want an object"}
	}
	for _, m := range channels.members {
		if err := im.channel(m.key, m.value); err != nil {
			return nil, err
		}
	}
	return im.result(), nil
}

type asyncImporter struct {
	root   *docValue
	major  int
	budget int
	byType map[string]*importedContract
	order  []*importedContract
}

type importedContract struct {
	typ, description string
	versions         []importedVersion
	seen             map[string]bool // message locations already imported
}

type importedVersion struct {
	number          int // 0 when the message does not say
	schema, example json.RawMessage
}

type foundMessage struct {
	label string // name, else key: what the family comes from
	value *docValue
	at    []string // where the message object is, after $refs
}

func (im *asyncImporter) channel(name string, v *docValue) error {
	ch, at, err := im.follow(v, []string{"channels", name})
	if err != nil {
		return err
	}
	if ch.kind != docObject {
		return &ImportError{Path: dotted(at), Reason: "a channel must be an object"}
	}
	var msgs []foundMessage
	address := name
	if im.major == 3 {
		address = ch.str("address")
		if list := ch.get("messages"); list != nil {
			if list.kind != docObject {
				return &ImportError{Path: dotted(at) + ".messages", Reason: "want an object"}
			}
			for _, m := range list.members {
				if msgs, err = im.addMessage(msgs, m.key, m.value, append(slices.Clip(at), "messages", m.key)); err != nil {
					return err
				}
			}
		}
	} else {
		for _, op := range ch.members {
			if op.key != "publish" && op.key != "subscribe" {
				continue
			}
			o, oat, err := im.follow(op.value, append(slices.Clip(at), op.key))
			if err != nil {
				return err
			}
			if o.kind != docObject || o.get("message") == nil {
				continue
			}
			m, mat, err := im.follow(o.get("message"), append(slices.Clip(oat), "message"))
			if err != nil {
				return err
			}
			if one := m.get("oneOf"); one != nil && one.kind == docArray {
				for i, item := range one.items {
					if msgs, err = im.addMessage(msgs, "", item, append(slices.Clip(mat), "oneOf", strconv.Itoa(i))); err != nil {
						return err
					}
				}
			} else if msgs, err = im.addMessage(msgs, "", m, mat); err != nil {
				return err
			}
		}
	}
	return im.families(name, address, ch, at, msgs)
}

func (im *asyncImporter) addMessage(msgs []foundMessage, key string, v *docValue, at []string) ([]foundMessage, error) {
	m, at, err := im.follow(v, at)
	if err != nil {
		return nil, err
	}
	if m.kind != docObject {
		return nil, &ImportError{Path: dotted(at), Reason: "a message must be an object"}
	}
	label := cmp.Or(m.str("name"), key, m.str("messageId"))
	if label == "" && len(at) == 3 && at[0] == "components" && at[1] == "messages" {
		label = at[2]
	}
	return append(msgs, foundMessage{label: label, value: m, at: at}), nil
}

// families turns a channel's messages into contracts, one per family.
func (im *asyncImporter) families(name, address string, ch *docValue, at []string, msgs []foundMessage) error {
	var groups []string
	byFamily := map[string][]foundMessage{}
	for _, m := range msgs {
		f, _ := splitVersion(m.label)
		if _, ok := byFamily[f]; !ok {
			groups = append(groups, f)
		}
		byFamily[f] = append(byFamily[f], m)
	}
	chType := ""
	if t, ok := strings.CutPrefix(address, "events."); ok && event.ValidType(t) == nil {
		chType = t
	} else if t := typeFromName(name); t != "" {
		chType = t
	}
	for _, f := range groups {
		typ := chType
		if len(groups) > 1 || typ == "" {
			switch t := typeFromName(f); {
			case event.ValidType(f) == nil:
				typ = f
			case chType != "" && t != "":
				typ = chType + "." + t
			case t != "":
				typ = t
			}
		}
		if typ == "" {
			return &ImportError{Path: dotted(at), Reason: "no event type can be made from the channel's name, address or messages"}
		}
		c := im.byType[typ]
		if c == nil {
			c = &importedContract{typ: typ, seen: map[string]bool{}}
			im.byType[typ] = c
			im.order = append(im.order, c)
		}
		for _, m := range byFamily[f] {
			where := dotted(m.at)
			if c.seen[where] {
				continue
			}
			c.seen[where] = true
			if c.description == "" {
				own := cmp.Or(m.value.str("description"), m.value.str("summary"))
				if len(groups) > 1 && own != "" {
					c.description = own
				} else {
					c.description = cmp.Or(ch.str("description"), ch.str("summary"), own)
				}
			}
			v, ok, err := im.version(m)
			if err != nil {
				return err
			}
			if ok {
				c.versions = append(c.versions, v)
			}
		}
	}
	return nil
}

func (im *asyncImporter) version(m foundMessage) (importedVersion, bool, error) {
	p := m.value.get("payload")
	if p == nil {
		return importedVersion{}, false, nil
	}
	schema, at, err := im.follow(p, append(slices.Clip(m.at), "payload"))
	if err != nil {
		return importedVersion{}, false, err
	}
	format, formatAt := m.value.str("schemaFormat"), dotted(m.at)+".schemaFormat"
	if im.major == 3 && schema.kind == docObject && schema.get("schema") != nil {
		format, formatAt = schema.str("schemaFormat"), dotted(at)+".schemaFormat"
		if schema, at, err = im.follow(schema.get("schema"), append(slices.Clip(at), "schema")); err != nil {
			return importedVersion{}, false, err
		}
	}
	if f := strings.ToLower(format); f != "" && !strings.HasPrefix(f, "application/schema") && !strings.HasPrefix(f, "application/vnd.aai.asyncapi") {
		return importedVersion{}, false, &ImportError{Path: formatAt, Reason: fmt.Sprintf("%q is not JSON Schema, which is what weir's contracts are", format)}
	}
	out, err := im.extract(schema, at)
	if err != nil {
		return importedVersion{}, false, err
	}
	v := importedVersion{schema: out}
	if x := m.value.get("x-weir-version"); x != nil && x.kind == docNumber {
		v.number, _ = strconv.Atoi(x.text)
	} else {
		_, v.number = splitVersion(m.label)
	}
	if ex := m.value.get("examples"); ex != nil && ex.kind == docArray {
		for _, e := range ex.items {
			if p := e.get("payload"); p != nil {
				v.example = p.appendJSON(nil)
				break
			}
		}
	}
	return v, true, nil
}

func (im *asyncImporter) result() []ImportedContract {
	var out []ImportedContract
	for _, c := range im.order {
		if len(c.versions) == 0 {
			continue
		}
		explicit := true
		numbers := map[int]bool{}
		for _, v := range c.versions {
			explicit = explicit && v.number > 0 && !numbers[v.number]
			numbers[v.number] = true
		}
		if explicit {
			slices.SortStableFunc(c.versions, func(a, b importedVersion) int { return cmp.Compare(a.number, b.number) })
		}
		ic := ImportedContract{Type: c.typ, Description: c.description}
		for i, v := range c.versions {
			n := i + 1
			if explicit {
				n = v.number
			}
			ic.Versions = append(ic.Versions, CatalogVersion{Version: n, Schema: v.schema, Example: v.example})
		}
		out = append(out, ic)
	}
	return out
}

// follow resolves v while it is a Reference object, returning the value and
// where it is.
func (im *asyncImporter) follow(v *docValue, at []string) (*docValue, []string, error) {
	for hops := 0; ; hops++ {
		ref := v.get("$ref")
		if v.kind != docObject || ref == nil || ref.kind != docString {
			return v, at, nil
		}
		where := dotted(at) + ".$ref"
		if hops == maxRefHops {
			return nil, nil, &ImportError{Path: where, Reason: "the $ref chain is circular or too long"}
		}
		segs, ok := localPointer(ref.text)
		if !ok {
			return nil, nil, &ImportError{Path: where, Reason: fmt.Sprintf("%q: only references into this document (#/...) can be imported", ref.text)}
		}
		t, err := im.root.lookup(segs)
		if err != nil {
			return nil, nil, &ImportError{Path: where, Reason: fmt.Sprintf("%q does not resolve: %v", ref.text, err)}
		}
		v, at = t, segs
	}
}

// extract makes the schema at `at` stand alone: references below it become
// relative to it, and the targets of the others are copied into its $defs
// (definitions for draft-07 and older).
func (im *asyncImporter) extract(schema *docValue, at []string) (json.RawMessage, error) {
	if schema.kind != docObject && schema.kind != docBool {
		return nil, &ImportError{Path: dotted(at), Reason: "a schema must be an object or a boolean"}
	}
	defsKey := "$defs"
	if s := schema.str("$schema"); strings.Contains(s, "draft-0") {
		defsKey = "definitions"
	}
	used := map[string]bool{}
	if d := schema.get(defsKey); d != nil {
		for _, m := range d.members {
			used[m.key] = true
		}
	}
	type hoist struct {
		name   string
		target *docValue
		at     []string
	}
	var queue []hoist
	hoisted := map[string]string{}
	rootRef := "#" + pointerString(at)
	rewrite := func(self *hoist) func(string, *docPath) (string, error) {
		return func(ref string, where *docPath) (string, error) {
			if rest, ok := strings.CutPrefix(ref, rootRef); ok && (rest == "" || rest[0] == '/') {
				return "#" + rest, nil
			}
			if !strings.HasPrefix(ref, "#") {
				return "", &ImportError{Path: dotted(where.segs()), Reason: fmt.Sprintf("%q: only references into this document (#/...) can be imported", ref)}
			}
			segs, ok := localPointer(ref)
			if !ok {
				return ref, nil // an $anchor: resolved within the schema itself
			}
			if rest, ok := cutSegments(segs, at); ok {
				return "#" + pointerString(rest), nil
			}
			if self != nil {
				if rest, ok := cutSegments(segs, self.at); ok {
					return "#/" + defsKey + "/" + self.name + pointerString(rest), nil
				}
			}
			key := pointerString(segs)
			if name, ok := hoisted[key]; ok {
				return "#/" + defsKey + "/" + name, nil
			}
			t, err := im.root.lookup(segs)
			if err != nil {
				return "", &ImportError{Path: dotted(where.segs()), Reason: fmt.Sprintf("%q does not resolve: %v", ref, err)}
			}
			base := "ref"
			if len(segs) > 0 {
				base = cmp.Or(componentKey(segs[len(segs)-1]), base)
			}
			name := uniqueKey(base, used)
			hoisted[key] = name
			queue = append(queue, hoist{name: name, target: t, at: segs})
			return "#/" + defsKey + "/" + name, nil
		}
	}
	out, err := schema.mapRefs(pathOf(at), &im.budget, rewrite(nil))
	if err != nil {
		return nil, err
	}
	var defs []docMember
	for i := 0; i < len(queue); i++ {
		h := queue[i]
		cp, err := h.target.mapRefs(pathOf(h.at), &im.budget, rewrite(&h))
		if err != nil {
			return nil, err
		}
		defs = append(defs, docMember{h.name, cp})
	}
	if len(defs) > 0 {
		d := out.get(defsKey)
		switch {
		case d == nil:
			out.members = append(out.members, docMember{defsKey, &docValue{kind: docObject, members: defs}})
		case d.kind == docObject:
			d.members = append(d.members, defs...)
		default:
			return nil, &ImportError{Path: dotted(at) + "." + defsKey, Reason: "want an object"}
		}
	}
	return out.appendJSON(nil), nil
}

var (
	specVersion        = regexp.MustCompile(`^([23])\.(\d+)\.\d+$`)
	versionSuffix      = regexp.MustCompile(`^(?:(.*)[._-])?[vV]([0-9]{1,9})$`)
	camelVersionSuffix = regexp.MustCompile(`^(.*[a-z0-9])V([0-9]{1,9})$`)
	nonTypeChars       = regexp.MustCompile(`[^A-Za-z0-9_-]+`)
	nonKeyChars        = regexp.MustCompile(`[^A-Za-z0-9._-]+`)
)

// splitVersion splits "order.created.v2", "OrderCreatedV2" or "v2" into the
// family name and the version; n is 0 when label has no version suffix.
func splitVersion(label string) (family string, n int) {
	m := versionSuffix.FindStringSubmatch(label)
	if m == nil {
		m = camelVersionSuffix.FindStringSubmatch(label)
	}
	if m == nil {
		return label, 0
	}
	n, _ = strconv.Atoi(m[2])
	return m[1], n
}

// typeFromName makes an event type of a name such as "user/signedup"
// (user.signedup), or returns "".
func typeFromName(name string) string {
	if event.ValidType(name) == nil {
		return name
	}
	t := strings.Trim(nonTypeChars.ReplaceAllString(name, "."), ".")
	if event.ValidType(t) == nil {
		return t
	}
	return ""
}

// componentKey makes s fit the AsyncAPI component key pattern ^[a-zA-Z0-9.\-_]+$.
func componentKey(s string) string {
	return nonKeyChars.ReplaceAllString(s, "_")
}

// uniqueKey returns key, or key-2, key-3 ... if already used, and marks it used.
func uniqueKey(key string, used map[string]bool) string {
	k := key
	for i := 2; used[k]; i++ {
		k = key + "-" + strconv.Itoa(i)
	}
	used[k] = true
	return k
}

func dotted(at []string) string { return strings.Join(at, ".") }
