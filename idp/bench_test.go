package idp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bolt"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/samlresp"
	"github.com/partneridp/partneridp/idp/user"
	"github.com/partneridp/partneridp/metadata"
)

func handoffClaims(e *env) handoff.Claims {
	now := e.clock.Now()
	return handoff.Claims{User: user.User{XAccountID: customer, AuthTime: now, Fields: map[string]string{
		user.Name: "Zhang San", user.Mobile: "86-13800000000", user.Email: "zhang.san@example.com", user.BPID: "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}},
		Issuer: platformIss, IssuedAt: now}
}

func quietEnv(b *testing.B) *env { return quietEnvOn(b, "memory") }

func quietEnvOn(b *testing.B, backend string) *env {
	var dbPath string
	if backend == "bolt-full" {
		dbPath = fullStore(b)
		backend = "bolt"
	}
	return newEnv(b, envOptions{noTLS: true, backend: backend, dbPath: dbPath, tweak: func(c *Config) {
		c.Audit = AuditFunc(func(AuditEvent) {})
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}})
}

// BenchmarkSSOWithSession is the SSO core's cost per response: one signed
// AuthnRequest through Handler with a session cookie present (query
// signature check, inflate, checks, replay entry, flow record stored and
// taken, session read, Response built and signed, POST form written). The
// store is the memory backend, so this is the store-free cost of a
// response; BenchmarkSSOStore compares the backends.
//
// Two harnesses: "writer" answers into a ResponseWriter that keeps the
// headers and the status and counts the body, as net/http's pooled,
// buffered connection writer does; "recorder" is httptest.ResponseRecorder,
// whose body buffer (regrown for every response) adds some 10-20 KB per op
// that a server does not allocate. Both build the request with
// httptest.NewRequest, which parses it as the server would.
func BenchmarkSSOWithSession(b *testing.B) {
	b.Run("writer", func(b *testing.B) {
		benchSSOWithSession(b, "memory", func() benchResponseWriter { return &countingWriter{header: http.Header{}} })
	})
	b.Run("recorder", func(b *testing.B) {
		benchSSOWithSession(b, "memory", func() benchResponseWriter { return recorder{httptest.NewRecorder()} })
	})
}

// BenchmarkSSOStore is BenchmarkSSOWithSession/writer on each in-process
// backend: memory (no store cost) and bolt without fsync (the store's CPU).
// With PARTNERIDP_SCALE=N, bolt-full runs on a store holding N bindings and
// N live spent marks, to compare with the empty bolt store (kept in the
// file PARTNERIDP_FULL_STORE names, when set, for the next run).
func BenchmarkSSOStore(b *testing.B) {
	backends := []string{"memory", "bolt"}
	if os.Getenv("PARTNERIDP_SCALE") != "" {
		backends = append(backends, "bolt-full")
	}
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			benchSSOWithSession(b, backend, func() benchResponseWriter { return &countingWriter{header: http.Header{}} })
		})
	}
}

type benchResponseWriter interface {
	http.ResponseWriter
	status() int
	body() string
}

// countingWriter is a ResponseWriter without a body buffer.
type countingWriter struct {
	header http.Header
	code   int
	n      int
	start  [64]byte // the body's first bytes, for the check
}

func (w *countingWriter) Header() http.Header { return w.header }
func (w *countingWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *countingWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.n < len(w.start) {
		copy(w.start[w.n:], p)
	}
	w.n += len(p)
	return len(p), nil
}
func (w *countingWriter) status() int  { return w.code }
func (w *countingWriter) body() string { return string(w.start[:min(w.n, len(w.start))]) }

type recorder struct{ *httptest.ResponseRecorder }

func (r recorder) status() int  { return r.Code }
func (r recorder) body() string { return r.Body.String() }

