package demoplatform

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/user"
)

func TestNewRefusesBadConfig(t *testing.T) {
	es256, err := ecdsa.GenerateKey(elliptic.P256(), seeded(3))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no base URL", func(c *Config) { c.BaseURL = "" }, "BaseURL: required"},
		{"relative base URL", func(c *Config) { c.BaseURL = "/shop" }, "BaseURL: \"/shop\" is not an absolute"},
		{"base URL with query", func(c *Config) { c.BaseURL = "http://127.0.0.1:1/?a=b" }, "without user info, query or fragment"},
		{"bridge URL not http", func(c *Config) { c.BridgeURL = "ftp://bridge.example" }, "BridgeURL: \"ftp://bridge.example\" is not an absolute"},
		{"bridge on the platform's origin", func(c *Config) { c.BridgeURL = c.BaseURL + "/bridge" }, "the bridge must run on its own origin"},
		{"no minter", func(c *Config) { c.Minter = nil }, "Minter is required"},
		{"minter without audience", func(c *Config) { m := *c.Minter; m.Audience = ""; c.Minter = &m }, "Minter needs Issuer and Audience"},
		{"minter key does not fit alg", func(c *Config) { m := *c.Minter; m.Alg = handoff.AlgEdDSA; m.Key = es256; c.Minter = &m }, "Minter cannot sign"},
		{"no customers", func(c *Config) { c.Customers = nil }, "Customers is empty"},
		{"bad xaccount_id", func(c *Config) { c.Customers = []Customer{{XAccountID: "al ice"}} }, "Customers[0]: xaccount_id has the character U+0020 (space) at position 3"},
		{"duplicate customer", func(c *Config) { c.Customers = []Customer{{XAccountID: "a"}, {XAccountID: "a"}} }, "Customers[1]: xaccount_id \"a\" is used twice"},
		{"bad service", func(c *Config) { c.Service = "console" }, "Service \"console\" is not an absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("http://127.0.0.1:18001")
			tt.change(&cfg)
			_, err := New(cfg)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v\nwant it to say %q", err, tt.want)
			}
		})
	}
}

func TestNewListsEveryProblem(t *testing.T) {
	_, err := New(Config{BaseURL: "nope", BridgeURL: "", Customers: []Customer{{XAccountID: ""}}})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"BaseURL:", "BridgeURL: required", "Minter is required", "Customers[0]: xaccount_id is empty"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err does not mention %q:\n%v", want, err)
		}
	}
}

// checkPageHeaders asserts what every platform page carries.
func checkPageHeaders(t *testing.T, resp *http.Response, body string) {
	t.Helper()
	h := resp.Header
	if got := h.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q", got)
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'sha256-", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || strings.Contains(body, "<script") {
		t.Error("a platform page allows or carries script")
	}
	for _, external := range []string{" src=", "<link", "<img", "<iframe", "@import", "url("} {
		if strings.Contains(body, external) {
			t.Errorf("page loads something (%q)", external)
		}
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", got)
	}
}

