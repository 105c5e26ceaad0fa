// Package platformapi is the bridge's server-to-server API under /api/v1/:
// a partner platform's backend reads the bindings of its own xAccountType,
// their history, and asks the bridge to create a Huawei customer or check
// one's registration. Every call carries a short-lived JWT signed with the
// platform's registered key (the handoff machinery, with the audience
// <public_url>/api/v1, at most 5 minutes of lifetime). Mutating calls (POST)
// spend the token's jti: single use. Read calls (GET) accept a token again
// until its exp; a verified read token is cached (bounded, clock-driven),
// so repeated reads skip the signature check.
// Errors are JSON {"reason", "message"}; the reasons are registered in
// idp/reasons.go. The OpenAPI document (assets/openapi.yaml) is embedded and
// served at /api/v1/openapi.yaml and /api/v1/openapi.json.
package platformapi

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/internal/clock"
)

// Prefix is where the API hangs below the public URL.
const Prefix = "/api/v1/"

// Reasons the API emits (registered in idp/reasons.go).
const (
	ReasonUnauthenticated   = "api_unauthenticated"    // no or unusable bearer token
	ReasonBadToken          = "api_bad_token"          // token refused (signature, expiry, audience, replay)
	ReasonBadRequest        = "api_bad_request"        // malformed JSON, unknown field, bad ID
	ReasonNotFound          = "api_not_found"          // no such binding / path
	ReasonMethodNotAllowed  = "api_method_not_allowed" // wrong method
	ReasonPartnerDisabled   = "api_partner_disabled"   // huawei.partner_api not configured
	ReasonHuaweiError       = "huawei_error"           // Huawei answered with an error
	ReasonHuaweiUnreachable = "huawei_unreachable"     // Huawei could not be reached (502)
	ReasonHuaweiTimeout     = "huawei_timeout"         // Huawei did not answer in time (504)
	ReasonStoreUnavailable  = "store_unavailable"      // same code as the bridge's
	ReasonInternal          = "internal"
	ReasonOK                = "api_ok"       // outcome: answered
	ReasonCreated           = "api_created"  // outcome: customer created and bound
	ReasonExisting          = "api_existing" // outcome: already bound, Huawei not called
)

// CreateDeadline bounds a create-customer call with all its retries, so
// the answer (504 at worst) leaves before the server's 30 s write timeout.
const CreateDeadline = 25 * time.Second

// MaxListLimit caps a list page.
const MaxListLimit = 500

// DefaultListLimit is a list page's size when limit is absent.
const DefaultListLimit = 100

// maxBody caps a request body.
const maxBody = 16 << 10

// MaxTokenLifetime caps exp−iat of an API token.
const MaxTokenLifetime = 5 * time.Minute

//go:embed assets/openapi.yaml
var openAPIYAML []byte

// OpenAPIYAML returns the embedded OpenAPI 3 document.
func OpenAPIYAML() []byte { return append([]byte(nil), openAPIYAML...) }

// Platform is one platform allowed to call the API.
type Platform struct {
	Name         string
	Issuer       string
	XAccountType string // the only bindings it sees
	Keys         []handoff.PlatformKey
	// AuditLookups: audit every answered lookup (a binding, by domain_id,
	// a history), not only refusals, failures, lists and changes. Off by
	// default: lookups are a platform backend's high-volume reads of its
	// own bindings, and an audit line costs several store lookups.
	AuditLookups bool
}

// CreateCustomerRequest asks Huawei to create a customer for a platform account.
type CreateCustomerRequest struct {
	XAccountType string `json:"-"`
	XAccountID   string `json:"xaccount_id"`
	DomainName   string `json:"domain_name,omitempty"`
	Email        string `json:"email,omitempty"`
	Mobile       string `json:"mobile_phone,omitempty"`
	CountryCode  string `json:"country_code,omitempty"`
}

// CreatedCustomer is Huawei's answer to a create-customer call.
type CreatedCustomer struct {
	DomainID   string
	DomainName string
}

// CheckCustomerRequest asks Huawei whether a name, email or mobile is taken.
type CheckCustomerRequest struct {
	SearchType  string `json:"search_type"` // name | email | mobile
	SearchValue string `json:"search_value"`
	CountryCode string `json:"country_code,omitempty"`
}

