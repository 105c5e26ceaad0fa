package platformapi

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/partneridp/partneridp/binding"
)

// BenchmarkLookup compares, in one run, the store's raw Get with the API's
// GET /api/v1/bindings/{id}: the whole call (JWT verification and the jti
// mark included) and the call after authentication (routing, lookup,
// JSON, audit).
func BenchmarkLookup(b *testing.B) {
	t := &testing.T{}
	e := newEnv(t)
	e.t = t
	e.bind("typeA", "cust-1", "dom-1")
	ctx := context.Background()
	key := binding.Key{XAccountType: "typeA", XAccountID: "cust-1"}
	b.Run("store", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.store.Get(ctx, key); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("api_after_auth", func(b *testing.B) {
		c := &call{p: Platform{Name: "shop-a", XAccountType: "typeA"}}
		for b.Loop() {
			req := httptest.NewRequest("GET", "/api/v1/bindings/cust-1", nil)
			req.SetPathValue("xaccount_id", "cust-1")
			rec := httptest.NewRecorder()
			st, body, _ := e.api.getBinding(rec, req, c)
			writeJSON(rec, st, body)
			if st != 200 {
				b.Fatal(st)
			}
		}
	})
	b.Run("api_full", func(b *testing.B) {
		toks := make([]string, b.N)
		for i := range toks {
			toks[i] = e.token(e.mintA)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			req := httptest.NewRequest("GET", "/api/v1/bindings/cust-1", nil)
			req.Header.Set("Authorization", "Bearer "+toks[i])
			rec := httptest.NewRecorder()
			e.api.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatal(rec.Code, rec.Body.String())
			}
		}
	})
}
