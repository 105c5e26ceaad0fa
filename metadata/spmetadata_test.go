package metadata

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/partneridp/partneridp/metadata/xmlsectest"
)

const idAttrEntityDescriptor = "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor"

func huaweiSPMetadata(t testing.TB) []byte { return readFixture(t, "huawei", "sp-metadata-cn.xml") }

func huaweiSPCert(t testing.TB) *x509.Certificate {
	t.Helper()
	c, err := LoadCertificate(filepath.Join("..", "testdata", "huawei", "sp-signing-cert-cn.pem"), testNow)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseSPHuawei(t *testing.T) {
	data := huaweiSPMetadata(t)
	pin := huaweiSPCert(t)
	cases := []struct {
		name       string
		opts       SPLoadOptions
		wantStatus string
	}{
		{"pinned certificate", SPLoadOptions{PinnedCert: pin, Now: testNow}, SignatureVerified},
		{"pinned fingerprint", SPLoadOptions{PinnedFingerprint: huaweiFingerprint, Now: testNow}, SignatureVerified},
		{"pinned plain-hex fingerprint", SPLoadOptions{PinnedFingerprint: strings.ToLower(strings.ReplaceAll(huaweiFingerprint, ":", "")), Now: testNow}, SignatureVerified},
		{"both pins agreeing", SPLoadOptions{PinnedCert: pin, PinnedFingerprint: huaweiFingerprint, Now: testNow}, SignatureVerified},
		{"not pinned", SPLoadOptions{Now: testNow}, SignatureNotChecked},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := ParseSP(data, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if sp.EntityID != "https://auth.huaweicloud.com/" {
				t.Errorf("EntityID = %q", sp.EntityID)
			}
			acs, ok := sp.DefaultACS()
			if !ok || acs.Location != "https://auth.huaweicloud.com/authui/saml/SAMLAssertionConsumer" || acs.SAMLBinding != SAMLBindingHTTPPost || !acs.IsDefault || acs.Index != 0 {
				t.Errorf("default ACS = %+v", acs)
			}
			if len(sp.ACS) != 1 {
				t.Errorf("%d ACS, want 1 (the HTTP-Artifact ArtifactResolutionService is not an ACS)", len(sp.ACS))
			}
			if len(sp.SigningCerts) != 1 || FingerprintSHA256(sp.SigningCerts[0]) != huaweiFingerprint {
				t.Errorf("signing certs = %d, want 1 with fingerprint %s", len(sp.SigningCerts), huaweiFingerprint)
			}
			slo, ok := sp.SLOFor(SAMLBindingHTTPRedirect)
			if !ok || slo.Location != "https://auth.huaweicloud.com/authui/saml/LogoutServiceHTTPRedirect" ||
				slo.ResponseLocation != "https://auth.huaweicloud.com/authui/saml/LogoutServiceHTTPRedirectResponse" {
				t.Errorf("SLO redirect = %+v", slo)
			}
			if post, ok := sp.SLOFor(SAMLBindingHTTPPost); !ok || post.Location != "https://auth.huaweicloud.com/authui/saml/LogoutServiceHTTPPost" {
				t.Errorf("SLO POST = %+v", post)
			}
			if len(sp.NameIDFormats) != 1 || sp.NameIDFormats[0] != NameIDFormatTransient {
				t.Errorf("NameIDFormats = %q", sp.NameIDFormats)
			}
			if !sp.AuthnRequestsSigned || !sp.WantAssertionsSigned {
				t.Errorf("AuthnRequestsSigned=%t WantAssertionsSigned=%t, want both true", sp.AuthnRequestsSigned, sp.WantAssertionsSigned)
			}
			if sp.SignatureStatus != tc.wantStatus {
				t.Errorf("SignatureStatus = %q, want %q", sp.SignatureStatus, tc.wantStatus)
			}
		})
	}
}