// CheckCustomerResult is Huawei's answer to a registration check.
type CheckCustomerResult struct {
	Status      string `json:"status"` // available | used_by_user
	UniqueCount int    `json:"unique_count,omitempty"`
}

// Partner is Huawei's partner API as the bridge uses it (see partner.go for
// the SDK-backed implementation). Errors are *HuaweiError or wrap
// ErrHuaweiUnreachable / ErrHuaweiTimeout.
type Partner interface {
	CreateCustomer(ctx context.Context, req CreateCustomerRequest) (CreatedCustomer, error)
	CheckCustomer(ctx context.Context, req CheckCustomerRequest) (CheckCustomerResult, error)
}

var (
	ErrHuaweiUnreachable = errors.New("huawei partner API unreachable")
	ErrHuaweiTimeout     = errors.New("huawei partner API timed out")
)

// HuaweiError is an error answer of Huawei's partner API, its code kept.
// DomainID and DomainName are set when the answer names a Huawei account
// (create customer's CodeExists).
type HuaweiError struct {
	Status     int
	Code       string
	Message    string
	DomainID   string
	DomainName string
}

// CodeExists is the create-customer error code with which Huawei's
// documentation (and the Go SDK's model) still returns domain_id and
// domain_name: the xaccount_id already has a Huawei customer, this one.
const CodeExists = "CBC.99000050"

// retryable says whether a create-customer failure left an uncertain
// outcome worth another try: no answer in time, no connection, or a 5xx.
func retryable(err error) bool {
	var he *HuaweiError
	if errors.As(err, &he) {
		return he.Status >= 500
	}
	return errors.Is(err, ErrHuaweiTimeout) || errors.Is(err, ErrHuaweiUnreachable) || errors.Is(err, context.DeadlineExceeded)
}

// existingCustomer returns the customer Huawei's "already exists" answer names.
func existingCustomer(err error) (CreatedCustomer, bool) {
	var he *HuaweiError
	if errors.As(err, &he) && he.Code == CodeExists && he.DomainID != "" {
		return CreatedCustomer{DomainID: he.DomainID, DomainName: he.DomainName}, true
	}
	return CreatedCustomer{}, false
}

// Retry bounds create-customer's retries after an uncertain outcome.
type Retry struct {
	Attempts int                                              // tries in all; 0: DefaultCreateAttempts
	Base     time.Duration                                    // first wait; 0: DefaultRetryBase
	Max      time.Duration                                    // longest wait; 0: DefaultRetryMax
	Sleep    func(ctx context.Context, d time.Duration) error // nil: a timer that ctx ends
	OnRetry  func(attempt int, wait time.Duration, err error) // optional: log each retry
}

// Create-customer retry defaults: 3 tries, waiting 500 ms then 1 s.
const (
	DefaultCreateAttempts = 3
	DefaultRetryBase      = 500 * time.Millisecond
	DefaultRetryMax       = 4 * time.Second
	maxCreateAttempts     = 10
)

func (r Retry) attempts() int {
	switch {
	case r.Attempts <= 0:
		return DefaultCreateAttempts
	case r.Attempts > maxCreateAttempts:
		return maxCreateAttempts
	}
	return r.Attempts
}

// wait is the pause before try n+1 (n ≥ 1): Base·2^(n−1), at most Max.
func (r Retry) wait(n int) time.Duration {
	d, maxD := r.Base, r.Max
	if d <= 0 {
		d = DefaultRetryBase
	}
	if maxD <= 0 {
		maxD = DefaultRetryMax
	}
	for i := 1; i < n && d < maxD; i++ {
		d *= 2
	}
	return min(d, maxD)
}

func (r Retry) sleep(ctx context.Context, d time.Duration) error {
	if r.Sleep != nil {
		return r.Sleep(ctx, d)
	}
	return clock.Sleep(ctx, d)
}

func (e *HuaweiError) Error() string {
	return fmt.Sprintf("huawei partner API: %d %s: %s", e.Status, e.Code, e.Message)
}

// Event is one audited API call.
type Event struct {
	Time       time.Time
	Platform   string
	Method     string
	Path       string
	XAccountID string
	DomainID   string
	Status     int
	Reason     string
}

