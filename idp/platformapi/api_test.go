package platformapi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/memory"
	"github.com/partneridp/partneridp/idp/handoff"
)

const testPublicURL = "https://idp.partner.example"

type fakePartner struct {
	mu      sync.Mutex
	calls   int
	err     error
	created CreatedCustomer
}

func (f *fakePartner) CreateCustomer(_ context.Context, req CreateCustomerRequest) (CreatedCustomer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return CreatedCustomer{}, f.err
	}
	if f.created.DomainID != "" {
		return f.created, nil
	}
	return CreatedCustomer{DomainID: "dom-" + req.XAccountID, DomainName: req.DomainName}, nil
}

func (f *fakePartner) CheckCustomer(_ context.Context, req CheckCustomerRequest) (CheckCustomerResult, error) {
	if f.err != nil {
		return CheckCustomerResult{}, f.err
	}
	if req.SearchValue == "taken" {
		return CheckCustomerResult{Status: "used_by_user", UniqueCount: 1}, nil
	}
	return CheckCustomerResult{Status: "available"}, nil
}

type env struct {
	t       testing.TB
	api     *API
	store   binding.Store
	partner *fakePartner
	mintA   *handoff.Minter
	mintB   *handoff.Minter
	router  routers.Router
	events  []Event
	mu      sync.Mutex
}

