package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/weir-dev/weir/internal/config"
	"github.com/weir-dev/weir/internal/contract"
	"github.com/weir-dev/weir/internal/problem"
)

// registerContracts adds the schema registry's routes.
func (a *API) registerContracts(mux *http.ServeMux) {
	if a.contracts == nil {
		return
	}
	h := func(f http.HandlerFunc) http.Handler { return a.auth(f) }
	mux.Handle("GET /v1/contracts", h(a.listContracts))
	mux.Handle("GET /v1/contracts/{type}", h(a.getContract))
	mux.Handle("GET /v1/contracts/{type}/versions/{version}", h(a.getVersion))
	mux.Handle("POST /v1/contracts/{type}/versions", h(a.registerVersion))
	mux.Handle("POST /v1/contracts/{type}/compatibility", h(a.checkCompatibility))
	mux.Handle("POST /v1/contracts/{type}/deprecate", h(a.deprecate))
	mux.Handle("GET /v1/asyncapi", h(a.asyncAPI))
}

// asyncAPI renders the catalog as one AsyncAPI 3.0 document. Contracts
// (channels) and sources are the public catalog, shown to every token as on
// GET /v1/contracts; subscriptions (receive operations) are shown only to
// tokens that may see them on GET /v1/subscriptions.
func (a *API) asyncAPI(w http.ResponseWriter, r *http.Request) {
	doc, err := contract.RenderAsyncAPI(a.catalog().VisibleTo(tokenOf(r).CanSubscribe))
	if err != nil {
		a.internal(r, err).Write(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(doc)
}

// contractSummary is a contract without its schemas, for listings.
type contractSummary struct {
	Type          string                `json:"type"`
	Owner         string                `json:"owner,omitempty"`
	Description   string                `json:"description,omitempty"`
	Compatibility contract.Mode         `json:"compatibility"`
	Lenient       bool                  `json:"lenient,omitempty"`
	Origin        string                `json:"origin"`
	LatestVersion int                   `json:"latest_version"`
	Deprecated    *contract.Deprecation `json:"deprecated,omitempty"`
}

func (a *API) listContracts(w http.ResponseWriter, r *http.Request) {
	out := []contractSummary{}
	for _, c := range a.contracts.List() {
		out = append(out, contractSummary{Type: c.Type, Owner: c.Owner, Description: c.Description, Compatibility: c.Compatibility,
			Lenient: c.Lenient, Origin: c.Origin, LatestVersion: len(c.Versions), Deprecated: c.Deprecated})
	}
	writeJSON(w, http.StatusOK, map[string]any{"contracts": out})
}

func (a *API) contractOr404(w http.ResponseWriter, r *http.Request) (*contract.Contract, bool) {
	typ := r.PathValue("type")
	c, ok := a.contracts.Get(typ)
	if !ok {
		problem.New(http.StatusNotFound, "unknown-contract", "there is no contract for event type "+quote(typ)).WithField("type").Write(w, r)
		return nil, false
	}
	return c, true
}

func (a *API) getContract(w http.ResponseWriter, r *http.Request) {
	if c, ok := a.contractOr404(w, r); ok {
		writeJSON(w, http.StatusOK, c)
	}
}

func (a *API) getVersion(w http.ResponseWriter, r *http.Request) {
	c, ok := a.contractOr404(w, r)
	if !ok {
		return
	}
	raw := r.PathValue("version")
	n := 0
	if raw != "latest" {
		var err error
		if n, err = strconv.Atoi(raw); err != nil || n < 1 {
			problem.New(http.StatusBadRequest, "invalid-parameter", "version: "+quote(raw)+" is not a version number or latest").WithField("version").Write(w, r)
			return
		}
	}
	v, err := a.contracts.Version(c.Type, n)
	if err != nil {
		problem.New(http.StatusNotFound, "unknown-version", "the "+c.Type+" contract has versions 1 to "+strconv.Itoa(len(c.Versions))+", not "+raw).WithField("version").Write(w, r)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// canManage: admins, and producers whose publish role covers the type, may
// change its contract.
func (a *API) canManage(w http.ResponseWriter, r *http.Request, typ string) bool {
	if err := config.ValidType(typ); err != nil {
		problem.New(http.StatusBadRequest, "invalid-type", "the event type "+err.Error()).WithField("type").Write(w, r)
		return false
	}
	if t := tokenOf(r); !t.Can("publish", typ) {
		forbidden(w, r, "type", "token "+quote(t.Name)+" may not change the contract of "+quote(typ)+": it needs admin or a publish role covering the type")
		return false
	}
	return true
}

type registerBody struct {
	Schema        json.RawMessage `json:"schema"`
	Example       json.RawMessage `json:"example,omitempty"`
	Owner         string          `json:"owner,omitempty"`
	Description   string          `json:"description,omitempty"`
	Compatibility string          `json:"compatibility,omitempty"`
	Lenient       *bool           `json:"lenient,omitempty"`
}

func (a *API) registerVersion(w http.ResponseWriter, r *http.Request) {
	typ := r.PathValue("type")
	if !a.canManage(w, r, typ) {
		return
	}
	var body registerBody
	if !decodeBody(w, r, &body) {
		return
	}
	// Loosening the checks is the platform's decision, not the producer's.
	if (body.Compatibility != "" || body.Lenient != nil) && !tokenOf(r).IsAdmin() {
		forbidden(w, r, "compatibility", "only admin tokens set a contract's compatibility or lenient checking")
		return
	}
	mode, ok := schemaAndMode(w, r, body.Schema, body.Compatibility)
	if !ok {
		return
	}
	reg, err := a.contracts.Register(r.Context(), typ, body.Schema, body.Example, contract.Meta{
		Owner: body.Owner, Description: body.Description, Compatibility: mode, Lenient: body.Lenient, Origin: "api",
	})
	switch {
	case errors.Is(err, contract.ErrIncompatible):
		p := problem.New(http.StatusConflict, "incompatible-schema", incompatibleDetail(typ, reg.Result)).WithField("schema")
		for _, is := range reg.Result.Issues {
			p.Errors = append(p.Errors, problem.FieldError{Field: "schema" + is.Pointer, Rule: is.Rule, Detail: is.Message + " " + is.Fix})
		}
		writeProblemWith(w, r, p, "compatibility", reg.Result)
		return
	case errors.Is(err, contract.ErrInvalidSchema):
		problem.New(http.StatusBadRequest, "invalid-schema", err.Error()).WithField("schema").Write(w, r)
		return
	case errors.Is(err, contract.ErrDeclaredInConfig):
		problem.New(http.StatusConflict, "declared-in-config", err.Error()).WithField("type").Write(w, r)
		return
	case err != nil:
		a.unavailable(r, err).Write(w, r)
		return
	}
	status := http.StatusOK
	if reg.Created {
		status = http.StatusCreated
	}
	w.Header().Set("Location", "/v1/contracts/"+typ+"/versions/"+strconv.Itoa(reg.Version.Version))
	writeJSON(w, status, map[string]any{"type": typ, "version": reg.Version.Version, "created": reg.Created, "fingerprint": reg.Version.Fingerprint, "compatibility": reg.Result})
}

func incompatibleDetail(typ string, res *contract.Result) string {
	n := len(res.Issues)
	s := "the schema is not " + string(res.Mode) + " compatible with the " + typ + " contract"
	if n > 0 {
		s += ": " + res.Issues[0].Message
		if n > 1 {
			s += " (and " + strconv.Itoa(n-1) + " more problems, listed in errors)"
		}
	}
	return s
}

// writeProblemWith writes p with one extra member.
func writeProblemWith(w http.ResponseWriter, r *http.Request, p *problem.Problem, key string, v any) {
	p.Instance = r.URL.Path
	raw, _ := json.Marshal(p)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	m[key] = v
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(m)
}

func (a *API) checkCompatibility(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Schema        json.RawMessage `json:"schema"`
		Compatibility string          `json:"compatibility,omitempty"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	mode, ok := schemaAndMode(w, r, body.Schema, body.Compatibility)
	if !ok {
		return
	}
	res, err := a.contracts.CheckOnly(r.PathValue("type"), body.Schema, mode)
	if err != nil {
		problem.New(http.StatusBadRequest, "invalid-schema", err.Error()).WithField("schema").Write(w, r)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *API) deprecate(w http.ResponseWriter, r *http.Request) {
	typ := r.PathValue("type")
	if !a.canManage(w, r, typ) {
		return
	}
	var body struct {
		Version int    `json:"version,omitempty"`
		Sunset  string `json:"sunset,omitempty"`
		Policy  string `json:"policy,omitempty"`
		Note    string `json:"note,omitempty"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	d := &config.Deprecated{Sunset: body.Sunset, Policy: body.Policy}
	sunset, err := d.SunsetTime()
	if err != nil {
		problem.New(http.StatusBadRequest, "invalid-parameter", "sunset: "+err.Error()).WithField("sunset").Write(w, r)
		return
	}
	if body.Policy == "" {
		body.Policy = "warn"
	}
	if body.Policy != "warn" && body.Policy != "reject" {
		problem.New(http.StatusBadRequest, "invalid-parameter", "policy: "+quote(body.Policy)+" is not warn or reject").WithField("policy").Write(w, r)
		return
	}
	err = a.contracts.Deprecate(r.Context(), typ, body.Version, &contract.Deprecation{Since: time.Now().UTC(), Sunset: sunset, Policy: body.Policy, Note: body.Note}, "api")
	switch {
	case errors.Is(err, contract.ErrNotFound):
		problem.New(http.StatusNotFound, "unknown-contract", "there is no contract (or version) to deprecate for "+quote(typ)).WithField("type").Write(w, r)
		return
	case errors.Is(err, contract.ErrDeclaredInConfig):
		problem.New(http.StatusConflict, "declared-in-config", err.Error()).WithField("type").Write(w, r)
		return
	case err != nil:
		a.unavailable(r, err).Write(w, r)
		return
	}
	c, _ := a.contracts.Get(typ)
	writeJSON(w, http.StatusOK, c)
}

// schemaAndMode checks that a request carries a schema and reads its optional
// compatibility mode.
func schemaAndMode(w http.ResponseWriter, r *http.Request, schema json.RawMessage, compat string) (contract.Mode, bool) {
	if len(schema) == 0 {
		problem.New(http.StatusBadRequest, "invalid-schema", "schema: required: the JSON Schema of the event's data").WithField("schema").Write(w, r)
		return "", false
	}
	return parseMode(w, r, compat)
}

// parseMode reads an optional compatibility mode ("" keeps the contract's own).
func parseMode(w http.ResponseWriter, r *http.Request, s string) (contract.Mode, bool) {
	if s == "" {
		return "", true
	}
	m, err := contract.ParseMode(s)
	if err != nil {
		problem.New(http.StatusBadRequest, "invalid-parameter", "compatibility: "+err.Error()).WithField("compatibility").Write(w, r)
		return "", false
	}
	return m, true
}
