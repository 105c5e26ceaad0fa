package handoff

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/handoff")

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwkOf encodes a public key as a JWK (test helper; the bridge only reads JWKS).
func jwkOf(t testing.TB, kid, alg string, pub any) map[string]any {
	t.Helper()
	m := map[string]any{"kid": kid, "alg": alg, "use": "sig"}
	switch p := pub.(type) {
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64(p)
	case *ecdsa.PublicKey:
		raw, err := p.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		m["kty"], m["crv"], m["x"], m["y"] = "EC", "P-256", b64(raw[1:33]), b64(raw[33:])
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64(p.N.Bytes()), b64(big.NewInt(int64(p.E)).Bytes())
	default:
		t.Fatalf("jwkOf: %T", pub)
	}
	return m
}

// TestJWKSGolden keeps testdata/handoff/jwks.json equal to the JWKS of the three public PEMs.
func TestJWKSGolden(t *testing.T) {
	var keys []any
	for _, k := range []struct{ file, kid, alg string }{
		{"platform-ed25519.pub.pem", "ed-1", AlgEdDSA},
		{"platform-es256.pub.pem", "ec-1", AlgES256},
		{"platform-rs256.pub.pem", "rsa-1", AlgRS256},
	} {
		loaded, err := LoadPlatformKeys(KeySource{PEMFile: td(k.file), Alg: k.alg})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, jwkOf(t, k.kid, k.alg, loaded[0].Public))
	}
	want, err := json.MarshalIndent(map[string]any{"keys": keys}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	golden := td("jwks.json")
	if *update {
		if err := os.WriteFile(golden, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale; run go test ./idp/handoff -run TestJWKSGolden -update", golden)
	}
}

func TestLoadPlatformKeysValid(t *testing.T) {
	tests := []struct {
		name    string
		src     func(t *testing.T) KeySource
		wantAlg []string
		wantIDs []string
	}{
		{"ed25519 pem", func(*testing.T) KeySource {
			return KeySource{PEMFile: td("platform-ed25519.pub.pem"), Alg: AlgEdDSA, KID: "k1"}
		}, []string{AlgEdDSA}, []string{"k1"}},
		{"es256 pem", func(*testing.T) KeySource { return KeySource{PEMFile: td("platform-es256.pub.pem"), Alg: AlgES256} }, []string{AlgES256}, []string{""}},
		{"es256 certificate", func(*testing.T) KeySource { return KeySource{PEMFile: td("platform-es256.crt"), Alg: AlgES256} }, []string{AlgES256}, []string{""}},
		{"rs256 pem", func(*testing.T) KeySource { return KeySource{PEMFile: td("platform-rs256.pub.pem"), Alg: AlgRS256} }, []string{AlgRS256}, []string{""}},
		{"jwks", func(*testing.T) KeySource { return KeySource{JWKSFile: td("jwks.json")} }, []string{AlgEdDSA, AlgES256, AlgRS256}, []string{"ed-1", "ec-1", "rsa-1"}},
		{"hs256 secret 0600", func(t *testing.T) KeySource {
			return KeySource{SecretFile: privateCopy(t, "platform-hs256.secret"), KID: "s1"}
		}, []string{AlgHS256}, []string{"s1"}},
		{"hs256 secret with explicit alg", func(t *testing.T) KeySource {
			return KeySource{SecretFile: privateCopy(t, "platform-hs256.secret"), Alg: AlgHS256}
		}, []string{AlgHS256}, []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := LoadPlatformKeys(tc.src(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != len(tc.wantAlg) {
				t.Fatalf("got %d keys, want %d", len(keys), len(tc.wantAlg))
			}
			for i, k := range keys {
				if k.Alg != tc.wantAlg[i] || k.ID != tc.wantIDs[i] {
					t.Errorf("key %d = (%s, %q), want (%s, %q)", i, k.Alg, k.ID, tc.wantAlg[i], tc.wantIDs[i])
				}
				if err := k.check(); err != nil {
					t.Errorf("key %d: %v", i, err)
				}
			}
		})
	}
	t.Run("secret newline trimmed", func(t *testing.T) {
		keys, err := LoadPlatformKeys(KeySource{SecretFile: privateCopy(t, "platform-hs256.secret")})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(td("platform-hs256.secret"))
		if want := strings.TrimSuffix(string(raw), "\n"); string(keys[0].Secret) != want || strings.HasSuffix(want, "\n") {
			t.Fatalf("secret not read as the file bytes less the trailing newline")
		}
	})
}

// writeTemp writes content to a temp file with mode and returns its path.
func writeTemp(t *testing.T, name string, content []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, content, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // WriteFile's mode is filtered by umask
		t.Fatal(err)
	}
	return p
}

func TestLoadPlatformKeysRefused(t *testing.T) {
	rsaPriv, _ := os.ReadFile(td("platform-rs256.key"))
	edPub, _ := os.ReadFile(td("platform-ed25519.pub.pem"))
	ecPub, _ := os.ReadFile(td("platform-es256.pub.pem"))
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	smallPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: smallDER})

	tests := []struct {
		name    string
		src     func(t *testing.T) KeySource
		wantMsg string
	}{
		{"nothing set", func(*testing.T) KeySource { return KeySource{Alg: AlgEdDSA} }, "exactly one"},
		{"two sources", func(t *testing.T) KeySource {
			return KeySource{PEMFile: td("platform-ed25519.pub.pem"), JWKSFile: td("jwks.json"), Alg: AlgEdDSA}
		}, "exactly one"},
		{"RS256 with an EC key", func(*testing.T) KeySource { return KeySource{PEMFile: td("platform-es256.pub.pem"), Alg: AlgRS256} }, "RS256 needs an RSA public key"},
		{"ES256 with an RSA key", func(*testing.T) KeySource { return KeySource{PEMFile: td("platform-rs256.pub.pem"), Alg: AlgES256} }, "ES256 needs an ECDSA P-256"},
		{"ES256 with a P-384 key", func(*testing.T) KeySource { return KeySource{PEMFile: td("other-es384.pub.pem"), Alg: AlgES256} }, "P-384"},
		{"EdDSA with an EC key", func(*testing.T) KeySource { return KeySource{PEMFile: td("platform-es256.pub.pem"), Alg: AlgEdDSA} }, "EdDSA needs an Ed25519"},
		{"HS256 with a public key PEM", func(*testing.T) KeySource { return KeySource{PEMFile: td("platform-rs256.pub.pem"), Alg: AlgHS256} }, "not a public key"},
		{"PEM without alg", func(*testing.T) KeySource { return KeySource{PEMFile: td("platform-ed25519.pub.pem")} }, "alg is required"},
		{"alg none", func(*testing.T) KeySource { return KeySource{PEMFile: td("platform-ed25519.pub.pem"), Alg: "none"} }, "not supported"},
		{"RSA-1024", func(t *testing.T) KeySource {
			return KeySource{PEMFile: writeTemp(t, "small.pem", smallPEM, 0o644), Alg: AlgRS256}
		}, "1024 bits"},
		{"private key given as public", func(t *testing.T) KeySource {
			return KeySource{PEMFile: writeTemp(t, "p.pem", rsaPriv, 0o600), Alg: AlgRS256}
		}, "private key"},
		{"two PEM blocks", func(t *testing.T) KeySource {
			return KeySource{PEMFile: writeTemp(t, "two.pem", append(append([]byte{}, edPub...), ecPub...), 0o644), Alg: AlgEdDSA}
		}, "more than one PEM block"},
		{"not PEM", func(t *testing.T) KeySource {
			return KeySource{PEMFile: writeTemp(t, "x.pem", []byte("hello"), 0o644), Alg: AlgEdDSA}
		}, "no PEM block"},
		{"corrupt PEM body", func(t *testing.T) KeySource {
			return KeySource{PEMFile: writeTemp(t, "x.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("junk")}), 0o644), Alg: AlgEdDSA}
		}, "cannot parse"},
		{"missing file", func(t *testing.T) KeySource {
			return KeySource{PEMFile: filepath.Join(t.TempDir(), "nope.pem"), Alg: AlgEdDSA}
		}, "cannot open"},
		{"directory", func(t *testing.T) KeySource { return KeySource{PEMFile: t.TempDir(), Alg: AlgEdDSA} }, "not a regular file"},
		{"secret world-readable", func(t *testing.T) KeySource {
			return KeySource{SecretFile: writeTemp(t, "s", bytes.Repeat([]byte("k"), 40), 0o644)}
		}, "chmod 600"},
		{"secret 31 bytes", func(t *testing.T) KeySource {
			return KeySource{SecretFile: writeTemp(t, "s", bytes.Repeat([]byte("k"), 31), 0o600)}
		}, "at least 32"},
		{"secret 31 bytes plus newline", func(t *testing.T) KeySource {
			return KeySource{SecretFile: writeTemp(t, "s", append(bytes.Repeat([]byte("k"), 31), '\n'), 0o600)}
		}, "at least 32"},
		{"secret that is a public key PEM", func(t *testing.T) KeySource {
			return KeySource{SecretFile: writeTemp(t, "s", edPub, 0o600)}
		}, "looks like a PEM"},
		{"secret with alg RS256", func(t *testing.T) KeySource {
			return KeySource{SecretFile: privateCopy(t, "platform-hs256.secret"), Alg: AlgRS256}
		}, "HS256 key"},
		{"secret too large", func(t *testing.T) KeySource {
			return KeySource{SecretFile: writeTemp(t, "s", bytes.Repeat([]byte("k"), maxKeyFileBytes+1), 0o600)}
		}, "larger than"},
		{"jwks with kid", func(*testing.T) KeySource { return KeySource{JWKSFile: td("jwks.json"), KID: "x"} }, "kid must not be set"},
		{"jwks alg differs from configured", func(*testing.T) KeySource { return KeySource{JWKSFile: td("jwks.json"), Alg: AlgEdDSA} }, "differs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := LoadPlatformKeys(tc.src(t))
			if err == nil {
				t.Fatalf("accepted: %+v", keys)
			}
			if keys != nil {
				t.Errorf("keys returned with error")
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error %v is not ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tc.wantMsg)
			}
			if strings.Contains(err.Error(), "BEGIN") || strings.Contains(err.Error(), "kkkkkkkk") {
				t.Errorf("error leaks key material: %q", err)
			}
		})
	}
}

