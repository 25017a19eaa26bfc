package contract

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// Catalog is what weir knows about its events, rendered as one AsyncAPI 3.0 document.
type Catalog struct {
	// Title is info.title; "weir events" when empty.
	Title string
	// Version is info.version, the version of the document itself; "1.0.0" when empty.
	Version string
	// Description is info.description (CommonMark).
	Description string
	// ServerURL is weir's HTTP endpoint, e.g. "http://127.0.0.1:8080". When set
	// it becomes the document's one server, "weir" (protocol http or https):
	// webhook sources post to <ServerURL>/in/<source> and push subscriptions are
	// delivered from it. Empty leaves servers out.
	ServerURL string
	// Contracts become channels, one per type.
	Contracts []CatalogContract
	// Sources become send operations (see RenderAsyncAPI).
	Sources []CatalogSource
	// Subscriptions become receive operations.
	Subscriptions []CatalogSubscription
}

// CatalogContract is one contract of a Catalog.
type CatalogContract struct {
	// Type is the event type, e.g. order.created.
	Type string
	// Owner is who to ask about it.
	Owner string
	// Description says what the event means.
	Description string
	// Versions are the contract's schemas, oldest first.
	Versions []CatalogVersion
	// Deprecated marks every version of the type as deprecated.
	Deprecated bool
	// Sunset is when a deprecated type stops being accepted; zero means none.
	Sunset time.Time
}

// CatalogVersion is one schema version of a contract.
type CatalogVersion struct {
	// Version numbers start at 1.
	Version int
	// Schema is the JSON Schema of the event's data.
	Schema json.RawMessage
	// Example is an example of the data; nil when there is none.
	Example json.RawMessage
}

// CatalogSource is an inbound webhook endpoint, POST /in/{Name}.
type CatalogSource struct {
	// Name is the source's name, the last segment of its ingress path.
	Name string
	// Types are the event types the source always publishes; nil when each
	// request says its own type.
	Types []string
	// Description says what sends to it.
	Description string
}

// CatalogSubscription is a consumer of events.
type CatalogSubscription struct {
	// Name is the subscription's name.
	Name string
	// Types are type patterns such as order.* ("*" one segment, ">" one or more).
	Types []string
	// Mode is push or pull.
	Mode string
}

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

const (
	asyncAPIVersion = "3.0.0"
	// payloadSchemaFormat labels every payload. It is the only JSON Schema
	// format AsyncAPI 3.0 tools must support and the only one @asyncapi/parser
	// checks (it skips payloads in formats it has no parser for, 2020-12
	// included). A schema that declares its own $schema keeps it.
	payloadSchemaFormat = "application/schema+json;version=draft-07"
	envelopeTrait       = "weir.cloudevent"
	// maxDocNodes bounds the values one import may build, YAML aliases and
	// resolved $refs included, so a small document cannot expand without end.
	maxDocNodes = 1 << 20
	// maxDocBytes bounds the document itself: importing is linear, at
	// about 3-5 MB/s (BenchmarkImportAsyncAPI), so this is a few seconds.
	maxDocBytes = 8 << 20
	maxDocDepth = 1000
	maxRefHops  = 32
)

