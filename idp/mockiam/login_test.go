package mockiam

import (
	"bytes"
	"compress/flate"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/partneridp/partneridp/metadata"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/mockiam")

const (
	goldenDir          = "../../testdata/mockiam"
	huaweiIdPMetadata  = "../../testdata/huawei/idp-metadata-doc-example.xml"
	huaweiAuthnRequest = "../../testdata/huawei/authnrequest-sample.urlenc"
)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test -update if the change is intended)\n got: %s\nwant: %s", name, got, want)
	}
}

func inflate(t testing.TB, b64 string) []byte {
	t.Helper()
	deflated, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(flate.NewReader(bytes.NewReader(deflated)))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoginSendsSignedAuthnRequest(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	resp, body := h.get(h.iam.LoginURL(xat, true, service))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d\n%s", resp.StatusCode, body)
	}
	location := resp.Header.Get("Location")
	if !strings.HasPrefix(location, h.idp.ssoURL+"?SAMLRequest=") {
		t.Fatalf("redirect %q does not go to the IdP's first SingleSignOnService", location)
	}
	u, _ := url.Parse(location)
	raw := u.RawQuery
	q := u.Query()

	// The signature covers "SAMLRequest=..&RelayState=..&SigAlg=.." exactly
	// as sent (SAML bindings 3.4.4.1).
	signed := raw[:strings.Index(raw, "&Signature=")]
	if !regexp.MustCompile(`^SAMLRequest=[^&]+&RelayState=[^&]+&SigAlg=[^&]+$`).MatchString(signed) {
		t.Fatalf("query %q is not SAMLRequest, RelayState, SigAlg, Signature in order", raw)
	}
	if q.Get("SigAlg") != metadata.SigAlgRSASHA256 {
		t.Errorf("SigAlg = %q", q.Get("SigAlg"))
	}
	policy := metadata.SigAlgPolicy{}
	mockCert := []*x509.Certificate{h.spKey.Cert}
	if _, err := policy.VerifyDetached(q.Get("SigAlg"), []byte(signed), q.Get("Signature"), mockCert); err != nil {
		t.Fatalf("query signature does not verify with the mock's certificate: %v", err)
	}
	other := []*x509.Certificate{loadCert(t, "sp-other")}
	if _, err := policy.VerifyDetached(q.Get("SigAlg"), []byte(signed), q.Get("Signature"), other); !errors.Is(err, metadata.ErrSignatureInvalid) {
		t.Errorf("signature verified with an unrelated certificate: %v", err)
	}
	reencoded := "SAMLRequest=" + url.QueryEscape(q.Get("SAMLRequest")) + "&RelayState=" + url.QueryEscape(q.Get("RelayState")+"x") + "&SigAlg=" + url.QueryEscape(q.Get("SigAlg"))
	if _, err := policy.VerifyDetached(q.Get("SigAlg"), []byte(reencoded), q.Get("Signature"), mockCert); err == nil {
		t.Error("signature still verifies after RelayState changed")
	}

	xml := inflate(t, q.Get("SAMLRequest"))
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(xml); err != nil {
		t.Fatal(err)
	}
	root := doc.Root()
	id := root.SelectAttrValue("ID", "")
	if !regexp.MustCompile(`^_[a-z0-9]{36}$`).MatchString(id) {
		t.Errorf("ID %q is not _ + 36 characters like Huawei's", id)
	}
	checks := map[string]string{
		"prefix":                      root.Space,
		"AssertionConsumerServiceURL": root.SelectAttrValue("AssertionConsumerServiceURL", ""),
		"Destination":                 root.SelectAttrValue("Destination", ""),
		"ForceAuthn":                  root.SelectAttrValue("ForceAuthn", ""),
		"IsPassive":                   root.SelectAttrValue("IsPassive", ""),
		"IssueInstant":                root.SelectAttrValue("IssueInstant", ""),
		"ProtocolBinding":             root.SelectAttrValue("ProtocolBinding", ""),
		"Issuer":                      root.SelectElement("Issuer").Text(),
		"AllowCreate":                 root.SelectElement("NameIDPolicy").SelectAttrValue("AllowCreate", ""),
		"Format":                      root.SelectElement("NameIDPolicy").SelectAttrValue("Format", ""),
		"SPNameQualifier":             root.SelectElement("NameIDPolicy").SelectAttrValue("SPNameQualifier", ""),
	}
	want := map[string]string{
		"prefix":                      "saml2p",
		"AssertionConsumerServiceURL": h.srv.URL + "/authui/saml/SAMLAssertionConsumer",
		"Destination":                 h.idp.ssoURL,
		"ForceAuthn":                  "false",
		"IsPassive":                   "false",
		"IssueInstant":                "2027-03-01T09:00:00.000Z",
		"ProtocolBinding":             metadata.SAMLBindingHTTPPost,
		"Issuer":                      h.srv.URL + "/",
		"AllowCreate":                 "true",
		"Format":                      metadata.NameIDFormatTransient,
		"SPNameQualifier":             h.srv.URL + "/",
	}
	for k, w := range want {
		if checks[k] != w {
			t.Errorf("AuthnRequest %s = %q, want %q", k, checks[k], w)
		}
	}
	if ev, _ := h.iam.LastEvent(EventLogin); !ev.Accepted || ev.RequestID != id || ev.XAccountType != xat {
		t.Errorf("login event = %+v", ev)
	}
	// RelayState is an opaque token, not the service URL.
	if rs := q.Get("RelayState"); strings.Contains(rs, "example") || len(rs) != 32 {
		t.Errorf("RelayState %q is not an opaque token", rs)
	}
}