// Config configures the API.
type Config struct {
	PublicURL string // the bridge's public URL; the audience is PublicURL+"/api/v1"
	Platforms []Platform
	Store     binding.Store
	Replay    handoff.ReplayStore
	Partner   Partner // optional: nil answers create/check with api_partner_disabled
	Retry     Retry   // create customer's retries
	Audit     func(Event)
	Clock     func() time.Time
	Log       *slog.Logger
}

// API serves /api/v1/.
type API struct {
	cfg          Config
	verifier     *handoff.Verifier // mutating calls: jti single use
	readVerifier *handoff.Verifier // read calls: jti not spent, result cached
	readTokens   *readTokenCache
	byIssuer     map[string]*Platform
	mux          *http.ServeMux
	clock        func() time.Time

	log *slog.Logger
}

// Audience returns the API token audience for a public URL.
func Audience(publicURL string) string { return strings.TrimSuffix(publicURL, "/") + "/api/v1" }

// New checks cfg and builds the API.
func New(cfg Config) (*API, error) {
	var errs []error
	if cfg.PublicURL == "" {
		errs = append(errs, errors.New("platformapi: PublicURL is required"))
	}
	if cfg.Store == nil {
		errs = append(errs, errors.New("platformapi: Store is required"))
	}
	if cfg.Replay == nil {
		errs = append(errs, errors.New("platformapi: Replay is required (jti is single use)"))
	}
	a := &API{cfg: cfg, byIssuer: map[string]*Platform{}, readTokens: newReadTokenCache(MaxReadTokens), clock: cfg.Clock, log: cfg.Log}
	if a.clock == nil {
		a.clock = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	var hp []handoff.Platform
	for _, p := range cfg.Platforms {
		if p.XAccountType == "" {
			errs = append(errs, fmt.Errorf("platformapi: platform %s: xaccount_type is required", p.Name))
		}
		hp = append(hp, handoff.Platform{Name: p.Name, Issuer: p.Issuer, Audience: Audience(cfg.PublicURL), Keys: p.Keys, MaxLifetime: MaxTokenLifetime})
		a.byIssuer[p.Issuer] = &p
	}
	a.verifier = &handoff.Verifier{Platforms: hp, Replay: cfg.Replay, Clock: cfg.Clock}
	a.readVerifier = &handoff.Verifier{Platforms: hp, Replay: noReplay{}, Clock: cfg.Clock}
	if err := a.verifier.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /api/v1/openapi.yaml", a.serveYAML)
	m.HandleFunc("GET /api/v1/openapi.json", a.serveJSON)
	m.HandleFunc("GET /api/v1/bindings", a.auth(read, a.listBindings))
	m.HandleFunc("GET /api/v1/bindings/{xaccount_id}", a.auth(read, a.getBinding))
	m.HandleFunc("GET /api/v1/bindings/{xaccount_id}/history", a.auth(read, a.history))
	m.HandleFunc("POST /api/v1/customers", a.auth(mutate, a.createCustomer))
	m.HandleFunc("POST /api/v1/customers/check", a.auth(mutate, a.checkCustomer))
	m.HandleFunc("/api/v1/", a.notFound)
	a.mux = m
	return a, nil
}

// ServeHTTP serves the API.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	}
	// The most frequent call, GET /api/v1/bindings/{xaccount_id}, skips the
	// mux when its path is plain (one clean, unescaped segment) and it has
	// no query; anything else takes the mux, which routes it the same way.
	if r.Method == http.MethodGet && r.URL.RawPath == "" && r.URL.RawQuery == "" {
		if id, ok := strings.CutPrefix(r.URL.Path, "/api/v1/bindings/"); ok && id != "" && id != "." && id != ".." && strings.IndexByte(id, '/') < 0 {
			a.serveGetBinding(w, r, id)
			return
		}
	}
	a.mux.ServeHTTP(w, r)
}

// call is one request in progress.
type call struct {
	p  *Platform
	ev Event
	// pathID is the {xaccount_id} path segment, if the route has one.
	pathID string
	// lookup: the call was a lookup and was answered (found or not bound).
	lookup bool
}

// tokenUse says how a call may use its token.
type tokenUse bool

const (
	read   tokenUse = true  // GET: the token may be used again until its exp
	mutate tokenUse = false // POST: the token's jti is spent
)

