package idp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/partneridp/partneridp/idp/user"
)

// getWith is a GET with the given request headers (what a browser adds).
func (e *env) getWith(rawURL string, h map[string]string) page {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	return e.do(req)
}

func (e *env) postWith(rawURL string, form url.Values, h map[string]string) page {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range h {
		req.Header.Set(k, v)
	}
	return e.do(req)
}

var (
	fromPlatform = map[string]string{"Sec-Fetch-Site": "cross-site", "Referer": "https://platform.example/"}
	fromEvil     = map[string]string{"Sec-Fetch-Site": "cross-site", "Referer": "https://evil.example/page"}
)

func setsSession(e *env, p page) bool {
	for _, c := range (&http.Response{Header: p.Header}).Cookies() {
		if c.Name == e.cfg.Sessions.CookieName() && c.MaxAge >= 0 && c.Value != "" {
			return true
		}
	}
	return false
}

// TestHandoffLoginCSRF: a handoff sent from a foreign site is refused
// before the token is spent, with a page that links back to the platform
// (issue 11 item 2). Before the fix every case below was a 302.
func TestHandoffLoginCSRF(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		post    bool
		status  int
		reason  string
	}{
		{"foreign Referer", fromEvil, false, http.StatusForbidden, ReasonForeignOrigin},
		{"foreign Referer, no fetch metadata", map[string]string{"Referer": "https://evil.example/"}, false, http.StatusForbidden, ReasonForeignOrigin},
		{"platform origin on another port", map[string]string{"Sec-Fetch-Site": "same-site", "Referer": "https://platform.example:8443/"}, false, http.StatusForbidden, ReasonForeignOrigin},
		{"foreign Origin on POST", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, true, http.StatusForbidden, ReasonForeignOrigin},
		{"foreign Origin beats platform Referer", map[string]string{"Origin": "https://evil.example", "Referer": "https://platform.example/"}, true, http.StatusForbidden, ReasonForeignOrigin},
		{"browser without Origin or Referer", map[string]string{"Sec-Fetch-Site": "cross-site"}, false, http.StatusForbidden, ReasonOriginUnknown},
		{"opened from mail (Sec-Fetch-Site none)", map[string]string{"Sec-Fetch-Site": "none"}, false, http.StatusForbidden, ReasonOriginUnknown},
		{"Origin null", map[string]string{"Origin": "null"}, true, http.StatusForbidden, ReasonOriginUnknown},
		{"platform Referer", fromPlatform, false, http.StatusFound, ""},
		{"platform Referer with default port", map[string]string{"Sec-Fetch-Site": "cross-site", "Referer": "https://PLATFORM.example:443/x"}, false, http.StatusFound, ""},
		{"platform Origin on POST", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://platform.example"}, true, http.StatusFound, ""},
		{"no browser headers at all (not a browser)", nil, false, http.StatusFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			tok := e.token("customer-1", nil)
			var p page
			if tc.post {
				p = e.postWith(publicURL+PathHandoff, url.Values{"token": {tok}}, tc.headers)
			} else {
				p = e.getWith(handoffURL(tok, ""), tc.headers)
			}
			if p.Status != tc.status || pageReason(p) != tc.reason {
				t.Fatalf("status %d reason %q, want %d %q: %s", p.Status, pageReason(p), tc.status, tc.reason, p.Body)
			}
			ev := e.oneEvent()
			if tc.status == http.StatusFound {
				return
			}
			if ev.Verdict != VerdictRefused || ev.Reason != tc.reason {
				t.Errorf("audit %+v", ev)
			}
			if setsSession(e, p) {
				t.Error("a refused handoff set the session cookie")
			}
			if !strings.Contains(p.Body, `id="back" href="`+landingURL+`"`) {
				t.Errorf("no link back to the platform: %s", p.Body)
			}
			if tc.reason == ReasonForeignOrigin {
				// Refused before the token was read: the platform's own
				// navigation with the same token still works.
				if p := e.getWith(handoffURL(tok, ""), fromPlatform); p.Status != http.StatusFound {
					t.Fatalf("same token from the platform: %d %s", p.Status, p.Body)
				}
			}
		})
	}
}