// RenderAsyncAPI renders cat as an AsyncAPI 3.0.0 document (indented JSON,
// keys sorted) that @asyncapi/parser accepts without errors:
//   - each contract is a channel keyed by its type, address events.<type> (the
//     NATS subject), with one message per version in components.messages
//     ("order.created.v2"): payload is that version's schema in the draft-07
//     schema format, with its local "#/..." references (and $anchor ones)
//     rewritten to point at its place in the document, since the parser
//     resolves them against the whole document; Example is the message's
//     example; a deprecated contract marks every message deprecated, with
//     x-sunset (RFC 3339) when Sunset is set;
//   - every message carries the trait weir.cloudevent, which documents the
//     CloudEvents envelope the data travels in and the Ce-* NATS headers;
//   - a source with fixed types sends on the channel of each of them that has
//     a contract. A source whose type comes from the request has no operation,
//     since an operation has exactly one channel and claiming every channel
//     would be false: it is listed, as every source and subscription is, in
//     the root extension x-weir;
//   - a subscription receives on every channel whose type one of its patterns
//     matches.
func RenderAsyncAPI(cat Catalog) ([]byte, error) {
	info := map[string]any{"title": cmp.Or(cat.Title, "weir events"), "version": cmp.Or(cat.Version, "1.0.0")}
	if cat.Description != "" {
		info["description"] = cat.Description
	}
	doc := map[string]any{"asyncapi": asyncAPIVersion, "info": info, "defaultContentType": "application/json"}
	if cat.ServerURL != "" {
		server, err := renderServer(cat.ServerURL)
		if err != nil {
			return nil, err
		}
		doc["servers"] = map[string]any{"weir": server}
	}

	contracts := slices.Clone(cat.Contracts)
	slices.SortFunc(contracts, func(a, b CatalogContract) int { return strings.Compare(a.Type, b.Type) })
	channels, messages := map[string]any{}, map[string]any{}
	var types []string
	for i, c := range contracts {
		if !validEventType(c.Type) {
			return nil, fmt.Errorf("asyncapi: contract %q is not a valid event type (dot-separated segments of letters, digits, '-' and '_')", c.Type)
		}
		if i > 0 && contracts[i-1].Type == c.Type {
			return nil, fmt.Errorf("asyncapi: contract %q appears twice", c.Type)
		}
		ch, err := renderChannel(c, messages)
		if err != nil {
			return nil, err
		}
		channels[c.Type] = ch
		types = append(types, c.Type)
	}
	if len(channels) > 0 {
		doc["channels"] = channels
	}
	sources := slices.Clone(cat.Sources)
	slices.SortFunc(sources, func(a, b CatalogSource) int { return strings.Compare(a.Name, b.Name) })
	subs := slices.Clone(cat.Subscriptions)
	slices.SortFunc(subs, func(a, b CatalogSubscription) int { return strings.Compare(a.Name, b.Name) })
	if ops := renderOperations(sources, subs, types); len(ops) > 0 {
		doc["operations"] = ops
	}
	doc["components"] = map[string]any{
		"messages":      messages,
		"messageTraits": map[string]any{envelopeTrait: envelopeTraitObject()},
	}
	if x := renderWeirExtension(sources, subs); len(x) > 0 {
		doc["x-weir"] = x
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("asyncapi: %w", err)
	}
	return buf.Bytes(), nil
}

func renderServer(raw string) (map[string]any, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("asyncapi: ServerURL %q is not an http(s) URL with a host", raw)
	}
	s := map[string]any{
		"host":     u.Host,
		"protocol": u.Scheme,
		"title":    "weir",
		"description": "weir's HTTP endpoint. Webhook sources post events to `POST /in/{source}`; " +
			"push subscriptions are delivered from here and pull subscriptions read here. " +
			"Channel addresses are the NATS subjects (`events.<type>`) of weir's event bus behind it.",
	}
	if p := strings.TrimSuffix(u.Path, "/"); p != "" {
		s["pathname"] = p
	}
	return s, nil
}