func TestHuaweiSPMetadataXmlsec1(t *testing.T) {
	out, ok := xmlsectest.Verify(t, huaweiSPMetadata(t), huaweiSPCert(t), idAttrEntityDescriptor)
	if !ok {
		t.Fatalf("xmlsec1 refused Huawei's genuine metadata:\n%s", out)
	}
	out, ok = xmlsectest.Verify(t, tamperHuawei(t), huaweiSPCert(t), idAttrEntityDescriptor)
	if ok {
		t.Fatalf("xmlsec1 accepted the tampered copy:\n%s", out)
	}
}

// tamperHuawei changes one byte inside the signed EntityDescriptor: the POST
// ACS location.
func tamperHuawei(t testing.TB) []byte {
	data := huaweiSPMetadata(t)
	old := []byte(`Location="https://auth.huaweicloud.com/authui/saml/SAMLAssertionConsumer" index="0" isDefault="true" xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/></md:SPSSODescriptor>`)
	i := bytes.Index(data, old)
	if i < 0 {
		t.Fatal("fixture changed: ACS not found")
	}
	out := bytes.Clone(data)
	out[i+len(`Location="https://auth.`)] = 'e' // auth. -> euth.
	return out
}

func stripSignature(t testing.TB, data []byte) []byte {
	t.Helper()
	start := bytes.Index(data, []byte("<ds:Signature"))
	end := bytes.Index(data, []byte("</ds:Signature>"))
	if start < 0 || end < 0 {
		t.Fatal("no signature to strip")
	}
	return append(bytes.Clone(data[:start]), data[end+len("</ds:Signature>"):]...)
}