func (a *API) auth(use tokenUse, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.serveCall(w, r, use, h, r.PathValue("xaccount_id"))
	}
}

// handler answers one authenticated call: status, body and audit reason.
type handler func(http.ResponseWriter, *http.Request, *call) (int, any, string)

// serveCall authenticates, runs h, audits and writes the answer. pathID is
// the {xaccount_id} segment ("" on routes without one).
func (a *API) serveCall(w http.ResponseWriter, r *http.Request, use tokenUse, h handler, pathID string) {
	c := &call{pathID: pathID, ev: Event{Time: a.clock(), Method: r.Method, Path: r.URL.Path}}
	status, body, reason := a.authenticate(r, c, use)
	if status == 0 {
		status, body, reason = h(w, r, c)
	}
	a.audit(c, status, reason)
	writeJSON(w, status, body)
}

// serveGetBinding is serveCall for GET /api/v1/bindings/{xaccount_id}, the
// call platforms make most, in the same sequence: authenticate, look up,
// audit, answer. Specialised so that nothing in it escapes: the call stays
// on the stack, and the answer is written straight from the store's record.
func (a *API) serveGetBinding(w http.ResponseWriter, r *http.Request, id string) {
	c := call{pathID: id, ev: Event{Time: a.clock(), Method: r.Method, Path: r.URL.Path}}
	status, body, reason := a.authenticate(r, &c, read)
	var b binding.Binding
	if status == 0 {
		b, status, body, reason = a.lookup(r.Context(), &c)
	}
	a.audit(&c, status, reason)
	if status == http.StatusOK {
		writeBinding(w, &b)
		return
	}
	writeJSON(w, status, body)
}

// audit records the call, unless it is an answered lookup of a platform
// that does not audit lookups (Platform.AuditLookups).
func (a *API) audit(c *call, status int, reason string) {
	if a.cfg.Audit == nil || (c.lookup && !c.p.AuditLookups) {
		return
	}
	c.ev.Status, c.ev.Reason = status, reason
	a.cfg.Audit(c.ev)
}

// authenticate checks the bearer token as a straight sequence: present;
// for a read, a cached verified token; else signature, issuer, audience
// and expiry (handoff.Verifier, which for a mutating call also spends the
// jti); lifetime at most MaxTokenLifetime; a known issuer. A verified read
// token is cached until its exp.
func (a *API) authenticate(r *http.Request, c *call, use tokenUse) (int, any, string) {
	// The header map read directly: the server stores keys canonical, and
	// Header.Get would canonicalize "Authorization" again on every call.
	var authz string
	if v := r.Header["Authorization"]; len(v) > 0 {
		authz = v[0]
	}
	tok, ok := strings.CutPrefix(authz, "Bearer ")
	if !ok || tok == "" {
		return fail(http.StatusUnauthorized, ReasonUnauthenticated, "send Authorization: Bearer <JWT signed with the platform's registered key, aud "+Audience(a.cfg.PublicURL)+">")
	}
	if use == read {
		if p, ok := a.readTokens.get(tok, c.ev.Time); ok {
			c.p, c.ev.Platform = p, p.Name
			return 0, nil, ""
		}
	}
	v := a.verifier
	if use == read {
		v = a.readVerifier
	}
	claims, err := v.Verify(r.Context(), tok)
	if err != nil {
		var te *handoff.TokenError
		if errors.As(err, &te) {
			c.ev.Platform = te.Platform
			return fail(http.StatusUnauthorized, ReasonBadToken, te.Reason+": "+te.Msg)
		}
		if errors.Is(err, binding.ErrUnavailable) {
			return fail(http.StatusServiceUnavailable, ReasonStoreUnavailable, "the store is unavailable; retry")
		}
		a.log.Error("api token verification", "err", err)
		return fail(http.StatusInternalServerError, ReasonInternal, "token check failed on our side; retry")
	}
	if claims.IssuedAt.IsZero() || claims.Expires.Sub(claims.IssuedAt) > MaxTokenLifetime {
		return fail(http.StatusUnauthorized, ReasonBadToken, "token lifetime over 5 minutes")
	}
	p, ok := a.byIssuer[claims.Issuer]
	if !ok {
		return fail(http.StatusUnauthorized, ReasonBadToken, "unknown issuer")
	}
	c.p, c.ev.Platform = p, p.Name
	if use == read {
		a.readTokens.put(tok, p, claims.Expires, c.ev.Time)
	}
	return 0, nil, ""
}