func TestParseJWKSRefused(t *testing.T) {
	good := func(t *testing.T) map[string]any {
		keys, err := LoadPlatformKeys(KeySource{PEMFile: td("platform-es256.pub.pem"), Alg: AlgES256})
		if err != nil {
			t.Fatal(err)
		}
		return jwkOf(t, "ec-1", AlgES256, keys[0].Public)
	}
	edJWK := func(t *testing.T) map[string]any {
		keys, _ := LoadPlatformKeys(KeySource{PEMFile: td("platform-ed25519.pub.pem"), Alg: AlgEdDSA})
		return jwkOf(t, "ed-1", AlgEdDSA, keys[0].Public)
	}
	rsaJWK := func(t *testing.T) map[string]any {
		keys, _ := LoadPlatformKeys(KeySource{PEMFile: td("platform-rs256.pub.pem"), Alg: AlgRS256})
		return jwkOf(t, "rsa-1", AlgRS256, keys[0].Public)
	}
	with := func(m map[string]any, kv ...any) map[string]any {
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	set := func(keys ...any) []byte {
		b, _ := json.Marshal(map[string]any{"keys": keys})
		return b
	}
	tests := []struct {
		name       string
		data       func(t *testing.T) []byte
		defaultAlg string
		wantMsg    string
	}{
		{"not json", func(*testing.T) []byte { return []byte("{") }, "", "not a JWKS"},
		{"trailing data", func(t *testing.T) []byte { return append(set(good(t)), []byte(" {}")...) }, "", "trailing"},
		{"no keys", func(*testing.T) []byte { return []byte(`{"keys":[]}`) }, "", "no keys"},
		{"keys not objects", func(*testing.T) []byte { return []byte(`{"keys":[1]}`) }, "", "not a JWK"},
		{"private d", func(t *testing.T) []byte { return set(with(good(t), "d", "AAAA")) }, "", "private"},
		{"oct key", func(*testing.T) []byte { return set(map[string]any{"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}) }, "", "private or symmetric"},
		{"several keys without kid", func(t *testing.T) []byte { return set(with(good(t), "kid", nil), edJWK(t)) }, "", "kid is required"},
		{"duplicate kid", func(t *testing.T) []byte { return set(good(t), with(edJWK(t), "kid", "ec-1")) }, "", "duplicate kid"},
		{"no alg anywhere", func(t *testing.T) []byte { return set(with(good(t), "alg", nil)) }, "", "no alg"},
		{"alg none", func(t *testing.T) []byte { return set(with(good(t), "alg", "none")) }, "", "not supported"},
		{"alg/key mismatch RS256 on EC", func(t *testing.T) []byte { return set(with(good(t), "alg", "RS256")) }, "", "RS256 needs an RSA"},
		{"alg/key mismatch HS256 on RSA", func(t *testing.T) []byte { return set(with(rsaJWK(t), "alg", "HS256")) }, "", "HS256 takes a shared secret"},
		{"use enc", func(t *testing.T) []byte { return set(with(good(t), "use", "enc")) }, "", "use"},
		{"key_ops without verify", func(t *testing.T) []byte { return set(with(good(t), "key_ops", []string{"encrypt"})) }, "", "key_ops"},
		{"kty unknown", func(t *testing.T) []byte { return set(with(good(t), "kty", "XYZ")) }, "", "kty"},
		{"EC P-384", func(t *testing.T) []byte { return set(with(good(t), "crv", "P-384")) }, "", "P-256"},
		{"EC x short", func(t *testing.T) []byte { return set(with(good(t), "x", b64(make([]byte, 31)))) }, "", "32 bytes"},
		{"EC point not on curve", func(t *testing.T) []byte { return set(with(good(t), "y", b64(bytes.Repeat([]byte{7}, 32)))) }, "", "invalid"},
		{"EC x missing", func(t *testing.T) []byte { return set(with(good(t), "x", nil)) }, "", "missing"},
		{"EC x padded base64", func(t *testing.T) []byte {
			return set(with(good(t), "x", base64.URLEncoding.EncodeToString(make([]byte, 32))))
		}, "", "base64url"},
		{"OKP X25519", func(t *testing.T) []byte { return set(with(edJWK(t), "crv", "X25519")) }, "", "Ed25519"},
		{"OKP x wrong size", func(t *testing.T) []byte { return set(with(edJWK(t), "x", b64(make([]byte, 33)))) }, "", "33 bytes"},
		{"RSA e even", func(t *testing.T) []byte { return set(with(rsaJWK(t), "e", b64([]byte{1, 0, 0}))) }, "", "exponent"},
		{"RSA e huge", func(t *testing.T) []byte { return set(with(rsaJWK(t), "e", b64([]byte{1, 0, 0, 0, 1}))) }, "", "too large"},
		{"RSA n small", func(t *testing.T) []byte { return set(with(rsaJWK(t), "n", b64(bytes.Repeat([]byte{0xff}, 128)))) }, "", "1024 bits"},
		{"too large", func(*testing.T) []byte { return bytes.Repeat([]byte(" "), maxKeyFileBytes+1) }, "", "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := ParseJWKS(tc.data(t), tc.defaultAlg)
			if err == nil {
				t.Fatalf("accepted: %+v", keys)
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error %v is not ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tc.wantMsg)
			}
		})
	}
	t.Run("default alg pins a JWK without alg", func(t *testing.T) {
		keys, err := ParseJWKS(set(with(good(t), "alg", nil)), AlgES256)
		if err != nil || keys[0].Alg != AlgES256 {
			t.Fatalf("got %v, %v", keys, err)
		}
	})
	t.Run("single key without kid", func(t *testing.T) {
		keys, err := ParseJWKS(set(with(good(t), "kid", nil)), "")
		if err != nil || keys[0].ID != "" {
			t.Fatalf("got %v, %v", keys, err)
		}
	})
	t.Run("ecdsa curve check matches elliptic.P256", func(t *testing.T) {
		keys, err := ParseJWKS(set(good(t)), "")
		if err != nil || keys[0].Public.(*ecdsa.PublicKey).Curve != elliptic.P256() {
			t.Fatalf("got %v, %v", keys, err)
		}
	})
}

func TestPlatformValidate(t *testing.T) {
	f := loadFixture(t)
	ok := Platform{Name: "p", Issuer: "https://p", Audience: "https://b", Keys: f.edKeys}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name    string
		mod     func(p *Platform)
		wantMsg string
	}{
		{"no name", func(p *Platform) { p.Name = "" }, "name is required"},
		{"no issuer", func(p *Platform) { p.Issuer = "" }, "issuer is required"},
		{"no audience", func(p *Platform) { p.Audience = "" }, "audience is required"},
		{"session audience", func(p *Platform) { p.Audience = SessionAudience }, "reserved"},
		{"no keys", func(p *Platform) { p.Keys = nil }, "at least one"},
		{"lifetime too long", func(p *Platform) { p.MaxLifetime = 2 * 3600e9 }, "lifetime"},
		{"negative lifetime", func(p *Platform) { p.MaxLifetime = -1 }, "lifetime"},
		{"two keys without kid", func(p *Platform) { p.Keys = []PlatformKey{f.edKeys[0], f.ecKeys[0]} }, "needs a kid"},
		{"duplicate kid", func(p *Platform) {
			a, b := f.edKeys[0], f.ecKeys[0]
			a.ID, b.ID = "k", "k"
			p.Keys = []PlatformKey{a, b}
		}, "duplicate kid"},
		{"hs256 short secret", func(p *Platform) { p.Keys = []PlatformKey{{Alg: AlgHS256, Secret: []byte("short")}} }, "at least 32"},
		{"secret pinned to RS256", func(p *Platform) { p.Keys = []PlatformKey{{Alg: AlgRS256, Secret: f.hs}} }, "only be used with HS256"},
		{"hs256 with public key", func(p *Platform) { p.Keys = []PlatformKey{{Alg: AlgHS256, Public: f.rsaKeys[0].Public, Secret: f.hs}} }, "not a public key"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			p := ok
			tc.mod(&p)
			err := p.Validate()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("got %v, want ErrConfig mentioning %q", err, tc.wantMsg)
			}
		})
	}
}
