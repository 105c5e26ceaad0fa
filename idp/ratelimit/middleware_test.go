package ratelimit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMiddleware(t *testing.T) {
	clock := newFakeClock()
	l := newLimiter(t, 30, 2, 100, clock) // a token every 2s
	proxies := mustTrusted(t, "10.0.0.0/8")
	served := 0
	h := Middleware(l, proxies, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served++
		io.WriteString(w, "ok")
	}))
	do := func(remote, xff string) *httptest.ResponseRecorder {
		r := request(remote)
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	for i := 0; i < 2; i++ {
		if w := do("198.51.100.7:1", ""); w.Code != http.StatusOK {
			t.Fatalf("request %d: status %d", i, w.Code)
		}
	}
	w := do("198.51.100.7:1", "")
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("third request: status %d, want 429", w.Code)
	}
	if got := w.Header().Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2", got)
	}
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q", got)
	}
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") || !strings.Contains(w.Body.String(), "Try again in 2 second") {
		t.Errorf("body %q, type %q", w.Body.String(), w.Header().Get("Content-Type"))
	}
	if served != 2 {
		t.Errorf("handler ran %d times, want 2", served)
	}

	// Spoofing X-Forwarded-For from an untrusted address buys nothing.
	if w := do("198.51.100.7:1", "203.0.113.99"); w.Code != http.StatusTooManyRequests {
		t.Errorf("spoofed header got status %d", w.Code)
	}
	// Behind a trusted proxy each client has its own bucket.
	for _, client := range []string{"203.0.113.1", "203.0.113.2"} {
		for i := 0; i < 2; i++ {
			if w := do("10.0.0.1:1", client); w.Code != http.StatusOK {
				t.Fatalf("%s request %d: status %d", client, i, w.Code)
			}
		}
		if w := do("10.0.0.1:1", client); w.Code != http.StatusTooManyRequests {
			t.Fatalf("%s third request: status %d", client, w.Code)
		}
	}
	// Half a token's time: the wait rounds up to a whole second.
	clock.Advance(1500 * time.Millisecond)
	if w := do("198.51.100.7:1", ""); w.Header().Get("Retry-After") != "1" {
		t.Errorf("Retry-After after 1.5s = %q, want 1", w.Header().Get("Retry-After"))
	}
	clock.Advance(500 * time.Millisecond)
	if w := do("198.51.100.7:1", ""); w.Code != http.StatusOK {
		t.Errorf("after refill: status %d", w.Code)
	}
	// Requests whose RemoteAddr is not an address are still limited, together.
	for i := 0; i < 2; i++ {
		do("@", "")
	}
	if w := do("@", ""); w.Code != http.StatusTooManyRequests {
		t.Errorf("non-IP RemoteAddr not limited: %d", w.Code)
	}
}

func TestMiddlewareNilLimiterPassesThrough(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	h := Middleware(nil, nil, next)
	for i := 0; i < 1000; i++ {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, request("198.51.100.7:1"))
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tt := range []struct {
		wait time.Duration
		want int
	}{
		{0, 1}, {time.Nanosecond, 1}, {999 * time.Millisecond, 1}, {time.Second, 1},
		{time.Second + 1, 2}, {59500 * time.Millisecond, 60}, {time.Minute, 60},
	} {
		if got := RetryAfterSeconds(tt.wait); got != tt.want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", tt.wait, got, tt.want)
		}
	}
}
