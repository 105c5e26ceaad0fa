package main

import (
	"context"
	"crypto/rand"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/mockiam"
	"github.com/partneridp/partneridp/internal/journey"
	"github.com/partneridp/partneridp/metadata"
)

// twoSiteStack is a bridge configured with two Huawei sites, each played by
// its own mock Huawei IAM (its own entityID, ACS, SP key, login link), and
// two partner platforms, each owning one site's xAccountType.
type twoSiteStack struct {
	bridge    *bridge
	bridgeURL string
	sites     []*e2eSite
	platform  *e2ePlatforms
}

type e2eSite struct {
	name, xAccountType, platform string
	mock                         *mockiam.IAM
	url                          string
}

// e2ePlatforms plays the platforms' login pages: a customer is logged in
// at once and sent back to return_to with a handoff token.
type e2ePlatforms struct {
	url      string
	minters  map[string]*handoff.Minter // by platform name (= its login path)
	customer string
	mu       sync.Mutex
	logins   []string // which platform's login page was used
}

func (p *e2ePlatforms) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/login")
	m, ok := p.minters[name]
	returnTo := r.URL.Query().Get("return_to")
	if !ok || !strings.HasPrefix(returnTo, "http") {
		http.NotFound(w, r)
		return
	}
	p.mu.Lock()
	p.logins = append(p.logins, name)
	p.mu.Unlock()
	token, err := m.Mint(p.customer, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, returnTo+"&"+url.Values{handoff.FieldToken: {token}}.Encode(), http.StatusFound)
}