func TestParseSPSignatureFailures(t *testing.T) {
	pin := huaweiSPCert(t)
	other := loadTestKey(t, "sp-other").Cert
	otherFP := FingerprintSHA256(other)
	data := huaweiSPMetadata(t)

	// Wrapping: an evil root carries the genuine signature while the genuine
	// EntityDescriptor hides inside its Extensions.
	genuineRoot := data[bytes.Index(data, []byte("<md:EntityDescriptor")):]
	sigStart, sigEnd := bytes.Index(genuineRoot, []byte("<ds:Signature")), bytes.Index(genuineRoot, []byte("</ds:Signature>"))+len("</ds:Signature>")
	evilSP := `<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://evil.example/acs" index="0"/></md:SPSSODescriptor>`
	wrapped := []byte(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="evil" entityID="https://auth.huaweicloud.com/">` +
		string(genuineRoot[sigStart:sigEnd]) + `<md:Extensions>` + string(stripSignature(t, genuineRoot)) + `</md:Extensions>` + evilSP + `</md:EntityDescriptor>`)

	cases := []struct {
		name string
		data []byte
		opts SPLoadOptions
		want error
	}{
		{"one byte changed", tamperHuawei(t), SPLoadOptions{PinnedCert: pin, Now: testNow}, ErrSPMetadataSignature},
		{"one byte changed, fingerprint pin", tamperHuawei(t), SPLoadOptions{PinnedFingerprint: huaweiFingerprint, Now: testNow}, ErrSPMetadataSignature},
		{"signature stripped", stripSignature(t, data), SPLoadOptions{PinnedCert: pin, Now: testNow}, ErrSPMetadataSignature},
		{"signature stripped, fingerprint pin", stripSignature(t, data), SPLoadOptions{PinnedFingerprint: huaweiFingerprint, Now: testNow}, ErrSPMetadataSignature},
		{"other pinned certificate", data, SPLoadOptions{PinnedCert: other, Now: testNow}, ErrSPMetadataSignature},
		{"other pinned fingerprint", data, SPLoadOptions{PinnedFingerprint: otherFP, Now: testNow}, ErrSPMetadataSignature},
		{"pinned certificate expired", data, SPLoadOptions{PinnedCert: pin, Now: time.Date(2028, 6, 19, 0, 0, 0, 0, time.UTC)}, ErrSPMetadataSignature},
		{"pins disagree", data, SPLoadOptions{PinnedCert: pin, PinnedFingerprint: otherFP, Now: testNow}, ErrSPMetadataPin},
		{"malformed fingerprint", data, SPLoadOptions{PinnedFingerprint: "70:14", Now: testNow}, ErrSPMetadataPin},
		{"signature wrapping", wrapped, SPLoadOptions{PinnedCert: pin, Now: testNow}, ErrSPMetadataSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := ParseSP(tc.data, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if sp != nil {
				t.Error("an SP was returned with the error")
			}
		})
	}

	// Unpinned, the stripped copy is still usable but says so.
	sp, err := ParseSP(stripSignature(t, data), SPLoadOptions{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if sp.SignatureStatus != SignatureUnsigned {
		t.Errorf("SignatureStatus = %q, want %q", sp.SignatureStatus, SignatureUnsigned)
	}
}

// TestParseSPRefusesRSASHA1Signature re-signs the test SP metadata with rsa-sha1 to prove the
// allow-list: rsa-sha1 signatures are refused even on metadata.
func TestParseSPRefusesRSASHA1Signature(t *testing.T) {
	key := loadTestKey(t, "sp-test")
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(stripSignature(t, buildTestSPMetadata(t, key))); err != nil {
		t.Fatal(err)
	}
	ctx, err := dsig.NewSigningContext(key.Key, [][]byte{key.Cert.Raw})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Hash = crypto.SHA1
	ctx.IdAttribute = "ID"
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	signed, err := ctx.SignEnveloped(doc.Root())
	if err != nil {
		t.Fatal(err)
	}
	doc.SetRoot(signed)
	out, _ := doc.WriteToBytes()
	_, err = ParseSP(out, SPLoadOptions{PinnedCert: key.Cert, Now: testNow})
	if !errors.Is(err, ErrSPMetadataSignature) || !strings.Contains(err.Error(), "rsa-sha1") {
		t.Fatalf("err = %v, want ErrSPMetadataSignature about rsa-sha1", err)
	}
}

func testSPConfig() SPConfig {
	return SPConfig{
		EntityID:       "https://sp.test.example/",
		ACSURL:         "https://sp.test.example/authui/saml/SAMLAssertionConsumer",
		SLORedirectURL: "https://sp.test.example/authui/saml/LogoutServiceHTTPRedirect",
		SLOPostURL:     "https://sp.test.example/authui/saml/LogoutServiceHTTPPost",
	}
}

func buildTestSPMetadata(t testing.TB, key SigningKey) []byte {
	t.Helper()
	out, err := BuildSPMetadata(testSPConfig(), key)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBuildSPMetadata(t *testing.T) {
	key := loadTestKey(t, "sp-test")
	out := buildTestSPMetadata(t, key)
	golden(t, "sp-metadata-test.xml", out)

	again := buildTestSPMetadata(t, key)
	if !bytes.Equal(out, again) {
		t.Error("BuildSPMetadata is not deterministic")
	}

	sp, err := ParseSP(out, SPLoadOptions{PinnedCert: key.Cert, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if sp.SignatureStatus != SignatureVerified || sp.EntityID != "https://sp.test.example/" || !sp.AuthnRequestsSigned || !sp.WantAssertionsSigned {
		t.Errorf("parsed = %+v", sp)
	}
	if acs, _ := sp.DefaultACS(); acs.Location != testSPConfig().ACSURL || !acs.IsDefault {
		t.Errorf("ACS = %+v", acs)
	}
	if len(sp.SLO) != 2 || len(sp.SigningCerts) != 1 || !sp.SigningCerts[0].Equal(key.Cert) {
		t.Errorf("SLO = %+v, signing certs = %d", sp.SLO, len(sp.SigningCerts))
	}
	if _, err := ParseSP(out, SPLoadOptions{PinnedFingerprint: FingerprintSHA256(key.Cert), Now: testNow}); err != nil {
		t.Errorf("fingerprint pin: %v", err)
	}
	if _, err := ParseSP(out, SPLoadOptions{PinnedCert: loadTestKey(t, "sp-other").Cert, Now: testNow}); !errors.Is(err, ErrSPMetadataSignature) {
		t.Errorf("wrong pin: err = %v", err)
	}

	if xmlsectest.Have(t, "xmlsec1") {
		if msg, ok := xmlsectest.Verify(t, out, key.Cert, idAttrEntityDescriptor); !ok {
			t.Errorf("xmlsec1 refused BuildSPMetadata output:\n%s", msg)
		}
	}
	if xmlsectest.HaveSchemaTools(t) {
		if msg, ok := xmlsectest.ValidateSchema(t, out, xmlsectest.MetadataXSD(t)); !ok {
			t.Errorf("schema:\n%s", msg)
		}
	}
	if xmlsectest.Have(t, "xmlsec1") {
		if msg, ok := xmlsectest.Verify(t, bytes.Replace(out, []byte("sp.test.example/authui/saml/SAMLAssertionConsumer"), []byte("sp.test.example/authui/saml/SAMLAssertionConsumeR"), 1), key.Cert, idAttrEntityDescriptor); ok {
			t.Errorf("xmlsec1 accepted a tampered copy:\n%s", msg)
		}
	}
}

func TestBuildSPMetadataRefusals(t *testing.T) {
	key := loadTestKey(t, "sp-test")
	other := loadTestKey(t, "sp-other")
	cases := []struct {
		name string
		cfg  SPConfig
		key  SigningKey
	}{
		{"no entity ID", SPConfig{ACSURL: "https://sp.example/acs"}, key},
		{"no ACS", SPConfig{EntityID: "x"}, key},
		{"relative ACS", SPConfig{EntityID: "x", ACSURL: "/acs"}, key},
		{"ftp SLO", SPConfig{EntityID: "x", ACSURL: "https://sp.example/acs", SLOPostURL: "ftp://sp.example/slo"}, key},
		{"no key", SPConfig{EntityID: "x", ACSURL: "https://sp.example/acs"}, SigningKey{Cert: key.Cert}},
		{"key and cert differ", SPConfig{EntityID: "x", ACSURL: "https://sp.example/acs"}, SigningKey{Key: key.Key, Cert: other.Cert}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := BuildSPMetadata(tc.cfg, tc.key)
			if !errors.Is(err, ErrSPConfig) || out != nil {
				t.Fatalf("err = %v, out %d bytes; want ErrSPConfig and nothing", err, len(out))
			}
		})
	}
}

func TestParseSPEntitiesDescriptor(t *testing.T) {
	key := loadTestKey(t, "sp-test")
	signed := buildTestSPMetadata(t, key)
	inner := signed[bytes.Index(signed, []byte("<md:EntityDescriptor")):]
	doc := []byte(`<?xml version="1.0"?><md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">` + string(inner) + `</md:EntitiesDescriptor>`)
	sp, err := ParseSP(doc, SPLoadOptions{PinnedCert: key.Cert, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if sp.EntityID != "https://sp.test.example/" || sp.SignatureStatus != SignatureVerified {
		t.Errorf("parsed = %+v", sp)
	}
	two := []byte(`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">` + string(inner) + string(inner) + `</md:EntitiesDescriptor>`)
	if _, err := ParseSP(two, SPLoadOptions{Now: testNow}); !errors.Is(err, ErrSPMetadataInvalid) {
		t.Errorf("two entities: err = %v, want ErrSPMetadataInvalid", err)
	}
}

func TestParseSPRefusesBadDocuments(t *testing.T) {
	huawei := huaweiSPMetadata(t)
	unsigned := string(stripSignature(t, huawei))
	replace := func(old, new string) []byte {
		if !strings.Contains(unsigned, old) {
			t.Fatalf("fixture lacks %q", old)
		}
		return []byte(strings.Replace(unsigned, old, new, 1))
	}
	idp := readFixture(t, "huawei", "idp-metadata-doc-example.xml")
	cases := []struct {
		name string
		data []byte
		opts SPLoadOptions
		want error
		msg  string
	}{
		{"DOCTYPE", []byte(`<?xml version="1.0"?><!DOCTYPE md [<!ENTITY x "y">]>` + unsigned[strings.Index(unsigned, "<md:EntityDescriptor"):]), SPLoadOptions{}, ErrSPMetadataDTD, "DOCTYPE"},
		{"entity declaration only", []byte(`<!ENTITY x SYSTEM "file:///etc/passwd">`), SPLoadOptions{}, ErrSPMetadataDTD, "ENTITY"},
		{"oversized", huawei, SPLoadOptions{MaxBytes: 1000}, ErrSPMetadataTooLarge, "1000-byte limit"},
		{"truncated", huawei[:len(huawei)/2], SPLoadOptions{}, ErrSPMetadataMalformed, "well-formed"},
		{"not XML", []byte("hello"), SPLoadOptions{}, ErrSPMetadataMalformed, "well-formed"},
		{"empty", nil, SPLoadOptions{}, ErrSPMetadataMalformed, "well-formed"},
		{"invalid UTF-8", append([]byte("<a>"), 0xff, '<', '/', 'a', '>'), SPLoadOptions{}, ErrSPMetadataMalformed, "UTF-8"},
		{"IdP metadata", idp, SPLoadOptions{}, ErrSPMetadataInvalid, "SPSSODescriptor"},
		{"wrong root", []byte(`<x:EntityDescriptor xmlns:x="urn:other"/>`), SPLoadOptions{}, ErrSPMetadataInvalid, "root element"},
		{"no entityID", replace(`entityID="https://auth.huaweicloud.com/"`, ``), SPLoadOptions{}, ErrSPMetadataInvalid, "entityID"},
		{"no POST ACS", replace(`<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"`, `<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:PAOS"`), SPLoadOptions{}, ErrSPMetadataInvalid, "AssertionConsumerService"},
		{"http ACS", replace(`<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://auth.huaweicloud.com/authui/saml/SAMLAssertionConsumer" index="0" isDefault="true"`, `<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="http://auth.huaweicloud.com/authui/saml/SAMLAssertionConsumer" index="0" isDefault="true"`), SPLoadOptions{}, ErrSPMetadataInvalid, "plain http"},
		{"relative SLO", replace(`Location="https://auth.huaweicloud.com/authui/saml/LogoutServiceHTTPPost"`, `Location="/slo"`), SPLoadOptions{}, ErrSPMetadataInvalid, "absolute"},
		{"bad ACS index", replace(`<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://auth.huaweicloud.com/authui/saml/SAMLAssertionConsumer" index="0" isDefault="true"`, `<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://auth.huaweicloud.com/authui/saml/SAMLAssertionConsumer" index="first" isDefault="true"`), SPLoadOptions{}, ErrSPMetadataInvalid, "index"},
		{"bad isDefault", replace(`<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://auth.huaweicloud.com/authui/saml/SAMLAssertionConsumer" index="0" isDefault="true"`, `<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://auth.huaweicloud.com/authui/saml/SAMLAssertionConsumer" index="0" isDefault="yes"`), SPLoadOptions{}, ErrSPMetadataInvalid, "isDefault"},
		{"no signing certificate", replace(`<md:KeyDescriptor use="signing">`, `<md:KeyDescriptor use="encryption">`), SPLoadOptions{}, ErrSPMetadataInvalid, "signing certificate"},
		{"broken certificate", replace(`<ds:X509Certificate>MIIF6TCCA9Gg`, `<ds:X509Certificate>AAAAMIIF6TCCA9Gg`), SPLoadOptions{}, ErrSPMetadataInvalid, "does not parse"},
		{"expired validUntil", replace(`<md:EntityDescriptor `, `<md:EntityDescriptor validUntil="2027-01-01T00:00:00Z" `), SPLoadOptions{Now: testNow}, ErrSPMetadataInvalid, "expired"},
		{"bad validUntil", replace(`<md:EntityDescriptor `, `<md:EntityDescriptor validUntil="tomorrow" `), SPLoadOptions{Now: testNow}, ErrSPMetadataInvalid, "validUntil"},
		{"SAML 1.1 only", replace(`protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"`, `protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol"`), SPLoadOptions{}, ErrSPMetadataInvalid, "protocolSupportEnumeration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := ParseSP(tc.data, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q does not mention %q", err, tc.msg)
			}
			if sp != nil {
				t.Error("an SP was returned with the error")
			}
		})
	}

	// AllowHTTP admits the http ACS (local development).
	httpACS := replace(`<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://auth.huaweicloud.com/authui/saml/SAMLAssertionConsumer" index="0" isDefault="true"`, `<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="http://auth.huaweicloud.com/authui/saml/SAMLAssertionConsumer" index="0" isDefault="true"`)
	if _, err := ParseSP(httpACS, SPLoadOptions{AllowHTTP: true}); err != nil {
		t.Errorf("AllowHTTP: %v", err)
	}
	future := replace(`<md:EntityDescriptor `, `<md:EntityDescriptor validUntil="2028-01-01T00:00:00Z" `)
	if _, err := ParseSP(future, SPLoadOptions{Now: testNow}); err != nil {
		t.Errorf("validUntil in the future: %v", err)
	}
}

