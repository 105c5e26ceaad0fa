package idp

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp/handoff"
)

// The platform's link sends the user to Huawei's login link with
// isFirstLogin telling whether the customer is bound yet.
func TestHandoffSendsToLoginLink(t *testing.T) {
	cases := []struct {
		name      string
		bound     bool
		service   string
		wantFirst string
		wantSvc   string
		reason    string
	}{
		{name: "unbound customer: first login", wantFirst: "true", service: consoleURL, wantSvc: consoleURL, reason: "first_login"},
		{name: "bound customer", bound: true, wantFirst: "false", service: consoleURL, wantSvc: consoleURL, reason: "bound"},
		{name: "no service: the default console", wantFirst: "true", wantSvc: "https://console.huaweicloud.com/", reason: "first_login"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			domain := ""
			if tc.bound {
				domain = "0a1b2c3d4e5f"
				if _, err := binding.Put(context.Background(), e.db, binding.Binding{Key: binding.Key{XAccountType: xAccountType, XAccountID: customer},
					DomainID: domain, DomainName: "zhangsan", Source: binding.SourceImport}, "test", nil); err != nil {
					t.Fatal(err)
				}
			}
			p := e.get(handoffURL(e.token(customer, customerClaims()), tc.service))
			if p.Status != http.StatusFound {
				t.Fatalf("status %d: %s", p.Status, p.Body)
			}
			loc, err := url.Parse(p.Location)
			if err != nil {
				t.Fatal(err)
			}
			if got := loc.Scheme + "://" + loc.Host + loc.Path; got != huaweiLogin {
				t.Errorf("redirect to %s, want Huawei's login link", got)
			}
			q := loc.Query()
			if q.Get("xAccountType") != xAccountType || q.Get("isFirstLogin") != tc.wantFirst || q.Get("service") != tc.wantSvc {
				t.Errorf("login link query %v; want xAccountType=%s isFirstLogin=%s service=%s", q, xAccountType, tc.wantFirst, tc.wantSvc)
			}
			if p.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", p.Header.Get("Cache-Control"))
			}
			cookies := strings.Join(p.Header.Values("Set-Cookie"), "\n")
			for _, want := range []string{handoff.SessionCookieSecure + "=", serviceCookieSecure + "=", "HttpOnly", "Secure", "SameSite=Lax"} {
				if !strings.Contains(cookies, want) {
					t.Errorf("Set-Cookie lacks %q:\n%s", want, cookies)
				}
			}
			checkEvent(t, e.oneEvent(), AuditEvent{Event: EventHandoff, XAccountID: customer, DomainID: domain,
				Verdict: VerdictRedirected, Reason: tc.reason})
		})
	}
}

