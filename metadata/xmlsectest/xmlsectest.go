// Package xmlsectest lets tests check signed XML and schemas with
// implementations we did not write: xmlsec1 and xmllint. Outside CI a
// missing tool skips the cross-check (guard it with Have or
// HaveSchemaTools so that the test's own assertions still run); with
// CI=true a missing tool fails the test.
package xmlsectest

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/partneridp/partneridp/internal/testtools"
)

// Require returns the path of tool, skipping the test when it is missing
// outside CI and failing it in CI. Use it only in a test that is nothing but
// the cross-check; elsewhere guard the cross-check with Have.
func Require(t testing.TB, tool string) string {
	t.Helper()
	return testtools.Require(t, tool)
}

// Have reports whether tool is installed; when it is not, the caller skips
// only its cross-check (in CI, the test fails). See internal/testtools.
func Have(t testing.TB, tool string) bool {
	t.Helper()
	_, ok := testtools.Have(t, tool)
	return ok
}

// HaveSchemaTools reports whether xmllint and the SAML metadata XSD are
// both installed, recording what is missing like Have.
func HaveSchemaTools(t testing.TB) bool {
	t.Helper()
	okLint := Have(t, "xmllint")
	_, okXSD := testtools.HaveFile(t, "saml-schemas", metadataXSDs...)
	return okLint && okXSD
}

// Verify runs xmlsec1 --verify on doc with cert as the trusted key. idAttr
// names the element whose ID attribute the signature references, for
// example "urn:oasis:names:tc:SAML:2.0:assertion:Assertion". It returns
// xmlsec1's combined output and whether it accepted the signature.
func Verify(t testing.TB, doc []byte, cert *x509.Certificate, idAttrs ...string) (string, bool) {
	t.Helper()
	bin := Require(t, "xmlsec1")
	// Not t.TempDir(): its name holds the test name, and xmlsec1 splits
	// --pubkey-cert-pem on commas.
	dir, err := os.MkdirTemp("", "xmlsec")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	docPath := filepath.Join(dir, "doc.xml")
	certPath := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(docPath, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	if err := os.WriteFile(certPath, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--verify", "--pubkey-cert-pem", certPath}
	for _, a := range idAttrs {
		args = append(args, "--id-attr:ID", a)
	}
	args = append(args, docPath)
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err == nil && bytes.Contains(out, []byte("OK"))
}

// ValidateSchema runs xmllint --noout --schema xsd on doc and returns its
// output and whether the document is valid.
func ValidateSchema(t testing.TB, doc []byte, xsd string) (string, bool) {
	t.Helper()
	bin := Require(t, "xmllint")
	docPath := filepath.Join(t.TempDir(), "doc.xml")
	if err := os.WriteFile(docPath, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--noout", "--nonet", "--schema", xsd, docPath)
	cmd.Env = append(os.Environ(), "XML_CATALOG_FILES="+schemaCatalog(t))
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// schemaCatalog returns the project's XML catalog (testdata/xsd-catalog.xml),
// which maps the W3C schemas the SAML XSDs import to Debian's local copies
// so that xmllint --nonet can compile them. It looks upwards from the test's
// package folder for the module root.
func schemaCatalog(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "testdata", "xsd-catalog.xml")
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("the schema catalog %s is missing", p)
			}
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's folder")
		}
		dir = parent
	}
}

var metadataXSDs = []string{
	"/usr/share/xml/opensaml/saml-schema-metadata-2.0.xsd",
	"/usr/lib/python3/dist-packages/onelogin/saml2/schemas/saml-schema-metadata-2.0.xsd",
}

// MetadataXSD returns the path of the OASIS SAML 2.0 metadata schema shipped
// by Debian's opensaml-schemas (or python3-onelogin-saml2), skipping or
// failing like Require when neither is installed.
func MetadataXSD(t testing.TB) string {
	t.Helper()
	p, ok := testtools.HaveFile(t, "saml-schemas", metadataXSDs...)
	if !ok {
		t.SkipNow()
	}
	return p
}