// TestHandoffWithoutOriginOptOut: a platform listed in HandoffWithoutOrigin
// is accepted without Origin/Referer; a foreign Referer is still refused.
func TestHandoffWithoutOriginOptOut(t *testing.T) {
	e := newEnv(t, envOptions{tweak: func(c *Config) { c.HandoffWithoutOrigin = []string{platformIss} }})
	if p := e.getWith(handoffURL(e.token("customer-1", nil), ""), map[string]string{"Sec-Fetch-Site": "cross-site"}); p.Status != http.StatusFound {
		t.Fatalf("opted-out platform: %d %s", p.Status, p.Body)
	}
	if p := e.getWith(handoffURL(e.token("customer-1", nil), ""), fromEvil); p.Status != http.StatusForbidden {
		t.Fatalf("foreign referer with opt-out: %d", p.Status)
	}
	e2 := newEnv(t, envOptions{tweak: func(c *Config) { c.HandoffOrigins = []string{"https://shop.example:8443"} }})
	if p := e2.getWith(handoffURL(e2.token("customer-1", nil), ""), map[string]string{"Referer": "https://shop.example:8443/cart"}); p.Status != http.StatusFound {
		t.Fatalf("extra origin: %d %s", p.Status, p.Body)
	}
}

// TestHandoffAccountSwitchConfirmed: a browser with a live session for
// customer-1 that gets a handoff for customer-2 is asked first; its session
// changes only after it presses the button on our own page.
func TestHandoffAccountSwitchConfirmed(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.login("customer-1")
	e.takeEvents()

	// The same customer again: no question.
	if p := e.getWith(handoffURL(e.token("customer-1", nil), ""), fromPlatform); p.Status != http.StatusFound {
		t.Fatalf("same customer: %d", p.Status)
	}
	e.takeEvents()

	p := e.getWith(handoffURL(e.token("customer-2", nil), consoleURL), fromPlatform)
	if p.Status != http.StatusOK || pageReason(p) != ReasonAccountSwitch || setsSession(e, p) {
		t.Fatalf("switch: status %d reason %q session set %v: %s", p.Status, pageReason(p), setsSession(e, p), p.Body)
	}
	ev := e.oneEvent()
	if ev.Verdict != VerdictConfirmAsked || ev.Reason != ReasonAccountSwitch || ev.XAccountID != "customer-2" {
		t.Fatalf("audit %+v", ev)
	}
	for _, want := range []string{`id="current">customer-1<`, `id="new">customer-2<`, `id="back" href="` + landingURL} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self'") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP %q", csp)
	}
	action := between(p.Body, `action="`, `"`)
	action = strings.ReplaceAll(action, "&amp;", "&")
	if !strings.HasPrefix(action, publicURL+PathHandoff+"?confirm=") {
		t.Fatalf("form action %q", action)
	}

	// A foreign page cannot press the button: another browser (no cookie)
	// and a cross-site POST are refused, and neither spends the ID.
	saved := e.browser.Jar
	e.browser.Jar = nil
	if p := e.postWith(action, url.Values{}, map[string]string{"Sec-Fetch-Site": "same-origin"}); p.Status != http.StatusForbidden || pageReason(p) != ReasonSwitchNotOurs {
		t.Fatalf("confirm without the cookie: %d %q", p.Status, pageReason(p))
	}
	e.browser.Jar = saved
	if p := e.postWith(action, url.Values{}, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}); p.Status != http.StatusForbidden {
		t.Fatalf("cross-site confirm: %d", p.Status)
	}
	if p := e.getWith(action, nil); p.Status != http.StatusMethodNotAllowed {
		t.Fatalf("GET confirm: %d", p.Status)
	}
	e.takeEvents()

	p = e.postWith(action, url.Values{}, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": publicURL})
	if p.Status != http.StatusFound || !setsSession(e, p) || !strings.HasPrefix(p.Location, huaweiLogin) {
		t.Fatalf("confirm: %d %s %s", p.Status, p.Location, p.Body)
	}
	ev = e.oneEvent()
	if ev.Verdict != VerdictRedirected || ev.XAccountID != "customer-2" {
		t.Fatalf("audit %+v", ev)
	}
	// Single use.
	if p := e.postWith(action, url.Values{}, map[string]string{"Sec-Fetch-Site": "same-origin"}); p.Status == http.StatusFound {
		t.Fatalf("confirm reused: %d", p.Status)
	}
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	j := strings.Index(s, to)
	if j < 0 {
		return ""
	}
	return s[:j]
}

