package main

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/internal/journey"
	"github.com/partneridp/partneridp/metadata"
)

// reloadSigning is serveConfig's signing section with the rollover files.
const reloadSigning = `{key_file: idp-current.key, cert_file: idp-current.crt, next_key_file: next.key, next_cert_file: next.crt, previous_cert_file: previous.crt}`

// reloadDeployment is serveConfig's deployment (development, loopback, the
// test SP from a file, an HS256 platform) ready for `keys rotate`.
func reloadDeployment(t *testing.T) (cfg *Config, dir, cfgPath string) {
	t.Helper()
	_, dir = serveConfig(t, "store: {path: bridge.db}\n")
	cfgPath = filepath.Join(dir, "partneridp.yaml")
	doc, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	doc = bytes.Replace(doc, []byte("{key_file: idp-current.key, cert_file: idp-current.crt}"), []byte(reloadSigning), 1)
	if err := os.WriteFile(cfgPath, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	if cfg, err = LoadConfig(cfgPath, nil); err != nil {
		t.Fatal(err)
	}
	return cfg, dir, cfgPath
}

// rotateKeys stages and promotes a new signing key as `keys rotate` does
// and returns the new certificate.
func rotateKeys(t *testing.T, cfgPath, dir string) *x509.Certificate {
	t.Helper()
	for _, step := range []string{"stage", "promote"} {
		if out, _, err := run(t, "keys", "rotate", step, "--config", cfgPath); err != nil {
			t.Fatalf("keys rotate %s: %v\n%s", step, err, out)
		}
	}
	return readCert(t, filepath.Join(dir, "idp-current.crt"))
}

// ---- an SP and a platform talking to a running bridge over HTTP ----

// ssoClient is the test SP (sp-test.key signs its AuthnRequests), the HS256
// platform, and a browser with a cookie jar.
type ssoClient struct {
	base    string // http://host:port of the bridge
	browser *http.Client
	spKey   *rsa.PrivateKey
	minter  *handoff.Minter
}

func newSSOClient(t *testing.T, base string) *ssoClient {
	t.Helper()
	dir := t.TempDir()
	sp, err := metadata.LoadSigningKey(copyFixture(t, dir, "keys/sp-test.key", 0o600), copyFixture(t, dir, "keys/sp-test.crt", 0o644), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	secret, err := os.ReadFile("../../testdata/handoff/platform-hs256.secret")
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	return &ssoClient{
		base:    base,
		browser: &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		spKey:   sp.Key,
		minter:  &handoff.Minter{Issuer: "https://p.example", Audience: "http://127.0.0.1:1", Alg: handoff.AlgHS256, Key: bytes.TrimSpace(secret)},
	}
}

// login runs the platform's handoff, so the browser has a bridge session;
// it returns the status (302 when the token was accepted).
func (c *ssoClient) login(t *testing.T) int {
	t.Helper()
	tok, err := c.minter.Mint("cust-reload", nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, c.base+"/sso/huawei?"+url.Values{"token": {tok}}.Encode(), nil)
	req.Header.Set("Referer", "http://127.0.0.1:3/login")
	resp, err := c.browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// response sends a signed AuthnRequest (HTTP-Redirect) and returns the
// Response XML from the POST form.
func (c *ssoClient) response(t *testing.T, id string) []byte {
	t.Helper()
	doc := fmt.Sprintf(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" AssertionConsumerServiceURL="https://sp.test.example/authui/saml/SAMLAssertionConsumer" Destination="http://127.0.0.1:1/saml/sso" ID="%s" IssueInstant="%s" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Version="2.0"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">https://sp.test.example/</saml:Issuer></samlp:AuthnRequest>`,
		id, time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
	var deflated bytes.Buffer
	w, _ := flate.NewWriter(&deflated, flate.BestCompression)
	w.Write([]byte(doc))
	w.Close()
	octets := "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(deflated.Bytes())) +
		"&RelayState=" + url.QueryEscape("http://127.0.0.1:2/console") + "&SigAlg=" + url.QueryEscape(metadata.SigAlgRSASHA256)
	sig, err := metadata.SignDetached(c.spKey, metadata.SigAlgRSASHA256, []byte(octets))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.browser.Get(c.base + "/saml/sso?" + octets + "&Signature=" + url.QueryEscape(sig))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	f, ok := journey.FindForm(&journey.Page{URL: resp.Request.URL, Body: string(body)}, "saml-post")
	if resp.StatusCode != http.StatusOK || !ok {
		t.Fatalf("SSO: %d, no SAMLResponse form:\n%.400s", resp.StatusCode, body)
	}
	xml, err := base64.StdEncoding.DecodeString(f.Values.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	return xml
}

// assertionSignedBy checks the Response's Assertion signature with cert
// only (goxmldsig, cert as the one trusted root).
func assertionSignedBy(t *testing.T, resp []byte, cert *x509.Certificate) error {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(resp); err != nil {
		t.Fatal(err)
	}
	a := doc.Root().FindElement("./Assertion")
	if a == nil {
		t.Fatalf("no Assertion in the Response:\n%s", resp)
	}
	_, err := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}}).Validate(a)
	return err
}

// publishes reports whether the metadata document lists cert.
func publishes(doc string, cert *x509.Certificate) bool {
	return strings.Contains(strings.Join(strings.Fields(doc), ""), base64.StdEncoding.EncodeToString(cert.Raw))
}

// ---- the reload function, in process ----

// TestReloadAllOrNothing calls what SIGHUP calls on a wired bridge, after
// `keys rotate`: the new key signs and the metadata lists it and the
// previous certificate; with any broken file (key, certificate, platform
// key, SP metadata) nothing changes, not even the parts that were fine, and
// the error names the setting.
func TestReloadAllOrNothing(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(t *testing.T, dir string) // after the rotation
		want   string                         // "" means the reload succeeds; else in the error
	}{
		{name: "rotated keys"},
		{name: "key file not a key", break_: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "idp-current.key"), []byte("-----BEGIN PRIVATE KEY-----\nTOPSECRETnotakey\n-----END PRIVATE KEY-----\n"), 0o600)
		}, want: "signing keys"},
		{name: "key file readable by others", break_: func(t *testing.T, dir string) {
			os.Chmod(filepath.Join(dir, "idp-current.key"), 0o644)
		}, want: "signing keys"},
		{name: "certificate of another key", break_: func(t *testing.T, dir string) {
			copyFixture(t, dir, "keys/sp-other.crt", 0o644)
			os.Rename(filepath.Join(dir, "sp-other.crt"), filepath.Join(dir, "idp-current.crt"))
		}, want: "signing keys"},
		{name: "platform secret too short", break_: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "platform-hs256.secret"), []byte("short"), 0o600)
		}, want: "platform keys"},
		{name: "SP metadata broken", break_: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "sp-metadata-test.xml"), []byte("<md:EntityDescriptor"), 0o644)
		}, want: "huawei.sp_metadata"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, dir, cfgPath := reloadDeployment(t)
			b, err := newBridge(context.Background(), cfg, bridgeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			oldCert := b.signer.Current().Certificate()
			metadataNow := func() string {
				rec := httptest.NewRecorder()
				b.server.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/saml/metadata", nil))
				return rec.Body.String()
			}
			oldDoc := metadataNow()

			newCert := rotateKeys(t, cfgPath, dir)
			if tc.break_ != nil {
				tc.break_(t, dir)
			}
			summary, err := b.reload(context.Background())
			if tc.want == "" {
				if err != nil {
					t.Fatalf("reload: %v", err)
				}
				if !b.signer.Current().Certificate().Equal(newCert) {
					t.Fatal("the new key does not sign after the reload")
				}
				doc := metadataNow()
				if !publishes(doc, newCert) || !publishes(doc, oldCert) {
					t.Fatalf("the metadata after the reload lists new %t, previous %t; want both", publishes(doc, newCert), publishes(doc, oldCert))
				}
				if !strings.Contains(summary, metadata.FingerprintSHA256(newCert)) {
					t.Errorf("reload summary %q lacks the new certificate's fingerprint", summary)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("reload: %v; want an error naming %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "TOPSECRET") {
				t.Fatalf("the error shows key material: %v", err)
			}
			if !b.signer.Current().Certificate().Equal(oldCert) || metadataNow() != oldDoc {
				t.Fatal("a refused reload changed the signer or the metadata")
			}
		})
	}
}