func benchSSOWithSession(b *testing.B, backend string, newWriter func() benchResponseWriter) {
	e := quietEnvOn(b, backend)
	rec := httptest.NewRecorder()
	if err := e.cfg.Sessions.Start(rec, handoffClaims(e)); err != nil {
		b.Fatal(err)
	}
	session := rec.Result().Cookies()[0]
	// Each request ID is single use: sign them all before timing. The run
	// prefix keeps them new in a store kept from an earlier run.
	run := "_bench-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
	queries := make([]string, b.N)
	for i := range queries {
		queries[i] = e.newRequest(run + strconv.Itoa(i)).Query(b)
	}
	runtime.GC() // the setup's garbage is not the handler's
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodGet, ssoURL, nil)
		req.URL.RawQuery = queries[i]
		req.AddCookie(session)
		w := newWriter()
		e.handler.ServeHTTP(w, req)
		if w.status() != http.StatusOK || !strings.HasPrefix(w.body(), "<!DOCTYPE html>") {
			b.Fatalf("status %d: %s", w.status(), w.body())
		}
	}
	reportCPU(b, start)
}

// reportCPU adds cpu-ns/op: the CPU the process spent per op since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkRSASign is the baseline for BenchmarkSSOWithSession: one bare
// RSA-2048 PKCS#1 v1.5 signature of a SHA-256 digest with the IdP key the
// handler signs with, in the same binary and run. Report SSO / RSASign.
func BenchmarkRSASign(b *testing.B) {
	e := quietEnv(b)
	key := e.cfg.Builder.Key.Key
	digest := sha256.Sum256([]byte("baseline"))
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

// BenchmarkBuildOnly is the baseline: samlresp's Builder.Build alone
// (assertion built and signed), the same request and user.
func BenchmarkBuildOnly(b *testing.B) {
	e := quietEnv(b)
	user := handoffClaims(e).User
	req := samlresp.Request{SP: e.sp, ACS: acsURL, InResponseTo: "_bench", NameIDFormat: metadata.NameIDFormatTransient, SPNameQualifier: spEntityID}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := e.cfg.Builder.Build(req, user); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

var full struct {
	once sync.Once
	path string
	err  error
}

// fullStore builds, once per test binary, a bolt file with PARTNERIDP_SCALE
// bindings (imported as `bindings import` does) and as many spent marks
// that stay live for an hour of the env's clock, spread over the slots,
// then compacted.
func fullStore(b *testing.B) string {
	full.once.Do(func() {
		n, err := strconv.Atoi(os.Getenv("PARTNERIDP_SCALE"))
		if err != nil || n < 1 {
			full.err = fmt.Errorf("PARTNERIDP_SCALE=%q: want a positive count", os.Getenv("PARTNERIDP_SCALE"))
			return
		}
		// PARTNERIDP_FULL_STORE keeps the file between runs (building it
		// takes minutes): an existing file there is used as it is.
		if full.path = os.Getenv("PARTNERIDP_FULL_STORE"); full.path != "" {
			if _, err := os.Stat(full.path); err == nil {
				return
			}
		} else {
			dir, err := os.MkdirTemp("", "partneridp-full-")
			if err != nil {
				full.err = err
				return
			}
			full.path = filepath.Join(dir, "full.db")
		}
		db, err := bolt.Open(full.path, bolt.Options{NoSync: true, Clock: func() time.Time { return testNow }})
		if err != nil {
			full.err = err
			return
		}
		defer db.Close()
		var lines bytes.Buffer
		for i := range n {
			fmt.Fprintf(&lines, `{"xaccount_type":%q,"xaccount_id":"customer-%08d","domain_id":"%032x"}`+"\n", xAccountType, (i*7919)%n, i+1)
		}
		ctx := context.Background()
		if _, full.err = binding.Import(ctx, db, &lines, binding.ImportOptions{Actor: "bench"}); full.err != nil {
			return
		}
		eph := db.Ephemeral()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				for i := next.Add(1); i <= int64(n); i = next.Add(1) {
					exp := testNow.Add(10*time.Minute + time.Duration(i%50)*time.Minute)
					if err := eph.Spend(ctx, "bench", "mark-"+strconv.FormatInt(i, 10), exp); err != nil {
						full.err = err
						return
					}
				}
			})
		}
		wg.Wait()
		if full.err != nil {
			return
		}
		// As `bindings import` does after a bulk import: the free pages
		// the building left would be written out by every commit.
		db.Close()
		_, _, full.err = bolt.CompactFile(full.path, time.Second)
	})
	if full.err != nil {
		b.Fatal(full.err)
	}
	return full.path // shared: each run adds its own marks, as a server would
}
