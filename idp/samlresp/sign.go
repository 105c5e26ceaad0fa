package samlresp

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/partneridp/partneridp/metadata"
)

const (
	nsXMLDSig       = "http://www.w3.org/2000/09/xmldsig#"
	algExcC14N      = "http://www.w3.org/2001/10/xml-exc-c14n#"
	algRSASHA256    = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	algEnveloped    = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
	algSHA256Digest = "http://www.w3.org/2001/04/xmlenc#sha256"
)

// keyPairSigner signs with the Builder's Key: the default when no Signer is
// set.
type keyPairSigner struct{ k metadata.SigningKey }

func (s keyPairSigner) Public() crypto.PublicKey { return &s.k.Key.PublicKey }
func (s keyPairSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.k.Key.Sign(r, digest, opts)
}
func (s keyPairSigner) Certificate() *x509.Certificate { return s.k.Cert }

// signEnveloped adds an enveloped ds:Signature to e (RSA-SHA256, exc-c14n,
// SHA-256 digest, our certificate in KeyInfo, Reference URI "#<id>"), placed
// right after e's Issuer as the SAML schema requires. e must not hold a
// Signature yet, and every namespace it uses must be declared on it (both
// hold for what we build), so its canonical form as an apex is the one a
// verifier computes in place.
func (s *settings) signEnveloped(e *node, id string) error {
	t, signer := s.tree, s.signer
	bufp := scratch.Get().(*[]byte)
	defer scratch.Put(bufp)
	buf := e.canonical((*bufp)[:0], nil)
	*bufp = buf
	digest := sha256.Sum256(buf)

	signedInfo := t.el("ds:SignedInfo").add(
		t.el("ds:CanonicalizationMethod", xattr{"Algorithm", algExcC14N}),
		t.el("ds:SignatureMethod", xattr{"Algorithm", algRSASHA256}),
		t.el("ds:Reference", xattr{"URI", "#" + id}).add(
			t.el("ds:Transforms").add(
				t.el("ds:Transform", xattr{"Algorithm", algEnveloped}),
				t.el("ds:Transform", xattr{"Algorithm", algExcC14N}),
			),
			t.el("ds:DigestMethod", xattr{"Algorithm", algSHA256Digest}),
			t.el("ds:DigestValue").withText(base64.StdEncoding.EncodeToString(digest[:])),
		),
	)
	buf = signedInfo.canonical(buf[:0], dsScope)
	*bufp = buf
	siDigest := sha256.Sum256(buf)
	value, err := signer.Sign(rand.Reader, siDigest[:], crypto.SHA256)
	if err != nil {
		return fmt.Errorf("samlresp: signing: %w", err)
	}
	sig := t.el("ds:Signature", xattr{"xmlns:ds", nsXMLDSig}).add(
		signedInfo,
		t.el("ds:SignatureValue").withText(base64.StdEncoding.EncodeToString(value)),
		t.el("ds:KeyInfo").add(t.el("ds:X509Data").add(
			t.el("ds:X509Certificate").withText(certBase64(signer.Certificate())))),
	)
	if !e.insertAfter("saml2:Issuer", sig) {
		return fmt.Errorf("samlresp: signing: %s has no Issuer to place the signature after", e.name)
	}
	return nil
}

// dsScope is what SignedInfo inherits from its ds:Signature parent.
var dsScope = []nsBinding{{"ds", nsXMLDSig}}

// certBase64 is cert.Raw in base64, remembered for the last certificate seen
// (the signing certificate changes only at a rollover).
func certBase64(cert *x509.Certificate) string {
	if c := lastCert.Load(); c != nil && c.cert == cert {
		return c.b64
	}
	c := &certText{cert: cert, b64: base64.StdEncoding.EncodeToString(cert.Raw)}
	lastCert.Store(c)
	return c.b64
}

type certText struct {
	cert *x509.Certificate
	b64  string
}

var lastCert atomic.Pointer[certText]

// scratch holds buffers for canonical forms and documents, which are hashed
// or copied out and then dropped.
var scratch = sync.Pool{New: func() any {
	b := make([]byte, 0, 8<<10)
	return &b
}}

// SigningCertificate is the certificate published for the key that signs
// now (the Signer's current one, else Key's); nil when there is none.
func (b *Builder) SigningCertificate() *x509.Certificate {
	if b.Signer != nil {
		if s := b.Signer.Current(); s != nil {
			return s.Certificate()
		}
		return nil
	}
	return b.Key.Cert
}
