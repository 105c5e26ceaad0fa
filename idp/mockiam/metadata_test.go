package mockiam

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/partneridp/partneridp/metadata"
	"github.com/partneridp/partneridp/metadata/xmlsectest"
)

const entityDescriptorID = "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor"

func TestSPMetadataServedSignedLikeHuawei(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	resp, body := h.get(PathMetadata)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xml") {
		t.Fatalf("status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	served := []byte(body)
	if !bytes.Equal(served, h.iam.SPMetadata()) {
		t.Error("served metadata differs from SPMetadata()")
	}

	// xmlsec1, not our code, checks the signature.
	if out, ok := xmlsectest.Verify(t, served, h.spKey.Cert, entityDescriptorID); !ok {
		t.Fatalf("xmlsec1 rejects the SP metadata signature:\n%s", out)
	}
	tampered := bytes.Replace(served, []byte(`WantAssertionsSigned="true"`), []byte(`WantAssertionsSigned="false"`), 1)
	if out, ok := xmlsectest.Verify(t, tampered, h.spKey.Cert, entityDescriptorID); ok {
		t.Fatalf("xmlsec1 accepts tampered metadata:\n%s", out)
	}
	if out, ok := xmlsectest.ValidateSchema(t, served, xmlsectest.MetadataXSD(t)); !ok {
		t.Errorf("SP metadata is not schema-valid:\n%s", out)
	}

	// The bridge's own parser reads it as Huawei's, signature pinned.
	sp, err := metadata.ParseSP(served, metadata.SPLoadOptions{PinnedCert: h.spKey.Cert, AllowHTTP: true, Now: h.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	acs, _ := sp.DefaultACS()
	switch {
	case sp.EntityID != h.srv.URL+"/":
		t.Errorf("entityID = %q", sp.EntityID)
	case acs.Location != h.srv.URL+PathACS || acs.SAMLBinding != metadata.SAMLBindingHTTPPost:
		t.Errorf("ACS = %+v", acs)
	case !sp.AuthnRequestsSigned || !sp.WantAssertionsSigned:
		t.Errorf("AuthnRequestsSigned=%v WantAssertionsSigned=%v", sp.AuthnRequestsSigned, sp.WantAssertionsSigned)
	case len(sp.SigningCerts) == 0 || !sp.SigningCerts[0].Equal(h.spKey.Cert):
		t.Errorf("signing certs = %v", sp.SigningCerts)
	case sp.SignatureStatus != metadata.SignatureVerified:
		t.Errorf("signature status = %q", sp.SignatureStatus)
	}

	// ?unsigned=true, as on Huawei's site.
	_, unsigned := h.get(PathMetadata + "?unsigned=true")
	if strings.Contains(unsigned, "Signature") {
		t.Error("?unsigned=true still carries a Signature")
	}
	if sp, err := metadata.ParseSP([]byte(unsigned), metadata.SPLoadOptions{AllowHTTP: true}); err != nil || sp.SignatureStatus != metadata.SignatureUnsigned {
		t.Errorf("unsigned metadata: %v, %+v", err, sp)
	}
}

func TestSPMetadataGolden(t *testing.T) {
	m, err := New(Config{BaseURL: "https://iam.mock.test", Key: loadKey(t, "sp-test")})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "sp-metadata.golden.xml", m.SPMetadata())
}

func TestParseIdPMetadata(t *testing.T) {
	dir := filepath.Join(goldenDir, "idp-metadata")
	cases := []struct {
		file    string
		wantErr string // empty: must load
	}{
		{"good.xml", ""},
		{"no-use-keydescriptor.xml", ""},
		{"post-first.xml", "first SingleSignOnService uses binding"},
		{"no-sso.xml", "no SingleSignOnService"},
		{"encryption-cert-only.xml", "no signing certificate"},
		{"dtd.xml", "DTD"},
		{"wrong-root.xml", "root element must be md:EntityDescriptor"},
		{"no-entityid.xml", "no entityID"},
		{"bad-cert.xml", "does not parse"},
		{"saml1-only.xml", "no IDPSSODescriptor with protocolSupportEnumeration"},
		{"relative-location.xml", "not an absolute http(s) URL"},
		{"latin1.xml", "UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			m, err := ParseIdPMetadata(raw)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if m.EntityID != "https://partner.example.test/saml" || m.SSO[0].Location != "https://partner.example.test/saml/sso" || len(m.SigningCerts) != 1 {
					t.Errorf("parsed %+v", m)
				}
				return
			}
			if !errors.Is(err, ErrIdPMetadata) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want ErrIdPMetadata mentioning %q", err, tc.wantErr)
			}
		})
	}

	t.Run("Huawei's documented example", func(t *testing.T) {
		raw, err := os.ReadFile(huaweiIdPMetadata)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseIdPMetadata(raw)
		if err != nil {
			t.Fatal(err)
		}
		slo, ok := m.SLOLocation()
		if m.EntityID != "https://www.test.com" || m.SSO[0].Location != "https://www.test.com/saml/login" || !ok || slo != "https://www.test.com/saml/logout" || len(m.SigningCerts) != 1 {
			t.Errorf("parsed %+v (SLO %q)", m, slo)
		}
	})

	t.Run("over 2 MB", func(t *testing.T) {
		big := bytes.Repeat([]byte(" "), MaxIdPMetadataBytes+1)
		if _, err := ParseIdPMetadata(big); !errors.Is(err, ErrIdPMetadata) || !strings.Contains(err.Error(), "2 MB") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestNewAndRegisterRefuseBadConfig(t *testing.T) {
	key := loadKey(t, "sp-test")
	other := loadKey(t, "sp-other")
	good := filepath.Join(goldenDir, "idp-metadata", "good.xml")
	txt := filepath.Join(t.TempDir(), "metadata.txt")
	if err := os.WriteFile(txt, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"empty BaseURL", Config{Key: key}, "BaseURL is empty"},
		{"relative BaseURL", Config{BaseURL: "iam.local:9443", Key: key}, "not an absolute http(s) URL"},
		{"BaseURL with a path", Config{BaseURL: "http://127.0.0.1:9443/mock", Key: key}, "scheme://host[:port] only"},
		{"no key", Config{BaseURL: "http://127.0.0.1:9443"}, "private key and its certificate"},
		{"key and cert differ", Config{BaseURL: "http://127.0.0.1:9443", Key: metadata.SigningKey{Key: key.Key, Cert: other.Cert}}, "does not match"},
		{"negative skew", Config{BaseURL: "http://127.0.0.1:9443", Key: key, Skew: -1}, "Skew"},
		{"file and URL", Config{BaseURL: "http://127.0.0.1:9443", Key: key, IdPs: map[string]IdPRegistration{"a_IDP": {MetadataFile: good, MetadataURL: "https://x.test/m.xml"}}}, "not both"},
		{"no metadata", Config{BaseURL: "http://127.0.0.1:9443", Key: key, IdPs: map[string]IdPRegistration{"a_IDP": {}}}, "is required"},
		{"not .xml", Config{BaseURL: "http://127.0.0.1:9443", Key: key, IdPs: map[string]IdPRegistration{"a_IDP": {MetadataFile: txt}}}, ".xml"},
		{"missing file", Config{BaseURL: "http://127.0.0.1:9443", Key: key, IdPs: map[string]IdPRegistration{"a_IDP": {MetadataFile: filepath.Join(t.TempDir(), "none.xml")}}}, "no such file"},
		{"bad metadata file", Config{BaseURL: "http://127.0.0.1:9443", Key: key, IdPs: map[string]IdPRegistration{"a_IDP": {MetadataFile: filepath.Join(goldenDir, "idp-metadata", "no-sso.xml")}}}, "no SingleSignOnService"},
		{"bad metadata URL", Config{BaseURL: "http://127.0.0.1:9443", Key: key, IdPs: map[string]IdPRegistration{"a_IDP": {MetadataURL: "ftp://x.test/m.xml"}}}, "MetadataURL"},
		{"bad notification URL", Config{BaseURL: "http://127.0.0.1:9443", Key: key, IdPs: map[string]IdPRegistration{"a_IDP": {MetadataFile: good, NotificationURL: "/bind"}}}, "NotificationURL"},
		{"bad xAccountType", Config{BaseURL: "http://127.0.0.1:9443", Key: key, IdPs: map[string]IdPRegistration{"a b": {MetadataFile: good}}}, "xAccountType"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(tc.cfg)
			if m != nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want ErrConfig mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("every problem at once", func(t *testing.T) {
		_, err := New(Config{BaseURL: "nope", Skew: -1})
		for _, want := range []string{"BaseURL", "private key", "Skew"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err %v does not mention %q", err, want)
			}
		}
	})
}

func TestCheckDomainName(t *testing.T) {
	for name, ok := range map[string]bool{
		"acme_corp": true, "_abcd": true, "-abcd": true, "a2345": true, strings.Repeat("a", 32): true,
		"abcd": false, strings.Repeat("a", 33): false, "1abcd": false, "12345": false, "op_acme": false,
		"Shadow_acme": false, "acme corp": false, "acmé_corp": false, "": false,
	} {
		if err := CheckDomainName(name); (err == nil) != ok {
			t.Errorf("CheckDomainName(%q) = %v, want ok=%v", name, err, ok)
		} else if err != nil && !errors.Is(err, ErrDomainName) {
			t.Errorf("CheckDomainName(%q) error is not ErrDomainName", name)
		}
	}
}

func TestAccountAPI(t *testing.T) {
	m, err := New(Config{BaseURL: "http://127.0.0.1:9443", Key: loadKey(t, "sp-test")})
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.SeedAccount("b_IDP", "u1", "acme_corp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.SeedAccount("b_IDP", "u1", "acme_corp"); !errors.Is(err, ErrAlreadyBound) {
		t.Errorf("second seed: %v", err)
	}
	if _, err := m.SeedAccount("b_IDP", "u2", "acme_corp"); !errors.Is(err, ErrDomainBound) {
		t.Errorf("same domain for another user: %v", err)
	}
	if _, err := m.SeedAccount("c_IDP", "u2", "acme_corp"); err != nil {
		t.Errorf("same domain on another platform: %v", err)
	}
	if _, err := m.SeedAccount("a_IDP", "", "acme_corp"); !errors.Is(err, ErrAccountKey) {
		t.Errorf("empty xUserId: %v", err)
	}
	if _, err := m.SeedAccount("a_IDP", strings.Repeat("u", 129), "acme_corp"); !errors.Is(err, ErrAccountKey) {
		t.Errorf("long xUserId: %v", err)
	}
	if _, err := m.CreateDomain("acme_corp"); !errors.Is(err, ErrDomainExists) {
		t.Errorf("CreateDomain dup: %v", err)
	}
	got := m.Accounts()
	if len(got) != 2 || got[0].XAccountType != "b_IDP" || got[1].XAccountType != "c_IDP" || got[0].Domain != a.Domain {
		t.Errorf("Accounts() = %+v", got)
	}
	if !m.RemoveAccount("b_IDP", "u1") || m.RemoveAccount("b_IDP", "u1") {
		t.Error("RemoveAccount should report true then false")
	}
	if _, ok := m.Account("b_IDP", "u1"); ok {
		t.Error("account still there")
	}
	if len(m.Domains()) != 1 {
		t.Errorf("Domains() = %+v; removing a binding keeps the Huawei account", m.Domains())
	}
}
