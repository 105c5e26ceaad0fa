package samlreq

import (
	"context"
	"crypto/x509"
	"testing"

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
