package mockiam

// A small SAML IdP for the mock's own tests: it checks the mock's signed
// HTTP-Redirect AuthnRequest and answers with a Response built with etree
// and signed with goxmldsig, with knobs for every bad case. It is written
// here, independently of the bridge, so the mock is tested end to end
// without it.

import (
	"bytes"
	"compress/flate"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/partneridp/partneridp/internal/journey"
	"github.com/partneridp/partneridp/metadata"
)

const keysDir = "../../testdata/keys"

// loadKey reads a test key pair with crypto/x509 and encoding/pem only.
func loadKey(t testing.TB, name string) metadata.SigningKey {
	t.Helper()
	keyPEM, err := os.ReadFile(filepath.Join(keysDir, name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		t.Fatalf("%s.key: no PEM block", name)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("%s.key: %v", name, err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("%s.key: not an RSA key", name)
	}
	return metadata.SigningKey{Key: key, Cert: loadCert(t, name)}
}

func loadCert(t testing.TB, name string) *x509.Certificate {
	t.Helper()
	certPEM, err := os.ReadFile(filepath.Join(keysDir, name+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatalf("%s.crt: no PEM block", name)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s.crt: %v", name, err)
	}
	return cert
}

// testClock is a settable clock shared by the mock and the test IdP.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testIdP is the partner IdP stand-in.
type testIdP struct {
	t        testing.TB
	key      metadata.SigningKey
	spCert   *x509.Certificate // the mock's certificate, to check AuthnRequests
	clock    *testClock
	srv      *httptest.Server
	entityID string
	ssoURL   string
	sloURL   string
	counter  int
	// xUserID is what the HTTP /sso endpoint asserts.
	xUserID string
}

func newTestIdP(t testing.TB, key metadata.SigningKey, spCert *x509.Certificate, clock *testClock) *testIdP {
	idp := &testIdP{t: t, key: key, spCert: spCert, clock: clock, xUserID: "partner-user-1"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metadata.xml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		_, _ = w.Write(idp.metadataXML(true))
	})
	mux.HandleFunc("GET /sso", idp.serveSSO)
	mux.HandleFunc("GET /slo", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "partner IdP: logged out")
	})
	idp.srv = httptest.NewServer(mux)
	t.Cleanup(idp.srv.Close)
	idp.entityID = idp.srv.URL + "/idp"
	idp.ssoURL = idp.srv.URL + "/sso"
	idp.sloURL = idp.srv.URL + "/slo"
	return idp
}