func renderChannel(c CatalogContract, messages map[string]any) (map[string]any, error) {
	versions := slices.Clone(c.Versions)
	slices.SortStableFunc(versions, func(a, b CatalogVersion) int { return cmp.Compare(a.Version, b.Version) })
	refs := map[string]any{}
	for i, v := range versions {
		if v.Version < 1 || (i > 0 && versions[i-1].Version == v.Version) {
			return nil, fmt.Errorf("asyncapi: contract %q: version %d is not a unique number from 1 up", c.Type, v.Version)
		}
		name := fmt.Sprintf("%s.v%d", c.Type, v.Version)
		schema, err := renderSchema(v.Schema, "/components/messages/"+name+"/payload/schema")
		if err != nil {
			return nil, fmt.Errorf("asyncapi: contract %q version %d: schema: %w", c.Type, v.Version, err)
		}
		msg := map[string]any{
			"name":           name,
			"title":          fmt.Sprintf("%s, version %d", c.Type, v.Version),
			"contentType":    "application/json",
			"payload":        map[string]any{"schemaFormat": payloadSchemaFormat, "schema": schema},
			"traits":         []any{map[string]any{"$ref": "#/components/messageTraits/" + envelopeTrait}},
			"x-weir-version": v.Version,
		}
		if len(v.Example) > 0 {
			if !json.Valid(v.Example) {
				return nil, fmt.Errorf("asyncapi: contract %q version %d: the example is not valid JSON", c.Type, v.Version)
			}
			msg["examples"] = []any{map[string]any{"name": "example", "payload": v.Example}}
		}
		if c.Deprecated {
			msg["deprecated"] = true
		}
		if !c.Sunset.IsZero() {
			msg["x-sunset"] = c.Sunset.UTC().Format(time.RFC3339)
		}
		messages[name] = msg
		refs[name] = map[string]any{"$ref": "#/components/messages/" + name}
	}
	ch := map[string]any{"address": "events." + c.Type, "title": c.Type}
	if len(refs) > 0 {
		ch["messages"] = refs
	}
	if c.Description != "" {
		ch["description"] = c.Description
	}
	if c.Owner != "" {
		ch["x-weir-owner"] = c.Owner
	}
	return ch, nil
}

// renderSchema moves a schema into the document at base (a JSON pointer): the
// parser resolves a "#/..." reference against the whole document, so each one
// is made to point below base, and $anchor references become pointers too.
func renderSchema(raw json.RawMessage, base string) (json.RawMessage, error) {
	budget := maxDocNodes
	v, err := decodeDocJSON(raw, &budget)
	if err != nil {
		return nil, err
	}
	if v.kind != docObject && v.kind != docBool {
		return nil, errors.New("a JSON Schema is an object or a boolean")
	}
	anchors := map[string]string{}
	v.collectAnchors("", anchors)
	out, err := v.mapRefs(nil, &budget, func(ref string, _ *docPath) (string, error) {
		frag, ok := strings.CutPrefix(ref, "#")
		switch {
		case !ok:
			return ref, nil
		case frag == "" || frag[0] == '/':
			return "#" + base + frag, nil
		}
		if p, ok := anchors[frag]; ok {
			return "#" + base + p, nil
		}
		return ref, nil
	})
	if err != nil {
		return nil, err
	}
	return out.appendJSON(nil), nil
}

func renderOperations(sources []CatalogSource, subs []CatalogSubscription, types []string) map[string]any {
	ops, used := map[string]any{}, map[string]bool{}
	add := func(id string, op map[string]any) { ops[uniqueKey(componentKey(id), used)] = op }
	channelRef := func(t string) map[string]any { return map[string]any{"$ref": "#/channels/" + t} }

	for _, s := range sources {
		fixed := slices.Clone(s.Types)
		slices.Sort(fixed)
		for _, t := range slices.Compact(fixed) {
			if _, ok := slices.BinarySearch(types, t); !ok {
				continue
			}
			add("send."+s.Name+"."+t, map[string]any{
				"action":        "send",
				"channel":       channelRef(t),
				"title":         fmt.Sprintf("%s sends %s", s.Name, t),
				"description":   fmt.Sprintf("Webhooks posted to `/in/%s` are checked against the contract and published as %s events.", url.PathEscape(s.Name), t),
				"x-weir-source": s.Name,
			})
		}
	}
	for _, s := range subs {
		for _, t := range types {
			if !slices.ContainsFunc(s.Types, func(p string) bool { return subjectMatches(p, t) }) {
				continue
			}
			op := map[string]any{
				"action":              "receive",
				"channel":             channelRef(t),
				"title":               fmt.Sprintf("%s receives %s", s.Name, t),
				"x-weir-subscription": s.Name,
			}
			if s.Mode != "" {
				op["description"] = fmt.Sprintf("Subscription %s (%s delivery).", s.Name, s.Mode)
			}
			add("receive."+s.Name+"."+t, op)
		}
	}
	return ops
}

