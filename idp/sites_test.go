package idp

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/metadata"
)

// The international site of the two-site deployment: its own SP (entityID,
// ACS, signing key), platform id and login link, and a platform of its own
// that owns its xAccountType. The China site is the one every other test
// uses.
const (
	intlEntityID      = "https://auth-intl.huaweicloud.com/"
	intlACS           = "https://auth-intl.huaweicloud.com/authui/saml/SAMLAssertionConsumer"
	intlLogin         = "https://auth-intl.huaweicloud.com/authui/saml/login"
	intlXAccountType  = "example_intl_IDP"
	intlPlatformLogin = "https://platform-intl.example/login"
	intlConsoleURL    = "https://console-intl.huaweicloud.com/console/"
)

func intlSP(tb testing.TB) *metadata.SP {
	sp := huaweiSP(tb)
	sp.EntityID = intlEntityID
	sp.ACS = []metadata.Endpoint{{SAMLBinding: metadata.SAMLBindingHTTPPost, Location: intlACS, Index: 0, IsDefault: true}}
	sp.SLO = nil
	sp.SigningCerts = []*x509.Certificate{loadKey(tb, "sp-other").Cert}
	return sp
}

// twoSites configures the China site (first, the default) and the
// international one in place of the single-site fields.
func twoSites(tb testing.TB, intl **metadata.SP) func(*Config) {
	return func(c *Config) {
		cn := c.DefaultSP
		*intl = intlSP(tb)
		c.Sites = []Site{
			{Name: "cn", SP: cn, LoginLink: c.LoginLink, Services: c.Services, PlatformLoginURL: c.PlatformLoginURL},
			{Name: "intl", SP: func() *metadata.SP { return *intl },
				LoginLink:        handoff.LoginLink{LoginURL: intlLogin, XAccountType: intlXAccountType},
				Services:         handoff.ServicePolicy{AllowedHosts: []string{"console-intl.huaweicloud.com"}, Default: intlConsoleURL},
				PlatformLoginURL: intlPlatformLogin},
		}
		c.DefaultSP, c.LoginLink, c.Services, c.XAccountType, c.PlatformLoginURL = nil, handoff.LoginLink{}, handoff.ServicePolicy{}, "", ""
		c.SPs, c.Intake.SPs = nil, nil // the sites' SPs
	}
}

func newTwoSiteEnv(t *testing.T) (*env, *metadata.SP) {
	var intl *metadata.SP
	e := newEnv(t, envOptions{tweak: twoSites(t, &intl)})
	return e, intl
}

func intlRequest(e *env, id string) authnRequest {
	req := e.newRequest(id)
	req.Issuer, req.ACS, req.RelayState = intlEntityID, intlACS, intlConsoleURL
	req.Key = loadKey(e.t, "sp-other").Key
	req.NameIDFormat = "" // no NameIDPolicy: the helper's names the China SP
	return req
}

// The handoff picks the site by the huawei_site claim, the first by default:
// its login link, its xAccountType for the binding lookup, its console.
func TestSitesHandoff(t *testing.T) {
	e, _ := newTwoSiteEnv(t)
	if _, err := binding.Put(context.Background(), e.db, binding.Binding{Key: binding.Key{XAccountType: intlXAccountType, XAccountID: customer},
		DomainID: "0a1b2c3d4e5f", Source: binding.SourceImport}, "test", nil); err != nil {
		t.Fatal(err)
	}
	withSite := func(site string) map[string]any {
		c := customerClaims()
		if site != "" {
			c[ClaimSite] = site
		}
		return c
	}
	tests := []struct {
		name       string
		site       string
		service    string
		wantStatus int
		wantPrefix string // of the Location
		wantEvent  AuditEvent
	}{
		{"no claim: the first site, not bound there", "", consoleURL, http.StatusFound,
			huaweiLogin + "?xAccountType=" + xAccountType + "&isFirstLogin=true&service=",
			AuditEvent{Event: EventHandoff, Site: "cn", XAccountID: customer, Verdict: VerdictRedirected, Reason: ReasonFirstLogin}},
		{"the international site, bound there", "intl", "", http.StatusFound,
			intlLogin + "?xAccountType=" + intlXAccountType + "&isFirstLogin=false&service=" + url.QueryEscape(intlConsoleURL),
			AuditEvent{Event: EventHandoff, Site: "intl", XAccountID: customer, DomainID: "0a1b2c3d4e5f", Verdict: VerdictRedirected, Reason: ReasonBound}},
		{"a site that is not configured", "eu", "", http.StatusBadRequest, "",
			AuditEvent{Event: EventHandoff, XAccountID: customer, Verdict: VerdictRefused, Reason: ReasonUnknownSite}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.get(handoffURL(e.token(customer, withSite(tt.site)), tt.service))
			if p.Status != tt.wantStatus || !strings.HasPrefix(p.Location, tt.wantPrefix) {
				t.Fatalf("status %d, Location %q; want %d and %q...", p.Status, p.Location, tt.wantStatus, tt.wantPrefix)
			}
			if tt.wantStatus != http.StatusFound && pageReason(p) != tt.wantEvent.Reason {
				t.Errorf("page reason %q", pageReason(p))
			}
			checkEvent(t, e.oneEvent(), tt.wantEvent)
		})
	}
	if n := counterValue(t, e.reg, "partneridp_requests_total", map[string]string{"endpoint": EventHandoff, "site": "intl"}); n != 1 {
		t.Errorf("%v handoff requests counted for site intl, want 1", n)
	}
}