func TestOpenConsoleMintsTokenForTheBridge(t *testing.T) {
	s := newSite(t)
	resp, body := s.get(PathHome)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("home: %d", resp.StatusCode)
	}
	checkPageHeaders(t, resp, body)
	for _, c := range DefaultCustomers() {
		if !strings.Contains(body, `id="customer-`+c.XAccountID+`"`) || !strings.Contains(body, c.Mobile) {
			t.Errorf("home page does not list %s", c.XAccountID)
		}
	}
	if strings.Contains(body, `id="open-console"`) {
		t.Error("logged-out page offers the console button")
	}

	s.login("bob")
	resp, body = s.get(PathHome)
	checkPageHeaders(t, resp, body)
	if !strings.Contains(body, `<strong id="logged-in-as">bob</strong>`) || !strings.Contains(body, `id="open-console"`) {
		t.Fatalf("logged-in page:\n%s", body)
	}
	csrf := csrfRE.FindStringSubmatch(body)[1]

	resp, _ = s.post(PathOpenConsole, url.Values{"csrf": {csrf}}, "Origin", s.srv.URL, "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("open-console: status %d", resp.StatusCode)
	}
	checkPageHeaders(t, resp, "")
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != bridgeURL+HandoffPath {
		t.Fatalf("redirect to %s, want the bridge's %s", got, bridgeURL+HandoffPath)
	}
	q := loc.Query()
	if q.Get("service") != service {
		t.Errorf("service = %q, want %q", q.Get("service"), service)
	}
	c := verify(t, q.Get("token"))
	if c.XAccountID != "bob" || c.Get(user.Name) != "Bob Li" || c.Get(user.Mobile) != "86-13800000002" || c.Get(user.Email) != "bob@demo.example" {
		t.Errorf("claims = %+v", c)
	}
	if life := c.Expires.Sub(c.IssuedAt); life != handoff.DefaultMintLifetime {
		t.Errorf("token lifetime %s, want %s", life, handoff.DefaultMintLifetime)
	}

	// Each click mints a new single-use token.
	resp, _ = s.post(PathOpenConsole, url.Values{"csrf": {csrf}})
	loc2, _ := url.Parse(resp.Header.Get("Location"))
	if loc2.Query().Get("token") == q.Get("token") {
		t.Error("the second click reused the token")
	}
}

func TestOpenConsoleRefusals(t *testing.T) {
	s := newSite(t)
	resp, body := s.post(PathOpenConsole, url.Values{"csrf": {"x"}})
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Location") != "" {
		t.Errorf("without a session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	checkPageHeaders(t, resp, body)

	s.login("alice")
	csrf := s.csrf()
	tests := []struct {
		name   string
		method string
		form   url.Values
		header []string
		status int
	}{
		{"wrong csrf", http.MethodPost, url.Values{"csrf": {"00" + csrf[2:]}}, nil, http.StatusForbidden},
		{"no csrf", http.MethodPost, url.Values{}, nil, http.StatusForbidden},
		{"other origin", http.MethodPost, url.Values{"csrf": {csrf}}, []string{"Origin", "http://evil.example"}, http.StatusForbidden},
		{"null origin", http.MethodPost, url.Values{"csrf": {csrf}}, []string{"Origin", "null"}, http.StatusForbidden},
		{"cross-site fetch", http.MethodPost, url.Values{"csrf": {csrf}}, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"GET", http.MethodGet, nil, nil, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			if tt.method == http.MethodGet {
				resp, _ = s.get(PathOpenConsole)
			} else {
				resp, _ = s.post(PathOpenConsole, tt.form, tt.header...)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Errorf("refused request still redirected to %q", loc)
			}
		})
	}
}

func TestLoginReturnsToTheBridgeWithAToken(t *testing.T) {
	tests := []struct {
		returnTo string
		wantBase string
	}{
		{bridgeURL + "/sso/resume?flow=abc123", bridgeURL + "/sso/resume?flow=abc123&token="},
		{bridgeURL + "/sso/resume", bridgeURL + "/sso/resume?token="},
		{"HTTP://127.0.0.1:18443/sso/resume?flow=x&", "HTTP://127.0.0.1:18443/sso/resume?flow=x&token="},
	}
	for _, tt := range tests {
		t.Run(tt.returnTo, func(t *testing.T) {
			s := newSite(t)
			resp, body := s.get(PathLogin + "?" + url.Values{"return_to": {tt.returnTo}}.Encode())
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("login page: %d\n%s", resp.StatusCode, body)
			}
			checkPageHeaders(t, resp, body)
			if !strings.Contains(body, `id="customer-carol"`) || !strings.Contains(body, `name="return_to"`) {
				t.Fatalf("login page has no picker with return_to:\n%s", body)
			}
			resp, _ = s.post(PathLogin, url.Values{"customer": {"carol"}, "return_to": {tt.returnTo}})
			loc := resp.Header.Get("Location")
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, tt.wantBase) {
				t.Fatalf("status %d, Location %q, want it to start with %q", resp.StatusCode, loc, tt.wantBase)
			}
			token, err := url.QueryUnescape(strings.TrimPrefix(loc, tt.wantBase))
			if err != nil {
				t.Fatal(err)
			}
			if c := verify(t, token); c.XAccountID != "carol" {
				t.Errorf("token for %q, want carol", c.XAccountID)
			}
			// The pick also logged the customer in on the platform.
			if _, body := s.get(PathHome); !strings.Contains(body, `id="logged-in-as">carol<`) {
				t.Error("the platform session was not started")
			}
		})
	}
}

