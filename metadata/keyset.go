package metadata

import (
	"crypto/rsa"
	"crypto/x509"
)

// SigningKey is one IdP key pair: the private key and its certificate.
type SigningKey struct {
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
}

// Keyset is the IdP's signing material: Current signs; Next, when staged for a
// rollover, is published in metadata beside Current but never signs;
// Previous, after a promotion, stays published until it is retired so that
// the SP's cached copy of our metadata keeps working.
type Keyset struct {
	Current  SigningKey
	Next     *x509.Certificate
	Previous *x509.Certificate
}

// Published is every certificate the IdP metadata lists, Current first.
func (k *Keyset) Published() []*x509.Certificate {
	certs := []*x509.Certificate{k.Current.Cert}
	if k.Next != nil {
		certs = append(certs, k.Next)
	}
	if k.Previous != nil {
		certs = append(certs, k.Previous)
	}
	return certs
}
