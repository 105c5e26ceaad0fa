package metadata

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/metadata/xmlsectest"
)

func minimalIDPConfig() IDPConfig {
	return IDPConfig{
		EntityID:       "https://idp.partner.example/",
		SSORedirectURL: "https://idp.partner.example/saml/sso",
	}
}

func fullIDPConfig() IDPConfig {
	return IDPConfig{
		EntityID:       "https://idp.partner.example/",
		SSORedirectURL: "https://idp.partner.example/saml/sso",
		SSOPostURL:     "https://idp.partner.example/saml/sso/post",
		SLOURL:         "https://idp.partner.example/saml/logout",
		NameIDFormats:  []string{NameIDFormatTransient, NameIDFormatPersistent},
		Organization:   &Organization{Name: "Partner Ltd", DisplayName: "Partner", URL: "https://www.partner.example/"},
		Contacts: []Contact{
			{Type: "technical", Company: "Partner Ltd", GivenName: "Ops", Email: "ops@partner.example"},
			{Type: "support", Email: "mailto:support@partner.example"},
		},
	}
}

func publishedCerts(t *testing.T, withNext bool) []*x509.Certificate {
	t.Helper()
	k, c := copyKey(t, "idp-current")
	next := ""
	if withNext {
		_, next = copyKey(t, "idp-next")
	}
	ks, err := LoadKeyset(k, c, next, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return ks.Published()
}

func TestBuildIDPMetadata(t *testing.T) {
	cases := []struct {
		name     string
		cfg      IDPConfig
		withNext bool
		golden   string
	}{
		{"minimal", minimalIDPConfig(), false, "idp-metadata-minimal.xml"},
		{"full with next certificate", fullIDPConfig(), true, "idp-metadata-full.xml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			certs := publishedCerts(t, tc.withNext)
			out, err := BuildIDPMetadata(tc.cfg, certs, testNow)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, out)
			again, _ := BuildIDPMetadata(tc.cfg, certs, testNow.Add(24*time.Hour))
			if string(again) != string(out) {
				t.Error("output depends on the time or is not deterministic")
			}
			if !strings.HasPrefix(string(out), `<?xml version="1.0" encoding="UTF-8"?>`) {
				t.Errorf("no UTF-8 XML declaration: %.60s", out)
			}
			if ps := CheckIDPMetadata(out, CheckOptions{Now: testNow}); ps != nil {
				t.Errorf("own output has problems: %v", ps)
			}
			if xmlsectest.HaveSchemaTools(t) {
				if msg, ok := xmlsectest.ValidateSchema(t, out, xmlsectest.MetadataXSD(t)); !ok {
					t.Errorf("schema validation failed:\n%s", msg)
				}
			}
			for _, forbidden := range []string{"validUntil", "cacheDuration", "PRIVATE", "encryption"} {
				if strings.Contains(string(out), forbidden) {
					t.Errorf("output contains %q", forbidden)
				}
			}
			if got := strings.Count(string(out), `<md:KeyDescriptor use="signing">`); got != len(certs) {
				t.Errorf("%d signing KeyDescriptors, want %d", got, len(certs))
			}
			redirect := strings.Index(string(out), `<md:SingleSignOnService Binding="`+SAMLBindingHTTPRedirect)
			post := strings.Index(string(out), `<md:SingleSignOnService Binding="`+SAMLBindingHTTPPost)
			if redirect < 0 || (tc.cfg.SSOPostURL != "" && (post < 0 || post < redirect)) {
				t.Errorf("SSO services out of order: redirect at %d, post at %d", redirect, post)
			}
		})
	}
}

// The schema check itself must be able to fail, or the test above proves nothing.
func TestMetadataSchemaCatchesOrder(t *testing.T) {
	out, err := BuildIDPMetadata(fullIDPConfig(), publishedCerts(t, false), testNow)
	if err != nil {
		t.Fatal(err)
	}
	nameID := `<md:NameIDFormat>` + NameIDFormatTransient + `</md:NameIDFormat>`
	bad := moveBefore(t, strings.Replace(string(out), nameID, ``, 1), nameID, `<md:SingleLogoutService`)
	if xmlsectest.HaveSchemaTools(t) {
		if msg, ok := xmlsectest.ValidateSchema(t, []byte(bad), xmlsectest.MetadataXSD(t)); ok {
			t.Fatalf("xmllint accepted NameIDFormat before SingleLogoutService:\n%s", bad)
		} else if !strings.Contains(msg, "NameIDFormat") && !strings.Contains(msg, "SingleLogoutService") {
			t.Errorf("unexpected xmllint complaint:\n%s", msg)
		}
	}
	if ps := codes(CheckIDPMetadata([]byte(bad), CheckOptions{Now: testNow})); !slices.Equal(ps, []string{ProblemOrder}) {
		t.Errorf("CheckIDPMetadata = %v, want [schema-order]", ps)
	}
}