// TestLoginIsNeverAnOpenRedirect: return_to off the bridge's origin is
// refused on the login page and on the form, with no token minted, no
// session started and no redirect.
func TestLoginIsNeverAnOpenRedirect(t *testing.T) {
	bad := []struct {
		returnTo, reason string
	}{
		{"http://evil.example/steal", "not_bridge_origin"},
		{"https://127.0.0.1:18443/sso/resume", "not_bridge_origin"}, // scheme differs
		{"http://127.0.0.1:18444/sso/resume", "not_bridge_origin"},  // port differs
		{"http://127.0.0.1/sso/resume", "not_bridge_origin"},        // port missing
		{"http://127.0.0.1:184430/x", "not_bridge_origin"},
		{"http://127.0.0.1:18443.evil.example/x", "not_bridge_origin"},
		{"http://127.0.0.1:18443@evil.example/x", "userinfo"},
		{"http://user@127.0.0.1:18443/x", "userinfo"},
		{"http://127.0.0.1:18443\\@evil.example/x", "bad_characters"},
		{"http://127.0.0.1:18443/x\r\nLocation: http://evil.example", "bad_characters"},
		{"http://127.0.0.1:18443/x y", "bad_characters"},
		{"http://127.0.0.1:18443/ü", "bad_characters"},
		{"//evil.example/x", "not_absolute"},
		{"/sso/resume", "not_absolute"},
		{"javascript:alert(1)//127.0.0.1:18443", "not_absolute"},
		{"http://127.0.0.1:18443/x#frag", "fragment"},
		{"http://127.0.0.1:18443/x?token=stolen", "has_token"},
		{"http://127.0.0.1:18443/x?a=%zz", "bad_query"},
		{"http://127.0.0.1:18443/" + strings.Repeat("a", MaxReturnToLen), "too_long"},
	}
	s := newSite(t)
	for _, tt := range bad {
		t.Run(tt.reason+" "+tt.returnTo[:min(len(tt.returnTo), 50)], func(t *testing.T) {
			err := CheckReturnTo(tt.returnTo, bridgeURL)
			var rte *ReturnToError
			if !errors.As(err, &rte) || !errors.Is(err, ErrReturnTo) {
				t.Fatalf("CheckReturnTo = %v, want a *ReturnToError", err)
			}
			if rte.Reason != tt.reason {
				t.Errorf("reason %q, want %q (%v)", rte.Reason, tt.reason, err)
			}
			if strings.Contains(err.Error(), "evil") {
				t.Errorf("error repeats the URL: %v", err)
			}

			resp, body := s.get(PathLogin + "?" + url.Values{"return_to": {tt.returnTo}}.Encode())
			if resp.StatusCode != http.StatusBadRequest || strings.Contains(body, `id="customer-`) {
				t.Errorf("login page: status %d, picker shown: %v", resp.StatusCode, strings.Contains(body, `id="customer-`))
			}
			resp, _ = s.post(PathLogin, url.Values{"customer": {"alice"}, "return_to": {tt.returnTo}})
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || len(resp.Cookies()) != 0 {
				t.Errorf("login form: status %d, Location %q, cookies %v", resp.StatusCode, resp.Header.Get("Location"), resp.Cookies())
			}
		})
	}
}

