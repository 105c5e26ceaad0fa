package metadata

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// ErrSigner is wrapped by every refusal of a Signer: no key, no certificate,
// a certificate for another key, not RSA, too small.
var ErrSigner = errors.New("unusable signer")

// Signer is the IdP's signing identity as the protocol code sees it: a
// crypto.Signer that makes RSA PKCS#1 v1.5 signatures (Sign gets a digest and
// a crypto.Hash as opts) and the certificate published for its key, which goes
// into KeyInfo. The key may live in a file (NewKeySigner, the default), an
// HSM or a cloud KMS: whoever signs only sees this interface. After dex's
// Signer.
type Signer interface {
	crypto.Signer
	Certificate() *x509.Certificate
}

// SignerSource hands out the Signer to use for one document. Callers ask once
// per document, so a document's KeyInfo and its signature always come from the
// same Signer even while another goroutine swaps it.
type SignerSource interface {
	Current() Signer
}

// keySigner is the file-based default: a loaded private key and its
// certificate.
type keySigner struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

func (s *keySigner) Public() crypto.PublicKey { return &s.key.PublicKey }
func (s *keySigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.key.Sign(rand, digest, opts)
}
func (s *keySigner) Certificate() *x509.Certificate { return s.cert }

// NewKeySigner is the default Signer: the key pair loaded by LoadSigningKey
// (or LoadKeyset's Current). It checks what CheckSigner checks.
func NewKeySigner(k SigningKey) (Signer, error) {
	if k.Key == nil || k.Cert == nil {
		return nil, fmt.Errorf("%w: the signing key and its certificate are both required", ErrSigner)
	}
	s := &keySigner{key: k.Key, cert: k.Cert}
	if err := CheckSigner(s); err != nil {
		return nil, err
	}
	return s, nil
}

// CheckSigner reports whether s can sign our documents: it has a
// certificate, the certificate is for s's RSA key, and the key has at least
// MinRSABits bits. It does not judge the certificate's dates: the published
// certificate is what the SP pinned, expired or not.
func CheckSigner(s Signer) error {
	if s == nil {
		return fmt.Errorf("%w: no signer", ErrSigner)
	}
	cert := s.Certificate()
	if cert == nil {
		return fmt.Errorf("%w: the signer has no certificate to publish", ErrSigner)
	}
	pub, ok := s.Public().(*rsa.PublicKey)
	if !ok || pub == nil {
		return fmt.Errorf("%w: the signing key is %T; use RSA (rsa-sha256 is what we sign with)", ErrSigner, s.Public())
	}
	if !pub.Equal(cert.PublicKey) {
		return fmt.Errorf("%w: the signing certificate does not belong to the signing key", ErrSigner)
	}
	if bits := pub.N.BitLen(); bits < MinRSABits {
		return fmt.Errorf("%w: the signing key has %d bits; use RSA-%d or larger", ErrSigner, bits, MinRSABits)
	}
	return nil
}

// SignerSlot holds the current Signer and swaps it atomically: key rotation
// (promote) and reload put a new Signer in place while requests are being
// answered; each document is signed entirely by the old or by the new one.
// The zero SignerSlot holds nothing; use NewSignerSlot.
type SignerSlot struct {
	cur atomic.Pointer[signerRef]
}

// signerRef boxes the interface value for atomic.Pointer.
type signerRef struct{ s Signer }

// NewSignerSlot returns a slot holding s, after CheckSigner.
func NewSignerSlot(s Signer) (*SignerSlot, error) {
	slot := &SignerSlot{}
	if _, err := slot.Swap(s); err != nil {
		return nil, err
	}
	return slot, nil
}

// Current is the Signer to use now; nil only for a zero SignerSlot.
func (slot *SignerSlot) Current() Signer {
	if r := slot.cur.Load(); r != nil {
		return r.s
	}
	return nil
}

// Swap checks next (CheckSigner) and makes it current; it returns the Signer
// it replaced. On error the slot is unchanged.
func (slot *SignerSlot) Swap(next Signer) (Signer, error) {
	if err := CheckSigner(next); err != nil {
		return nil, err
	}
	if old := slot.cur.Swap(&signerRef{s: next}); old != nil {
		return old.s, nil
	}
	return nil, nil
}
