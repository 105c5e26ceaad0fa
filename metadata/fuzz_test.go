package metadata

import (
	"bytes"
	"strings"
	"testing"
)

func FuzzParseSP(f *testing.F) {
	huawei := huaweiSPMetadata(f)
	f.Add(huawei)
	f.Add(stripSignature(f, huawei))
	f.Add(readFixture(f, "metadata", "sp-metadata-test.xml"))
	f.Add(readFixture(f, "huawei", "idp-metadata-doc-example.xml"))
	f.Add([]byte(`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"></md:EntitiesDescriptor>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`))
	pin, err := parseBase64Cert(string(huawei[bytes.Index(huawei, []byte("<ds:X509Certificate>"))+len("<ds:X509Certificate>") : bytes.Index(huawei, []byte("</ds:X509Certificate>"))]))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opts := range []SPLoadOptions{{Now: testNow}, {PinnedCert: pin, Now: testNow}} {
			sp, err := ParseSP(data, opts)
			if err != nil {
				if sp != nil {
					t.Fatal("SP returned with an error")
				}
				continue
			}
			if sp.EntityID == "" || len(sp.ACS) == 0 || len(sp.SigningCerts) == 0 {
				t.Fatalf("accepted an incomplete SP: %+v", sp)
			}
			if opts.PinnedCert != nil && sp.SignatureStatus != SignatureVerified {
				t.Fatalf("pinned but status %q", sp.SignatureStatus)
			}
			if bytes.Contains(data, []byte("<!DOCTYPE")) {
				t.Fatal("accepted a DTD")
			}
			for _, e := range append(sp.ACS, sp.SLO...) {
				if !strings.HasPrefix(e.Location, "https://") {
					t.Fatalf("accepted a non-https endpoint %q", e.Location)
				}
			}
		}
	})
}

func FuzzCheckIDPMetadata(f *testing.F) {
	for _, name := range []string{"idp-metadata-minimal.xml", "idp-metadata-full.xml"} {
		f.Add(readFixture(f, "metadata", name))
	}
	f.Add(readFixture(f, "huawei", "idp-metadata-doc-example.xml"))
	f.Add(huaweiSPMetadata(f))
	f.Add([]byte(`<?xml version="1.0" encoding="latin1"?><!DOCTYPE a><a/>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		ps := CheckIDPMetadata(doc, CheckOptions{Now: testNow})
		again := CheckIDPMetadata(doc, CheckOptions{Now: testNow})
		if len(ps) != len(again) {
			t.Fatal("not deterministic")
		}
		for _, p := range ps {
			if p.Code == "" || p.Message == "" {
				t.Fatalf("empty problem %+v", p)
			}
		}
		if len(ps) == 0 {
			if len(doc) > MaxIDPMetadataBytes || bytes.Contains(doc, []byte("PRIVATE KEY")) || bytes.Contains(doc, []byte("<!DOCTYPE")) {
				t.Fatal("a forbidden document passed")
			}
			if !bytes.Contains(doc, []byte("WantAuthnRequestsSigned")) || !bytes.Contains(doc, []byte("SingleSignOnService")) {
				t.Fatal("a document without WantAuthnRequestsSigned or SSO passed")
			}
		}
	})
}

func FuzzParsePrivateKeyPEM(f *testing.F) {
	for _, name := range []string{"idp-current.key", "sp-test.key"} {
		f.Add(readFixture(f, "keys", name))
	}
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := parsePrivateKeyPEM("key.pem", data)
		if err != nil {
			if key != nil {
				t.Fatal("key returned with an error")
			}
			return
		}
		if key.N.BitLen() < MinRSABits {
			t.Fatalf("accepted a %d-bit key", key.N.BitLen())
		}
	})
}

func FuzzParseFingerprintSHA256(f *testing.F) {
	f.Add(huaweiFingerprint)
	f.Add(strings.ReplaceAll(huaweiFingerprint, ":", ""))
	f.Add("sha256:" + strings.ToLower(huaweiFingerprint))
	f.Add("70:14")
	f.Fuzz(func(t *testing.T, s string) {
		fp, err := ParseFingerprintSHA256(s)
		if err != nil {
			return
		}
		again, err := ParseFingerprintSHA256(fp)
		if err != nil || again != fp || len(fp) != 95 {
			t.Fatalf("canonical form %q does not round-trip: %q, %v", fp, again, err)
		}
	})
}
