package idp

import (
	"net/http"
	"strings"
	"testing"
)

// TestRequestSizeCapsAudited: a URL or headers over the caps get the
// bridge's page and an audit event before any handler runs (issue 11 item
// 7; before, Go answered a plain 431 and nothing was audited).
func TestRequestSizeCapsAudited(t *testing.T) {
	e := newEnv(t, envOptions{})
	tests := []struct {
		name   string
		req    func() *http.Request
		status int
		event  string
	}{
		{"query over the cap on the handoff", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, publicURL+PathHandoff+"?token="+strings.Repeat("a", MaxURLBytes), nil)
			return r
		}, http.StatusRequestURITooLong, EventHandoff},
		{"header over the cap on the SSO URL", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, publicURL+PathSSO+"?SAMLRequest=x", nil)
			r.Header.Set("X-Big", strings.Repeat("b", MaxHeaderBytes))
			return r
		}, http.StatusRequestHeaderFieldsTooLarge, EventSSO},
		{"cookies over the cap elsewhere", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, publicURL+"/favicon.ico", nil)
			for i := 0; i < 40; i++ {
				r.Header.Add("Cookie", "c"+strings.Repeat("x", 1000)+"=1")
			}
			return r
		}, http.StatusRequestHeaderFieldsTooLarge, EventHTTP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := e.do(tc.req())
			if p.Status != tc.status || pageReason(p) != ReasonRequestTooLarge {
				t.Fatalf("got %d %q: %.300s", p.Status, pageReason(p), p.Body)
			}
			checkEvent(t, e.oneEvent(), AuditEvent{Event: tc.event, Verdict: VerdictRefused, Reason: ReasonRequestTooLarge})
		})
	}
	// Just under the caps is still served.
	if p := e.get(publicURL + "/saml/metadata?pad=" + strings.Repeat("a", MaxURLBytes-100)); p.Status != http.StatusOK {
		t.Fatalf("URL under the cap: %d", p.Status)
	}
}

// TestRecordRefusal: refusals made outside the handlers (rate limiter, the
// server's hard cap) are audited with a registered reason.
func TestRecordRefusal(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.srv.RecordRefusal(PathBind, "203.0.113.9", ReasonRateLimited)
	checkEvent(t, e.oneEvent(), AuditEvent{Event: EventBindNotification, Verdict: VerdictRefused, Reason: ReasonRateLimited})
}
