package portal

import (
	"encoding/json"
	"strings"

	"github.com/weir-dev/weir/internal/ingress"
	"github.com/weir-dev/weir/internal/verify"
)

// sampleType is the event type a sample request carries where the source
// takes it from the request (after the source's type_prefix).
const sampleType = "sample"

// sample is a test request to one source: a body, and where the type goes.
type sample struct {
	src ingress.SourceView
	// body is the JSON body, with the type in it for a json: type_from.
	body string
	// typeHeader carries the type for a header: type_from.
	typeHeader string
}

// newSample builds the test request of src.
func newSample(src ingress.SourceView) sample {
	s := sample{src: src}
	var doc any = map[string]any{"test": true}
	switch kind, arg, _ := strings.Cut(src.TypeFrom, ":"); kind {
	case "header":
		s.typeHeader = arg
	case "json":
		doc = atPointer(arg, sampleType)
	}
	raw, _ := json.Marshal(doc)
	s.body = string(raw)
	return s
}

// atPointer builds the JSON document whose RFC 6901 pointer holds value:
// every segment is an object member.
func atPointer(pointer, value string) any {
	segs := strings.Split(strings.TrimPrefix(pointer, "/"), "/")
	var doc any = value
	for i := len(segs) - 1; i >= 0; i-- {
		key := strings.ReplaceAll(strings.ReplaceAll(segs[i], "~1", "/"), "~0", "~")
		doc = map[string]any{key: doc}
	}
	return doc
}

// shq quotes s for a POSIX shell.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// hmacLine is the shell pipeline that signs the content on its standard
// input with $SECRET, for alg (sha256, sha512) and encoding (hex, base64).
func hmacLine(key, alg, encoding string) string {
	enc := "od -An -vtx1 | tr -d ' \\n'"
	if encoding == "base64" {
		enc = "base64 | tr -d '\\n'"
	}
	return "openssl dgst -" + alg + " " + key + " -binary | " + enc
}