// An AuthnRequest is answered for the site whose SP sent it: deferred to
// the login of the platform owning that site, resumed, and posted to that
// site's ACS with that site's audience. With a session, the request of
// either site is answered at once.
func TestSitesSSO(t *testing.T) {
	e, _ := newTwoSiteEnv(t)
	req := intlRequest(e, "_intl-0001")
	p := e.get(ssoURL + "?" + req.Query(t))
	prefix := intlPlatformLogin + "?return_to="
	if p.Status != http.StatusFound || !strings.HasPrefix(p.Location, prefix) {
		t.Fatalf("status %d, Location %q: want the international platform's login", p.Status, p.Location)
	}
	checkEvent(t, e.oneEvent(), AuditEvent{Event: EventSSO, RequestID: req.ID, SP: intlEntityID, Site: "intl", Verdict: VerdictDeferred, Reason: ReasonNoSession})
	returnTo, err := url.QueryUnescape(strings.TrimPrefix(p.Location, prefix))
	if err != nil {
		t.Fatal(err)
	}
	// The platform does not name the site: the request's site is answered.
	f := readSAMLForm(t, e.get(returnTo+"&"+url.Values{"token": {e.token(customer, customerClaims())}}.Encode()))
	d := parseResponse(t, f.SAMLResponse)
	for _, c := range []struct{ what, got, want string }{
		{"form action", f.Action, intlACS},
		{"Recipient", d.attr("./Assertion/Subject/SubjectConfirmation/SubjectConfirmationData", "Recipient"), intlACS},
		{"Audience", d.text("./Assertion/Conditions/AudienceRestriction/Audience"), intlEntityID},
		{"xAccountId", d.attributes()["xAccountId"], customer},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	checkEvent(t, e.oneEvent(), AuditEvent{Event: EventResume, RequestID: req.ID, SP: intlEntityID, Site: "intl", XAccountID: customer,
		Verdict: VerdictIssued, AssertionID: "?"})

	for _, tc := range []struct {
		req  authnRequest
		site string
		acs  string
	}{{e.newRequest("_cn-0002"), "cn", acsURL}, {intlRequest(e, "_intl-0002"), "intl", intlACS}} {
		f := readSAMLForm(t, e.get(ssoURL+"?"+tc.req.Query(t)))
		if f.Action != tc.acs {
			t.Errorf("site %s: form posts to %q", tc.site, f.Action)
		}
		checkEvent(t, e.oneEvent(), AuditEvent{Event: EventSSO, RequestID: tc.req.ID, SP: tc.req.Issuer, Site: tc.site, XAccountID: customer,
			Verdict: VerdictIssued, AssertionID: "?"})
	}
	if n := counterValue(t, e.reg, "partneridp_sso_duration_seconds", map[string]string{"path": pathResumed, "site": "intl"}); n != 1 {
		t.Errorf("%v resumed latencies observed for site intl, want 1", n)
	}
}

// A request from an SP that is no configured site is refused, and so is a
// request claiming one site's Issuer but signed with the other site's key.
func TestSitesUntrustedRequests(t *testing.T) {
	e, _ := newTwoSiteEnv(t)
	unknown := intlRequest(e, "_unknown-0001")
	unknown.Issuer = "https://auth.eu.huaweicloud.com/"
	crossed := e.newRequest("_crossed-0001")
	crossed.Key = loadKey(t, "sp-other").Key // the international site's key under the China Issuer
	for _, tc := range []struct {
		name   string
		req    authnRequest
		reason string
	}{
		{"unknown Issuer", unknown, "unknown_issuer"},
		{"another site's signature", crossed, ReasonBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := e.get(ssoURL + "?" + tc.req.Query(t))
			if p.Status != http.StatusBadRequest || pageReason(p) != tc.reason {
				t.Fatalf("status %d, reason %q; want 400 %s", p.Status, pageReason(p), tc.reason)
			}
			noResponse(t, p)
		})
	}
}

