package samlresp

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"io"
	mathrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/partneridp/partneridp/idp/user"
	"github.com/partneridp/partneridp/metadata"
	"github.com/partneridp/partneridp/metadata/xmlsectest"
	dsig "github.com/russellhaering/goxmldsig"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/samlresp")

const (
	testIdP   = "https://idp.partner.example/saml/metadata"
	testSPID  = "https://auth.huaweicloud.com/"
	testACS   = "https://auth.huaweicloud.com/authui/saml/SAMLAssertionConsumer"
	testReqID = "_th2kld6nqqaq6lbvbw1cqqkbld2m7shj5i7x" // Huawei's own sample AuthnRequest ID
)

// fixedNow is the golden files' clock: within the test certificate's
// validity, and not on a millisecond boundary on purpose.
var fixedNow = time.Date(2027, 3, 14, 9, 26, 53, 589793238, time.UTC)

func keysDir() string { return filepath.Join("..", "..", "testdata", "keys") }

func loadKey(t testing.TB, name string) metadata.SigningKey {
	t.Helper()
	keyPEM, err := os.ReadFile(filepath.Join(keysDir(), name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := os.ReadFile(filepath.Join(keysDir(), name+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := pem.Decode(keyPEM)
	cb, _ := pem.Decode(certPEM)
	if kb == nil || cb == nil {
		t.Fatalf("%s: no PEM block", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return metadata.SigningKey{Key: k.(*rsa.PrivateKey), Cert: cert}
}

// huaweiSP is Huawei's China-site SP as its metadata describes it (§3.1).
func huaweiSP() *metadata.SP {
	return &metadata.SP{
		EntityID: testSPID,
		ACS:      []metadata.Endpoint{{SAMLBinding: metadata.SAMLBindingHTTPPost, Location: testACS, Index: 0, IsDefault: true}},
		SLO: []metadata.Endpoint{
			{SAMLBinding: metadata.SAMLBindingHTTPPost, Location: "https://auth.huaweicloud.com/authui/saml/LogoutServiceHTTPPost",
				ResponseLocation: "https://auth.huaweicloud.com/authui/saml/LogoutServiceHTTPPostResponse"},
			{SAMLBinding: metadata.SAMLBindingHTTPRedirect, Location: "https://auth.huaweicloud.com/authui/saml/LogoutServiceHTTPRedirect",
				ResponseLocation: "https://auth.huaweicloud.com/authui/saml/LogoutServiceHTTPRedirectResponse"},
		},
		NameIDFormats:        []string{metadata.NameIDFormatTransient},
		AuthnRequestsSigned:  true,
		WantAssertionsSigned: true,
	}
}

func huaweiRequest() Request {
	return Request{SP: huaweiSP(), ACS: testACS, InResponseTo: testReqID,
		NameIDFormat: metadata.NameIDFormatTransient, SPNameQualifier: testSPID, SessionIndex: "sess-0001"}
}

func testUser() user.User {
	return user.User{
		XAccountID: "a1b2c3d4e5f60718293a4b5c6d7e8f90",
		Fields: map[string]string{
			user.Name:   "Zhang San & Co <Ltd>",
			user.Mobile: "86-13800000000",
			user.Email:  "zhang.san@example.com",
			user.BPID:   "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
		},
		AuthTime: fixedNow.Add(-90 * time.Second),
	}
}

// seededRand makes IDs deterministic for golden files.
func seededRand() io.Reader {
	return mathrand.NewChaCha8([32]byte{'p', 'a', 'r', 't', 'n', 'e', 'r', 'i', 'd', 'p'})
}

func testBuilder(t testing.TB) *Builder {
	return &Builder{
		IssuerEntityID: testIdP,
		Key:            loadKey(t, "idp-current"),
		Clock:          func() time.Time { return fixedNow },
		Rand:           seededRand(),
	}
}

// verifyXMLSec checks the signature inside the element with ID nodeID using
// xmlsec1; idAttr names that element's type ("urn:...:assertion:Assertion").
func verifyXMLSec(t testing.TB, xml []byte, cert *x509.Certificate, idAttr, nodeID string) (string, bool) {
	t.Helper()
	bin := xmlsectest.Require(t, "xmlsec1")
	dir := t.TempDir()
	docPath := filepath.Join(dir, "doc.xml")
	certPath := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(docPath, xml, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--verify", "--pubkey-cert-pem", certPath,
		"--id-attr:ID", idAttr, "--node-id", nodeID, docPath).CombinedOutput()
	return string(out), err == nil && strings.Contains(string(out), "OK")
}

// verifyGoxmldsig checks el's enveloped signature with goxmldsig, as a
// second, independent implementation.
func verifyGoxmldsig(t testing.TB, el *etree.Element, cert *x509.Certificate) error {
	t.Helper()
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	ctx.Clock = dsig.NewFakeClockAt(fixedNow)
	_, err := ctx.Validate(el)
	return err
}

func parseDoc(t testing.TB, xml []byte) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(xml); err != nil {
		t.Fatalf("output does not parse: %v", err)
	}
	return doc.Root()
}