func TestParseSPACSOrder(t *testing.T) {
	key := loadTestKey(t, "sp-test")
	doc := string(stripSignature(t, buildTestSPMetadata(t, key)))
	acs := func(loc, index, def string) string {
		s := `<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.test.example/` + loc + `" index="` + index + `"`
		if def != "" {
			s += ` isDefault="` + def + `"`
		}
		return s + `/>`
	}
	i := strings.Index(doc, "<md:AssertionConsumerService")
	j := strings.Index(doc, "</md:SPSSODescriptor>")
	for _, tc := range []struct {
		name, services, want string
	}{
		{"lowest index", acs("a", "3", "") + acs("b", "1", "") + acs("c", "2", ""), "b c a"},
		{"isDefault wins", acs("a", "1", "") + acs("b", "2", "true") + acs("c", "0", "false"), "b c a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := ParseSP([]byte(doc[:i]+tc.services+doc[j:]), SPLoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range sp.ACS {
				got = append(got, strings.TrimPrefix(e.Location, "https://sp.test.example/"))
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("ACS order = %v, want %s", got, tc.want)
			}
		})
	}
}

func TestDescribeHuawei(t *testing.T) {
	sp, err := ParseSP(huaweiSPMetadata(t), SPLoadOptions{PinnedCert: huaweiSPCert(t), Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	sp.Describe(&b, testNow)
	golden(t, "describe-huawei-cn.txt", b.Bytes())

	b.Reset()
	sp.Describe(&b, time.Date(2028, 7, 1, 0, 0, 0, 0, time.UTC))
	if !strings.Contains(b.String(), "EXPIRED 13 days ago") {
		t.Errorf("after expiry, Describe says:\n%s", b.String())
	}
}

func TestLoadSPFromFile(t *testing.T) {
	path := filepath.Join("..", "testdata", "huawei", "sp-metadata-cn.xml")
	sp, err := LoadSP(context.Background(), path, SPLoadOptions{PinnedCert: huaweiSPCert(t), Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if sp.SignatureStatus != SignatureVerified {
		t.Errorf("status = %q", sp.SignatureStatus)
	}
	if _, err := LoadSP(context.Background(), path, SPLoadOptions{MaxBytes: 4096}); !errors.Is(err, ErrSPMetadataTooLarge) {
		t.Errorf("size cap: err = %v", err)
	}
	if _, err := LoadSP(context.Background(), filepath.Join(t.TempDir(), "missing.xml"), SPLoadOptions{}); !errors.Is(err, ErrSPMetadataFetch) {
		t.Errorf("missing file: err = %v", err)
	}
	tampered := filepath.Join(t.TempDir(), "tampered.xml")
	if err := os.WriteFile(tampered, tamperHuawei(t), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSP(context.Background(), tampered, SPLoadOptions{PinnedCert: huaweiSPCert(t), Now: testNow}); !errors.Is(err, ErrSPMetadataSignature) || !strings.Contains(err.Error(), tampered) {
		t.Errorf("tampered file: err = %v, want ErrSPMetadataSignature naming the file", err)
	}
}

func TestLoadSPOverHTTPS(t *testing.T) {
	huawei := huaweiSPMetadata(t)
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/metadata.xml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		w.Write(huawei)
	})
	mux.HandleFunc("/big-chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 100; i++ {
			w.Write(bytes.Repeat([]byte(" "), 1024))
			w.(http.Flusher).Flush() // no Content-Length: the cap must hold while reading
		}
	})
	mux.HandleFunc("/big-announced", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.Write(bytes.Repeat([]byte(" "), 100000))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/slow-body", func(w http.ResponseWriter, r *http.Request) {
		w.Write(huawei[:100])
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/error", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) })
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-certificate case makes TLS noise
	srv.StartTLS()
	defer srv.Close()
	plain := httptest.NewServer(mux)
	defer plain.Close()
	defer close(release) // runs before the servers close: unblock slow handlers
	mux.HandleFunc("/to-http", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/metadata.xml", http.StatusFound)
	})

	base := SPLoadOptions{HTTPClient: srv.Client(), PinnedCert: huaweiSPCert(t), Now: testNow}
	sp, err := LoadSP(context.Background(), srv.URL+"/metadata.xml", base)
	if err != nil {
		t.Fatal(err)
	}
	if sp.EntityID != "https://auth.huaweicloud.com/" || sp.SignatureStatus != SignatureVerified {
		t.Errorf("loaded %+v", sp)
	}

	with := func(f func(*SPLoadOptions)) SPLoadOptions { o := base; f(&o); return o }
	cases := []struct {
		name string
		url  string
		opts SPLoadOptions
		want error
		msg  string
	}{
		{"size cap while reading", srv.URL + "/big-chunked", with(func(o *SPLoadOptions) { o.MaxBytes = 50_000 }), ErrSPMetadataTooLarge, "over 50000 bytes"},
		{"size cap announced", srv.URL + "/big-announced", with(func(o *SPLoadOptions) { o.MaxBytes = 50_000 }), ErrSPMetadataTooLarge, "announces"},
		{"timeout before headers", srv.URL + "/slow", with(func(o *SPLoadOptions) { o.Timeout = 200 * time.Millisecond }), ErrSPMetadataFetch, "deadline"},
		{"timeout in body", srv.URL + "/slow-body", with(func(o *SPLoadOptions) { o.Timeout = 200 * time.Millisecond }), ErrSPMetadataFetch, "deadline"},
		{"404", srv.URL + "/missing", base, ErrSPMetadataFetch, "status 404"},
		{"500", srv.URL + "/error", base, ErrSPMetadataFetch, "status 500"},
		{"plain http", plain.URL + "/metadata.xml", base, ErrSPMetadataFetch, "plain http"},
		{"redirect to http", srv.URL + "/to-http", base, ErrSPMetadataFetch, "plain http"},
		{"unknown scheme", "ftp://example.com/metadata.xml", base, ErrSPMetadataFetch, "scheme"},
		{"untrusted TLS certificate", srv.URL + "/metadata.xml", with(func(o *SPLoadOptions) { o.HTTPClient = nil }), ErrSPMetadataFetch, "certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := LoadSP(context.Background(), tc.url, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q does not mention %q", err, tc.msg)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}

	// AllowHTTP admits plain http, for local development.
	if _, err := LoadSP(context.Background(), plain.URL+"/metadata.xml", with(func(o *SPLoadOptions) { o.AllowHTTP = true; o.HTTPClient = nil })); err != nil {
		t.Errorf("AllowHTTP: %v", err)
	}
	// The caller's context bounds the fetch too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := LoadSP(ctx, srv.URL+"/metadata.xml", base); !errors.Is(err, ErrSPMetadataFetch) {
		t.Errorf("cancelled context: err = %v", err)
	}
}

func ExampleSP_Describe() {
	data, _ := os.ReadFile(filepath.Join("..", "testdata", "huawei", "sp-metadata-cn.xml"))
	now := time.Date(2027, 6, 1, 12, 0, 0, 0, time.UTC)
	sp, err := ParseSP(data, SPLoadOptions{PinnedFingerprint: "70:14:9F:C1:F6:03:92:44:2D:3F:7E:D0:9D:DE:1C:88:1B:A6:D0:08:A6:AB:3E:B0:F7:69:9B:3D:02:CC:79:3E", Now: now})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sp.EntityID, sp.SignatureStatus)
	// Output: https://auth.huaweicloud.com/ verified
}
