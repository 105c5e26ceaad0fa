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

// Request caps checked before any handler, with a page and an audit event
// (the HTTP server's own cap, set higher, is the last resort: Go answers
// beyond it with a plain 431 that no handler sees).
const (
	// MaxHeaderBytes caps the request line's URL plus every header.
	MaxHeaderBytes = 32 << 10
	// MaxURLBytes caps the request URI (the handoff query holds one token
	// of at most 8 KiB and a service URL of at most 2 KiB).
	MaxURLBytes = 16 << 10
)

// capRequest refuses requests over MaxURLBytes (414) or MaxHeaderBytes
// (431) with the bridge's page and an audit event, before any handler.
func (s *Server) capRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, msg := 0, ""
		if n := len(r.RequestURI); n > MaxURLBytes {
			status, msg = http.StatusRequestURITooLong, fmt.Sprintf("The address is %d bytes long; the limit is %d.", n, MaxURLBytes)
		} else if n := headerBytes(r); n > MaxHeaderBytes {
			status, msg = http.StatusRequestHeaderFieldsTooLarge,
				fmt.Sprintf("The request headers are %d bytes; the limit is %d. Clear this site's cookies and try again.", n, MaxHeaderBytes)
		}
		if status != 0 {
			ev, ok := eventForPath(r.URL.Path)
			if !ok {
				ev = EventHTTP
			}
			s.fail(w, r, s.newEvent(r, ev), &RequestError{Status: status, Reason: ReasonRequestTooLarge, Msg: msg})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// headerBytes is the size of the request line and headers as sent (near
// enough: name, ": ", value, CRLF).
func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4 + len(r.Host) + 8
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// RecordRefusal audits a refusal made outside the bridge's handlers (the
// rate limiter, the HTTP server's hard header cap): one audit event with
// the event of the path (or "http"), verdict refused and reason, plus the
// request metric. reason must be in the registry.
func (s *Server) RecordRefusal(path, clientIP, reason string) {
	ev, ok := eventForPath(path)
	if !ok {
		ev = EventHTTP
	}
	if _, ok := LookupReason(reason); !ok {
		s.log.Error("refusal reason missing from the registry (idp/reasons.go): add it", "reason", reason)
	}
	s.log.Warn("request refused", "event", ev, "reason", reason, "client_ip", clientIP)
	s.finish(AuditEvent{Event: ev, ClientIP: clientIP, Verdict: VerdictRefused, Reason: reason})
}

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
			view := errorView{
				Title:     titleFor(http.StatusInternalServerError),
				Message:   "The bridge failed while handling this request. Try again; if it repeats, give the operator this reference.",
				Reference: ref,
				Reason:    ReasonPanic,
			}
			s.localize(r, &view, http.StatusInternalServerError, true)
			writeErrorPage(w, http.StatusInternalServerError, view)
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