// Every refused handoff is a page with the reason, one audit event, and no
// session.
func TestHandoffRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := loadPlatform(t)
	replayed := e.token(customer, nil)
	if got := e.get(handoffURL(replayed, consoleURL)); got.Status != http.StatusFound {
		t.Fatalf("first use of the token: %d", got.Status)
	}
	e.takeEvents()
	e.browser.Jar, _ = newJar()

	otherPlatform := &handoff.Minter{Issuer: platformIss, Audience: platformAud, Alg: handoff.AlgES256, Key: p.es256, Clock: e.clock.Now}
	otherKeyToken, err := otherPlatform.Mint(customer, nil)
	if err != nil {
		t.Fatal(err)
	}
	wrongAudience := &handoff.Minter{Issuer: platformIss, Audience: "https://someone-else.example", Alg: handoff.AlgEdDSA, Key: p.signing, Clock: e.clock.Now}
	wrongAudienceToken, err := wrongAudience.Mint(customer, nil)
	if err != nil {
		t.Fatal(err)
	}
	unsigned := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": platformIss, "aud": platformAud, "sub": customer,
		"iat": e.clock.Now().Unix(), "exp": e.clock.Now().Add(time.Minute).Unix(), "jti": "none-1"})
	noneToken, err := unsigned.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		url    func() string
		status int
		reason string
		sub    string // xaccount_id in the audit event
	}{
		{"token replayed", func() string { return handoffURL(replayed, consoleURL) }, http.StatusConflict, "token_replay", ""},
		{"token signed by another key", func() string { return handoffURL(otherKeyToken, consoleURL) }, http.StatusUnauthorized, "token_alg_not_allowed", ""},
		{"alg none", func() string { return handoffURL(noneToken, consoleURL) }, http.StatusUnauthorized, "token_alg_not_allowed", ""},
		{"token for another audience", func() string { return handoffURL(wrongAudienceToken, consoleURL) }, http.StatusUnauthorized, "token_bad_audience", ""},
		{"token expired", func() string {
			tok := e.token(customer, nil)
			e.clock.Advance(5 * time.Minute)
			return handoffURL(tok, consoleURL)
		}, http.StatusUnauthorized, "token_expired", ""},
		{"not a JWT", func() string { return handoffURL("not-a-jwt", consoleURL) }, http.StatusBadRequest, "token_malformed", ""},
		{"no token", func() string { return publicURL + PathHandoff + "?service=" + url.QueryEscape(consoleURL) }, http.StatusBadRequest, "bad_handoff_request", ""},
		{"service off the allow-list", func() string { return handoffURL(e.token(customer, nil), "https://evil.example/phish") },
			http.StatusBadRequest, "service_host_not_allowed", customer},
		{"service with userinfo", func() string {
			return handoffURL(e.token(customer, nil), "https://console.huaweicloud.com@evil.example/")
		}, http.StatusBadRequest, "service_userinfo", customer},
		{"malformed flow ID", func() string { return handoffURL(e.token(customer, nil), consoleURL) + "&flow=../../etc" },
			http.StatusBadRequest, ReasonBadFlowID, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := e.get(tc.url())
			if p.Status != tc.status || pageReason(p) != tc.reason {
				t.Fatalf("got %d %q, want %d %q:\n%s", p.Status, pageReason(p), tc.status, tc.reason, p.Body)
			}
			if c := p.Header.Values("Set-Cookie"); len(c) != 0 {
				t.Errorf("a refused handoff set cookies: %v", c)
			}
			if p.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", p.Header.Get("Cache-Control"))
			}
			ev := e.oneEvent()
			want := AuditEvent{Event: EventHandoff, XAccountID: tc.sub, Verdict: VerdictRefused, Reason: tc.reason}
			if tc.reason == ReasonBadFlowID {
				want.Event = EventResume
			}
			checkEvent(t, ev, want)
		})
	}
}

// A POSTed handoff (the platform submits a form to the return_to URL) is
// read from the body; the URL may hold only the flow.
func TestHandoffPost(t *testing.T) {
	e := newEnv(t, envOptions{})
	form := url.Values{handoff.FieldToken: {e.token(customer, nil)}, handoff.FieldService: {consoleURL}}
	p := e.post(publicURL+PathHandoff, form)
	if p.Status != http.StatusFound || !strings.HasPrefix(p.Location, huaweiLogin+"?") {
		t.Fatalf("POST handoff: %d %s %s", p.Status, p.Location, p.Body)
	}
	checkEvent(t, e.oneEvent(), AuditEvent{Event: EventHandoff, XAccountID: customer, Verdict: VerdictRedirected, Reason: "first_login"})

	// A token in the URL of a POST is refused: it would end up in logs.
	p = e.post(publicURL+PathHandoff+"?token="+e.token(customer, nil), url.Values{handoff.FieldService: {consoleURL}})
	if p.Status != http.StatusBadRequest || pageReason(p) != "bad_handoff_request" {
		t.Fatalf("token in a POST URL: %d %q", p.Status, pageReason(p))
	}
	checkEvent(t, e.oneEvent(), AuditEvent{Event: EventHandoff, Verdict: VerdictRefused, Reason: "bad_handoff_request"})
}
