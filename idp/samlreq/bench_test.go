package samlreq

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/partneridp/partneridp/metadata"
)

// BenchmarkFromRedirect is the full intake of Huawei's sample signed with
// RSA-2048: parse query, inflate, XML, checks and signature.
func BenchmarkFromRedirect(b *testing.B) {
	in := newIntake(b)
	in.Replay = acceptAll{}
	q := signedSample(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := in.FromRedirect(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyOnly is the baseline: the RSA-2048 verification of the
// same octets alone. FromRedirect / VerifyOnly is the cost of everything
// else in the intake.
func BenchmarkVerifyOnly(b *testing.B) {
	k := loadKey(b, "sp-test")
	r := redirect{SAMLRequest: sampleRaw(b), RelayState: relayStateRaw, Key: k.Key}
	octets := []byte(r.octets())
	sig, err := metadata.SignDetached(k.Key, metadata.SigAlgRSASHA256, octets)
	if err != nil {
		b.Fatal(err)
	}
	policy := metadata.SigAlgPolicy{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := policy.VerifyDetached(metadata.SigAlgRSASHA256, octets, sig, []*x509.Certificate{k.Cert}); err != nil {
			b.Fatal(err)
		}
	}
}

// rsa4096 is an SP key of the size Huawei's real SP key has (RSA-4096,
// testdata/huawei/sp-signing-cert-cn.pem), made once per process: Huawei's
// private key is not ours, and the cost of a verification depends only on
// the key size.
var rsa4096 = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 4096) })

func rsa4096Cert(b *testing.B) (*rsa.PrivateKey, *x509.Certificate) {
	key, err := rsa4096()
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: sampleNow.Add(-time.Hour), NotAfter: sampleNow.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		b.Fatal(err)
	}
	return key, cert
}

// BenchmarkFromRedirectRSA4096 and BenchmarkVerifyOnlyRSA4096 are
// BenchmarkFromRedirect and BenchmarkVerifyOnly with an SP key of Huawei's
// size.
func BenchmarkFromRedirectRSA4096(b *testing.B) {
	key, cert := rsa4096Cert(b)
	in := newIntake(b)
	sp := huaweiSP(cert)
	in.SPs = func(string) (*metadata.SP, bool) { return sp, true }
	in.Replay = acceptAll{}
	q := redirect{SAMLRequest: sampleRaw(b), RelayState: relayStateRaw, Key: key}.query(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := in.FromRedirect(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyOnlyRSA4096(b *testing.B) {
	key, cert := rsa4096Cert(b)
	octets := []byte(redirect{SAMLRequest: sampleRaw(b), RelayState: relayStateRaw, Key: key}.octets())
	sig, err := metadata.SignDetached(key, metadata.SigAlgRSASHA256, octets)
	if err != nil {
		b.Fatal(err)
	}
	policy := metadata.SigAlgPolicy{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := policy.VerifyDetached(metadata.SigAlgRSASHA256, octets, sig, []*x509.Certificate{cert}); err != nil {
			b.Fatal(err)
		}
	}
}