func newEnv(t testing.TB) *env {
	t.Helper()
	pubA, privA, _ := ed25519.GenerateKey(rand.Reader)
	pubB, privB, _ := ed25519.GenerateKey(rand.Reader)
	st := memory.New(nil)
	e := &env{t: t, store: st, partner: &fakePartner{}}
	api, err := New(Config{
		PublicURL: testPublicURL,
		Platforms: []Platform{
			{Name: "shop-a", Issuer: "https://a.example", XAccountType: "typeA", Keys: []handoff.PlatformKey{{Alg: handoff.AlgEdDSA, Public: pubA}}, AuditLookups: true},
			{Name: "shop-b", Issuer: "https://b.example", XAccountType: "typeB", Keys: []handoff.PlatformKey{{Alg: handoff.AlgEdDSA, Public: pubB}}},
		},
		Store:   st,
		Replay:  &handoff.MemoryReplay{},
		Partner: e.partner,
		Retry:   Retry{Sleep: func(context.Context, time.Duration) error { return nil }},
		Audit:   func(ev Event) { e.mu.Lock(); e.events = append(e.events, ev); e.mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.api = api
	e.mintA = &handoff.Minter{Issuer: "https://a.example", Audience: Audience(testPublicURL), Alg: handoff.AlgEdDSA, Key: privA}
	e.mintB = &handoff.Minter{Issuer: "https://b.example", Audience: Audience(testPublicURL), Alg: handoff.AlgEdDSA, Key: privB}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIYAML)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi document: %v", err)
	}
	doc.Servers = nil // match on paths only; the bridge may sit at any public URL
	e.router, err = legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) token(m *handoff.Minter) string {
	tok, err := m.Mint("backend", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// do sends a request, validating request and response against the OpenAPI
// document (skipValidateReq: for deliberately invalid requests).
func (e *env) do(method, path, token, body string, skipValidateReq bool) (*http.Response, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, testPublicURL+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	route, params, err := e.router.FindRoute(req)
	if err != nil {
		e.t.Fatalf("%s %s: not in the OpenAPI document: %v", method, path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, SkipSettingDefaults: true}}
	if !skipValidateReq {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			e.t.Fatalf("%s %s: request does not match the document: %v", method, path, err)
		}
		if body != "" {
			req.Body = io.NopCloser(strings.NewReader(body))
		}
	}
	rec := httptest.NewRecorder()
	e.api.ServeHTTP(rec, req)
	res := rec.Result()
	raw, _ := io.ReadAll(res.Body)
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Body: io.NopCloser(bytes.NewReader(raw)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		e.t.Fatalf("%s %s: response %d does not match the document: %v\n%s", method, path, res.StatusCode, err, raw)
	}
	var m map[string]any
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &m); err != nil {
			e.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return res, m
}

func (e *env) bind(typ, id, dom string) {
	e.t.Helper()
	if _, err := binding.Put(context.Background(), e.store, binding.Binding{Key: binding.Key{XAccountType: typ, XAccountID: id}, DomainID: dom, Source: binding.SourceOperator}, "test", nil); err != nil {
		e.t.Fatal(err)
	}
}

func TestAPI(t *testing.T) {
	e := newEnv(t)
	e.bind("typeA", "cust-1", "dom-1")
	e.bind("typeA", "cust-2", "dom-shared")
	e.bind("typeB", "cust-1", "dom-b1")
	e.bind("typeB", "cust-9", "dom-shared")

	tests := []struct {
		name, method, path, body string
		tok                      func() string
		invalidReq               bool
		status                   int
		reason                   string
		check                    func(map[string]any) error
	}{
		{name: "get bound", method: "GET", path: "/api/v1/bindings/cust-1", tok: func() string { return e.token(e.mintA) }, status: 200,
			check: func(m map[string]any) error { return want(m["domain_id"], "dom-1") }},
		{name: "other platform sees its own", method: "GET", path: "/api/v1/bindings/cust-1", tok: func() string { return e.token(e.mintB) }, status: 200,
			check: func(m map[string]any) error { return want(m["domain_id"], "dom-b1") }},
		{name: "cross-platform invisible", method: "GET", path: "/api/v1/bindings/cust-9", tok: func() string { return e.token(e.mintA) }, status: 404, reason: ReasonNotFound},
		{name: "unbound", method: "GET", path: "/api/v1/bindings/nobody", tok: func() string { return e.token(e.mintA) }, status: 404, reason: ReasonNotFound},
		{name: "bad id", method: "GET", path: "/api/v1/bindings/a%20b", tok: func() string { return e.token(e.mintA) }, status: 400, reason: ReasonBadRequest, invalidReq: true,
			check: func(m map[string]any) error { return prefix(m["message"], "xaccount_id:") }},
		{name: "query on a binding", method: "GET", path: "/api/v1/bindings/cust-1?domian_id=dom-1", tok: func() string { return e.token(e.mintA) }, status: 400, reason: ReasonBadRequest,
			check: func(m map[string]any) error { return prefix(m["message"], "domian_id:") }},
		{name: "query on a history", method: "GET", path: "/api/v1/bindings/cust-1/history?since=1", tok: func() string { return e.token(e.mintA) }, status: 400, reason: ReasonBadRequest,
			check: func(m map[string]any) error { return prefix(m["message"], "since:") }},
		{name: "no token", method: "GET", path: "/api/v1/bindings/cust-1", tok: func() string { return "" }, status: 401, reason: ReasonUnauthenticated, invalidReq: true},
		{name: "garbage token", method: "GET", path: "/api/v1/bindings/cust-1", tok: func() string { return "x.y.z" }, status: 401, reason: ReasonBadToken},
		{name: "handoff audience refused", method: "GET", path: "/api/v1/bindings/cust-1", tok: func() string {
			m := *e.mintA
			m.Audience = testPublicURL
			return e.token(&m)
		}, status: 401, reason: ReasonBadToken},
		{name: "long-lived token refused", method: "GET", path: "/api/v1/bindings/cust-1", tok: func() string {
			m := *e.mintA
			m.Lifetime = time.Hour
			return e.token(&m)
		}, status: 401, reason: ReasonBadToken},
		{name: "by domain", method: "GET", path: "/api/v1/bindings?domain_id=dom-shared", tok: func() string { return e.token(e.mintA) }, status: 200,
			check: func(m map[string]any) error {
				bs := m["bindings"].([]any)
				if len(bs) != 1 {
					return fmt.Errorf("%d bindings, want 1 (own type only)", len(bs))
				}
				return want(bs[0].(map[string]any)["xaccount_id"], "cust-2")
			}},
		{name: "history", method: "GET", path: "/api/v1/bindings/cust-1/history", tok: func() string { return e.token(e.mintA) }, status: 200,
			check: func(m map[string]any) error { return want(len(m["changes"].([]any)), 1) }},
		{name: "limit too big", method: "GET", path: "/api/v1/bindings?limit=501", tok: func() string { return e.token(e.mintA) }, status: 400, reason: ReasonBadRequest, invalidReq: true,
			check: func(m map[string]any) error { return prefix(m["message"], "limit:") }},
		{name: "bad cursor", method: "GET", path: "/api/v1/bindings?cursor=zzz", tok: func() string { return e.token(e.mintA) }, status: 400, reason: ReasonBadRequest,
			check: func(m map[string]any) error { return prefix(m["message"], "cursor:") }},
		{name: "create bound: existing, Huawei not called", method: "POST", path: "/api/v1/customers", body: `{"xaccount_id":"cust-1"}`, tok: func() string { return e.token(e.mintA) }, status: 200,
			check: func(m map[string]any) error { return want(e.partner.calls, 0) }},
		{name: "create new", method: "POST", path: "/api/v1/customers", body: `{"xaccount_id":"new-1","domain_name":"newco"}`, tok: func() string { return e.token(e.mintA) }, status: 201,
			check: func(m map[string]any) error { return want(m["source"], "create_customer") }},
		{name: "unknown field", method: "POST", path: "/api/v1/customers", body: `{"xaccount_id":"x","color":"red"}`, tok: func() string { return e.token(e.mintA) }, status: 400, reason: ReasonBadRequest, invalidReq: true,
			check: func(m map[string]any) error { return prefix(m["message"], "color:") }},
		{name: "bad json", method: "POST", path: "/api/v1/customers", body: `{"xaccount_id":`, tok: func() string { return e.token(e.mintA) }, status: 400, reason: ReasonBadRequest, invalidReq: true},
		{name: "wrong type", method: "POST", path: "/api/v1/customers", body: `{"xaccount_id":5}`, tok: func() string { return e.token(e.mintA) }, status: 400, reason: ReasonBadRequest, invalidReq: true,
			check: func(m map[string]any) error { return prefix(m["message"], "xaccount_id:") }},
		{name: "bad id in body", method: "POST", path: "/api/v1/customers", body: `{"xaccount_id":"a\u0000b"}`, tok: func() string { return e.token(e.mintA) }, status: 400, reason: ReasonBadRequest,
			check: func(m map[string]any) error { return prefix(m["message"], "xaccount_id:") }},
		{name: "check available", method: "POST", path: "/api/v1/customers/check", body: `{"search_type":"name","search_value":"free"}`, tok: func() string { return e.token(e.mintA) }, status: 200,
			check: func(m map[string]any) error { return want(m["status"], "available") }},
		{name: "check bad type", method: "POST", path: "/api/v1/customers/check", body: `{"search_type":"x","search_value":"free"}`, tok: func() string { return e.token(e.mintA) }, status: 400, reason: ReasonBadRequest, invalidReq: true,
			check: func(m map[string]any) error { return prefix(m["message"], "search_type:") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			res, m := e.do(tc.method, tc.path, tc.tok(), tc.body, tc.invalidReq)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %v", res.StatusCode, tc.status, m)
			}
			if tc.reason != "" && m["reason"] != tc.reason {
				t.Errorf("reason %v, want %s", m["reason"], tc.reason)
			}
			if tc.check != nil {
				if err := tc.check(m); err != nil {
					t.Error(err)
				}
			}
		})
	}
	e.t = t
	// The created binding is in the store with its history entry.
	h, err := e.store.History(context.Background(), binding.Key{XAccountType: "typeA", XAccountID: "new-1"})
	if err != nil || len(h) != 1 || h[0].Source != binding.SourceCreateCustomer {
		t.Fatalf("history of new-1: %v %v", h, err)
	}
	// Every call audited but one: shop-b's answered lookup, as shop-b does
	// not audit lookups (TestAuditLookups).
	if len(e.events) != len(tests)-1 {
		t.Errorf("%d audit events for %d calls, want %d", len(e.events), len(tests), len(tests)-1)
	}
}

// TestAuditLookups: a platform without AuditLookups has its answered
// lookups (found or not bound) left out of the audit; its refusals, lists
// and failures are audited, and so is every call of a platform with it.
func TestAuditLookups(t *testing.T) {
	e := newEnv(t)
	e.bind("typeA", "cust-1", "dom-1")
	e.bind("typeB", "cust-1", "dom-b1")
	tokA, tokB := e.token(e.mintA), e.token(e.mintB)
	for _, tc := range []struct {
		name, path, tok string
		status          int
		audited         bool
	}{
		{"B found", "/api/v1/bindings/cust-1", tokB, 200, false},
		{"B not bound", "/api/v1/bindings/cust-2", tokB, 404, false},
		{"B by domain", "/api/v1/bindings?domain_id=dom-b1", tokB, 200, false},
		{"B history", "/api/v1/bindings/cust-1/history", tokB, 200, false},
		{"B no history", "/api/v1/bindings/cust-2/history", tokB, 404, false},
		{"B through the mux", "/api/v1/bindings/cust%2D1", tokB, 200, false},
		{"B bad id", "/api/v1/bindings/a%20b", tokB, 400, true},
		{"B bad token", "/api/v1/bindings/cust-1", tokB + "x", 401, true},
		{"B list", "/api/v1/bindings", tokB, 200, true},
		{"A found", "/api/v1/bindings/cust-1", tokA, 200, true},
		{"A not bound", "/api/v1/bindings/cust-2", tokA, 404, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			before := len(e.events)
			res, m := e.do("GET", tc.path, tc.tok, "", false)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %v", res.StatusCode, tc.status, m)
			}
			if audited := len(e.events) > before; audited != tc.audited {
				t.Errorf("audited %v, want %v", audited, tc.audited)
			}
		})
	}
	// A lookup the store could not answer is a failure: audited.
	e.t = t
	e.api.cfg.Store = unavailableReads{e.store}
	for _, path := range []string{"/api/v1/bindings/cust-1", "/api/v1/bindings/cust-1/history", "/api/v1/bindings?domain_id=dom-b1"} {
		before := len(e.events)
		if res, m := e.do("GET", path, tokB, "", false); res.StatusCode != 503 || len(e.events) == before {
			t.Errorf("%s with the store down: status %d %v, audited %v; want 503, audited", path, res.StatusCode, m, len(e.events) > before)
		}
	}
}