// A bind notification is stored under the xAccountType of the site whose
// SP certificate verifies it; at /huawei/bind/<site> only that site's
// certificate counts.
func TestSitesBindNotification(t *testing.T) {
	cnKey, intlKey := loadKey(t, "sp-test"), loadKey(t, "sp-other")
	tests := []struct {
		name       string
		path       string
		key        metadata.SigningKey
		wantStatus int
		wantReason string
		wantType   string // the xAccountType the binding is stored under
		wantSite   string
	}{
		{"China notification at the shared URL", PathBind, cnKey, http.StatusFound, ReasonBind, xAccountType, "cn"},
		{"international notification at the shared URL", PathBind, intlKey, http.StatusFound, ReasonBind, intlXAccountType, "intl"},
		{"international notification at its own URL", PathBind + "/intl", intlKey, http.StatusFound, ReasonBind, intlXAccountType, "intl"},
		{"international notification at the China URL", PathBind + "/cn", intlKey, http.StatusBadRequest, ReasonBadSignature, "", ""},
		{"a URL naming no site", PathBind + "/eu", intlKey, http.StatusBadRequest, ReasonUnknownSite, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newTwoSiteEnv(t)
			p := e.post(publicURL+tt.path, notification(t, tt.key, bindFields(customer, "0a1b2c3d4e5f", 0)))
			if p.Status != tt.wantStatus {
				t.Fatalf("status %d: %s", p.Status, p.Body)
			}
			ev := e.oneEvent()
			if ev.Reason != tt.wantReason || ev.Site != tt.wantSite {
				t.Errorf("event %+v: want reason %s, site %q", ev, tt.wantReason, tt.wantSite)
			}
			for _, typ := range []string{xAccountType, intlXAccountType} {
				_, err := e.db.Get(context.Background(), binding.Key{XAccountType: typ, XAccountID: customer})
				if stored := err == nil; stored != (typ == tt.wantType) {
					t.Errorf("binding under %s: stored %v (%v)", typ, stored, err)
				}
			}
		})
	}

	t.Run("sites sharing a certificate need their own URLs", func(t *testing.T) {
		var intl *metadata.SP
		e := newEnv(t, envOptions{tweak: func(c *Config) {
			twoSites(t, &intl)(c)
			intl.SigningCerts = []*x509.Certificate{cnKey.Cert}
		}})
		p := e.post(publicURL+PathBind, notification(t, cnKey, bindFields(customer, "0a1b2c3d4e5f", 0)))
		if p.Status != http.StatusConflict || pageReason(p) != ReasonBindSiteAmbiguous {
			t.Fatalf("status %d, reason %q", p.Status, pageReason(p))
		}
		e.takeEvents()
		p = e.post(publicURL+PathBind+"/intl", notification(t, cnKey, bindFields(customer, "0a1b2c3d4e5f", 0)))
		if p.Status != http.StatusFound {
			t.Fatalf("at the site's own URL: status %d: %s", p.Status, p.Body)
		}
		if _, err := e.db.Get(context.Background(), binding.Key{XAccountType: intlXAccountType, XAccountID: customer}); err != nil {
			t.Fatal(err)
		}
	})
}

// Readiness needs every site's SP metadata.
func TestSitesHealth(t *testing.T) {
	e, intl := newTwoSiteEnv(t)
	if err := e.srv.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	expired := *intl
	expired.SigningCerts = []*x509.Certificate{{NotBefore: testNow.Add(-2 * time.Hour), NotAfter: testNow.Add(-time.Hour)}}
	*intl = expired
	err := e.srv.Health(context.Background())
	if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), intlEntityID) || strings.Contains(err.Error(), spEntityID) {
		t.Fatalf("err = %v, want the international site's SP named", err)
	}
}

func TestSitesConfigProblems(t *testing.T) {
	var intl *metadata.SP
	tests := []struct {
		name  string
		tweak func(*Config)
		want  []string
	}{
		{"sites and the single-site fields", func(c *Config) {
			xat := c.XAccountType
			twoSites(t, &intl)(c)
			c.XAccountType = xat
		}, []string{"set Sites or the single-site fields"}},
		{"duplicate names and xAccountTypes, a site without SP or platform login", func(c *Config) {
			twoSites(t, &intl)(c)
			c.Sites = append(c.Sites, Site{Name: "intl", LoginLink: c.Sites[1].LoginLink, Services: c.Sites[1].Services})
			c.Sites[0].Name = ""
		}, []string{`Sites[0] (""): Name is empty`, `Sites[2] ("intl"): Name is used by another site`, `Sites[2] ("intl"): SP is nil`,
			`xAccountType "example_intl_IDP" is used by another site`, `Sites[2] ("intl") PlatformLoginURL is empty`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{noTLS: true})
			cfg := e.cfg
			intake := *e.cfg.Intake // the tweak changes it
			cfg.Intake = &intake
			tt.tweak(&cfg)
			_, err := New(cfg)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}