// ---- SIGHUP to a real serve process ----

// TestServeSignsWithRotatedKeyAfterSIGHUP runs the binary: serve, log in,
// rotate the keys with `keys rotate stage` and `promote`, SIGHUP; the next
// Response is signed by the new key (and no longer verifies with the old
// certificate) and /saml/metadata lists both. Then a broken key file and
// SIGHUP: the log says why, and the new key keeps signing.
func TestServeSignsWithRotatedKeyAfterSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := haServerBinary(t)
	_, dir, cfgPath := reloadDeployment(t)
	oldCert := readCert(t, filepath.Join(dir, "idp-current.crt"))

	serve := startServeProcess(t, bin, cfgPath, dir)
	logs, waitLogRE := serve.logs, func(re *regexp.Regexp, n int) string { t.Helper(); return serve.waitLog(t, re, n) }
	base := "http://" + serve.addr
	c := newSSOClient(t, base)
	if st := c.login(t); st != http.StatusFound {
		t.Fatalf("handoff: %d\n%s", st, logs.String())
	}
	if err := assertionSignedBy(t, c.response(t, "_reload-1-0123456789abcdef"), oldCert); err != nil {
		t.Fatalf("before the rotation: not signed by the current key: %v", err)
	}

	// keys rotate, then reload.
	newCert := rotateKeys(t, cfgPath, dir)
	if err := serve.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLogRE(regexp.MustCompile(`"msg":"(reloaded)"`), 1)
	resp := c.response(t, "_reload-2-0123456789abcdef")
	if err := assertionSignedBy(t, resp, newCert); err != nil {
		t.Fatalf("after the reload: not signed by the new key: %v\n%s", err, logs.String())
	}
	if err := assertionSignedBy(t, resp, oldCert); err == nil {
		t.Fatal("after the reload: the Response still verifies with the old certificate")
	}
	if st, doc := httpGet(t, base+"/saml/metadata"); st != http.StatusOK || !publishes(doc, newCert) || !publishes(doc, oldCert) {
		t.Fatalf("metadata after the reload: %d, lists new %t, previous %t", st, publishes(doc, newCert), publishes(doc, oldCert))
	}

	// A broken key file: the reload is refused, the new key keeps signing.
	if err := os.WriteFile(filepath.Join(dir, "idp-current.key"), []byte("-----BEGIN PRIVATE KEY-----\nTOPSECRETnotakey\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := serve.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	reason := waitLogRE(regexp.MustCompile(`"msg":"reload refused[^"]*","error":"([^"]*)"`), 1)
	if !strings.Contains(reason, "signing keys") || strings.Contains(logs.String(), "TOPSECRET") {
		t.Fatalf("refusal reason %q (it must name the signing keys and show no key material)", reason)
	}
	if err := assertionSignedBy(t, c.response(t, "_reload-3-0123456789abcdef"), newCert); err != nil {
		t.Fatalf("after a refused reload: not signed by the key in service: %v", err)
	}
	if st, _ := httpGet(t, base+"/readyz"); st != http.StatusOK {
		t.Fatalf("readyz %d after a refused reload", st)
	}
}

// A reload puts a rotated platform secret in service: tokens signed with it
// are accepted, tokens signed with the old one no longer.
func TestReloadPlatformKeys(t *testing.T) {
	cfg, dir, _ := reloadDeployment(t)
	b, err := newBridge(context.Background(), cfg, bridgeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ts := httptest.NewServer(b.server.Handler())
	defer ts.Close()
	old := newSSOClient(t, ts.URL)
	if st := old.login(t); st != http.StatusFound {
		t.Fatalf("handoff with the configured secret: %d", st)
	}
	rotated := []byte("a-new-platform-secret-of-32-bytes-or-more")
	if err := os.WriteFile(filepath.Join(dir, "platform-hs256.secret"), rotated, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := b.reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := newSSOClient(t, ts.URL).login(t); st == http.StatusFound {
		t.Fatal("a token signed with the replaced secret was accepted after the reload")
	}
	next := newSSOClient(t, ts.URL)
	next.minter.Key = rotated
	if st := next.login(t); st != http.StatusFound {
		t.Fatalf("handoff with the rotated secret after the reload: %d", st)
	}
}