// curl is a shell script that sends a correctly signed test request with
// curl and openssl, reading the secret from $SECRET. Delivery ids are
// random, so that running it twice is not answered as a duplicate.
func (s sample) curl() string {
	v := s.src.Verify
	var b strings.Builder
	if v.Scheme != verify.SchemeNone {
		b.WriteString(`: "${SECRET:?set SECRET to the source's signing secret}"` + "\n")
	}
	b.WriteString("BODY=" + shq(s.body) + "\n")
	key := `-hmac "$SECRET"`
	var headers []string
	switch v.Scheme {
	case verify.SchemeStandardWebhooks:
		b.WriteString(`ID="msg_$(openssl rand -hex 8)"; TS=$(date +%s)` + "\n")
		b.WriteString(`KEY=$(printf '%s' "${SECRET#whsec_}" | base64 -d | od -An -vtx1 | tr -d ' \n')` + "\n")
		b.WriteString(`SIG=$(printf '%s' "$ID.$TS.$BODY" | ` + hmacLine("-mac HMAC -macopt hexkey:$KEY", "sha256", "base64") + ")\n")
		headers = []string{`"webhook-id: $ID"`, `"webhook-timestamp: $TS"`, `"webhook-signature: v1,$SIG"`}
	case verify.SchemeGitHub:
		b.WriteString(`SIG=$(printf '%s' "$BODY" | ` + hmacLine(key, "sha256", "hex") + ")\n")
		headers = []string{`"X-GitHub-Delivery: $(openssl rand -hex 8)"`, `"X-Hub-Signature-256: sha256=$SIG"`}
	case verify.SchemeStripe:
		b.WriteString("TS=$(date +%s)\n")
		b.WriteString(`SIG=$(printf '%s' "$TS.$BODY" | ` + hmacLine(key, "sha256", "hex") + ")\n")
		headers = []string{`"Stripe-Signature: t=$TS,v1=$SIG"`}
	case verify.SchemeShopify:
		b.WriteString(`SIG=$(printf '%s' "$BODY" | ` + hmacLine(key, "sha256", "base64") + ")\n")
		headers = []string{`"X-Shopify-Webhook-Id: $(openssl rand -hex 8)"`, `"X-Shopify-Hmac-Sha256: $SIG"`}
	case verify.SchemeHMAC:
		alg, enc := orDefault(v.Algorithm, "sha256"), orDefault(v.Encoding, "hex")
		content := `"$BODY"`
		if v.TimestampHeader != "" {
			b.WriteString("TS=$(date +%s)\n")
			content = `"$TS.$BODY"`
			headers = append(headers, shq(v.TimestampHeader+": ")+`"$TS"`)
		}
		b.WriteString(`SIG=$(printf '%s' ` + content + " | " + hmacLine(key, alg, enc) + ")\n")
		headers = append(headers, shq(v.Header+": "+v.Prefix)+`"$SIG"`)
	}
	b.WriteString("curl -sS -i -X POST " + shq(s.src.URL) + ` \` + "\n  -H 'Content-Type: application/json'")
	if s.typeHeader != "" {
		b.WriteString(` -H ` + shq(s.typeHeader+": "+sampleType))
	}
	for _, h := range headers {
		b.WriteString(` \` + "\n  -H " + h)
	}
	b.WriteString(` \` + "\n  --data-raw \"$BODY\"\n")
	return b.String()
}

// send is the weir send command that signs and posts the same request, or
// "" for hmac, whose settings weir send reads from weir.yaml only.
func (s sample) send() string {
	v := s.src.Verify
	if v.Scheme == verify.SchemeHMAC && s.src.Owner != ingress.OwnerConfig {
		return ""
	}
	base := strings.TrimSuffix(s.src.URL, "/in/"+s.src.Name)
	args := []string{"weir", "send", "--server", shq(base), "--source", shq(s.src.Name)}
	if s.src.Owner == ingress.OwnerConfig {
		args = append(args, "--config", "weir.yaml")
	} else {
		args = append(args, "--scheme", v.Scheme)
		if v.Scheme != verify.SchemeNone {
			args = append(args, "--secret", `"$SECRET"`)
		}
	}
	if s.typeHeader != "" {
		args = append(args, "--header", shq(s.typeHeader+": "+sampleType))
	}
	return strings.Join(append(args, "event.json"), " ")
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// senderWords says, in words, what a sender of src must send.
func senderWords(src ingress.SourceView) []string {
	v := src.Verify
	var out []string
	switch v.Scheme {
	case verify.SchemeStandardWebhooks:
		out = append(out, "Standard Webhooks (also Svix): the headers webhook-id (a delivery id), webhook-timestamp (unix seconds) and webhook-signature (v1, and the base64 HMAC-SHA256 of id.timestamp.body, keyed with the base64 after whsec_ of the secret).")
	case verify.SchemeGitHub:
		out = append(out, "GitHub: the header X-Hub-Signature-256 (sha256= and the hex HMAC-SHA256 of the body, keyed with the secret) and X-GitHub-Delivery (a delivery id).")
	case verify.SchemeStripe:
		out = append(out, "Stripe: the header Stripe-Signature (t=<unix seconds>,v1=<hex HMAC-SHA256 of timestamp.body>, keyed with the secret). Stripe makes the secret: a source for Stripe is best created through the API with Stripe's secret.")
	case verify.SchemeShopify:
		out = append(out, "Shopify: the header X-Shopify-Hmac-Sha256 (the base64 HMAC-SHA256 of the body, keyed with the secret) and X-Shopify-Webhook-Id (a delivery id). Shopify makes the secret: a source for Shopify is best created through the API with the app's secret.")
	case verify.SchemeHMAC:
		w := "HMAC: the header " + v.Header + " holding " + v.Prefix + " and the " + orDefault(v.Encoding, "hex") + " HMAC-" + strings.ToUpper(orDefault(v.Algorithm, "sha256")) + " of "
		if v.TimestampHeader != "" {
			w += "timestamp.body, with the unix seconds in the header " + v.TimestampHeader + "."
		} else {
			w += "the body, keyed with the secret."
		}
		out = append(out, w)
	case verify.SchemeNone:
		out = append(out, "No signature: weir takes every request to this URL, so keep the URL private.")
	}
	switch {
	case src.Type != "":
		out = append(out, "Every request becomes an event of type "+src.Type+".")
	case strings.HasPrefix(src.TypeFrom, "header:"):
		out = append(out, "The event type is read from the header "+strings.TrimPrefix(src.TypeFrom, "header:")+prefixWords(src.TypePrefix)+".")
	default:
		out = append(out, "The event type is read from the body at the JSON pointer "+strings.TrimPrefix(src.TypeFrom, "json:")+prefixWords(src.TypePrefix)+".")
	}
	out = append(out, "The body is JSON (Content-Type: application/json). weir answers 202 when it took the event, 200 for a duplicate delivery, and a problem (4xx) naming the fault otherwise.")
	return out
}

func prefixWords(prefix string) string {
	if prefix == "" {
		return ""
	}
	return ", after the prefix " + prefix
}