// unavailableReads is a store whose reads fail as an unreachable store's do.
type unavailableReads struct{ binding.Store }

func (unavailableReads) Get(context.Context, binding.Key) (binding.Binding, error) {
	return binding.Binding{}, binding.ErrUnavailable
}

func (unavailableReads) History(context.Context, binding.Key) ([]binding.Change, error) {
	return nil, binding.ErrUnavailable
}

func (unavailableReads) GetByDomainID(context.Context, string) ([]binding.Binding, error) {
	return nil, binding.ErrUnavailable
}

func TestTokenUse(t *testing.T) {
	e := newEnv(t)
	e.bind("typeA", "cust-1", "dom-1")
	tok := e.token(e.mintA)
	// Reads: the same token again and again until its exp.
	for i := range 3 {
		if res, m := e.do("GET", "/api/v1/bindings/cust-1", tok, "", false); res.StatusCode != 200 {
			t.Fatalf("read %d: %d %v", i, res.StatusCode, m)
		}
	}
	// A mutating call spends the jti: once, then refused as a replay.
	if res, m := e.do("POST", "/api/v1/customers", tok, `{"xaccount_id":"cust-1"}`, false); res.StatusCode != 200 {
		t.Fatalf("first create: %d %v", res.StatusCode, m)
	}
	res, m := e.do("POST", "/api/v1/customers", tok, `{"xaccount_id":"cust-1"}`, false)
	if res.StatusCode != 401 || m["reason"] != ReasonBadToken || !strings.Contains(m["message"].(string), "replay") {
		t.Fatalf("replayed create: %d %v", res.StatusCode, m)
	}
	// A token of platform B read from the cache stays platform B's.
	tokB := e.token(e.mintB)
	for range 2 {
		if res, _ := e.do("GET", "/api/v1/bindings/cust-1", tokB, "", false); res.StatusCode != 404 {
			t.Fatalf("platform B sees typeA's binding: %d", res.StatusCode)
		}
	}
}