// renderWeirExtension lists every source and subscription as configured, so
// that a source whose type comes from each request, and a pattern no contract
// matches yet, are in the document too.
func renderWeirExtension(sources []CatalogSource, subs []CatalogSubscription) map[string]any {
	x := map[string]any{}
	var xs []any
	for _, s := range sources {
		e := map[string]any{"name": s.Name, "ingress": "POST /in/" + url.PathEscape(s.Name)}
		if len(s.Types) > 0 {
			e["types"] = s.Types
		} else {
			e["typeFromRequest"] = true
		}
		if s.Description != "" {
			e["description"] = s.Description
		}
		xs = append(xs, e)
	}
	if len(xs) > 0 {
		x["sources"] = xs
	}
	xs = nil
	for _, s := range subs {
		e := map[string]any{"name": s.Name}
		if len(s.Types) > 0 {
			e["types"] = s.Types
		}
		if s.Mode != "" {
			e["mode"] = s.Mode
		}
		xs = append(xs, e)
	}
	if len(xs) > 0 {
		x["subscriptions"] = xs
	}
	return x
}

func envelopeTraitObject() map[string]any {
	attr := func(d string) map[string]any { return map[string]any{"type": "string", "description": d} }
	return map[string]any{
		"description": "Every event is a CloudEvents 1.0 event. On the bus (NATS subject `events.<type>`) " +
			"and in push deliveries it travels in structured mode (`application/cloudevents+json`): " +
			"the message payload described here is the event's `data` member, beside the attributes " +
			"`specversion`, `id`, `source`, `type`, `time`, `subject`, `datacontenttype` and `dataschema` " +
			"(the registry URL of the version the data was checked against). The NATS message also " +
			"carries `id`, `type` and `source` as headers.",
		"headers": map[string]any{
			"type": "object",
			"properties": map[string]any{
				"Ce-Id":        attr("The CloudEvents `id` attribute."),
				"Ce-Type":      attr("The CloudEvents `type` attribute: the event type, also the end of the subject."),
				"Ce-Source":    attr("The CloudEvents `source` attribute: where the event came from."),
				"Content-Type": attr("`application/cloudevents+json`: the NATS message body is the whole event."),
			},
			"required": []string{"Ce-Id", "Ce-Source", "Ce-Type"},
		},
	}
}

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
	if t, ok := strings.CutPrefix(address, "events."); ok && validEventType(t) {
		chType = t
	} else if t := typeFromName(name); t != "" {
		chType = t
	}
	for _, f := range groups {
		typ := chType
		if len(groups) > 1 || typ == "" {
			switch t := typeFromName(f); {
			case validEventType(f):
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
	typeToken          = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
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

// validEventType follows config.ValidType: types become NATS subjects, so
// each dot-separated segment is letters, digits, '-' or '_'.
func validEventType(t string) bool {
	if t == "" || len(t) > 200 {
		return false
	}
	for seg := range strings.SplitSeq(t, ".") {
		if !typeToken.MatchString(seg) {
			return false
		}
	}
	return true
}

// typeFromName makes an event type of a name such as "user/signedup"
// (user.signedup), or returns "".
func typeFromName(name string) string {
	if validEventType(name) {
		return name
	}
	t := strings.Trim(nonTypeChars.ReplaceAllString(name, "."), ".")
	if validEventType(t) {
		return t
	}
	return ""
}

// subjectMatches reports whether the NATS subject pattern p (tokens, "*" for
// one, ">" at the end for one or more) matches the event type t.
func subjectMatches(p, t string) bool {
	ps, ts := strings.Split(p, "."), strings.Split(t, ".")
	for i, tok := range ps {
		if tok == ">" {
			return i == len(ps)-1 && len(ts) > i
		}
		if i >= len(ts) || (tok != "*" && tok != ts[i]) {
			return false
		}
	}
	return len(ps) == len(ts)
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

// localPointer parses a reference "#/a/b" into its JSON pointer tokens; ok is
// false for anything else (another document, an anchor).
func localPointer(ref string) ([]string, bool) {
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, false
	}
	if u, err := url.PathUnescape(frag); err == nil {
		frag = u
	}
	if frag == "" {
		return []string{}, true
	}
	if frag[0] != '/' {
		return nil, false
	}
	segs := strings.Split(frag[1:], "/")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return segs, true
}

// pointerString writes tokens as a JSON pointer fit for a URI fragment.
func pointerString(segs []string) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")))
	}
	return b.String()
}

func cutSegments(segs, prefix []string) ([]string, bool) {
	if len(segs) < len(prefix) || !slices.Equal(segs[:len(prefix)], prefix) {
		return nil, false
	}
	return segs[len(prefix):], true
}

// docValue is a JSON value that keeps the order of object members, so that an
// import sees messages in document order and a schema keeps its layout.
type docValue struct {
	kind    docKind
	text    string // a string's value, a number's literal
	items   []*docValue
	members []docMember
	// index maps a key to its first member, for objects of more than
	// indexFrom members; built by get when len(members) differs from
	// indexed. Without it, resolving a reference into components.schemas
	// scanned every schema, so importing grew with the square of their
	// number: 10,000 took 0.96 s, now 0.15 s (BenchmarkImportAsyncAPI).
	index   map[string]int
	indexed int
}

// indexFrom is the size from which an object's members are indexed.
const indexFrom = 16

type docMember struct {
	key   string
	value *docValue
}

type docKind uint8

const (
	docNull docKind = iota
	docBool
	docNumber
	docString
	docArray
	docObject
)

func (v *docValue) get(key string) *docValue {
	if v == nil || v.kind != docObject {
		return nil
	}
	if len(v.members) <= indexFrom {
		for _, m := range v.members {
			if m.key == key {
				return m.value
			}
		}
		return nil
	}
	if v.index == nil || v.indexed != len(v.members) {
		v.index = make(map[string]int, len(v.members))
		for i, m := range v.members {
			if _, dup := v.index[m.key]; !dup {
				v.index[m.key] = i
			}
		}
		v.indexed = len(v.members)
	}
	if i, ok := v.index[key]; ok {
		return v.members[i].value
	}
	return nil
}

func (v *docValue) str(key string) string {
	if s := v.get(key); s != nil && s.kind == docString {
		return s.text
	}
	return ""
}

// setMembers keeps the last of duplicate keys, as encoding/json does, at the
// place of the first.
func (v *docValue) setMembers(ms []docMember) {
	if len(ms) < 2 {
		v.members = ms
		return
	}
	at := make(map[string]int, len(ms))
	for _, m := range ms {
		if i, ok := at[m.key]; ok {
			v.members[i].value = m.value
			continue
		}
		at[m.key] = len(v.members)
		v.members = append(v.members, m)
	}
}

func (v *docValue) lookup(segs []string) (*docValue, error) {
	cur := v
	for i, s := range segs {
		var next *docValue
		switch cur.kind {
		case docObject:
			next = cur.get(s)
		case docArray:
			if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < len(cur.items) && strconv.Itoa(n) == s {
				next = cur.items[n]
			}
		}
		if next == nil {
			where := dotted(segs[:i])
			if where == "" {
				where = "the document"
			}
			return nil, fmt.Errorf("%s has no %q", where, s)
		}
		cur = next
	}
	return cur, nil
}

// docPath is where a value is, built child to parent so that walking a
// deep tree costs one small link per value; segs turns it into keys.
type docPath struct {
	up  *docPath
	key string
}

func pathOf(segs []string) *docPath {
	var p *docPath
	for _, s := range segs {
		p = &docPath{p, s}
	}
	return p
}

func (p *docPath) segs() []string {
	var out []string
	for ; p != nil; p = p.up {
		out = append(out, p.key)
	}
	slices.Reverse(out)
	return out
}

// mapRefs copies v, passing every "$ref" string through f with where it is.
func (v *docValue) mapRefs(at *docPath, budget *int, f func(ref string, at *docPath) (string, error)) (*docValue, error) {
	if *budget--; *budget < 0 {
		return nil, &ImportError{Path: dotted(at.segs()), Reason: "too large once its references are resolved"}
	}
	switch v.kind {
	case docArray:
		out := &docValue{kind: docArray, items: make([]*docValue, len(v.items))}
		for i, item := range v.items {
			c, err := item.mapRefs(&docPath{at, strconv.Itoa(i)}, budget, f)
			if err != nil {
				return nil, err
			}
			out.items[i] = c
		}
		return out, nil
	case docObject:
		out := &docValue{kind: docObject, members: make([]docMember, len(v.members))}
		for i, m := range v.members {
			where := &docPath{at, m.key}
			if m.key == "$ref" && m.value.kind == docString {
				ref, err := f(m.value.text, where)
				if err != nil {
					return nil, err
				}
				out.members[i] = docMember{m.key, &docValue{kind: docString, text: ref}}
				continue
			}
			c, err := m.value.mapRefs(where, budget, f)
			if err != nil {
				return nil, err
			}
			out.members[i] = docMember{m.key, c}
		}
		return out, nil
	}
	return v, nil
}

// collectAnchors maps each $anchor (and draft-07 "$id": "#name") below v to
// its JSON pointer.
func (v *docValue) collectAnchors(at string, into map[string]string) {
	switch v.kind {
	case docArray:
		for i, item := range v.items {
			item.collectAnchors(at+"/"+strconv.Itoa(i), into)
		}
	case docObject:
		if a := v.str("$anchor"); a != "" {
			into[a] = at
		} else if id, ok := strings.CutPrefix(v.str("$id"), "#"); ok && id != "" {
			into[id] = at
		}
		for _, m := range v.members {
			m.value.collectAnchors(at+pointerString([]string{m.key}), into)
		}
	}
}

func (v *docValue) appendJSON(b []byte) []byte {
	switch v.kind {
	case docNull:
		return append(b, "null"...)
	case docBool, docNumber:
		return append(b, v.text...)
	case docString:
		return appendJSONString(b, v.text)
	case docArray:
		b = append(b, '[')
		for i, item := range v.items {
			if i > 0 {
				b = append(b, ',')
			}
			b = item.appendJSON(b)
		}
		return append(b, ']')
	}
	b = append(b, '{')
	for i, m := range v.members {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, m.key)
		b = append(b, ':')
		b = m.value.appendJSON(b)
	}
	return append(b, '}')
}

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20:
			b = fmt.Appendf(b, `\u%04x`, r)
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// parseDoc reads JSON, or YAML when the text is not JSON.
func parseDoc(data []byte, budget *int) (*docValue, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var jsonErr error
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		v, err := decodeDocJSON(t, budget)
		if err == nil {
			return v, nil
		}
		jsonErr = err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, cmp.Or(jsonErr, err)
	}
	v, err := docFromYAML(&n, 0, budget)
	if err != nil {
		return nil, cmp.Or(jsonErr, err)
	}
	return v, nil
}