type errorBody struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func fail(status int, reason, msg string) (int, any, string) {
	return status, errorBody{Reason: reason, Message: msg}, reason
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	setJSONHeaders(w)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (a *API) notFound(w http.ResponseWriter, r *http.Request) {
	ev := Event{Time: a.clock(), Method: r.Method, Path: r.URL.Path, Status: http.StatusNotFound, Reason: ReasonNotFound}
	if a.cfg.Audit != nil {
		a.cfg.Audit(ev)
	}
	writeJSON(w, http.StatusNotFound, errorBody{ReasonNotFound, "no such API path or method; see /api/v1/openapi.yaml"})
}

func (a *API) serveYAML(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(openAPIYAML)
}

func (a *API) serveJSON(w http.ResponseWriter, _ *http.Request) {
	j, err := yamlToJSON(openAPIYAML)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, errorBody{ReasonInternal, "openapi document"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(j)
}

// BindingView is a binding as the API shows it.
type BindingView struct {
	XAccountType string    `json:"xaccount_type"`
	XAccountID   string    `json:"xaccount_id"`
	DomainID     string    `json:"domain_id"`
	DomainName   string    `json:"domain_name,omitempty"`
	Source       string    `json:"source"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func viewOf(b binding.Binding) BindingView {
	return BindingView{b.XAccountType, b.XAccountID, b.DomainID, b.DomainName, string(b.Source), b.CreatedAt.UTC(), b.UpdatedAt.UTC()}
}

func storeFail(err error) (int, any, string) {
	if errors.Is(err, binding.ErrUnavailable) || errors.Is(err, binding.ErrConflict) || errors.Is(err, context.DeadlineExceeded) {
		return fail(http.StatusServiceUnavailable, ReasonStoreUnavailable, "the store is unavailable; retry")
	}
	return fail(http.StatusInternalServerError, ReasonInternal, "store failure; retry, and report it if it repeats")
}

// pathID checks the call's {xaccount_id} segment: a bad one is a 400 that
// names the field.
func pathID(c *call) (id string, status int, body any, reason string) {
	if err := binding.ValidXAccountID(c.pathID); err != nil {
		status, body, reason = fail(http.StatusBadRequest, ReasonBadRequest, "xaccount_id: "+err.Error())
		return "", status, body, reason
	}
	c.ev.XAccountID = c.pathID
	return c.pathID, 0, nil, ""
}

// noQuery refuses a query on a route that takes none, naming the first
// parameter (in the order sent), so a misspelt filter is not ignored.
func noQuery(r *http.Request) (int, any, string) {
	if r.URL.RawQuery == "" {
		return 0, nil, ""
	}
	name, _, _ := strings.Cut(r.URL.RawQuery, "&")
	name, _, _ = strings.Cut(name, "=")
	if n, err := url.QueryUnescape(name); err == nil {
		name = n
	}
	return fail(http.StatusBadRequest, ReasonBadRequest, name+": unknown query parameter")
}

// lookup reads the binding the call names: its path's xaccount_id under
// the platform's xAccountType.
func (a *API) lookup(ctx context.Context, c *call) (binding.Binding, int, any, string) {
	id, status, body, reason := pathID(c)
	if status != 0 {
		return binding.Binding{}, status, body, reason
	}
	b, err := a.cfg.Store.Get(ctx, binding.Key{XAccountType: c.p.XAccountType, XAccountID: id})
	if errors.Is(err, binding.ErrNotFound) {
		c.lookup = true
		status, body, reason = fail(http.StatusNotFound, ReasonNotFound, "xaccount_id "+id+" is not bound")
		return binding.Binding{}, status, body, reason
	} else if err != nil {
		status, body, reason = storeFail(err)
		return binding.Binding{}, status, body, reason
	}
	c.ev.DomainID = b.DomainID
	c.lookup = true
	return b, http.StatusOK, nil, ReasonOK
}

// getBinding is the mux's route to a binding (paths the fast path in
// ServeHTTP leaves to the mux).
func (a *API) getBinding(_ http.ResponseWriter, r *http.Request, c *call) (int, any, string) {
	if status, body, reason := noQuery(r); status != 0 {
		return status, body, reason
	}
	b, status, body, reason := a.lookup(r.Context(), c)
	if status != http.StatusOK {
		return status, body, reason
	}
	return status, viewOf(b), reason
}

func (a *API) history(_ http.ResponseWriter, r *http.Request, c *call) (int, any, string) {
	if status, body, reason := noQuery(r); status != 0 {
		return status, body, reason
	}
	id, status, body, reason := pathID(c)
	if status != 0 {
		return status, body, reason
	}
	h, err := a.cfg.Store.History(r.Context(), binding.Key{XAccountType: c.p.XAccountType, XAccountID: id})
	if err != nil && !errors.Is(err, binding.ErrNotFound) {
		return storeFail(err)
	}
	type entry struct {
		Seq     uint64      `json:"seq"`
		Time    time.Time   `json:"time"`
		Action  string      `json:"action"`
		Source  string      `json:"source"`
		Binding BindingView `json:"binding"`
	}
	out := struct {
		Changes []entry `json:"changes"`
	}{Changes: []entry{}}
	for _, ch := range h {
		out.Changes = append(out.Changes, entry{ch.Seq, ch.Time.UTC(), string(ch.Action), string(ch.Source), viewOf(ch.Binding)})
	}
	c.lookup = true
	if len(out.Changes) == 0 {
		return fail(http.StatusNotFound, ReasonNotFound, "xaccount_id "+id+" has no history")
	}
	return http.StatusOK, out, ReasonOK
}

// cursor encoding: base64url of the last xaccount_id, opaque to clients.
func encodeCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte("v1:" + id)) }

func decodeCursor(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(b), "v1:") {
		return "", errors.New("not a cursor this API returned")
	}
	id := strings.TrimPrefix(string(b), "v1:")
	if err := binding.ValidXAccountID(id); err != nil {
		return "", errors.New("not a cursor this API returned")
	}
	return id, nil
}

var errPageFull = errors.New("page full")

func (a *API) listBindings(_ http.ResponseWriter, r *http.Request, c *call) (int, any, string) {
	q := r.URL.Query()
	for name := range q {
		switch name {
		case "domain_id", "cursor", "limit":
			if len(q[name]) != 1 {
				return fail(http.StatusBadRequest, ReasonBadRequest, name+": given more than once")
			}
		default:
			return fail(http.StatusBadRequest, ReasonBadRequest, name+": unknown query parameter")
		}
	}
	type page struct {
		Bindings   []BindingView `json:"bindings"`
		NextCursor string        `json:"next_cursor,omitempty"`
	}
	out := page{Bindings: []BindingView{}}
	if q.Has("domain_id") {
		d := q.Get("domain_id")
		if err := binding.ValidXAccountID(d); err != nil {
			return fail(http.StatusBadRequest, ReasonBadRequest, "domain_id: "+err.Error())
		}
		if q.Has("cursor") || q.Has("limit") {
			return fail(http.StatusBadRequest, ReasonBadRequest, "domain_id: not combined with cursor or limit")
		}
		c.ev.DomainID = d
		bs, err := a.cfg.Store.GetByDomainID(r.Context(), d)
		if err != nil && !errors.Is(err, binding.ErrNotFound) {
			return storeFail(err)
		}
		for _, b := range bs {
			if b.XAccountType == c.p.XAccountType {
				out.Bindings = append(out.Bindings, viewOf(b))
			}
		}
		c.lookup = true
		return http.StatusOK, out, ReasonOK
	}
	limit := DefaultListLimit
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > MaxListLimit {
			return fail(http.StatusBadRequest, ReasonBadRequest, fmt.Sprintf("limit: an integer from 1 to %d", MaxListLimit))
		}
		limit = n
	}
	after := binding.Key{XAccountType: c.p.XAccountType}
	if q.Has("cursor") {
		id, err := decodeCursor(q.Get("cursor"))
		if err != nil {
			return fail(http.StatusBadRequest, ReasonBadRequest, "cursor: "+err.Error())
		}
		after.XAccountID = id
	}
	more := false
	err := a.cfg.Store.List(r.Context(), after, func(b binding.Binding) error {
		if b.XAccountType != c.p.XAccountType {
			return errPageFull // past this platform's keys
		}
		if len(out.Bindings) == limit {
			more = true
			return errPageFull
		}
		out.Bindings = append(out.Bindings, viewOf(b))
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		return storeFail(err)
	}
	if more {
		out.NextCursor = encodeCursor(out.Bindings[len(out.Bindings)-1].XAccountID)
	}
	return http.StatusOK, out, ReasonOK
}

// decodeStrict reads one JSON object into v: unknown fields, trailing data
// and wrong types are 400s naming the field.
func decodeStrict(r *http.Request, v any) (int, any, string, bool) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		s, b, reason := fail(http.StatusUnsupportedMediaType, ReasonBadRequest, "body: send Content-Type: application/json")
		return s, b, reason, false
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, e := dec.Token(); e != io.EOF {
			err = errors.New("body: trailing data after the JSON object")
		}
	}
	if err != nil {
		msg := "body: " + err.Error()
		var te *json.UnmarshalTypeError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &te):
			msg = te.Field + ": wrong type, want " + te.Type.String()
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			msg = strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`) + ": unknown field"
		case errors.As(err, &mbe):
			s, b, reason := fail(http.StatusRequestEntityTooLarge, ReasonBadRequest, "body: over 16 KiB")
			return s, b, reason, false
		case errors.Is(err, io.EOF):
			msg = "body: empty; send a JSON object"
		}
		s, b, reason := fail(http.StatusBadRequest, ReasonBadRequest, msg)
		return s, b, reason, false
	}
	return 0, nil, "", true
}