func TestReadTokenCache(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	e := newEnv(t)
	e.api.clock = clock
	e.api.readVerifier.Clock = clock
	e.api.verifier.Clock = clock
	e.bind("typeA", "cust-1", "dom-1")
	m := *e.mintA
	m.Clock = clock
	m.Lifetime = 2 * time.Minute
	tok := e.token(&m)
	if res, _ := e.do("GET", "/api/v1/bindings/cust-1", tok, "", false); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	if n := e.api.readTokens.len(); n != 1 {
		t.Fatalf("%d cached tokens after one read, want 1", n)
	}
	// Refused tokens are never cached.
	e.do("GET", "/api/v1/bindings/cust-1", tok+"x", "", false)
	long := *e.mintA
	long.Clock, long.Lifetime = clock, time.Hour
	e.do("GET", "/api/v1/bindings/cust-1", e.token(&long), "", false)
	if n := e.api.readTokens.len(); n != 1 {
		t.Fatalf("%d cached tokens after two refusals, want 1", n)
	}
	// At exp the cached token is refused (the cache ends at exp, not later).
	now = now.Add(2*time.Minute + time.Second)
	res, body := e.do("GET", "/api/v1/bindings/cust-1", tok, "", false)
	if res.StatusCode != 200 && (res.StatusCode != 401 || body["reason"] != ReasonBadToken) {
		t.Fatalf("expired token: %d %v", res.StatusCode, body)
	}
	if _, ok := e.api.readTokens.get(tok, now); ok {
		t.Fatal("an expired token is still cached")
	}
	now = now.Add(time.Minute) // past the verifier's leeway too
	if res, _ := e.do("GET", "/api/v1/bindings/cust-1", tok, "", false); res.StatusCode != 401 {
		t.Fatalf("expired token read: %d", res.StatusCode)
	}

	// Bounded: never more than MaxReadTokens entries.
	c := newReadTokenCache(8)
	p := &Platform{Name: "p"}
	for i := range 20 {
		c.put(fmt.Sprint("tok", i), p, now.Add(time.Minute), now)
	}
	if c.len() > 8 {
		t.Fatalf("cache holds %d, bound 8", c.len())
	}
	if _, ok := c.get("tok19", now); !ok {
		t.Fatal("the newest token was evicted")
	}
}

