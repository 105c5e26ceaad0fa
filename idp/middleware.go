package idp

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
)

// Body caps. A POSTed AuthnRequest is at most samlreq's inflate cap in
// base64 plus a RelayState; a bind notification is a few hundred bytes
// (binding caps bindRequest at 8 KiB); the handoff form holds one token and
// one service URL; nothing else takes a body.
const (
	maxSSOBody     = 256 << 10
	maxBindBody    = 16 << 10
	maxHandoffBody = 16 << 10
	maxOtherBody   = 4 << 10
)

func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, max)
		}
		next.ServeHTTP(w, r)
	})
}

// ssoRoute wraps an SSO endpoint: capped body, and nothing it answers
// (redirects included) may be cached, since each answer is single use.
func (s *Server) ssoRoute(max int64, h http.HandlerFunc) http.Handler {
	return limitBody(max, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h(w, r)
	}))
}

// recoverPanics turns a panic in one request into a logged 500 page; the
// server keeps serving. The client sees a reference, never the stack. The
// URL is not logged: the handoff query holds the token.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			ref := newReference()
			s.log.Error("panic while serving a request", "path", r.URL.Path, "method", r.Method,
				"reference", ref, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if ev, ok := eventForPath(r.URL.Path); ok {
				s.finish(AuditEvent{Event: ev, ClientIP: s.clientIP(r), Verdict: VerdictError, Reason: ReasonPanic})
			}
			writeErrorPage(w, http.StatusInternalServerError, errorView{
				Title:     titleFor(http.StatusInternalServerError),
				Message:   "The bridge failed while handling this request. Try again; if it repeats, give the operator this reference.",
				Reference: ref,
			})
		}()
		next.ServeHTTP(w, r)
	})
}

// eventForPath names the audit event of an endpoint, for panics.
func eventForPath(path string) (string, bool) {
	switch path {
	case PathSSO:
		return EventSSO, true
	case PathHandoff:
		return EventHandoff, true
	case PathBind:
		return EventBindNotification, true
	case PathSLO:
		return EventLogout, true
	}
	return "", false
}

// newReference is a short random incident reference that ties a 500 page to
// its log line. It is not a secret and needs no injectable source.
func newReference() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// remoteHost is the default ClientIP: the peer address without its port.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// allowMethod answers 405 for any other method; it reports whether to go on.
func (s *Server) allowMethod(w http.ResponseWriter, r *http.Request, ev *AuditEvent, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	allow := ""
	for i, m := range methods {
		if i > 0 {
			allow += ", "
		}
		allow += m
	}
	w.Header().Set("Allow", allow)
	s.fail(w, r, ev, &RequestError{Status: http.StatusMethodNotAllowed, Reason: ReasonMethodNotAllowed,
		Msg: fmt.Sprintf("%s is not accepted here; use %s", r.Method, allow)})
	return false
}