func TestLoginFormRefusals(t *testing.T) {
	s := newSite(t)
	tests := []struct {
		name   string
		form   url.Values
		header []string
		status int
	}{
		{"unknown customer", url.Values{"customer": {"mallory"}}, nil, http.StatusBadRequest},
		{"no customer", url.Values{}, nil, http.StatusBadRequest},
		{"customer twice", url.Values{"customer": {"alice", "bob"}}, nil, http.StatusBadRequest},
		{"return_to twice", url.Values{"customer": {"alice"}, "return_to": {bridgeURL + "/a", bridgeURL + "/b"}}, nil, http.StatusBadRequest},
		{"cross-site post", url.Values{"customer": {"alice"}}, []string{"Origin", "http://evil.example"}, http.StatusForbidden},
		{"oversized form", url.Values{"customer": {"alice"}, "pad": {strings.Repeat("x", maxFormBytes)}}, nil, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := s.post(PathLogin, tt.form, tt.header...)
			if resp.StatusCode != tt.status || resp.Header.Get("Location") != "" || len(resp.Cookies()) != 0 {
				t.Errorf("status %d (want %d), Location %q, cookies %v", resp.StatusCode, tt.status, resp.Header.Get("Location"), resp.Cookies())
			}
			checkPageHeaders(t, resp, body)
		})
	}
	if resp, _ := s.get(PathLogin + "?return_to=a&return_to=b"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("return_to twice on the login page: %d", resp.StatusCode)
	}
	if resp, _ := s.get("/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown page: %d", resp.StatusCode)
	}
}

func TestLogout(t *testing.T) {
	s := newSite(t)
	s.login("alice")
	csrf := s.csrf()
	if resp, _ := s.post(PathLogout, url.Values{"csrf": {"bad"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout with a bad CSRF token: %d", resp.StatusCode)
	}
	resp, _ := s.post(PathLogout, url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if _, body := s.get(PathHome); strings.Contains(body, "logged-in-as") {
		t.Error("still logged in after logout")
	}
	if resp, _ := s.post(PathOpenConsole, url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("console after logout: %d", resp.StatusCode)
	}
}

func TestSessionExpires(t *testing.T) {
	now := fixedNow
	cfg := testConfig("http://127.0.0.1:18001")
	cfg.Clock = func() time.Time { return now }
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ses, err := p.sessions.start("alice")
	if err != nil {
		t.Fatal(err)
	}
	if p.sessions.get(ses.ID) == nil {
		t.Fatal("new session not found")
	}
	now = now.Add(SessionLifetime)
	if p.sessions.get(ses.ID) != nil {
		t.Error("session outlived SessionLifetime")
	}
}

func TestPagesGolden(t *testing.T) {
	s := newSite(t)
	_, home := s.get(PathHome)
	golden(t, "home.golden.html", home)
	_, login := s.get(PathLogin + "?" + url.Values{"return_to": {bridgeURL + "/sso/resume?flow=f1"}}.Encode())
	golden(t, "login-return-to.golden.html", login)
	s.login("alice")
	_, account := s.get(PathHome)
	golden(t, "account.golden.html", account)
}

func TestSessionTableIsBounded(t *testing.T) {
	s := newSite(t)
	s.p.sessions.mu.Lock()
	for i := range maxSessions {
		id := fmt.Sprintf("s%05d", i)
		s.p.sessions.byID[id] = &session{ID: id, XAccountID: "alice", Expires: fixedNow.Add(time.Hour)}
	}
	s.p.sessions.mu.Unlock()
	resp, _ := s.post(PathLogin, url.Values{"customer": {"alice"}})
	if resp.StatusCode != http.StatusServiceUnavailable || len(resp.Cookies()) != 0 {
		t.Errorf("full session table: status %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
}
