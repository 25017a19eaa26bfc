package ingress

import (
	"strings"

	"github.com/weir-dev/weir/internal/event"
)

// SourcePrefix starts the source of every webhook event, /sources/<name>.
// Subscribers may trust it: events under it came through POST /in/<name>,
// verified as that source's configuration says. POST /v1/events may not use it.
const SourcePrefix = "/sources/"

// DeliveryIDExtension is the extension that carries a webhook sender's
// delivery id. Only webhook ingress sets it; POST /v1/events may not.
const DeliveryIDExtension = "deliveryid"

// ReservedSource reports whether source is in webhook ingress's namespace,
// as written or once cleaned (event.CleanSource): "/sources", or under
// "/sources/".
func ReservedSource(source string) bool {
	for _, s := range [...]string{source, event.CleanSource(source)} {
		if s == strings.TrimSuffix(SourcePrefix, "/") || strings.HasPrefix(s, SourcePrefix) {
			return true
		}
	}
	return false
}