// TestAuthnRequestGolden pins the exact request for Huawei's own example
// IdP metadata, and checks it has the shape of Huawei's real 2018 request.
func TestAuthnRequestGolden(t *testing.T) {
	clock := newTestClock()
	m, err := New(Config{
		BaseURL: "https://iam.mock.test", Key: loadKey(t, "sp-test"), Clock: clock.Now, Rand: seededRand(7),
		IdPs: map[string]IdPRegistration{"test_IDP": {MetadataFile: huaweiIdPMetadata}},
	})
	if err != nil {
		t.Fatal(err)
	}
	location, _, err := m.startLogin(t.Context(), LoginLink{XAccountType: "test_IDP"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(location, "https://www.test.com/saml/login?SAMLRequest=") {
		t.Fatalf("location %q", location)
	}
	u, _ := url.Parse(location)
	ours := inflate(t, u.Query().Get("SAMLRequest"))
	golden(t, "authnrequest.golden.xml", ours)

	sample, err := os.ReadFile(huaweiAuthnRequest)
	if err != nil {
		t.Fatal(err)
	}
	unescaped, err := url.QueryUnescape(strings.TrimSpace(string(sample)))
	if err != nil {
		t.Fatal(err)
	}
	huawei := inflate(t, unescaped)
	if got, want := shape(t, ours), shape(t, huawei); got != want {
		t.Errorf("AuthnRequest shape differs from Huawei's\n ours:   %s\n huawei: %s", got, want)
	}
}

// shape lists every element with its prefix and attribute names in order.
func shape(t *testing.T, xml []byte) string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(xml); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	var walk func(el *etree.Element)
	walk = func(el *etree.Element) {
		b.WriteString("<" + el.FullTag())
		for _, a := range el.Attr {
			if a.Space != "xmlns" {
				b.WriteString(" " + a.FullKey())
			}
		}
		b.WriteString(">")
		for _, c := range el.ChildElements() {
			walk(c)
		}
	}
	walk(doc.Root())
	return b.String()
}

func TestLoginLinkRefusals(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	cases := []struct {
		query      string
		wantReason Reason
		wantStatus int
		wantDetail string
	}{
		{"xAccountType=nobody_IDP&isFirstLogin=false", ReasonUnknownXAccountType, 400, "nobody_IDP"},
		{"isFirstLogin=false", ReasonBadLoginLink, 400, "no xAccountType"},
		{"xAccountType=" + xat + "&isFirstLogin=maybe", ReasonBadLoginLink, 400, "isFirstLogin"},
		{"xAccountType=" + xat + "&xAccountType=other_IDP", ReasonBadLoginLink, 400, "repeats"},
		{"xAccountType=" + xat + "&service=javascript%3Aalert(1)", ReasonBadLoginLink, 400, "service"},
		{"xAccountType=" + xat + "&service=%2Fconsole", ReasonBadLoginLink, 400, "service"},
		{"xAccountType=bad%20type", ReasonBadLoginLink, 400, "xAccountType"},
		{"xAccountType=" + xat + "&service=%zz", ReasonBadLoginLink, 400, "URL encoding"},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			resp, body := h.get(PathLogin + "?" + tc.query)
			if resp.StatusCode != tc.wantStatus || reason(body) != string(tc.wantReason) || verdict(body) != "refused" {
				t.Fatalf("status %d reason %q; want %d %q\n%s", resp.StatusCode, reason(body), tc.wantStatus, tc.wantReason, body)
			}
			if !strings.Contains(detail(body), tc.wantDetail) {
				t.Errorf("detail %q does not mention %q", detail(body), tc.wantDetail)
			}
			if !strings.Contains(body, "Mock Huawei Cloud IAM — not Huawei") {
				t.Error("error page lacks the banner")
			}
			if ev, _ := h.iam.LastEvent(EventLogin); ev.Accepted || ev.Reason != tc.wantReason {
				t.Errorf("event = %+v", ev)
			}
		})
	}
}

func TestRegisterAtRuntime(t *testing.T) {
	clock := newTestClock()
	spKey := loadKey(t, "sp-test")
	idp := newTestIdP(t, loadKey(t, "idp-current"), spKey.Cert, clock)
	m, err := New(Config{BaseURL: "http://127.0.0.1:9443", Key: spKey, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.startLogin(t.Context(), LoginLink{XAccountType: xat}); asRefusal(err).Reason != ReasonUnknownXAccountType {
		t.Fatalf("before Register: %v", err)
	}
	if err := m.Register(xat, IdPRegistration{MetadataFile: idp.writeMetadata(t, true)}); err != nil {
		t.Fatal(err)
	}
	location, _, err := m.startLogin(t.Context(), LoginLink{XAccountType: xat})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idp.receive(location); err != nil {
		t.Fatal(err)
	}
}

func TestMetadataByURL(t *testing.T) {
	h := newHarness(t, harnessOpts{byURL: true})
	if _, err := h.iam.SeedAccount(xat, "partner-user-1", "acme_corp"); err != nil {
		t.Fatal(err)
	}
	req := h.login(false, "")
	if resp, body := h.answer(h.idp.goodSpec(req)); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %s", resp.StatusCode, detail(body))
	}

	// A URL that does not serve metadata gives a clear 502 at login.
	if err := h.iam.Register("broken_IDP", IdPRegistration{MetadataURL: h.idp.srv.URL + "/missing.xml"}); err != nil {
		t.Fatal(err)
	}
	resp, body := h.get(h.iam.LoginURL("broken_IDP", false, ""))
	if resp.StatusCode != http.StatusBadGateway || reason(body) != string(ReasonIdPMetadata) || !strings.Contains(detail(body), "HTTP 404") {
		t.Fatalf("status %d reason %q detail %q", resp.StatusCode, reason(body), detail(body))
	}
}