// FuzzJudgeOrigin: the origin judgement reads three attacker-controlled
// headers. It never panics; an allowed verdict needs an allowed origin in
// Origin or Referer, same-origin fetch metadata, or no browser headers.
func FuzzJudgeOrigin(f *testing.F) {
	e := newEnv(f, envOptions{noTLS: true})
	f.Add("cross-site", "", "https://platform.example/x")
	f.Add("cross-site", "https://evil.example", "https://platform.example/")
	f.Add("", "null", "")
	f.Add("none", "", "http://[::1")
	f.Add("same-site", "HTTPS://PLATFORM.EXAMPLE:443", "")
	f.Fuzz(func(t *testing.T, site, origin, referer string) {
		r, _ := http.NewRequest(http.MethodGet, publicURL+PathHandoff, nil)
		for k, v := range map[string]string{"Sec-Fetch-Site": site, "Origin": origin, "Referer": referer} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		verdict, _ := e.srv.judgeOrigin(r)
		if verdict != originVerdictOK {
			return
		}
		switch {
		case site == "same-origin":
		case origin != "" && origin != "null":
			if !e.srv.handoffOrigins[originOf(origin)] {
				t.Fatalf("foreign Origin %q allowed", origin)
			}
		case referer != "":
			if !e.srv.handoffOrigins[originOf(referer)] {
				t.Fatalf("foreign Referer %q allowed", referer)
			}
		case site != "" || origin == "null":
			t.Fatalf("browser without origin evidence allowed: %q %q %q", site, origin, referer)
		}
	})
}

// A switch stored by the release before the user registry (handoff.Claims
// with Subject, Name, ... fields) is still honoured after an upgrade.
func TestDecodePendingSwitchLegacy(t *testing.T) {
	legacy := `{"claims":{"Subject":"cust-9","Name":"Li Si","Mobile":"86-13800000000","Email":"","BPID":"bp-1","Extra":{"tier":"gold"},` +
		`"Issuer":"https://shop.example","IssuedAt":"2027-03-14T09:00:00Z","AuthTime":"2027-03-14T08:59:00Z","Expires":"2027-03-14T09:01:00Z","ID":"j1"},` +
		`"service":"https://console.huaweicloud.com/","flow":"f1","expires":"2027-03-14T09:05:00Z"}`
	p, err := decodePendingSwitch([]byte(legacy))
	if err != nil {
		t.Fatal(err)
	}
	c := p.Claims
	if c.XAccountID != "cust-9" || c.Get(user.Name) != "Li Si" || c.Get(user.Mobile) != "86-13800000000" || c.Get(user.BPID) != "bp-1" ||
		len(c.Fields) != 3 || c.Extra["tier"] != "gold" || c.Issuer != "https://shop.example" || c.AuthTime.Minute() != 59 || p.FlowID != "f1" {
		t.Fatalf("decoded %+v", p)
	}
	// And the current shape round-trips.
	value, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	again, err := decodePendingSwitch(value)
	if err != nil || fmt.Sprint(again) != fmt.Sprint(p) {
		t.Fatalf("round trip: %+v, %v", again, err)
	}
}