func partnerFail(err error) (int, any, string) {
	var he *HuaweiError
	switch {
	case errors.As(err, &he):
		st := http.StatusBadGateway
		if he.Status >= 400 && he.Status < 500 {
			st = http.StatusUnprocessableEntity
		}
		return st, struct {
			Reason     string `json:"reason"`
			Message    string `json:"message"`
			HuaweiCode string `json:"huawei_code,omitempty"`
		}{ReasonHuaweiError, "Huawei refused: " + he.Message, he.Code}, ReasonHuaweiError
	case errors.Is(err, ErrHuaweiTimeout), errors.Is(err, context.DeadlineExceeded):
		return fail(http.StatusGatewayTimeout, ReasonHuaweiTimeout, "Huawei's partner API did not answer in time; nothing was stored; retry")
	default:
		return fail(http.StatusBadGateway, ReasonHuaweiUnreachable, "Huawei's partner API could not be reached; nothing was stored; retry")
	}
}

func (a *API) createCustomer(_ http.ResponseWriter, r *http.Request, c *call) (int, any, string) {
	var req CreateCustomerRequest
	if s, b, reason, ok := decodeStrict(r, &req); !ok {
		return s, b, reason
	}
	if err := binding.ValidXAccountID(req.XAccountID); err != nil {
		return fail(http.StatusBadRequest, ReasonBadRequest, "xaccount_id: "+err.Error())
	}
	c.ev.XAccountID = req.XAccountID
	if a.cfg.Partner == nil {
		if cur, err := a.cfg.Store.Get(r.Context(), binding.Key{XAccountType: c.p.XAccountType, XAccountID: req.XAccountID}); err == nil {
			c.ev.DomainID = cur.DomainID
			return http.StatusOK, viewOf(cur), ReasonExisting
		}
		return fail(http.StatusNotImplemented, ReasonPartnerDisabled, "huawei.partner_api is not configured on this bridge")
	}
	req.XAccountType = c.p.XAccountType
	retry := a.cfg.Retry
	if retry.OnRetry == nil {
		retry.OnRetry = func(n int, wait time.Duration, err error) {
			a.log.Warn("create customer: uncertain outcome; trying again", "platform", c.p.Name, "xaccount_id", req.XAccountID, "attempt", n, "retry_in", wait.String(), "err", err)
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), CreateDeadline)
	defer cancel()
	b, created, err := CreateCustomer(ctx, a.cfg.Store, a.cfg.Partner, req, "api:"+c.p.Name, retry)
	switch {
	case errors.Is(err, errStore):
		return storeFail(err)
	case err != nil:
		return partnerFail(err)
	}
	c.ev.DomainID = b.DomainID
	if !created {
		return http.StatusOK, viewOf(b), ReasonExisting
	}
	return http.StatusCreated, viewOf(b), ReasonCreated
}