// metadataXML is an IDP Metadata.xml shaped like Huawei's doc example.
func (idp *testIdP) metadataXML(withSLO bool) []byte {
	cert := base64.StdEncoding.EncodeToString(idp.key.Cert.Raw)
	slo := ""
	if withSLO {
		slo = fmt.Sprintf(`<md:SingleLogoutService Binding="%s" Location="%s"/>`, metadata.SAMLBindingHTTPRedirect, idp.sloURL)
	}
	return []byte(fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="%s">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    %s
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat>
    <md:SingleSignOnService Binding="%s" Location="%s"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
`, idp.entityID, cert, cert, slo, metadata.SAMLBindingHTTPRedirect, idp.ssoURL))
}

// writeMetadata saves the metadata as a Partner Center upload file.
func (idp *testIdP) writeMetadata(t testing.TB, withSLO bool) string {
	path := filepath.Join(t.TempDir(), "IDP Metadata.xml")
	if err := os.WriteFile(path, idp.metadataXML(withSLO), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// authnRequest is what the IdP read from the mock's redirect.
type authnRequest struct {
	ID, ACS, Destination, Issuer, IssueInstant string
	RelayState                                 string
	XML                                        []byte
	RawQuery                                   string
}

// rawParam returns a query parameter exactly as sent (still URL-encoded).
func rawParam(rawQuery, name string) (string, bool) {
	for _, kv := range strings.Split(rawQuery, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// receive checks the redirect the mock sent: the signature over the raw
// octets with metadata.SigAlgPolicy, then raw inflate and parse.
func (idp *testIdP) receive(location string) (*authnRequest, error) {
	u, err := url.Parse(location)
	if err != nil {
		return nil, err
	}
	raw := u.RawQuery
	var parts []string
	for _, name := range []string{"SAMLRequest", "RelayState", "SigAlg"} {
		v, ok := rawParam(raw, name)
		if !ok {
			return nil, fmt.Errorf("redirect has no %s", name)
		}
		parts = append(parts, name+"="+v)
	}
	signed := strings.Join(parts, "&")
	rawSig, ok := rawParam(raw, "Signature")
	if !ok {
		return nil, fmt.Errorf("redirect has no Signature")
	}
	q := u.Query()
	sig, _ := url.QueryUnescape(rawSig)
	if _, err := (metadata.SigAlgPolicy{}).VerifyDetached(q.Get("SigAlg"), []byte(signed), sig, []*x509.Certificate{idp.spCert}); err != nil {
		return nil, fmt.Errorf("AuthnRequest query signature: %w", err)
	}
	deflated, err := base64.StdEncoding.DecodeString(q.Get("SAMLRequest"))
	if err != nil {
		return nil, fmt.Errorf("SAMLRequest base64: %w", err)
	}
	xml, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(deflated)), 1<<20))
	if err != nil {
		return nil, fmt.Errorf("SAMLRequest inflate: %w", err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(xml); err != nil {
		return nil, err
	}
	root := doc.Root()
	req := &authnRequest{
		ID: root.SelectAttrValue("ID", ""), ACS: root.SelectAttrValue("AssertionConsumerServiceURL", ""),
		Destination: root.SelectAttrValue("Destination", ""), IssueInstant: root.SelectAttrValue("IssueInstant", ""),
		RelayState: q.Get("RelayState"), XML: xml, RawQuery: raw,
	}
	if iss := root.SelectElement("Issuer"); iss != nil {
		req.Issuer = iss.Text()
	}
	return req, nil
}

// responseSpec is every value of the Response the IdP builds; goodSpec
// fills it correctly and tests spoil one field.
type responseSpec struct {
	ResponseID, AssertionID string
	InResponseTo            string
	SubjectInResponseTo     string
	Destination, Recipient  string
	Audience                string
	Issuer, AssertionIssuer string
	Status                  string
	IssueInstant            time.Time
	ValidFor                time.Duration
	NameID                  string
	Attributes              [][2]string // name, value
	Unsigned                bool
	SignKey                 metadata.SigningKey
	KeyInfoCert             *x509.Certificate
	SCDNotBefore            bool
	AfterSign               func(resp, assertion *etree.Element)
	RelayState              string
	OmitRelayState          bool
	SignResponse            bool
	SignatureMethod         string // default rsa-sha256
}

func (idp *testIdP) goodSpec(req *authnRequest) *responseSpec {
	idp.counter++
	return &responseSpec{
		ResponseID:          fmt.Sprintf("_resp%032d", idp.counter),
		AssertionID:         fmt.Sprintf("_assert%032d", idp.counter),
		InResponseTo:        req.ID,
		SubjectInResponseTo: req.ID,
		Destination:         req.ACS,
		Recipient:           req.ACS,
		Audience:            req.Issuer,
		Issuer:              idp.entityID,
		AssertionIssuer:     idp.entityID,
		Status:              statusSuccess,
		IssueInstant:        idp.clock.Now(),
		ValidFor:            5 * time.Minute,
		NameID:              fmt.Sprintf("_transient%d", idp.counter),
		Attributes: [][2]string{
			{"xUserId", idp.xUserID}, {"xAccountId", idp.xUserID},
			{"name", "Zhang San"}, {"mobile", "86-13800000000"}, {"email", "user@example.com"},
		},
		SignKey:    idp.key,
		RelayState: req.RelayState,
	}
}

func (idp *testIdP) build(spec *responseSpec) []byte {
	t := idp.t
	t.Helper()
	inst := func(tm time.Time) string { return tm.UTC().Format("2006-01-02T15:04:05.000Z") }
	resp := etree.NewElement("saml2p:Response")
	resp.CreateAttr("xmlns:saml2p", nsProtocol)
	resp.CreateAttr("Destination", spec.Destination)
	resp.CreateAttr("ID", spec.ResponseID)
	if spec.InResponseTo != "" {
		resp.CreateAttr("InResponseTo", spec.InResponseTo)
	}
	resp.CreateAttr("IssueInstant", inst(spec.IssueInstant))
	resp.CreateAttr("Version", "2.0")
	iss := resp.CreateElement("saml2:Issuer")
	iss.CreateAttr("xmlns:saml2", nsAssertion)
	iss.SetText(spec.Issuer)
	resp.CreateElement("saml2p:Status").CreateElement("saml2p:StatusCode").CreateAttr("Value", spec.Status)

	a := etree.NewElement("saml2:Assertion")
	a.CreateAttr("xmlns:saml2", nsAssertion)
	a.CreateAttr("xmlns:xs", "http://www.w3.org/2001/XMLSchema")
	a.CreateAttr("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
	a.CreateAttr("ID", spec.AssertionID)
	a.CreateAttr("IssueInstant", inst(spec.IssueInstant))
	a.CreateAttr("Version", "2.0")
	a.CreateElement("saml2:Issuer").SetText(spec.AssertionIssuer)
	subj := a.CreateElement("saml2:Subject")
	nid := subj.CreateElement("saml2:NameID")
	nid.CreateAttr("Format", metadata.NameIDFormatTransient)
	nid.CreateAttr("SPNameQualifier", spec.Audience)
	nid.SetText(spec.NameID)
	sc := subj.CreateElement("saml2:SubjectConfirmation")
	sc.CreateAttr("Method", cmBearer)
	scd := sc.CreateElement("saml2:SubjectConfirmationData")
	scd.CreateAttr("InResponseTo", spec.SubjectInResponseTo)
	if spec.SCDNotBefore {
		scd.CreateAttr("NotBefore", inst(spec.IssueInstant))
	}
	scd.CreateAttr("NotOnOrAfter", inst(spec.IssueInstant.Add(spec.ValidFor)))
	scd.CreateAttr("Recipient", spec.Recipient)
	cond := a.CreateElement("saml2:Conditions")
	cond.CreateAttr("NotBefore", inst(spec.IssueInstant))
	cond.CreateAttr("NotOnOrAfter", inst(spec.IssueInstant.Add(spec.ValidFor)))
	cond.CreateElement("saml2:AudienceRestriction").CreateElement("saml2:Audience").SetText(spec.Audience)
	authn := a.CreateElement("saml2:AuthnStatement")
	authn.CreateAttr("AuthnInstant", inst(spec.IssueInstant))
	authn.CreateAttr("SessionIndex", spec.AssertionID)
	authn.CreateElement("saml2:AuthnContext").CreateElement("saml2:AuthnContextClassRef").
		SetText("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")
	st := a.CreateElement("saml2:AttributeStatement")
	for _, kv := range spec.Attributes {
		at := st.CreateElement("saml2:Attribute")
		at.CreateAttr("FriendlyName", kv[0])
		at.CreateAttr("Name", kv[0])
		at.CreateAttr("NameFormat", "urn:oasis:names:tc:SAML:2.0:attrname-format:uri")
		v := at.CreateElement("saml2:AttributeValue")
		v.CreateAttr("xsi:type", "xs:string")
		v.SetText(kv[1])
	}

	if !spec.Unsigned {
		a = idp.sign(a, spec)
	}
	resp.AddChild(a)
	if spec.SignResponse {
		resp = idp.sign(resp, &responseSpec{SignKey: spec.SignKey})
	}
	if spec.AfterSign != nil {
		spec.AfterSign(resp, a)
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	doc.SetRoot(resp)
	out, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sign adds an enveloped signature (exc-c14n, rsa-sha256, sha256) right
// after the element's Issuer, where the schema puts it.
func (idp *testIdP) sign(el *etree.Element, spec *responseSpec) *etree.Element {
	t := idp.t
	t.Helper()
	cert := spec.SignKey.Cert
	if spec.KeyInfoCert != nil {
		cert = spec.KeyInfoCert
	}
	ctx, err := dsig.NewSigningContext(spec.SignKey.Key, [][]byte{cert.Raw})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	method := dsig.RSASHA256SignatureMethod
	if spec.SignatureMethod != "" {
		method = spec.SignatureMethod
	}
	if err := ctx.SetSignatureMethod(method); err != nil {
		t.Fatal(err)
	}
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		t.Fatal(err)
	}
	// SignEnveloped appends the Signature without parenting it; move it.
	sig := signed.Child[len(signed.Child)-1]
	signed.Child = signed.Child[:len(signed.Child)-1]
	signed.InsertChildAt(1, sig)
	return signed
}

// form is what the IdP's browser form would POST to the ACS.
func (spec *responseSpec) form(xml []byte) url.Values {
	v := url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(xml)}}
	if !spec.OmitRelayState {
		v.Set("RelayState", spec.RelayState)
	}
	return v
}

// serveSSO answers a real browser-style redirect with an auto-post page.
func (idp *testIdP) serveSSO(w http.ResponseWriter, r *http.Request) {
	req, err := idp.receive(r.URL.String())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	spec := idp.goodSpec(req)
	form := spec.form(idp.build(spec))
	fmt.Fprintf(w, `<!DOCTYPE html><html><body><form id="sso" method="post" action="%s">`, html.EscapeString(req.ACS))
	for k := range form {
		fmt.Fprintf(w, `<input type="hidden" name="%s" value="%s">`, k, html.EscapeString(form.Get(k)))
	}
	fmt.Fprint(w, `<noscript><button type="submit">Continue</button></noscript></form><script>document.getElementById("sso").submit()</script></body></html>`)
}

// parseForm reads the form with id and its hidden inputs from a page this
// package rendered (or the test IdP's).
func parseForm(t testing.TB, page, id string) (string, url.Values) {
	t.Helper()
	base, _ := url.Parse("http://mock.invalid/")
	f, ok := journey.FindForm(&journey.Page{URL: base, Body: page}, id)
	if !ok {
		t.Fatalf("page has no form %q:\n%s", id, page)
	}
	action := f.Action
	if strings.HasPrefix(action, "http://mock.invalid/") {
		action = strings.TrimPrefix(action, "http://mock.invalid") // relative, as written
	}
	return action, f.Values
}
