package idp

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"html"
	"io"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bolt"
	"github.com/partneridp/partneridp/binding/memory"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/samlreq"
	"github.com/partneridp/partneridp/idp/samlresp"
	"github.com/partneridp/partneridp/internal/journey"
	"github.com/partneridp/partneridp/metadata"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/idp")

// Paths are relative to this package; the project never reads ../shared.
const (
	keysDir    = "../testdata/keys"
	handoffDir = "../testdata/handoff"
	huaweiDir  = "../testdata/huawei"
	samlreqDir = "../testdata/samlreq"
	bindingDir = "../testdata/binding"
	idpDir     = "../testdata/idp"
)

// The deployment every test runs: our bridge at idp.partner.example, Huawei's
// China site as the SP (its real entityID and ACS, the test SP's key), and a
// partner platform signing handoff tokens with Ed25519.
const (
	publicURL     = "https://idp.partner.example"
	ssoURL        = publicURL + PathSSO
	sloURL        = publicURL + PathSLO
	idpEntityID   = publicURL + PathMetadata
	spEntityID    = "https://auth.huaweicloud.com/"
	acsURL        = "https://auth.huaweicloud.com/authui/saml/SAMLAssertionConsumer"
	spSLOURL      = "https://auth.huaweicloud.com/authui/saml/logout"
	huaweiLogin   = "https://auth.huaweicloud.com/authui/saml/login"
	xAccountType  = "example_IDP"
	platformLogin = "https://platform.example/login?lang=en"
	landingURL    = "https://platform.example/"
	consoleURL    = "https://console.huaweicloud.com/console/?region=cn-north-4#/home"
	platformIss   = "https://platform.example"
	platformAud   = "https://idp.partner.example/sso"
	customer      = "cust-0001"

	assertionIDAttr = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"
	responseIDAttr  = "urn:oasis:names:tc:SAML:2.0:protocol:Response"
)

// testNow is inside the test certificates' validity (2026-11-21 to 2046).
var testNow = time.Date(2027, 3, 14, 9, 26, 53, 0, time.UTC)

// clock is a settable clock shared by every component of an env.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// ---- keys ----

var keyCache sync.Map

