package handoff

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultMintLifetime is the lifetime of minted tokens when Minter.Lifetime is zero: long
// enough for one browser redirect, well under DefaultMaxLifetime.
const DefaultMintLifetime = time.Minute

// Minter makes handoff tokens the way a platform backend should: for `partneridp token`, the
// demo platform and tests.
type Minter struct {
	Issuer, Audience string
	KID              string // optional kid header
	Alg              string // EdDSA | ES256 | RS256 | HS256
	Key              any    // ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey or []byte (HS256)
	Lifetime         time.Duration
	Clock            func() time.Time
	Rand             io.Reader // jti source; nil: crypto/rand
}

// Mint returns a signed token for the customer sub (their xaccount_id). extra adds optional
// claims such as name, mobile, email, bp_id or auth_time; it may not override registered claims.
func (m *Minter) Mint(sub string, extra map[string]any) (string, error) {
	if m.Issuer == "" || m.Audience == "" {
		return "", configErr("minter", "issuer and audience are required")
	}
	if err := ValidXAccountID(sub); err != nil {
		return "", fmt.Errorf("handoff: cannot mint: %w", err)
	}
	method, err := signingMethod(m.Alg, m.Key)
	if err != nil {
		return "", err
	}
	jti, err := randomID(m.Rand)
	if err != nil {
		return "", err
	}
	now := time.Now()
	if m.Clock != nil {
		now = m.Clock()
	}
	lifetime := m.Lifetime
	if lifetime <= 0 {
		lifetime = DefaultMintLifetime
	}
	claims := jwt.MapClaims{}
	for name := range extra {
		if registeredClaims[name] {
			return "", configErr("minter", "extra claim %s would override a registered claim", clip(name))
		}
	}
	maps.Copy(claims, extra)
	claims["iss"] = m.Issuer
	claims["aud"] = m.Audience
	claims["sub"] = sub
	claims["iat"] = jwt.NewNumericDate(now)
	claims["exp"] = jwt.NewNumericDate(now.Add(lifetime))
	claims["jti"] = jti
	t := jwt.NewWithClaims(method, claims)
	if m.KID != "" {
		t.Header["kid"] = m.KID
	}
	return t.SignedString(m.Key)
}

// signingMethod pins the signing key type to the algorithm, as the verifier does.
func signingMethod(alg string, key any) (jwt.SigningMethod, error) {
	bad := func() error {
		return configErr("minter", "alg %s does not fit a %T key", clip(alg), key)
	}
	switch alg {
	case AlgEdDSA:
		if _, ok := key.(ed25519.PrivateKey); !ok {
			return nil, bad()
		}
		return jwt.SigningMethodEdDSA, nil
	case AlgES256:
		if k, ok := key.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
			return nil, bad()
		}
		return jwt.SigningMethodES256, nil
	case AlgRS256:
		if k, ok := key.(*rsa.PrivateKey); !ok || k.N.BitLen() < MinRSABits {
			return nil, bad()
		}
		return jwt.SigningMethodRS256, nil
	case AlgHS256:
		if k, ok := key.([]byte); !ok || len(k) < MinHS256SecretBytes {
			return nil, configErr("minter", "HS256 needs a []byte secret of at least %d bytes", MinHS256SecretBytes)
		}
		return jwt.SigningMethodHS256, nil
	default:
		return nil, configErr("minter", "alg %s is not supported; use EdDSA, ES256, RS256 or HS256", clip(alg))
	}
}

func randomID(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, 16)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("handoff: reading randomness for jti: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// LoadSigningKey reads a platform's private signing key for a Minter: a PEM private key
// (PKCS#8, SEC 1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY") for EdDSA, ES256 and RS256, or a
// secret file for HS256. The file must not be readable by all users.
func LoadSigningKey(path, alg string) (any, error) {
	data, err := readKeyFile(path, true)
	if err != nil {
		return nil, err
	}
	if alg == AlgHS256 {
		secret := trimNewline(data)
		if _, err := NewSecretKey(secret, ""); err != nil {
			return nil, relabel(err, path)
		}
		return secret, nil
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, configErr(path, "no PEM block found; expected a PRIVATE KEY")
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		err = errors.New("unsupported PEM block " + clip(block.Type))
	}
	if err != nil {
		return nil, configErr(path, "cannot parse private key: %v", err)
	}
	if _, err := signingMethod(alg, key); err != nil {
		return nil, relabel(err, path)
	}
	return key, nil
}
