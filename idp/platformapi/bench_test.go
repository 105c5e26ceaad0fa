package platformapi

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
//     once (routing, token-cache lookup, store Get, JSON; an answered
//     lookup is not audited, the default of Platform.AuditLookups).
//   - api_fresh_token: ServeHTTP with a new token every call (signature
//     verification each time; what every call cost before the read cache).
//   - api_http: a real HTTP/1.1 round trip on loopback with a keep-alive
//     client and a cached token.
func BenchmarkLookup(b *testing.B) {
	for _, backend := range []string{"memory", "bolt", "etcd"} {
		b.Run(backend, func(b *testing.B) {
			e := benchEnv(b, backend)
			e.bind("typeA", "cust-1", "dom-1")
			benchLookup(b, e)
		})
	}
}

// benchEnv is an API environment on a fresh store of the named backend.
func benchEnv(b *testing.B, backend string) *env {
	e := newEnv(b)
	var store binding.Store
	switch backend {
	case "bolt":
		// NoSync: only the setup writes, and fsync does not touch reads.
		db, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), bolt.Options{NoSync: true})
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
	// As deployed by default: lookups are not audited (Platform.AuditLookups).
	e.api.byIssuer["https://a.example"].AuditLookups = false
	e.api.cfg.Audit = func(Event) {}
	return e
}

// BenchmarkLookupInterleaved measures the ratio the platform API issue
// sets (API lookup ≤ 1.5 × the store's raw lookup) with both sides under
// the same conditions: blocks of store Gets and blocks of in-process API
// calls (cached read token) alternate, in alternating order, over the
// same keys, so the machine's drift, GC cycles and cache state fall on
// both. It reports store-ns/op, api-ns/op and api/store; ns/op is one
// store Get plus one API call. Key sets: one hot binding, and 10,000
// bindings read in a shuffled order.
func BenchmarkLookupInterleaved(b *testing.B) {
	for _, backend := range []string{"bolt", "etcd"} {
		for _, n := range []int{1, 10000} {
			for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
				b.Run(fmt.Sprintf("%s/keys=%d/workers=%d", backend, n, workers), func(b *testing.B) {
					e := benchEnv(b, backend)
					ids := bindMany(b, e, n)
					benchInterleaved(b, e, ids, workers)
				})
			}
		}
	}
}

// bindMany stores n bindings of typeA (concurrently, so that the stores
// group the writes) and returns their ids in a shuffled order.
func bindMany(b *testing.B, e *env, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("cust-%05d", i)
	}
	work := make(chan int)
	errs := make(chan error, 32)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range work {
				_, err := binding.Put(context.Background(), e.store, binding.Binding{Key: binding.Key{XAccountType: "typeA", XAccountID: ids[i]}, DomainID: fmt.Sprintf("dom-%05d", i), Source: binding.SourceOperator}, "bench", nil)
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := range ids {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(n, func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids
}

// benchInterleaved alternates phases of store Gets and of API calls. In a
// phase each of the workers (goroutines) makes block calls; a phase's wall
// time over its calls is the cost per call at that concurrency, so with
// several workers the figures are throughput (lookups per second).
func benchInterleaved(b *testing.B, e *env, ids []string, workers int) {
	const block = 128
	ctx := context.Background()
	keys := make([]binding.Key, len(ids))
	paths := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = binding.Key{XAccountType: "typeA", XAccountID: id}
		paths[i] = "/api/v1/bindings/" + id
	}
	// One request per worker, its path set per call: a server's request is
	// fresh and in cache, which 10,000 prepared requests would not be.
	auth := "Bearer " + e.token(e.mintA)
	reqs := make([]*http.Request, workers)
	writers := make([]*nopWriter, workers)
	for k := range workers {
		reqs[k] = httptest.NewRequest("GET", paths[0], nil)
		reqs[k].Header.Set("Authorization", auth)
		writers[k] = &nopWriter{h: http.Header{}}
	}
	var failed atomic.Bool
	run := func(k int, api bool, at int) {
		req, w := reqs[k], writers[k]
		for i := range block {
			n := (at + i) % len(keys)
			if !api {
				if _, err := e.store.Get(ctx, keys[n]); err != nil {
					b.Error(err)
					failed.Store(true)
					return
				}
				continue
			}
			clear(w.h)
			req.URL.Path = paths[n]
			e.api.ServeHTTP(w, req)
			if w.code != 200 {
				b.Errorf("status %d", w.code)
				failed.Store(true)
				return
			}
		}
	}
	phase := func(api bool, at int) time.Duration {
		t0 := time.Now()
		if workers == 1 {
			run(0, api, at)
		} else {
			var wg sync.WaitGroup
			for k := range workers {
				wg.Go(func() { run(k, api, at+k*block) })
			}
			wg.Wait()
		}
		return time.Since(t0)
	}
	phase(false, 0) // warm both paths (the token cache)
	phase(true, 0)
	var storeNS, apiNS time.Duration
	ops, round := 0, 0
	b.ResetTimer()
	for at := 0; ops < b.N && !failed.Load(); at += block * workers {
		if round%2 == 0 {
			storeNS += phase(false, at)
			apiNS += phase(true, at)
		} else {
			apiNS += phase(true, at)
			storeNS += phase(false, at)
		}
		ops += block * workers
		round++
	}
	b.ReportMetric(float64(storeNS)/float64(ops), "store-ns/op")
	b.ReportMetric(float64(apiNS)/float64(ops), "api-ns/op")
	b.ReportMetric(float64(apiNS)/float64(storeNS), "api/store")
}

func benchLookup(b *testing.B, e *env) {
	ctx := context.Background()
	key := binding.Key{XAccountType: "typeA", XAccountID: "cust-1"}
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