func decodeDocJSON(data []byte, budget *int) (*docValue, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeJSONValue(dec, 0, budget)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected text after the JSON value")
	}
	return v, nil
}

func decodeJSONValue(dec *json.Decoder, depth int, budget *int) (*docValue, error) {
	if *budget--; *budget < 0 {
		return nil, errors.New("too large")
	}
	if depth > maxDocDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxDocDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return &docValue{kind: docNull}, nil
	case bool:
		return &docValue{kind: docBool, text: strconv.FormatBool(t)}, nil
	case json.Number:
		return &docValue{kind: docNumber, text: t.String()}, nil
	case string:
		return &docValue{kind: docString, text: t}, nil
	}
	if tok == json.Delim('[') {
		v := &docValue{kind: docArray}
		for dec.More() {
			item, err := decodeJSONValue(dec, depth+1, budget)
			if err != nil {
				return nil, err
			}
			v.items = append(v.items, item)
		}
		_, err := dec.Token()
		return v, err
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("unexpected %v", tok)
	}
	var ms []docMember
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, err
		}
		val, err := decodeJSONValue(dec, depth+1, budget)
		if err != nil {
			return nil, err
		}
		ms = append(ms, docMember{k.(string), val})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	v := &docValue{kind: docObject}
	v.setMembers(ms)
	return v, nil
}

