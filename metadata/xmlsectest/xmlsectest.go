// Package xmlsectest lets tests check signed XML and schemas with
// implementations we did not write: xmlsec1 and xmllint. Outside CI a test
// skips when the tool is missing; with CI=true a missing tool fails the test.
package xmlsectest

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Require returns the path of tool, skipping the test when it is missing
// outside CI and failing it in CI.
func Require(t testing.TB, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required in CI but not installed (see .ci/run)", tool)
	}
	t.Skipf("%s not installed; skipping (it is required when CI=true)", tool)
	return ""
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
	if catalog := schemaCatalog(t); catalog != "" {
		cmd.Env = append(os.Environ(), "XML_CATALOG_FILES="+catalog)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// schemaImports maps the W3C schema locations the SAML schemas import to the
// names of local copies (Debian's xmltooling-schemas), so xmllint --nonet can
// compile them.
var schemaImports = map[string]string{
	"http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd": "xmldsig-core-schema.xsd",
	"http://www.w3.org/TR/2002/REC-xmlenc-core-20021210/xenc-schema.xsd":          "xenc-schema.xsd",
	"http://www.w3.org/2001/xml.xsd":                                              "xml.xsd",
}

// schemaCatalog writes an XML catalog for schemaImports and returns its path,
// or "" when the local copies are not installed (xmllint then reports the
// missing imports itself).
func schemaCatalog(t testing.TB) string {
	t.Helper()
	dir := "/usr/share/xml/xmltooling"
	var sb strings.Builder
	sb.WriteString(`<?xml version="1.0"?>` + "\n" + `<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">` + "\n")
	for loc, name := range schemaImports {
		local := filepath.Join(dir, name)
		if _, err := os.Stat(local); err != nil {
			return ""
		}
		fmt.Fprintf(&sb, "  <system systemId=%q uri=%q/>\n", loc, "file://"+local)
	}
	sb.WriteString("</catalog>\n")
	path := filepath.Join(t.TempDir(), "catalog.xml")
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// MetadataXSD returns the path of the OASIS SAML 2.0 metadata schema shipped
// by Debian's opensaml-schemas (or python3-onelogin-saml2), skipping or
// failing like Require when neither is installed.
func MetadataXSD(t testing.TB) string {
	t.Helper()
	candidates := []string{
		"/usr/share/xml/opensaml/saml-schema-metadata-2.0.xsd",
		"/usr/lib/python3/dist-packages/onelogin/saml2/schemas/saml-schema-metadata-2.0.xsd",
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("SAML metadata XSD not found; .ci/run must install opensaml-schemas")
	}
	t.Skip("SAML metadata XSD not installed (apt-get install opensaml-schemas)")
	return ""
}