// moveBefore inserts what in front of the first marker.
func moveBefore(t *testing.T, doc, what, marker string) string {
	t.Helper()
	i := strings.Index(doc, marker)
	if i < 0 {
		t.Fatalf("document lacks %q", marker)
	}
	return doc[:i] + what + doc[i:]
}

func codes(ps []Problem) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if p.Code == "" || p.Message == "" {
			panic("problem without code or message")
		}
		out = append(out, p.Code)
	}
	slices.Sort(out)
	return out
}

func TestBuildIDPMetadataRefusals(t *testing.T) {
	certs := publishedCerts(t, false)
	huaweiExample := certsFromDoc(t, readFixture(t, "huawei", "idp-metadata-doc-example.xml"))[:1]
	cases := []struct {
		name  string
		cfg   IDPConfig
		certs []*x509.Certificate
		now   time.Time
		want  []string
	}{
		{"everything missing", IDPConfig{}, nil, testNow, []string{ProblemEntityID, ProblemSSO, ProblemSigningKey}},
		{"http endpoints", IDPConfig{EntityID: "e", SSORedirectURL: "http://idp.example/sso", SLOURL: "http://idp.example/slo"}, certs, testNow, []string{ProblemURL, ProblemURL}},
		{"relative SSO", IDPConfig{EntityID: "e", SSORedirectURL: "/sso"}, certs, testNow, []string{ProblemURL}},
		{"incomplete organization", func() IDPConfig { c := minimalIDPConfig(); c.Organization = &Organization{Name: "x"}; return c }(), certs, testNow, []string{ProblemOrganization}},
		{"bad contact", func() IDPConfig { c := minimalIDPConfig(); c.Contacts = []Contact{{Type: "boss"}}; return c }(), certs, testNow, []string{ProblemContact, ProblemContact}},
		{"expired certificate", minimalIDPConfig(), certs, time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC), []string{ProblemCertExpired}},
		{"1024-bit certificate", minimalIDPConfig(), huaweiExample, testNow, []string{ProblemCertKey}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := BuildIDPMetadata(tc.cfg, tc.certs, tc.now)
			if out != nil {
				t.Error("a document was returned with the error")
			}
			var me *IDPMetadataError
			if !errors.As(err, &me) || !errors.Is(err, ErrIDPMetadataInvalid) {
				t.Fatalf("err = %v, want *IDPMetadataError", err)
			}
			if got := codes(me.Problems); !slices.Equal(got, sorted(tc.want)) {
				t.Errorf("problems = %v, want %v\n%v", got, sorted(tc.want), err)
			}
		})
	}

	// AllowHTTP is for local development.
	dev := IDPConfig{EntityID: "http://localhost:8080/", SSORedirectURL: "http://localhost:8080/saml/sso", AllowHTTP: true}
	if _, err := BuildIDPMetadata(dev, certs, testNow); err != nil {
		t.Errorf("AllowHTTP: %v", err)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func certsFromDoc(t *testing.T, doc []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	s := string(doc)
	for {
		i := strings.Index(s, "<ds:X509Certificate>")
		if i < 0 {
			return out
		}
		s = s[i+len("<ds:X509Certificate>"):]
		j := strings.Index(s, "</ds:X509Certificate>")
		c, err := parseBase64Cert(s[:j])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

func TestCheckIDPMetadataHuaweiExample(t *testing.T) {
	// Huawei's own example would be refused: no WantAuthnRequestsSigned and a
	// 1024-bit certificate, used for signing and encryption.
	got := CheckIDPMetadata(readFixture(t, "huawei", "idp-metadata-doc-example.xml"), CheckOptions{Now: testNow})
	want := []string{ProblemCertKey, ProblemCertKey, ProblemWantAuthnRequestsSigned}
	if !slices.Equal(codes(got), want) {
		t.Errorf("problems = %v, want %v", got, want)
	}
	for _, p := range got {
		if p.Code == ProblemCertKey && !strings.Contains(p.Message, "1024-bit") {
			t.Errorf("message %q does not give the key size", p.Message)
		}
	}
}

func TestCheckIDPMetadataProblems(t *testing.T) {
	built, err := BuildIDPMetadata(fullIDPConfig(), publishedCerts(t, false), testNow)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(built)
	replace := func(old, new string) string {
		t.Helper()
		if !strings.Contains(doc, old) {
			t.Fatalf("document lacks %q", old)
		}
		return strings.Replace(doc, old, new, 1)
	}
	const ssoRedirect = `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.partner.example/saml/sso"/>`
	const ssoPost = `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.partner.example/saml/sso/post"/>`
	const keyInfoEnd = `</ds:X509Data>`
	keyPEM := readFixture(t, "keys", "idp-current.key")
	keyBlock, _ := pem.Decode(keyPEM)
	organization := doc[strings.Index(doc, "<md:Organization>") : strings.Index(doc, "</md:Organization>")+len("</md:Organization>")]
	certText := doc[strings.Index(doc, "<ds:X509Certificate>")+len("<ds:X509Certificate>") : strings.Index(doc, "</ds:X509Certificate>")]

	cases := []struct {
		name string
		doc  string
		opts CheckOptions
		want []string
	}{
		{"valid", doc, CheckOptions{}, nil},
		{"over 2 MB", replace("<md:IDPSSODescriptor", "<!--"+strings.Repeat("x", MaxIDPMetadataBytes)+"-->\n<md:IDPSSODescriptor"), CheckOptions{}, []string{ProblemSize}},
		{"declared encoding", replace(`encoding="UTF-8"`, `encoding="ISO-8859-1"`), CheckOptions{}, []string{ProblemEncoding}},
		{"invalid UTF-8", replace("<md:IDPSSODescriptor", "<!-- \xff -->\n<md:IDPSSODescriptor"), CheckOptions{}, []string{ProblemEncoding}},
		{"DOCTYPE", replace("<md:EntityDescriptor", "<!DOCTYPE md:EntityDescriptor>\n<md:EntityDescriptor"), CheckOptions{}, []string{ProblemDTD}},
		{"entity declaration", replace("<md:EntityDescriptor", "<!DOCTYPE md:EntityDescriptor [<!ENTITY e \"x\">]>\n<md:EntityDescriptor"), CheckOptions{}, []string{ProblemDTD}},
		{"not well-formed", doc[:len(doc)-10], CheckOptions{}, []string{ProblemXML}},
		{"PEM private key in a note", replace("<md:IDPSSODescriptor", `<md:Extensions><x:Note xmlns:x="urn:x">`+string(keyPEM)+`</x:Note></md:Extensions><md:IDPSSODescriptor`), CheckOptions{}, []string{ProblemPrivateKey}},
		{"RSAKeyValue with private exponent", replace(keyInfoEnd, keyInfoEnd+`<ds:KeyValue><ds:RSAKeyValue><ds:Modulus>AQAB</ds:Modulus><ds:Exponent>AQAB</ds:Exponent><ds:D>AQAB</ds:D></ds:RSAKeyValue></ds:KeyValue>`), CheckOptions{}, []string{ProblemPrivateKey}},
		{"PrivateKey element", replace("<md:KeyDescriptor", `<md:Extensions><x:PrivateKey xmlns:x="urn:x">AQAB</x:PrivateKey></md:Extensions><md:KeyDescriptor`), CheckOptions{}, []string{ProblemPrivateKey}},
		{"private key as certificate", replace(certText, base64.StdEncoding.EncodeToString(keyBlock.Bytes)), CheckOptions{}, []string{ProblemCertParse, ProblemPrivateKey}},
		{"wrong root", "<md:EntitiesDescriptor xmlns:md=\"" + NamespaceMetadata + "\">" + doc[strings.Index(doc, "<md:EntityDescriptor"):] + "</md:EntitiesDescriptor>", CheckOptions{}, []string{ProblemRoot}},
		{"root in no namespace", `<EntityDescriptor entityID="x"/>`, CheckOptions{}, []string{ProblemRoot}},
		{"no entityID", replace(`entityID="https://idp.partner.example/"`, ``), CheckOptions{}, []string{ProblemEntityID}},
		{"no IDPSSODescriptor", `<md:EntityDescriptor xmlns:md="` + NamespaceMetadata + `" entityID="x"/>`, CheckOptions{}, []string{ProblemIDPSSO}},
		{"SPSSODescriptor instead", strings.ReplaceAll(replace(` WantAuthnRequestsSigned="true"`, ``), "IDPSSODescriptor", "SPSSODescriptor"), CheckOptions{}, []string{ProblemIDPSSO}},
		{"protocol", replace(`protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"`, `protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol"`), CheckOptions{}, []string{ProblemProtocol}},
		{"WantAuthnRequestsSigned false", replace(`WantAuthnRequestsSigned="true"`, `WantAuthnRequestsSigned="false"`), CheckOptions{}, []string{ProblemWantAuthnRequestsSigned}},
		{"WantAuthnRequestsSigned missing", replace(` WantAuthnRequestsSigned="true"`, ``), CheckOptions{}, []string{ProblemWantAuthnRequestsSigned}},
		{"WantAuthnRequestsSigned 1", replace(`WantAuthnRequestsSigned="true"`, `WantAuthnRequestsSigned="1"`), CheckOptions{}, nil},
		{"encryption key only", replace(`use="signing"`, `use="encryption"`), CheckOptions{}, []string{ProblemSigningKey}},
		{"KeyDescriptor without use counts as signing", replace(` use="signing"`, ``), CheckOptions{}, nil},
		{"NameIDFormat after SSO", moveBefore(t, replace(`<md:NameIDFormat>`+NameIDFormatPersistent+`</md:NameIDFormat>`, ``), `<md:NameIDFormat>`+NameIDFormatPersistent+`</md:NameIDFormat>`, `</md:IDPSSODescriptor>`), CheckOptions{}, []string{ProblemOrder}},
		{"Organization before IDPSSODescriptor", moveBefore(t, replace(organization, ``), organization, `<md:IDPSSODescriptor`), CheckOptions{}, []string{ProblemOrder}},
		{"two Organizations", replace(organization, organization+organization), CheckOptions{}, []string{ProblemOrder}},
		{"unknown element", replace("<md:KeyDescriptor", `<md:Bogus/><md:KeyDescriptor`), CheckOptions{}, []string{ProblemOrder}},
		{"no SSO", strings.NewReplacer(ssoRedirect, ``, ssoPost, ``).Replace(doc), CheckOptions{}, []string{ProblemSSO}},
		{"POST SSO first", strings.NewReplacer(ssoRedirect, ssoPost, ssoPost, ssoRedirect).Replace(doc), CheckOptions{}, []string{ProblemSSO}},
		{"http SSO", replace(`Location="https://idp.partner.example/saml/sso"`, `Location="http://idp.partner.example/saml/sso"`), CheckOptions{}, []string{ProblemURL}},
		{"http SSO allowed", replace(`Location="https://idp.partner.example/saml/sso"`, `Location="http://idp.partner.example/saml/sso"`), CheckOptions{AllowHTTP: true}, nil},
		{"relative SLO", replace(`Location="https://idp.partner.example/saml/logout"`, `Location="/saml/logout"`), CheckOptions{}, []string{ProblemURL}},
		{"ResponseLocation checked", replace(`Location="https://idp.partner.example/saml/logout"`, `Location="https://idp.partner.example/saml/logout" ResponseLocation="javascript:alert(1)"`), CheckOptions{}, []string{ProblemURL}},
		{"expired certificate", doc, CheckOptions{Now: time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC)}, []string{ProblemCertExpired}},
		{"certificate not yet valid", doc, CheckOptions{Now: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}, []string{ProblemCertNotYetValid}},
		{"certificate not base64", replace(certText, "!!!"), CheckOptions{}, []string{ProblemCertParse}},
		{"certificate garbage", replace(certText, "AAAA"+certText), CheckOptions{}, []string{ProblemCertParse}},
		{"every problem at once", strings.NewReplacer(
			`WantAuthnRequestsSigned="true"`, `WantAuthnRequestsSigned="false"`,
			`Location="https://idp.partner.example/saml/sso"`, `Location="http://idp.partner.example/saml/sso"`,
			`use="signing"`, `use="encryption"`,
		).Replace(doc), CheckOptions{Now: time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC)}, []string{ProblemCertExpired, ProblemSigningKey, ProblemURL, ProblemWantAuthnRequestsSigned}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts.Now.IsZero() {
				tc.opts.Now = testNow
			}
			got := CheckIDPMetadata([]byte(tc.doc), tc.opts)
			if !slices.Equal(codes(got), sorted(tc.want)) {
				t.Errorf("problems = %v, want %v", got, sorted(tc.want))
			}
			for _, p := range got {
				if strings.Contains(p.Message, "MII") || strings.Contains(p.Message, "BEGIN") {
					t.Errorf("message carries key or certificate bytes: %q", p.Message)
				}
			}
		})
	}
}

// A metadata file holding a private key is refused, however it got there.
func TestCheckIDPMetadataRefusesKeyFileContent(t *testing.T) {
	dir := t.TempDir()
	built, err := BuildIDPMetadata(minimalIDPConfig(), publishedCerts(t, false), testNow)
	if err != nil {
		t.Fatal(err)
	}
	// As an operator might: paste the key file into the metadata "for safekeeping".
	withKey := strings.Replace(string(built), "<md:IDPSSODescriptor", `<md:Extensions><x:Key xmlns:x="urn:x">`+string(readFixture(t, "keys", "idp-current.key"))+`</x:Key></md:Extensions><md:IDPSSODescriptor`, 1)
	path := filepath.Join(dir, "IDP Metadata.xml")
	if err := os.WriteFile(path, []byte(withKey), 0o644); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if got := codes(CheckIDPMetadata(data, CheckOptions{Now: testNow})); !slices.Equal(got, []string{ProblemPrivateKey}) {
		t.Errorf("problems = %v, want [private-key]", got)
	}
}