var errStore = errors.New("store")

// CreateCustomer creates a Huawei customer for req's account through p and
// stores the binding (source create_customer) with its history entry in one
// update. A bound account is returned as it is, without calling Huawei
// (created false). Store failures wrap binding's errors; Huawei's are
// *HuaweiError or wrap ErrHuaweiUnreachable / ErrHuaweiTimeout, and then
// nothing is stored.
//
// A timeout, a lost connection or a 5xx leaves the outcome uncertain:
// Huawei may have created the account. CreateCustomer then tries again
// after a backoff (retry bounds it) with the same xaccount_id, and never
// creates a second account: Huawei keys customers by xaccount_type and
// xaccount_id, and answers a repeat with CodeExists carrying the existing
// account's domain_id, which is then taken as the answer and stored. A
// CodeExists answer without a domain_id is an error: nothing is stored, the
// binding arrives with the customer's first login.
func CreateCustomer(ctx context.Context, st binding.Store, p Partner, req CreateCustomerRequest, actor string, retry Retry) (binding.Binding, bool, error) {
	key := binding.Key{XAccountType: req.XAccountType, XAccountID: req.XAccountID}
	cur, err := st.Get(ctx, key)
	if err == nil {
		return cur, false, nil
	} else if !errors.Is(err, binding.ErrNotFound) {
		return binding.Binding{}, false, fmt.Errorf("%w: %w", errStore, err)
	}
	got, err := createOnce(ctx, p, req, retry)
	if err != nil {
		return binding.Binding{}, false, err
	}
	res, err := st.Update(ctx, key, "", func(cur *binding.Binding) (binding.Edit, error) {
		if cur != nil {
			return binding.Edit{}, nil // bound meanwhile (a notification): keep it
		}
		return binding.Edit{Action: binding.ActionBind, DomainID: got.DomainID, DomainName: got.DomainName, Source: binding.SourceCreateCustomer, Actor: actor}, nil
	})
	if err != nil {
		return binding.Binding{}, false, fmt.Errorf("%w: %w", errStore, err)
	}
	return res.Binding, res.Changed, nil
}

