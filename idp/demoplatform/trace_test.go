package demoplatform

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// recordingTracer keeps what the platform tells the trace.
type recordingTracer struct {
	mu     sync.Mutex
	minted []TokenMinted
}

func (r *recordingTracer) HandoffMinted(m TokenMinted) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.minted = append(r.minted, m)
}

func (r *recordingTracer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	_, _ = w.Write([]byte("the trace"))
}

func newTracedSite(t *testing.T, tr Tracer) *site {
	t.Helper()
	return newSiteWith(t, func(c *Config) { c.Trace = tr })
}

// TestTraceSeesClaimsNotTokens: each minted token (console button, login
// with return_to) reaches the trace as header and claims, never as the
// token or its signature; the page links the trace, which the platform
// serves at PathTrace.
func TestTraceSeesClaimsNotTokens(t *testing.T) {
	tr := &recordingTracer{}
	s := newTracedSite(t, tr)
	s.login("alice")
	resp, _ := s.post(PathOpenConsole, url.Values{"csrf": {s.csrf()}})
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("open console: %d %v", resp.StatusCode, err)
	}
	token := loc.Query().Get("token")
	claims := verify(t, token)
	if resp, _ := s.post(PathLogin, url.Values{"customer": {"bob"}, "return_to": {bridgeURL + "/sso/resume?flow=f1"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login with return_to: %d", resp.StatusCode)
	}

	if len(tr.minted) != 2 {
		t.Fatalf("the trace saw %d tokens, want 2", len(tr.minted))
	}
	a, b := tr.minted[0], tr.minted[1]
	if a.XAccountID != "alice" || a.Via != ViaConsoleButton || a.Claims["sub"] != "alice" || a.Claims["jti"] != claims.ID ||
		a.Claims["name"] != "Alice Wang" || a.Header["alg"] != "EdDSA" {
		t.Errorf("console token traced as %+v", a)
	}
	if b.XAccountID != "bob" || b.Via != ViaLoginReturnTo || b.Claims["sub"] != "bob" {
		t.Errorf("return_to token traced as %+v", b)
	}
	sig := token[strings.LastIndex(token, ".")+1:]
	for _, m := range tr.minted {
		for k, v := range m.Claims {
			if s, _ := v.(string); strings.Contains(s, sig) || strings.Contains(s, token) {
				t.Errorf("claim %s holds the token or its signature", k)
			}
		}
	}

	_, home := s.get(PathHome)
	if !strings.Contains(home, `<a id="trace-link" href="/trace">`) {
		t.Errorf("the account page does not link the trace:\n%s", home)
	}
	if resp, body := s.get(PathTrace); resp.StatusCode != http.StatusOK || body != "the trace" {
		t.Errorf("GET %s: %d %q", PathTrace, resp.StatusCode, body)
	}
	if resp, _ := s.post(PathTrace, url.Values{}); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" {
		t.Errorf("POST %s: %d, Allow %q", PathTrace, resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestNoTraceNoPage: without a tracer there is no trace page and no link.
func TestNoTraceNoPage(t *testing.T) {
	s := newSite(t)
	if resp, _ := s.get(PathTrace); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET %s without a trace: %d", PathTrace, resp.StatusCode)
	}
	s.login("alice")
	if _, home := s.get(PathHome); strings.Contains(home, "trace-link") {
		t.Error("the page links a trace that is not there")
	}
}

func TestTokenParts(t *testing.T) {
	for _, bad := range []string{"", "a.b", "a.b.c.d", "!!.e30.x", "e30.!!.x", "bm90IGpzb24.e30.x"} {
		if _, _, err := tokenParts(bad); err == nil {
			t.Errorf("tokenParts(%q) accepted", bad)
		}
	}
}