func startTwoSiteStack(t *testing.T) *twoSiteStack {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	s := &twoSiteStack{sites: []*e2eSite{
		{name: "cn", xAccountType: "shop_IDP", platform: "shop"},
		{name: "intl", xAccountType: "shop_intl_IDP", platform: "shop-intl"},
	}}
	bridgeMux := &switchHandler{}
	bridgeSrv := httptest.NewServer(bridgeMux)
	t.Cleanup(bridgeSrv.Close)
	s.bridgeURL = bridgeSrv.URL

	secret := []byte(strings.Repeat("p", 48))
	if err := os.WriteFile(filepath.Join(dir, "platform.secret"), secret, 0o600); err != nil {
		t.Fatal(err)
	}
	s.platform = &e2ePlatforms{minters: map[string]*handoff.Minter{}, customer: "cust-e2e-1"}
	platformSrv := httptest.NewServer(s.platform)
	t.Cleanup(platformSrv.Close)
	s.platform.url = platformSrv.URL

	var sitesYAML, platformsYAML strings.Builder
	for _, site := range s.sites {
		key, err := metadata.GenerateKeyPair(2048, pkix.Name{CommonName: "mock " + site.name}, now.Add(-time.Hour), now.AddDate(1, 0, 0), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		certFile := filepath.Join(dir, site.name+"-sp.crt")
		if err := metadata.WriteKeyPair(key, filepath.Join(dir, site.name+"-sp.key"), certFile, false); err != nil {
			t.Fatal(err)
		}
		mockMux := &switchHandler{}
		mockSrv := httptest.NewServer(mockMux)
		t.Cleanup(mockSrv.Close)
		site.url = mockSrv.URL
		site.mock, err = mockiam.New(mockiam.Config{
			BaseURL: site.url,
			Key:     key,
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
			IdPs: map[string]mockiam.IdPRegistration{site.xAccountType: {
				MetadataURL: s.bridgeURL + idp.PathMetadata,
				// Each site's Notification URL names the site.
				NotificationURL: s.bridgeURL + idp.PathBind + "/" + site.name,
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		mockMux.set(site.mock.Handler())
		fmt.Fprintf(&sitesYAML, "  - {name: %s, site: custom, x_account_type: %s, sp_metadata: %q, sp_cert_pin_file: %s, login_url: %q, console_url: %q}\n",
			site.name, site.xAccountType, site.url+mockiam.PathMetadata, filepath.Base(certFile), site.url+mockiam.PathLogin, site.url+mockiam.PathConsole)
		issuer := platformSrv.URL + "/" + site.platform
		fmt.Fprintf(&platformsYAML, "  - {name: %s, issuer: %q, audience: %q, alg: HS256, secret_file: platform.secret, login_url: %q, x_account_types: [%s]}\n",
			site.platform, issuer, s.bridgeURL, issuer+"/login", site.xAccountType)
		s.platform.minters[site.platform] = &handoff.Minter{Issuer: issuer, Audience: s.bridgeURL, Alg: handoff.AlgHS256, Key: secret}
	}

	idpKey, err := metadata.GenerateKeyPair(2048, pkix.Name{CommonName: "bridge"}, now.Add(-time.Hour), now.AddDate(1, 0, 0), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := metadata.WriteKeyPair(idpKey, filepath.Join(dir, "signing.key"), filepath.Join(dir, "signing.crt"), false); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "partneridp.yaml")
	cfgText := fmt.Sprintf("public_url: %s\ndevelopment: true\ndata_dir: data\nstore: {type: memory}\nidp: {signing: {key_file: signing.key, cert_file: signing.crt}}\nlanding_url: %s/\nhuawei_sites:\n%splatforms:\n%s",
		s.bridgeURL, platformSrv.URL, sitesYAML.String(), platformsYAML.String())
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.bridge, err = newBridge(context.Background(), cfg, bridgeOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.bridge.Close() })
	bridgeMux.set(s.bridge.server.Handler())
	return s
}

// switchHandler lets a server start before its handler exists (the mocks
// and the bridge each need the other's URL).
type switchHandler struct {
	mu sync.Mutex
	h  http.Handler
}

func (s *switchHandler) set(h http.Handler) { s.mu.Lock(); s.h = h; s.mu.Unlock() }

func (s *switchHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	h := s.h
	s.mu.Unlock()
	if h == nil {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(w, r)
}

func (s *twoSiteStack) browser() *journey.Browser {
	hosts := []string{journey.HostOf(s.bridgeURL), journey.HostOf(s.platform.url)}
	for _, site := range s.sites {
		hosts = append(hosts, journey.HostOf(site.url))
	}
	return journey.NewBrowser(nil, hosts...)
}

// A journey on each site: the platform's handoff names the site, the
// customer is bound on that site's Huawei (the notification arrives at the
// site's own URL and is stored under its xAccountType), and a later
// Huawei-initiated login without a session goes to the login of the
// platform that owns the site's xAccountType.
func TestTwoSitesEndToEnd(t *testing.T) {
	s := startTwoSiteStack(t)
	ctx := context.Background()
	customer := s.platform.customer
	if err := s.bridge.server.Health(ctx); err != nil {
		t.Fatalf("readiness with both sites' SP metadata: %v", err)
	}
	for _, site := range s.sites {
		t.Run(site.name, func(t *testing.T) {
			b := s.browser()
			minter := s.platform.minters[site.platform]
			token, err := minter.Mint(customer, map[string]any{idp.ClaimSite: site.name})
			if err != nil {
				t.Fatal(err)
			}
			p, err := b.Get(ctx, s.bridgeURL+idp.PathHandoff+"?"+url.Values{"token": {token}, "service": {site.url + mockiam.PathConsole}}.Encode())
			if err != nil {
				t.Fatal(err)
			}
			if !p.Visited(site.url + mockiam.PathLogin + "?xAccountType=" + site.xAccountType + "&isFirstLogin=true") {
				t.Fatalf("the handoff did not go to the %s login link with the first-login flag: %s", site.name, p.Describe())
			}
			form, ok := journey.FindForm(p, "saml-post")
			if !ok || form.Action != site.mock.ACSURL() {
				t.Fatalf("no POST form to the %s ACS: %s", site.name, p.Describe())
			}
			if p, err = b.Submit(ctx, form); err != nil {
				t.Fatal(err)
			}
			create, ok := journey.FindForm(p, "create-form")
			if !ok {
				t.Fatalf("the %s mock did not show its bind page: %s", site.name, p.Describe())
			}
			if p, err = b.Submit(ctx, create); err != nil {
				t.Fatal(err)
			}
			notify, ok := journey.FindForm(p, "notify")
			if !ok || notify.Action != s.bridgeURL+idp.PathBind+"/"+site.name {
				t.Fatalf("no notification to the site's URL: %s", p.Describe())
			}
			if p, err = b.Submit(ctx, notify); err != nil {
				t.Fatal(err)
			}
			acct, bound := site.mock.Account(site.xAccountType, customer)
			if !bound || journey.Field(p.Body, "domain-id") != acct.Domain.ID {
				t.Fatalf("after the notification the browser is not on the %s console: %s", site.name, p.Describe())
			}
			stored, err := s.bridge.store.Get(ctx, binding.Key{XAccountType: site.xAccountType, XAccountID: customer})
			if err != nil || stored.DomainID != acct.Domain.ID {
				t.Fatalf("binding under %s: %+v, %v; want domain %s", site.xAccountType, stored, err, acct.Domain.ID)
			}

			// Huawei-initiated, in a browser without a bridge session.
			fresh := s.browser()
			link := handoff.LoginLink{LoginURL: site.url + mockiam.PathLogin, XAccountType: site.xAccountType}
			p, err = fresh.Get(ctx, link.URL(false, site.url+mockiam.PathConsole))
			if err != nil {
				t.Fatal(err)
			}
			if !p.Visited(s.platform.url + "/" + site.platform + "/login") {
				t.Fatalf("the deferred login did not go to %s's login: %s", site.platform, p.Describe())
			}
			form, ok = journey.FindForm(p, "saml-post")
			if !ok || form.Action != site.mock.ACSURL() {
				t.Fatalf("no POST form to the %s ACS after the platform login: %s", site.name, p.Describe())
			}
			if p, err = fresh.Submit(ctx, form); err != nil {
				t.Fatal(err)
			}
			if journey.Field(p.Body, "verdict") != "accepted" || journey.Field(p.Body, "domain-id") != acct.Domain.ID {
				t.Fatalf("the %s mock did not log the customer in: %s", site.name, p.Describe())
			}
		})
	}
	n := 0
	_ = s.bridge.store.List(ctx, binding.Key{}, func(binding.Binding) error { n++; return nil })
	if n != 2 {
		t.Errorf("%d bindings stored, want one per site", n)
	}
}
