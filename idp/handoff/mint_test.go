package handoff

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/partneridp/partneridp/idp/user"
)

func TestMintVerifies(t *testing.T) {
	f := loadFixture(t)
	tests := []struct {
		p   testPlatform
		alg string
		kid string
		key any
	}{
		{pED, AlgEdDSA, "", f.ed},
		{pEC, AlgES256, "", f.ec},
		{pRSA, AlgRS256, "", f.rsa},
		{pHS, AlgHS256, "", f.hs},
		{pJWKS, AlgES256, "ec-1", f.ec},
	}
	for _, tc := range tests {
		t.Run(tc.p.name, func(t *testing.T) {
			m := &Minter{Issuer: tc.p.iss, Audience: tc.p.aud, KID: tc.kid, Alg: tc.alg, Key: tc.key, Clock: fixedClock(t0)}
			tok, err := m.Mint("cust-42", map[string]any{"name": "Li Si", "auth_time": t0.Add(-time.Minute).Unix()})
			if err != nil {
				t.Fatal(err)
			}
			v, _ := f.verifier(t0)
			c, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if c.XAccountID != "cust-42" || c.Get(user.Name) != "Li Si" || !c.Expires.Equal(t0.Add(DefaultMintLifetime)) || !c.AuthTime.Equal(t0.Add(-time.Minute)) {
				t.Errorf("claims = %+v", c)
			}
		})
	}
}

func TestMintDeterministicJTI(t *testing.T) {
	f := loadFixture(t)
	m := &Minter{Issuer: pED.iss, Audience: pED.aud, Alg: AlgEdDSA, Key: f.ed, Clock: fixedClock(t0), Rand: bytes.NewReader(make([]byte, 16))}
	tok, err := m.Mint("cust-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
		t.Fatal(err)
	}
	if c["jti"] != "AAAAAAAAAAAAAAAAAAAAAA" {
		t.Fatalf("jti = %v", c["jti"])
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestMintRefused(t *testing.T) {
	f := loadFixture(t)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	base := Minter{Issuer: pED.iss, Audience: pED.aud, Alg: AlgEdDSA, Key: f.ed}
	tests := []struct {
		name  string
		mod   func(m *Minter)
		sub   string
		extra map[string]any
	}{
		{"no issuer", func(m *Minter) { m.Issuer = "" }, "c", nil},
		{"bad sub", nil, "a b", nil},
		{"alg/key mismatch", func(m *Minter) { m.Alg = AlgRS256 }, "c", nil},
		{"ES256 with P-384", func(m *Minter) { m.Alg, m.Key = AlgES256, p384 }, "c", nil},
		{"HS256 short secret", func(m *Minter) { m.Alg, m.Key = AlgHS256, []byte("short") }, "c", nil},
		{"alg none", func(m *Minter) { m.Alg = "none" }, "c", nil},
		{"extra overrides exp", nil, "c", map[string]any{"exp": 1}},
		{"extra overrides sub", nil, "c", map[string]any{"sub": "other"}},
		{"no randomness", func(m *Minter) { m.Rand = errReader{} }, "c", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := base
			if tc.mod != nil {
				tc.mod(&m)
			}
			if tok, err := m.Mint(tc.sub, tc.extra); err == nil {
				t.Fatalf("minted %d-byte token", len(tok))
			}
		})
	}
}

func TestLoadSigningKey(t *testing.T) {
	ok := []struct{ file, alg string }{
		{"platform-ed25519.key", AlgEdDSA},
		{"platform-es256.key", AlgES256},
		{"platform-rs256.key", AlgRS256},
		{"platform-hs256.secret", AlgHS256},
	}
	for _, tc := range ok {
		if _, err := LoadSigningKey(privateCopy(t, tc.file), tc.alg); err != nil {
			t.Errorf("%s: %v", tc.file, err)
		}
	}
	rsaKey, _ := os.ReadFile(td("platform-rs256.key"))
	bad := []struct {
		name    string
		path    func(t *testing.T) string
		alg     string
		wantMsg string
	}{
		{"world-readable private key", func(t *testing.T) string { return writeTemp(t, "k", rsaKey, 0o644) }, AlgRS256, "chmod 600"},
		{"key/alg mismatch", func(t *testing.T) string { return privateCopy(t, "platform-rs256.key") }, AlgEdDSA, "does not fit"},
		{"P-384 for ES256", func(t *testing.T) string { return privateCopy(t, "other-es384.key") }, AlgES256, "does not fit"},
		{"public key", func(t *testing.T) string { return writeTemp(t, "k", mustRead(t, "platform-es256.pub.pem"), 0o600) }, AlgES256, "unsupported PEM block"},
		{"not PEM", func(t *testing.T) string { return writeTemp(t, "k", []byte("nope"), 0o600) }, AlgES256, "no PEM block"},
		{"short HS256 secret", func(t *testing.T) string { return writeTemp(t, "k", []byte("short\n"), 0o600) }, AlgHS256, "at least 32"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			k, err := LoadSigningKey(tc.path(t), tc.alg)
			if err == nil || k != nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("got %T, %v; want ErrConfig mentioning %q", k, err, tc.wantMsg)
			}
		})
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(td(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
