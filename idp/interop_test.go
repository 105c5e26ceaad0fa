package idp

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/mockiam"
	"github.com/partneridp/partneridp/internal/journey"
	"github.com/partneridp/partneridp/metadata"
)

// The whole first-login journey against the mock Huawei IAM, an independent
// SP that checks our Responses strictly: handoff, login link, signed
// AuthnRequest, our POST form, its ACS, its bind page, its signed bind
// notification to us, then a second login that Huawei lets straight in.
func TestWithMockHuaweiIAM(t *testing.T) {
	clk := &clock{now: testNow}
	spKey := loadKey(t, "sp-test")
	mockSrv := httptest.NewUnstartedServer(nil)
	base := "http://" + mockSrv.Listener.Addr().String()
	metadataFile := filepath.Join(t.TempDir(), "IDP-Metadata.xml")
	if err := os.WriteFile(metadataFile, idpMetadata(t), 0o600); err != nil {
		t.Fatal(err)
	}
	iam, err := mockiam.New(mockiam.Config{BaseURL: base, Key: spKey, Clock: clk.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		IdPs: map[string]mockiam.IdPRegistration{xAccountType: {MetadataFile: metadataFile, NotificationURL: publicURL + PathBind}}})
	if err != nil {
		t.Fatal(err)
	}
	mockSrv.Config.Handler = iam.Handler()
	mockSrv.Start()
	t.Cleanup(mockSrv.Close)

	// Trust the mock as the bridge would trust Huawei: from its signed SP
	// metadata, pinned to its certificate.
	rec := httptest.NewRecorder()
	iam.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, base+mockiam.PathMetadata, nil))
	mockSP, err := metadata.ParseSP(rec.Body.Bytes(), metadata.SPLoadOptions{PinnedCert: spKey.Cert, AllowHTTP: true, Now: testNow})
	if err != nil {
		t.Fatalf("the mock's SP metadata: %v", err)
	}
	console := base + mockiam.PathConsole
	e := newEnv(t, envOptions{clock: clk, tweak: func(c *Config) {
		sps := func(id string) (*metadata.SP, bool) { return mockSP, id == mockSP.EntityID }
		c.SPs, c.Intake.SPs = sps, sps
		c.DefaultSP = func() *metadata.SP { return mockSP }
		c.LoginLink.LoginURL = base + mockiam.PathLogin
		c.Services = handoff.ServicePolicy{AllowedHosts: []string{mockSrv.Listener.Addr().String()}, Default: console, AllowHTTP: true}
	}})

	// First login: unbound, so isFirstLogin=true and Huawei's bind page.
	p := e.get(handoffURL(e.token(customer, customerClaims()), console))
	if p.Status != http.StatusFound || !strings.Contains(p.Location, "isFirstLogin=true") {
		t.Fatalf("handoff: %d %s", p.Status, p.Location)
	}
	p = e.get(p.Location) // the mock's login link: a signed AuthnRequest to us
	if p.Status != http.StatusFound || !strings.HasPrefix(p.Location, ssoURL+"?SAMLRequest=") {
		t.Fatalf("mock login link: %d %s\n%s", p.Status, p.Location, p.Body)
	}
	p = submitForm(t, e, readSAMLForm(t, e.get(p.Location))) // our Response to the mock's ACS
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `id="create-domain-name"`) {
		t.Fatalf("the mock's ACS did not accept our Response: %d\n%s", p.Status, p.Body)
	}
	if ev, ok := iam.LastEvent(mockiam.EventACS); !ok || !ev.Accepted || ev.XUserID != customer {
		t.Fatalf("mock ACS event %+v", ev)
	}
	token := pageForm(t, base, p, "create-form").Values.Get("token")
	p = e.post(base+mockiam.PathBind, url.Values{"token": {token}, "action": {"create"}, "domainName": {"zhangsan01"}})
	if p.Status != http.StatusOK {
		t.Fatalf("mock bind: %d\n%s", p.Status, p.Body)
	}
	notify := pageForm(t, base, p, "notify")
	if notify.Action != publicURL+PathBind {
		t.Fatalf("no bind notification to us on the mock's page:\n%s", p.Body)
	}
	p = e.post(publicURL+PathBind, url.Values{"bindRequest": {notify.Values.Get("bindRequest")},
		"SigAlg": {notify.Values.Get("SigAlg")}, "Signature": {notify.Values.Get("Signature")}})
	if p.Status != http.StatusFound || p.Location != console {
		t.Fatalf("our bind endpoint: %d %q\n%s", p.Status, p.Location, p.Body)
	}
	acct, ok := iam.Account(xAccountType, customer)
	if !ok {
		t.Fatal("the mock has no account for the customer")
	}
	b, ok := e.binding(customer)
	if !ok || b.DomainID != acct.Domain.ID || b.DomainName != "zhangsan01" {
		t.Fatalf("our binding %+v (found %t), the mock's domain %+v", b, ok, acct.Domain)
	}

	// Second login: bound, so isFirstLogin=false and straight to the console.
	p = e.get(handoffURL(e.token(customer, customerClaims()), console))
	if !strings.Contains(p.Location, "isFirstLogin=false") {
		t.Fatalf("second handoff: %s", p.Location)
	}
	p = e.get(p.Location)
	p = submitForm(t, e, readSAMLForm(t, e.get(p.Location)))
	if p.Status != http.StatusOK {
		t.Fatalf("second login at the mock: %d\n%s", p.Status, p.Body)
	}
	if ev, ok := iam.LastEvent(mockiam.EventSession); !ok || !ev.Accepted || ev.DomainID != acct.Domain.ID {
		t.Fatalf("mock session event %+v", ev)
	}

	var verdicts []string
	for _, ev := range e.takeEvents() {
		verdicts = append(verdicts, ev.Event+":"+ev.Verdict)
	}
	want := "handoff:redirected sso:issued bind_notification:stored handoff:redirected sso:issued"
	if got := strings.Join(verdicts, " "); got != want {
		t.Errorf("audit trail %q, want %q", got, want)
	}
}

// submitForm does what the auto-submit script does: POST the form.
func submitForm(t *testing.T, e *env, f postForm) page {
	t.Helper()
	v := url.Values{"SAMLResponse": {f.RawResponse}}
	if f.HasRelay {
		v.Set("RelayState", f.RelayState)
	}
	return e.post(f.Action, v)
}

// pageForm is the POST form id on a page served from base.
func pageForm(t *testing.T, base string, p page, id string) *journey.Form {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := journey.FindForm(&journey.Page{URL: u, Body: p.Body}, id)
	if !ok {
		t.Fatalf("no form %s on the page:\n%s", id, p.Body)
	}
	return f
}