// createOnce asks Huawei for the account until it has an answer that names
// one (created now, or Huawei's CodeExists with its domain_id), a definite
// refusal, or retry's tries are spent.
func createOnce(ctx context.Context, p Partner, req CreateCustomerRequest, retry Retry) (CreatedCustomer, error) {
	for n := 1; ; n++ {
		got, err := p.CreateCustomer(ctx, req)
		if err == nil {
			return got, nil
		}
		if existing, ok := existingCustomer(err); ok {
			return existing, nil
		}
		if !retryable(err) || n >= retry.attempts() || ctx.Err() != nil {
			return CreatedCustomer{}, err
		}
		wait := retry.wait(n)
		if retry.OnRetry != nil {
			retry.OnRetry(n, wait, err)
		}
		if e := retry.sleep(ctx, wait); e != nil {
			return CreatedCustomer{}, err
		}
	}
}

func (a *API) checkCustomer(_ http.ResponseWriter, r *http.Request, c *call) (int, any, string) {
	var req CheckCustomerRequest
	if s, b, reason, ok := decodeStrict(r, &req); !ok {
		return s, b, reason
	}
	switch req.SearchType {
	case "name", "email", "mobile":
	default:
		return fail(http.StatusBadRequest, ReasonBadRequest, "search_type: one of name, email, mobile")
	}
	if req.SearchValue == "" || len(req.SearchValue) > 256 {
		return fail(http.StatusBadRequest, ReasonBadRequest, "search_value: 1 to 256 characters")
	}
	if a.cfg.Partner == nil {
		return fail(http.StatusNotImplemented, ReasonPartnerDisabled, "huawei.partner_api is not configured on this bridge")
	}
	res, err := a.cfg.Partner.CheckCustomer(r.Context(), req)
	if err != nil {
		return partnerFail(err)
	}
	return http.StatusOK, res, ReasonOK
}