// TestCachedReadAllocations fails when a repeated read verifies its token
// again (a fresh verification allocates over 200 times) or when the read
// path grows new per-call allocations, for one key and for many.
func TestCachedReadAllocations(t *testing.T) {
	e := newEnv(t)
	e.api.cfg.Audit = func(Event) {}
	const keys = 500
	for i := range keys {
		e.bind("typeA", fmt.Sprintf("cust-%d", i), "dom-1")
	}
	req := httptest.NewRequest("GET", "/api/v1/bindings/cust-1", nil)
	req.Header.Set("Authorization", "Bearer "+e.token(e.mintA))
	w := &nopWriter{h: http.Header{}}
	e.api.ServeHTTP(w, req)
	allocs := testing.AllocsPerRun(200, func() {
		clear(w.h)
		e.api.ServeHTTP(w, req)
	})
	if w.code != 200 || allocs > 0 {
		t.Fatalf("status %d, %.1f allocations per cached read, want none", w.code, allocs)
	}
	paths := make([]string, keys)
	for i := range paths {
		paths[i] = fmt.Sprintf("/api/v1/bindings/cust-%d", i)
	}
	i := 0
	allocs = testing.AllocsPerRun(2*keys, func() {
		clear(w.h)
		req.URL.Path = paths[i%keys]
		i++
		e.api.ServeHTTP(w, req)
	})
	if w.code != 200 || allocs > 0 {
		t.Fatalf("status %d, %.1f allocations per read over %d keys, want none", w.code, allocs, keys)
	}
}

func TestAppendBindingMatchesEncoder(t *testing.T) {
	ts := time.Date(2026, 12, 5, 12, 0, 0, 123456789, time.UTC)
	shanghai := time.FixedZone("CST", 8*3600)
	for _, b := range []binding.Binding{
		{Key: binding.Key{XAccountType: "typeA", XAccountID: "cust-1"}, DomainID: "dom-1", Source: binding.SourceNotification, CreatedAt: ts, UpdatedAt: ts},
		{Key: binding.Key{XAccountType: "typeA", XAccountID: "c<&>\""}, DomainID: "d\u2028\x01", DomainName: "名前", Source: binding.SourceOperator, CreatedAt: ts.Truncate(time.Second), UpdatedAt: time.Time{}},
		{Key: binding.Key{XAccountType: "typeA", XAccountID: "cust-2"}, DomainID: "dom-2", Source: binding.SourceImport, CreatedAt: ts.In(shanghai), UpdatedAt: ts.In(time.Local)},
	} {
		var want bytes.Buffer
		_ = json.NewEncoder(&want).Encode(viewOf(b))
		got := append(appendBinding(nil, &b), '\n')
		if string(got) != want.String() {
			t.Errorf("got  %s\nwant %s", got, want.String())
		}
	}
}