func docFromYAML(n *yaml.Node, depth int, budget *int) (*docValue, error) {
	if *budget--; *budget < 0 {
		return nil, errors.New("too large once YAML aliases are expanded")
	}
	if depth > maxDocDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxDocDepth)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return &docValue{kind: docNull}, nil
		}
		return docFromYAML(n.Content[0], depth+1, budget)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, fmt.Errorf("line %d: unknown alias", n.Line)
		}
		return docFromYAML(n.Alias, depth+1, budget)
	case yaml.SequenceNode:
		v := &docValue{kind: docArray, items: make([]*docValue, 0, len(n.Content))}
		for _, c := range n.Content {
			item, err := docFromYAML(c, depth+1, budget)
			if err != nil {
				return nil, err
			}
			v.items = append(v.items, item)
		}
		return v, nil
	case yaml.MappingNode:
		var ms, merged []docMember
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.AliasNode && k.Alias != nil {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key must be a scalar", k.Line)
			}
			c, err := docFromYAML(val, depth+1, budget)
			if err != nil {
				return nil, err
			}
			if k.Value == "<<" && k.ShortTag() == "!!merge" {
				for _, src := range append([]*docValue{c}, c.items...) {
					merged = append(merged, src.members...)
				}
				continue
			}
			ms = append(ms, docMember{k.Value, c})
		}
		// Keys of the mapping itself win over merged ones, and earlier merged
		// mappings over later ones.
		explicit := make(map[string]bool, len(ms))
		for _, m := range ms {
			explicit[m.key] = true
		}
		for _, m := range merged {
			if !explicit[m.key] {
				explicit[m.key] = true
				ms = append(ms, m)
			}
		}
		v := &docValue{kind: docObject}
		v.setMembers(ms)
		return v, nil
	case yaml.ScalarNode:
		return scalarFromYAML(n)
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

func scalarFromYAML(n *yaml.Node) (*docValue, error) {
	switch n.ShortTag() {
	case "!!null":
		return &docValue{kind: docNull}, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err == nil {
			return &docValue{kind: docBool, text: strconv.FormatBool(b)}, nil
		}
	case "!!int", "!!float":
		var x any
		if err := n.Decode(&x); err != nil {
			break
		}
		switch x := x.(type) {
		case int:
			return &docValue{kind: docNumber, text: strconv.Itoa(x)}, nil
		case int64:
			return &docValue{kind: docNumber, text: strconv.FormatInt(x, 10)}, nil
		case uint64:
			return &docValue{kind: docNumber, text: strconv.FormatUint(x, 10)}, nil
		case float64:
			if math.IsInf(x, 0) || math.IsNaN(x) {
				return nil, fmt.Errorf("line %d: %s has no JSON form", n.Line, n.Value)
			}
			return &docValue{kind: docNumber, text: strconv.FormatFloat(x, 'g', -1, 64)}, nil
		}
	}
	return &docValue{kind: docString, text: n.Value}, nil
}
