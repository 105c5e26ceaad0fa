package handoff

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testdataDir = "../../testdata/handoff"

// t0 is the fixed "now" of every test.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func fixedClock(at time.Time) func() time.Time { return func() time.Time { return at } }

// testPlatform names one configured platform in the test verifier.
type testPlatform struct {
	name, iss, aud string
}

var (
	pED   = testPlatform{"ed", "https://ed.platform.test", "https://bridge.test/ed"}
	pEC   = testPlatform{"ec", "https://ec.platform.test", "https://bridge.test/ec"}
	pRSA  = testPlatform{"rsa", "https://rsa.platform.test", "https://bridge.test/rsa"}
	pHS   = testPlatform{"hs", "https://hs.platform.test", "https://bridge.test/hs"}
	pJWKS = testPlatform{"jwks", "https://jwks.platform.test", "https://bridge.test/jwks"}
)

// fixture holds the platform signing keys and verification keys loaded from testdata.
type fixture struct {
	ed       ed25519.PrivateKey
	ec       *ecdsa.PrivateKey
	rsa      *rsa.PrivateKey
	hs       []byte
	rsaPEM   []byte // the RSA public key PEM, for key-confusion attacks
	edKeys   []PlatformKey
	ecKeys   []PlatformKey
	rsaKeys  []PlatformKey
	hsKeys   []PlatformKey
	jwksKeys []PlatformKey
}

// privateCopy copies a testdata key or secret into a 0600 temp file (git does not keep modes).
func privateCopy(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdataDir, name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func td(name string) string { return filepath.Join(testdataDir, name) }

func loadFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{}
	must := func(k any, err error) any {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	f.ed = must(LoadSigningKey(privateCopy(t, "platform-ed25519.key"), AlgEdDSA)).(ed25519.PrivateKey)
	f.ec = must(LoadSigningKey(privateCopy(t, "platform-es256.key"), AlgES256)).(*ecdsa.PrivateKey)
	f.rsa = must(LoadSigningKey(privateCopy(t, "platform-rs256.key"), AlgRS256)).(*rsa.PrivateKey)
	f.hs = must(LoadSigningKey(privateCopy(t, "platform-hs256.secret"), AlgHS256)).([]byte)
	f.rsaPEM = must(os.ReadFile(td("platform-rs256.pub.pem"))).([]byte)
	f.edKeys = must(LoadPlatformKeys(KeySource{PEMFile: td("platform-ed25519.pub.pem"), Alg: AlgEdDSA})).([]PlatformKey)
	f.ecKeys = must(LoadPlatformKeys(KeySource{PEMFile: td("platform-es256.pub.pem"), Alg: AlgES256})).([]PlatformKey)
	f.rsaKeys = must(LoadPlatformKeys(KeySource{PEMFile: td("platform-rs256.pub.pem"), Alg: AlgRS256})).([]PlatformKey)
	f.hsKeys = must(LoadPlatformKeys(KeySource{SecretFile: privateCopy(t, "platform-hs256.secret")})).([]PlatformKey)
	f.jwksKeys = must(LoadPlatformKeys(KeySource{JWKSFile: td("jwks.json")})).([]PlatformKey)
	return f
}

func (f *fixture) platforms() []Platform {
	mk := func(p testPlatform, keys []PlatformKey) Platform {
		return Platform{Name: p.name, Issuer: p.iss, Audience: p.aud, Keys: keys}
	}
	return []Platform{
		mk(pED, f.edKeys), mk(pEC, f.ecKeys), mk(pRSA, f.rsaKeys), mk(pHS, f.hsKeys), mk(pJWKS, f.jwksKeys),
	}
}

// verifier returns a fresh verifier (and its replay store) at time now.
func (f *fixture) verifier(now time.Time) (*Verifier, *MemoryReplay) {
	replay := &MemoryReplay{Clock: fixedClock(now)}
	return &Verifier{Platforms: f.platforms(), Replay: replay, Clock: fixedClock(now)}, replay
}

var jtiCounter atomic.Int64

// claimsFor returns a valid claim set for p at t0; tests then break it on purpose.
func claimsFor(p testPlatform) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": p.iss,
		"aud": p.aud,
		"sub": "cust-001",
		"iat": t0.Unix(),
		"exp": t0.Add(time.Minute).Unix(),
		"jti": "jti-" + strconv.FormatInt(jtiCounter.Add(1), 10),
	}
}

// sign makes a token with any method, key, extra header fields and claims: the raw tool for
// forging bad tokens.
func sign(t testing.TB, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
			continue
		}
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signFor signs claims the correct way for platform p (kid header for the JWKS platform).
func (f *fixture) signFor(t testing.TB, p testPlatform, claims jwt.MapClaims) string {
	t.Helper()
	switch p {
	case pED:
		return sign(t, jwt.SigningMethodEdDSA, f.ed, nil, claims)
	case pEC:
		return sign(t, jwt.SigningMethodES256, f.ec, nil, claims)
	case pRSA:
		return sign(t, jwt.SigningMethodRS256, f.rsa, nil, claims)
	case pHS:
		return sign(t, jwt.SigningMethodHS256, f.hs, nil, claims)
	case pJWKS:
		return sign(t, jwt.SigningMethodEdDSA, f.ed, map[string]any{"kid": "ed-1"}, claims)
	}
	t.Fatalf("unknown platform %v", p)
	return ""
}
