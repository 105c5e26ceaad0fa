package metadata

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	_ "crypto/sha1" // registered for the opt-in rsa-sha1
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// Signature algorithm URIs accepted on detached (query-string) signatures.
const (
	SigAlgRSASHA1   = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	SigAlgRSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	SigAlgRSASHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
)

// Errors of detached-signature verification. Callers map them to 400s.
var (
	ErrSigAlgNotAllowed = errors.New("signature algorithm not allowed")
	ErrSignatureMissing = errors.New("signature missing")
	ErrSignatureInvalid = errors.New("signature does not verify with any trusted certificate")
)

// SigAlgPolicy is the allow-list for detached signatures: rsa-sha256 and
// rsa-sha512 always, rsa-sha1 only when the operator turns it on.
type SigAlgPolicy struct {
	AllowSHA1 bool
}

// Hash returns the digest for an allowed SigAlg URI.
func (p SigAlgPolicy) Hash(sigAlg string) (crypto.Hash, error) {
	switch sigAlg {
	case SigAlgRSASHA256:
		return crypto.SHA256, nil
	case SigAlgRSASHA512:
		return crypto.SHA512, nil
	case SigAlgRSASHA1:
		if p.AllowSHA1 {
			return crypto.SHA1, nil
		}
		return 0, fmt.Errorf("%w: rsa-sha1 is refused unless allow_rsa_sha1 is enabled", ErrSigAlgNotAllowed)
	case "":
		return 0, fmt.Errorf("%w: SigAlg is empty", ErrSigAlgNotAllowed)
	}
	return 0, fmt.Errorf("%w: %.100q (allowed: rsa-sha256, rsa-sha512)", ErrSigAlgNotAllowed, sigAlg)
}

// VerifyDetached checks a base64 RSA PKCS#1 v1.5 signature over signed, made
// with sigAlg, against each trusted certificate in turn. It returns the
// certificate that verified. The bytes in signed must be exactly those the
// sender signed: the caller must not re-encode them.
func (p SigAlgPolicy) VerifyDetached(sigAlg string, signed []byte, signatureB64 string, certs []*x509.Certificate) (*x509.Certificate, error) {
	h, err := p.Hash(sigAlg)
	if err != nil {
		return nil, err
	}
	if signatureB64 == "" {
		return nil, ErrSignatureMissing
	}
	// Senders differ on padding and on line breaks inside the value.
	clean := strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, signatureB64)
	sig, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		if sig, err = base64.RawStdEncoding.DecodeString(clean); err != nil {
			return nil, fmt.Errorf("%w: Signature is not base64", ErrSignatureInvalid)
		}
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: the SP metadata has no signing certificate", ErrSignatureInvalid)
	}
	hasher := h.New()
	hasher.Write(signed)
	digest := hasher.Sum(nil)
	for _, c := range certs {
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			continue
		}
		if verifyPKCS1v15(pub, h, digest, sig) == nil {
			return c, nil
		}
	}
	return nil, ErrSignatureInvalid
}

// SignDetached makes the signature VerifyDetached checks. The mock Huawei IAM
// and tests use it to sign AuthnRequests and bind notifications.
func SignDetached(key *rsa.PrivateKey, sigAlg string, signed []byte) (string, error) {
	return SignDetachedWith(key, sigAlg, signed)
}

// SignDetachedWith is SignDetached through any crypto.Signer of an RSA key
// (a Signer from a SignerSource, an HSM).
func SignDetachedWith(signer crypto.Signer, sigAlg string, signed []byte) (string, error) {
	h, err := SigAlgPolicy{AllowSHA1: true}.Hash(sigAlg)
	if err != nil {
		return "", err
	}
	hasher := h.New()
	hasher.Write(signed)
	sig, err := signer.Sign(rand.Reader, hasher.Sum(nil), h)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}
