package platformapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bolt"
	"github.com/partneridp/partneridp/binding/etcd"
	"github.com/partneridp/partneridp/internal/etcdtest"
)

// nopWriter is a ResponseWriter that keeps the status and drops the body,
// so the in-process cases measure the API, not a recorder.
type nopWriter struct {
	h    http.Header
	code int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) WriteHeader(c int)           { w.code = c }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkLookup compares, in one run, the store's raw Get of a binding
// with GET /api/v1/bindings/{id} on the same store, for the memory store,
// the bolt store (the single-instance default) and etcd (several
// instances; a one-member cluster in this process, so its Get is a gRPC
// round trip on loopback):
//
//   - store: binding.Store.Get alone (the baseline).
//   - api_cached_token: ServeHTTP with a read token the API has verified
//     once (routing, token-cache lookup, store Get, JSON, audit).
//   - api_fresh_token: ServeHTTP with a new token every call (signature
//     verification each time; what every call cost before the read cache).
//   - api_http: a real HTTP/1.1 round trip on loopback with a keep-alive
//     client and a cached token.
func BenchmarkLookup(b *testing.B) {
	for _, backend := range []string{"memory", "bolt", "etcd"} {
		b.Run(backend, func(b *testing.B) {
			t := &testing.T{}
			e := newEnv(t)
			var store binding.Store
			switch backend {
			case "bolt":
				db, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), bolt.Options{})
				if err != nil {
					b.Fatal(err)
				}
				store = db
			case "etcd":
				ms, err := etcdtest.StartCluster(b.TempDir(), 1)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { ms[0].Stop() })
				s, err := etcd.Open(context.Background(), etcd.Options{Endpoints: []string{ms[0].Client}, Prefix: "/bench/"})
				if err != nil {
					b.Fatal(err)
				}
				store = s
			}
			if store != nil {
				b.Cleanup(func() { store.Close() })
				e.store = store
				e.api.cfg.Store = store
			}
			e.bind("typeA", "cust-1", "dom-1")
			benchLookup(b, e)
		})
	}
}

func benchLookup(b *testing.B, e *env) {
	ctx := context.Background()
	key := binding.Key{XAccountType: "typeA", XAccountID: "cust-1"}
	e.api.cfg.Audit = func(Event) {}
	b.Run("store", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.store.Get(ctx, key); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("api_cached_token", func(b *testing.B) {
		req := httptest.NewRequest("GET", "/api/v1/bindings/cust-1", nil)
		req.Header.Set("Authorization", "Bearer "+e.token(e.mintA))
		w := &nopWriter{h: http.Header{}}
		for b.Loop() {
			clear(w.h)
			e.api.ServeHTTP(w, req)
			if w.code != 200 {
				b.Fatal(w.code)
			}
		}
	})
	b.Run("api_fresh_token", func(b *testing.B) {
		toks := make([]string, b.N)
		for i := range toks {
			toks[i] = e.token(e.mintA)
		}
		w := &nopWriter{h: http.Header{}}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			req := httptest.NewRequest("GET", "/api/v1/bindings/cust-1", nil)
			req.Header.Set("Authorization", "Bearer "+toks[i])
			clear(w.h)
			e.api.ServeHTTP(w, req)
			if w.code != 200 {
				b.Fatal(w.code)
			}
		}
	})
	b.Run("api_http", func(b *testing.B) {
		srv := httptest.NewServer(e.api)
		defer srv.Close()
		client := srv.Client()
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/bindings/cust-1", nil)
		req.Header.Set("Authorization", "Bearer "+e.token(e.mintA))
		buf := make([]byte, 1024)
		for b.Loop() {
			res, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			for {
				if _, err := res.Body.Read(buf); err != nil {
					break
				}
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Fatal(res.StatusCode)
			}
		}
	})
}