func TestFastPathRoutesLikeMux(t *testing.T) {
	e := newEnv(t)
	e.bind("typeA", "cust-1", "dom-1")
	tok := e.token(e.mintA)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/api/v1/bindings/cust-1", 200},
		{"/api/v1/bindings/cust-1/history", 200},
		{"/api/v1/bindings/a%2Fb", 400},
		{"/api/v1/bindings/", 404},
		{"/api/v1/bindings/cust-1?", 200}, // an empty query is no query
		{"/api/v1/bindings/cust-1?x=1", 400},
		{"/api/v1/bindings/cust-1?%78=1", 400},
	} {
		req := httptest.NewRequest("GET", tc.path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		e.api.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("%s: %d, want %d: %s", tc.path, rec.Code, tc.status, rec.Body)
		}
	}
}

func TestListPaging(t *testing.T) {
	e := newEnv(t)
	for i := range 23 {
		e.bind("typeA", fmt.Sprintf("c%03d", i), fmt.Sprintf("d%d", i))
	}
	e.bind("typeB", "zzz", "other")
	e.bind("typeA0", "aaa", "other") // a type sorting right after typeA
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		path := "/api/v1/bindings?limit=10"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		res, m := e.do("GET", path, e.token(e.mintA), "", false)
		if res.StatusCode != 200 {
			t.Fatal(m)
		}
		for _, b := range m["bindings"].([]any) {
			got = append(got, b.(map[string]any)["xaccount_id"].(string))
		}
		c, _ := m["next_cursor"].(string)
		if c == "" {
			break
		}
		cursor = c
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if len(got) != 23 || got[0] != "c000" || got[22] != "c022" {
		t.Fatalf("listed %v", got)
	}
}

func TestHuaweiFailuresStoreNothing(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		reason string
		code   string
	}{
		{&HuaweiError{Status: 400, Code: "CBC.0150", Message: "xaccount_id already used"}, 422, ReasonHuaweiError, "CBC.0150"},
		{&HuaweiError{Status: 500, Code: "CBC.0999", Message: "internal"}, 502, ReasonHuaweiError, "CBC.0999"},
		{ErrHuaweiUnreachable, 502, ReasonHuaweiUnreachable, ""},
		{ErrHuaweiTimeout, 504, ReasonHuaweiTimeout, ""},
	} {
		e := newEnv(t)
		e.partner.err = tc.err
		res, m := e.do("POST", "/api/v1/customers", e.token(e.mintA), `{"xaccount_id":"n1"}`, false)
		if res.StatusCode != tc.status || m["reason"] != tc.reason {
			t.Errorf("%v: %d %v", tc.err, res.StatusCode, m)
		}
		if tc.code != "" && m["huawei_code"] != tc.code {
			t.Errorf("%v: huawei_code %v", tc.err, m["huawei_code"])
		}
		if n, _ := e.store.Count(context.Background()); n != 0 {
			t.Errorf("%v: %d bindings stored", tc.err, n)
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	res, _ := e.do("GET", "/api/v1/openapi.yaml", "", "", false)
	if res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	res, m := e.do("GET", "/api/v1/openapi.json", "", "", false)
	if res.StatusCode != 200 || m["openapi"] != "3.0.3" {
		t.Fatal(res.StatusCode, m["openapi"])
	}
}

func want(got, w any) error {
	if fmt.Sprint(got) != fmt.Sprint(w) {
		return fmt.Errorf("got %v, want %v", got, w)
	}
	return nil
}

func prefix(got any, p string) error {
	s, _ := got.(string)
	if !strings.HasPrefix(s, p) {
		return fmt.Errorf("message %q, want it to start with %q", s, p)
	}
	return nil
}