// loadKey reads testdata/keys/<name>.key and .crt with encoding/pem and
// crypto/x509 directly (the strict loader wants 0600 files).
func loadKey(tb testing.TB, name string) metadata.SigningKey {
	tb.Helper()
	if k, ok := keyCache.Load(name); ok {
		return k.(metadata.SigningKey)
	}
	kb, _ := pem.Decode(readFile(tb, filepath.Join(keysDir, name+".key")))
	cb, _ := pem.Decode(readFile(tb, filepath.Join(keysDir, name+".crt")))
	if kb == nil || cb == nil {
		tb.Fatalf("%s: no PEM block", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	sk := metadata.SigningKey{Key: k.(*rsa.PrivateKey), Cert: cert}
	keyCache.Store(name, sk)
	return sk
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// privateCopy copies a testdata secret into a 0600 file (git keeps no modes
// and the handoff loaders refuse world-readable keys).
func privateCopy(tb testing.TB, dir, name string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, readFile(tb, filepath.Join(dir, name)), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

type platformKeys struct {
	signing ed25519.PrivateKey
	verify  []handoff.PlatformKey
	es256   any // another platform's key: tokens signed with it must be refused
}

var platformOnce sync.Map

func loadPlatform(tb testing.TB) platformKeys {
	tb.Helper()
	if p, ok := platformOnce.Load("p"); ok {
		return p.(platformKeys)
	}
	priv, err := handoff.LoadSigningKey(privateCopy(tb, handoffDir, "platform-ed25519.key"), handoff.AlgEdDSA)
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := handoff.LoadPlatformKeys(handoff.KeySource{PEMFile: filepath.Join(handoffDir, "platform-ed25519.pub.pem"), Alg: handoff.AlgEdDSA})
	if err != nil {
		tb.Fatal(err)
	}
	es, err := handoff.LoadSigningKey(privateCopy(tb, handoffDir, "platform-es256.key"), handoff.AlgES256)
	if err != nil {
		tb.Fatal(err)
	}
	p := platformKeys{signing: priv.(ed25519.PrivateKey), verify: keys, es256: es}
	platformOnce.Store("p", p)
	return p
}

// huaweiSP is Huawei's China-site SP as its metadata describes it, trusting
// the test SP certificate in place of Huawei's.
func huaweiSP(tb testing.TB) *metadata.SP {
	return &metadata.SP{
		EntityID: spEntityID,
		ACS:      []metadata.Endpoint{{SAMLBinding: metadata.SAMLBindingHTTPPost, Location: acsURL, Index: 0, IsDefault: true}},
		SLO: []metadata.Endpoint{
			{SAMLBinding: metadata.SAMLBindingHTTPRedirect, Location: spSLOURL},
		},
		SigningCerts:         []*x509.Certificate{loadKey(tb, "sp-test").Cert},
		NameIDFormats:        []string{metadata.NameIDFormatTransient},
		AuthnRequestsSigned:  true,
		WantAssertionsSigned: true,
		SignatureStatus:      "verified",
	}
}

// ---- the environment ----

type envOptions struct {
	clock  *clock // shared with another party (the mock IAM); a new one at now when nil
	now    time.Time
	ssoURL string // Intake.SSOURL; ssoURL when empty
	dbPath string // a bolt store file (restart tests); empty: the memory backend
	// backend picks the store: "memory" (the default; no files), "bolt"
	// (a file in the test's temp dir, or dbPath).
	backend string
	tweak   func(*Config)
	noTLS   bool // no httptest server (benchmarks, fuzzing)
}

// env is a whole bridge on a binding store (memory unless a test asks for
// bolt), with a browser (cookie jar) and a platform that mints tokens.
type env struct {
	t       testing.TB
	clock   *clock
	db      binding.Store
	sp      *metadata.SP
	spKey   metadata.SigningKey
	idpKey  metadata.SigningKey
	srv     *Server
	cfg     Config
	handler http.Handler
	reg     *prometheus.Registry
	minter  *handoff.Minter

	mu     sync.Mutex
	events []AuditEvent
	audit  *syncBuffer // the JSON Lines audit log
	logs   *syncBuffer // slog output

	ts      *httptest.Server
	browser *http.Client
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newEnv(tb testing.TB, opts envOptions) *env {
	tb.Helper()
	if opts.now.IsZero() {
		opts.now = testNow
	}
	if opts.ssoURL == "" {
		opts.ssoURL = ssoURL
	}
	if opts.dbPath != "" {
		opts.backend = "bolt"
	}
	if opts.backend == "bolt" && opts.dbPath == "" {
		opts.dbPath = filepath.Join(tb.TempDir(), "partneridp.db")
	}
	if opts.clock == nil {
		opts.clock = &clock{now: opts.now}
	}
	e := &env{t: tb, clock: opts.clock, spKey: loadKey(tb, "sp-test"), idpKey: loadKey(tb, "idp-current"),
		audit: &syncBuffer{}, logs: &syncBuffer{}, reg: prometheus.NewRegistry()}
	e.sp = huaweiSP(tb)
	var db binding.Store = memory.New(e.clock.Now)
	if opts.backend == "bolt" {
		bdb, err := bolt.Open(opts.dbPath, bolt.Options{Clock: e.clock.Now, NoSync: true, Timeout: time.Second})
		if err != nil {
			tb.Fatal(err)
		}
		db = bdb
	}
	e.db = db
	tb.Cleanup(func() { e.db.Close() })

	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := loadPlatform(tb)
	sps := func(entityID string) (*metadata.SP, bool) {
		if entityID == e.sp.EntityID {
			return e.sp, true
		}
		return nil, false
	}
	e.cfg = Config{
		PublicURL:   publicURL,
		IdPEntityID: idpEntityID,
		MetadataXML: idpMetadata(tb),
		SPs:         sps,
		DefaultSP:   func() *metadata.SP { return e.sp },
		Intake:      &samlreq.Intake{SSOURL: opts.ssoURL, SLOURL: sloURL, SPs: sps, Clock: e.clock.Now},
		Builder: &samlresp.Builder{IssuerEntityID: idpEntityID, Key: e.idpKey, Clock: e.clock.Now,
			Rand: &lockedRand{r: mathrand.NewChaCha8([32]byte{'b', 'u', 'i', 'l', 'd'})}},
		Verifier: &handoff.Verifier{Platforms: []handoff.Platform{{Name: "platform", Issuer: platformIss, Audience: platformAud, Keys: p.verify}},
			Clock: e.clock.Now},
		Sessions:         &handoff.Sessions{Secret: []byte("0123456789abcdef0123456789abcdef-session"), Secure: true, Clock: e.clock.Now},
		LoginLink:        handoff.LoginLink{LoginURL: huaweiLogin, XAccountType: xAccountType},
		Services:         handoff.ServicePolicy{AllowedHosts: []string{"console.huaweicloud.com"}, Default: "https://console.huaweicloud.com/"},
		XAccountType:     xAccountType,
		PlatformLoginURL: platformLogin,
		LandingURL:       landingURL,
		Bindings:         db,
		Audit: MultiAuditor{AuditFunc(func(ev AuditEvent) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.events = append(e.events, ev)
		}), NewAuditLog(e.audit, logger)},
		Logger:  logger,
		Clock:   e.clock.Now,
		Rand:    mathrand.NewChaCha8([32]byte{'f', 'l', 'o', 'w'}),
		Metrics: NewMetrics(e.reg),
	}
	if opts.tweak != nil {
		opts.tweak(&e.cfg)
	}
	e.cfg.Audit = MultiAuditor{e.cfg.Audit, registeredReasonsOnly(tb)}
	srv, err := New(e.cfg)
	if err != nil {
		tb.Fatal(err)
	}
	e.srv = srv
	e.handler = srv.Handler()
	e.minter = &handoff.Minter{Issuer: platformIss, Audience: platformAud, Alg: handoff.AlgEdDSA, Key: p.signing,
		Clock: e.clock.Now, Rand: mathrand.NewChaCha8([32]byte{'j', 't', 'i'})}
	if !opts.noTLS {
		e.startBrowser()
	}
	return e
}

// lockedRand makes a seeded reader safe for concurrent use.
type lockedRand struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedRand) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

func idpMetadata(tb testing.TB) []byte {
	tb.Helper()
	doc, err := metadata.BuildIDPMetadata(metadata.IDPConfig{EntityID: idpEntityID, SSORedirectURL: ssoURL, SSOPostURL: ssoURL, SLOURL: sloURL},
		[]*x509.Certificate{loadKey(tb, "idp-current").Cert}, testNow)
	if err != nil {
		tb.Fatal(err)
	}
	return doc
}

// startBrowser serves the handler over TLS and makes a browser (cookie jar,
// no redirect following) that reaches it as https://idp.partner.example
// (and any other address, such as the mock Huawei IAM, as itself).
func (e *env) startBrowser() {
	e.ts = httptest.NewTLSServer(e.handler)
	e.t.Cleanup(e.ts.Close)
	tr := e.ts.Client().Transport.(*http.Transport).Clone()
	addr := e.ts.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, target string) (net.Conn, error) {
		if host, _, _ := net.SplitHostPort(target); host == "idp.partner.example" {
			target = addr
		}
		return (&net.Dialer{}).DialContext(ctx, network, target)
	}
	tr.TLSClientConfig = tr.TLSClientConfig.Clone()
	tr.TLSClientConfig.ServerName = "example.com" // the name in httptest's certificate
	tr.TLSClientConfig.MinVersion = tls.VersionTLS12
	jar, _ := cookiejar.New(nil)
	e.browser = &http.Client{Transport: tr, Jar: jar, CheckRedirect: followSeeOther}
}

// followSeeOther follows only 303 See Other, which the bridge never sends:
// the mock Huawei IAM answers its forms with it (post-redirect-get). Every
// redirect of the bridge stays visible to the tests.
func followSeeOther(req *http.Request, _ []*http.Request) error {
	if req.Response != nil && req.Response.StatusCode == http.StatusSeeOther {
		return nil
	}
	return http.ErrUseLastResponse
}

// page is one response as the browser saw it.
type page struct {
	Status   int
	Header   http.Header
	Body     string
	Location string
}

func (e *env) do(req *http.Request) page {
	e.t.Helper()
	resp, err := e.browser.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(body), Location: resp.Header.Get("Location")}
}

func (e *env) get(rawURL string) page {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(req)
}

func (e *env) post(rawURL string, form url.Values) page {
	e.t.Helper()
	return e.postBody(rawURL, form.Encode())
}

func (e *env) postBody(rawURL, body string) page {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(req)
}

// token mints a handoff token for sub as the platform does.
func (e *env) token(sub string, extra map[string]any) string {
	e.t.Helper()
	tok, err := e.minter.Mint(sub, extra)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func customerClaims() map[string]any {
	return map[string]any{"name": "Zhang San", "mobile": "86-13800000000", "email": "zhang.san@example.com", "bp_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}
}

// handoffURL is the link the platform puts on its page.
func handoffURL(token, service string) string {
	v := url.Values{handoff.FieldToken: {token}}
	if service != "" {
		v.Set(handoff.FieldService, service)
	}
	return publicURL + PathHandoff + "?" + v.Encode()
}

// login runs the platform handoff for sub so the browser has a session.
func (e *env) login(sub string) page {
	e.t.Helper()
	p := e.get(handoffURL(e.token(sub, customerClaims()), consoleURL))
	if p.Status != http.StatusFound {
		e.t.Fatalf("handoff: status %d: %s", p.Status, p.Body)
	}
	return p
}

// takeEvents returns the audit events recorded since the last call.
func (e *env) takeEvents() []AuditEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.events
	e.events = nil
	return out
}

// oneEvent insists exactly one audit event was recorded and returns it.
func (e *env) oneEvent() AuditEvent {
	e.t.Helper()
	evs := e.takeEvents()
	if len(evs) != 1 {
		e.t.Fatalf("want exactly one audit event, got %d: %+v", len(evs), evs)
	}
	return evs[0]
}

// checkEvent compares the fields of an audit event that want sets (Time
// and ClientIP are checked for presence only; AssertionID "?" means any
// non-empty value).
func checkEvent(tb testing.TB, got, want AuditEvent) {
	tb.Helper()
	if got.Time.IsZero() || got.ClientIP == "" {
		tb.Errorf("audit event without time or client IP: %+v", got)
	}
	if want.AssertionID == "?" {
		if got.AssertionID == "" {
			tb.Errorf("audit event has no assertion ID: %+v", got)
		}
		want.AssertionID = got.AssertionID
	}
	got.Time, got.ClientIP = time.Time{}, ""
	if got != want {
		tb.Errorf("audit event\n got %+v\nwant %+v", got, want)
	}
}

// ---- AuthnRequests as the SP sends them ----

// authnRequest is an AuthnRequest shaped like Huawei's real one (OpenSAML
// prefixes, attribute order, NameIDPolicy transient with SPNameQualifier).
type authnRequest struct {
	ID              string
	IssueInstant    time.Time
	Destination     string
	ACS             string
	Issuer          string
	NameIDFormat    string
	ProtocolBinding string
	IsPassive       bool
	ForceAuthn      bool
	RelayState      string // the value; URL-encoded into the query
	NoRelayState    bool
	SigAlg          string
	Key             *rsa.PrivateKey
	Unsigned        bool
}

// newRequest is a valid request from the test SP, issued at now.
func (e *env) newRequest(id string) authnRequest {
	return authnRequest{
		ID:           id,
		IssueInstant: e.clock.Now(),
		Destination:  ssoURL,
		ACS:          acsURL,
		Issuer:       spEntityID,
		NameIDFormat: metadata.NameIDFormatTransient,
		RelayState:   consoleURL,
		Key:          e.spKey.Key,
	}
}

func (a authnRequest) XML() string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><saml2p:AuthnRequest xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol"`)
	if a.ACS != "" {
		fmt.Fprintf(&b, ` AssertionConsumerServiceURL="%s"`, html.EscapeString(a.ACS))
	}
	if a.Destination != "" {
		fmt.Fprintf(&b, ` Destination="%s"`, html.EscapeString(a.Destination))
	}
	protocolBinding := a.ProtocolBinding
	if protocolBinding == "" {
		protocolBinding = metadata.SAMLBindingHTTPPost
	}
	fmt.Fprintf(&b, ` ForceAuthn="%t" ID="%s" IsPassive="%t" IssueInstant="%s" ProtocolBinding="%s" Version="2.0">`,
		a.ForceAuthn, html.EscapeString(a.ID), a.IsPassive, a.IssueInstant.UTC().Format("2006-01-02T15:04:05.000Z"), protocolBinding)
	if a.Issuer != "" {
		fmt.Fprintf(&b, `<saml2:Issuer xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion">%s</saml2:Issuer>`, html.EscapeString(a.Issuer))
	}
	if a.NameIDFormat != "" {
		fmt.Fprintf(&b, `<saml2p:NameIDPolicy AllowCreate="true" Format="%s" SPNameQualifier="%s"/>`, a.NameIDFormat, spEntityID)
	}
	b.WriteString(`</saml2p:AuthnRequest>`)
	return b.String()
}

// deflateValue is a message for the redirect binding: raw DEFLATE, base64,
// URL-encoded.
func deflateValue(tb testing.TB, doc string) string {
	tb.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	if _, err := w.Write([]byte(doc)); err != nil {
		tb.Fatal(err)
	}
	w.Close()
	return url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
}

// Query is the signed HTTP-Redirect query: the signature covers
// SAMLRequest=..&RelayState=..&SigAlg=.. exactly as sent.
func (a authnRequest) Query(tb testing.TB) string {
	tb.Helper()
	return signRedirect(tb, "SAMLRequest", deflateValue(tb, a.XML()), a.RelayState, a.NoRelayState, a.SigAlg, a.Key, a.Unsigned)
}

// signRedirect builds a redirect-binding query from a raw (encoded) message
// value, signing it like the SP does.
func signRedirect(tb testing.TB, param, rawMessage, relayState string, noRelay bool, sigAlg string, key *rsa.PrivateKey, unsigned bool) string {
	tb.Helper()
	if sigAlg == "" {
		sigAlg = metadata.SigAlgRSASHA256
	}
	octets := param + "=" + rawMessage
	if !noRelay {
		octets += "&RelayState=" + url.QueryEscape(relayState)
	}
	if unsigned {
		return octets
	}
	octets += "&SigAlg=" + url.QueryEscape(sigAlg)
	sig, err := metadata.SignDetached(key, sigAlg, []byte(octets))
	if err != nil {
		tb.Fatal(err)
	}
	return octets + "&Signature=" + url.QueryEscape(sig)
}

// ---- reading what the bridge answered ----

// postForm is the auto-submitting form the bridge serves.
type postForm struct {
	Action       string
	SAMLResponse []byte // decoded XML
	RawResponse  string // the base64 field as sent
	RelayState   string
	HasRelay     bool
}

func readSAMLForm(tb testing.TB, p page) postForm {
	tb.Helper()
	if p.Status != http.StatusOK {
		tb.Fatalf("want the POST form (200), got %d: %s", p.Status, p.Body)
	}
	base, _ := url.Parse(publicURL)
	jf, ok := journey.FindForm(&journey.Page{URL: base, Body: p.Body}, "saml-post")
	if !ok || jf.Values.Get("SAMLResponse") == "" {
		tb.Fatalf("no SAML POST form in the page:\n%s", p.Body)
	}
	f := postForm{Action: jf.Action, RawResponse: jf.Values.Get("SAMLResponse")}
	xml, err := base64.StdEncoding.DecodeString(f.RawResponse)
	if err != nil {
		tb.Fatalf("SAMLResponse is not base64: %v", err)
	}
	f.SAMLResponse = xml
	if rs, ok := jf.Values["RelayState"]; ok {
		f.RelayState, f.HasRelay = rs[0], true
	}
	return f
}

// samlDoc is a parsed Response with shortcuts to what the tests check.
type samlDoc struct {
	root *etree.Element
}

func parseResponse(tb testing.TB, xml []byte) samlDoc {
	tb.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(xml); err != nil {
		tb.Fatalf("the Response does not parse: %v", err)
	}
	if doc.Root() == nil || doc.Root().Tag != "Response" {
		tb.Fatalf("the root is not a Response")
	}
	return samlDoc{root: doc.Root()}
}

func (d samlDoc) attr(path, name string) string {
	el := d.root.FindElement(path)
	if el == nil {
		return ""
	}
	return el.SelectAttrValue(name, "")
}

func (d samlDoc) text(path string) string {
	el := d.root.FindElement(path)
	if el == nil {
		return ""
	}
	return el.Text()
}

// statusCodes are the top-level and second-level status codes.
func (d samlDoc) statusCodes() (string, string) {
	return d.attr("./Status/StatusCode", "Value"), d.attr("./Status/StatusCode/StatusCode", "Value")
}

// attributes maps each Attribute Name to its value.
func (d samlDoc) attributes() map[string]string {
	out := map[string]string{}
	for _, a := range d.root.FindElements("./Assertion/AttributeStatement/Attribute") {
		v := a.FindElement("./AttributeValue")
		if v != nil {
			out[a.SelectAttrValue("Name", "")] = v.Text()
		}
	}
	return out
}

// noResponse insists a page carries no SAML response of any kind.
func noResponse(tb testing.TB, p page) {
	tb.Helper()
	if strings.Contains(p.Body, "SAMLResponse") || strings.Contains(p.Location, "SAMLResponse") {
		tb.Errorf("the answer carries a SAMLResponse:\n%s", p.Body)
	}
}

// pageReason is the machine reason shown on an error page.
func pageReason(p page) string {
	return journey.Field(p.Body, "reason")
}

func newJar() (http.CookieJar, error) { return cookiejar.New(nil) }

// counterValue reads one counter (or gauge) sample from reg; 0 when absent.
func counterValue(tb testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	tb.Helper()
	families, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}
