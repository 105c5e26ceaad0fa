package ratelimit

import (
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// Middleware charges each request to its client IP (see ClientIP) and
// answers 429 Too Many Requests with Retry-After when the client's bucket is
// empty. A nil Limiter turns limiting off.
func Middleware(l *Limiter, trusted []netip.Prefix, next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := l.Allow(clientKey(r, trusted))
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		secs := RetryAfterSeconds(wait)
		h := w.Header()
		h.Set("Retry-After", strconv.Itoa(secs))
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusTooManyRequests)
		if r.Method != http.MethodHead {
			w.Write([]byte("Too many requests from your address. Try again in " + strconv.Itoa(secs) + " second(s).\n"))
		}
	})
}

// RetryAfterSeconds rounds a wait up to whole seconds, at least 1, as the
// Retry-After header needs.
func RetryAfterSeconds(wait time.Duration) int {
	secs := int((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		return 1
	}
	return secs
}

// clientKey is the bucket key: the client IP, or the raw RemoteAddr when it
// is not an address, so such requests are still limited (together).
func clientKey(r *http.Request, trusted []netip.Prefix) string {
	if a := ClientIP(r, trusted); a.IsValid() {
		return a.String()
	}
	return "remote:" + r.RemoteAddr
}
