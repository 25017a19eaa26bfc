package contract

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/weir-dev/weir/internal/event"
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
	// TypePrefix is put before the type each request says (config's
	// type_prefix) when Types is nil: such a source can only send types that
	// start with it. Not rendered in the document.
	TypePrefix string
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

// VisibleTo returns cat as a token sees it in the AsyncAPI document:
// contracts and sources are the public catalog, shown to every token, and a
// subscription is shown only when canSubscribe (the token's CanSubscribe)
// accepts its types, as GET /v1/subscriptions lists it. cat is not changed.
func (cat Catalog) VisibleTo(canSubscribe func(patterns []string) bool) Catalog {
	subs := make([]CatalogSubscription, 0, len(cat.Subscriptions))
	for _, s := range cat.Subscriptions {
		if canSubscribe(s.Types) {
			subs = append(subs, s)
		}
	}
	cat.Subscriptions = subs
	return cat
}

// OnlyTypes returns cat with only the contracts whose type canSee accepts:
// the portal's download shows the viewer the same types as its catalog
// pages. cat is not changed.
func (cat Catalog) OnlyTypes(canSee func(typ string) bool) Catalog {
	contracts := make([]CatalogContract, 0, len(cat.Contracts))
	for _, c := range cat.Contracts {
		if canSee(c.Type) {
			contracts = append(contracts, c)
		}
	}
	cat.Contracts = contracts
	return cat
}

const (
	asyncAPIVersion = "3.0.0"
	// payloadSchemaFormat labels every payload. It is the only JSON Schema
	// format AsyncAPI 3.0 tools must support and the only one @asyncapi/parser
	// checks (it skips payloads in formats it has no parser for, 2020-12
	// included). A schema that declares its own $schema keeps it.
	payloadSchemaFormat = "application/schema+json;version=draft-07"
	envelopeTrait       = "weir.cloudevent"
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
		if event.ValidType(c.Type) != nil {
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
			if !slices.ContainsFunc(s.Types, func(p string) bool { return event.MatchType(p, t) }) {
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
