package problem

import "net/http"

// Routes serves mux, but answers a request that no route takes with a
// problem instead of ServeMux's text/plain: 404 not-found, or 405
// method-not-allowed with the Allow header ServeMux worked out.
func Routes(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern == "" {
			// No route, or a redirect to the cleaned path: ServeMux's own
			// answer says which, and carries the Allow header of a 405.
			var probe headerProbe
			h.ServeHTTP(&probe, r)
			switch probe.status {
			case http.StatusNotFound:
				New(http.StatusNotFound, "not-found", "there is no route "+r.Method+" "+r.URL.Path).Write(w, r)
				return
			case http.StatusMethodNotAllowed:
				w.Header().Set("Allow", probe.header.Get("Allow"))
				New(http.StatusMethodNotAllowed, "method-not-allowed",
					r.URL.Path+" does not take "+r.Method+"; it takes "+probe.header.Get("Allow")).Write(w, r)
				return
			}
		}
		// ServeHTTP, not h: it also sets the request's path values.
		mux.ServeHTTP(w, r)
	})
}

// headerProbe records the status and headers of ServeMux's fallback answers
// and drops their text/plain body.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header {
	if p.header == nil {
		p.header = http.Header{}
	}
	return p.header
}

func (p *headerProbe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}

func (p *headerProbe) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}
