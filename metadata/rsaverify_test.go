package metadata

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"math/big"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// huaweiSignature is a real signature by Huawei's RSA-4096 SP key: the
// SignatureValue of sp-metadata-cn.xml, with the SHA-256 digest it signs
// (read out of the signature block once, with math/big).
func huaweiSignature(t testing.TB) (pub *rsa.PublicKey, digest, sig []byte) {
	t.Helper()
	cert, err := LoadCertificate(filepath.Join("..", "testdata", "huawei", "sp-signing-cert-cn.pem"), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	pub = cert.PublicKey.(*rsa.PublicKey)
	m := regexp.MustCompile(`(?s)<(?:\w+:)?SignatureValue[^>]*>(.*?)</`).FindSubmatch(readFixture(t, "huawei", "sp-metadata-cn.xml"))
	if m == nil {
		t.Fatal("no SignatureValue in sp-metadata-cn.xml")
	}
	if sig, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(m[1])), "")); err != nil {
		t.Fatal(err)
	}
	em := new(big.Int).Exp(new(big.Int).SetBytes(sig), big.NewInt(int64(pub.E)), pub.N).Bytes()
	digest = em[len(em)-sha256.Size:]
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig); err != nil {
		t.Fatalf("crypto/rsa refuses Huawei's signature: %v", err)
	}
	return pub, digest, sig
}

// TestVerifyPKCS1v15AgreesWithCryptoRSA: the fast path says yes exactly
// where crypto/rsa does, for real and tampered signatures, every hash we
// admit, RSA-3072 and Huawei's RSA-4096.
func TestVerifyPKCS1v15AgreesWithCryptoRSA(t *testing.T) {
	// RSA-2048 goes to crypto/rsa itself; the fast path starts above.
	key, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		t.Fatal(err)
	}
	type tc struct {
		name   string
		pub    *rsa.PublicKey
		h      crypto.Hash
		digest []byte
		sig    []byte
	}
	var cases []tc
	hpub, hdigest, hsig := huaweiSignature(t)
	cases = append(cases, tc{"huawei rsa-4096 sha256", hpub, crypto.SHA256, hdigest, hsig})
	msg := []byte("SAMLRequest=abc&RelayState=x&SigAlg=y")
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA512} {
		var d []byte
		switch h {
		case crypto.SHA1:
			s := sha1.Sum(msg)
			d = s[:]
		case crypto.SHA256:
			s := sha256.Sum256(msg)
			d = s[:]
		case crypto.SHA512:
			s := sha512.Sum512(msg)
			d = s[:]
		}
		sig, err := rsa.SignPKCS1v15(nil, key, h, d)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, tc{"rsa-3072 " + h.String(), &key.PublicKey, h, d, sig})
	}
	flip := func(b []byte, i int) []byte { c := append([]byte(nil), b...); c[i] ^= 1; return c }
	for _, c := range cases {
		variants := []struct {
			name   string
			h      crypto.Hash
			digest []byte
			sig    []byte
		}{
			{"valid", c.h, c.digest, c.sig},
			{"digest bit flipped", c.h, flip(c.digest, 0), c.sig},
			{"signature first byte flipped", c.h, c.digest, flip(c.sig, 0)},
			{"signature last byte flipped", c.h, c.digest, flip(c.sig, len(c.sig)-1)},
			{"signature short", c.h, c.digest, c.sig[1:]},
			{"signature long", c.h, c.digest, append([]byte{0}, c.sig...)},
			{"signature = N", c.h, c.digest, c.pub.N.Bytes()},
			{"signature zero", c.h, c.digest, make([]byte, len(c.sig))},
			{"other hash claimed", crypto.SHA512, append(c.digest, make([]byte, 64)...)[:64], c.sig},
			{"digest short", c.h, c.digest[:len(c.digest)-1], c.sig},
		}
		for _, v := range variants {
			want := rsa.VerifyPKCS1v15(c.pub, v.h, v.digest, v.sig) == nil
			got := verifyPKCS1v15(c.pub, v.h, v.digest, v.sig) == nil
			if got != want {
				t.Errorf("%s, %s: fast path says %v, crypto/rsa %v", c.name, v.name, got, want)
			}
			if v.name == "valid" && !got {
				t.Errorf("%s: valid signature refused", c.name)
			}
		}
	}
}

// BenchmarkVerifyHuaweiRSA4096 verifies a real signature by Huawei's
// RSA-4096 SP key: through VerifyDetached's path (verifyPKCS1v15) and
// through crypto/rsa directly, which sets the key up on every call in the
// standard build. Run it in both builds (see README, "boringcrypto").
func BenchmarkVerifyHuaweiRSA4096(b *testing.B) {
	pub, digest, sig := huaweiSignature(b)
	b.Run("bridge", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := verifyPKCS1v15(pub, crypto.SHA256, digest, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("crypto-rsa", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerifyDetachedHuaweiRSA4096 is the whole detached-signature check
// (SigAlg, base64, SHA-256 of the octets, RSA) with Huawei's real key; the
// signature does not match these octets, so every certificate is tried,
// as for a forged request.
func BenchmarkVerifyDetachedHuaweiRSA4096(b *testing.B) {
	pub, _, sig := huaweiSignature(b)
	cert := &x509.Certificate{PublicKey: pub}
	octets := []byte(strings.Repeat("SAMLRequest=x", 100))
	sigB64 := base64.StdEncoding.EncodeToString(sig)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (SigAlgPolicy{}).VerifyDetached(SigAlgRSASHA256, octets, sigB64, []*x509.Certificate{cert}); err == nil {
			b.Fatal("forged octets verified")
		}
	}
}
