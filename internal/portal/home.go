package portal

import (
	"context"
	"net/http"
	"time"

	"github.com/weir-dev/weir/internal/delivery"
)

// homeData is the home page's.
type homeData struct {
	// Ready is nil when the bus takes requests, else why not.
	Ready error
	// Subscriptions the viewer may see, with lag and breaker.
	Subscriptions []*delivery.View
	// Sources counts the sources declared; none makes the first-run page.
	Sources int
}

func (p *Portal) home(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	d := homeData{Ready: p.deps.Ready(ctx)}
	d.Subscriptions = p.deps.Delivery.Visible(r.Context(), v.Token)
	d.Sources = len(p.deps.Catalog().Sources)
	p.render(w, r, http.StatusOK, "home", page{Title: "Home", Nav: "home", Viewer: v, Data: d})
}
