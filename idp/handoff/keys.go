package handoff

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"runtime"
	"slices"
	"strings"
)

// Algorithms a platform key can be pinned to.
const (
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
	AlgHS256 = "HS256"
)

const (
	// MinHS256SecretBytes is the shortest HS256 secret accepted (RFC 7518 §3.2: key ≥ hash size).
	MinHS256SecretBytes = 32
	// MinRSABits is the smallest RSA modulus accepted for RS256.
	MinRSABits = 2048
	// maxKeyFileBytes bounds PEM, JWKS and secret files read from disk.
	maxKeyFileBytes = 64 << 10
)

// PlatformKey is one key a platform signs handoff tokens with, pinned to exactly one algorithm.
type PlatformKey struct {
	ID     string           // JWS kid; "" matches a token with any kid or none (single-key platforms only)
	Alg    string           // EdDSA | ES256 | RS256 | HS256
	Public crypto.PublicKey // ed25519.PublicKey, *ecdsa.PublicKey (P-256) or *rsa.PublicKey (≥2048 bits)
	Secret []byte           // HS256 only, ≥ MinHS256SecretBytes
}

// KeySource says where one platform's verification keys are. Exactly one of PEMFile, JWKSFile
// and SecretFile is set.
type KeySource struct {
	PEMFile    string // PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE PEM; Alg required (EdDSA, ES256 or RS256)
	JWKSFile   string // {"keys":[…]}; each JWK's alg pins it (Alg is the fallback for JWKs without one)
	SecretFile string // HS256 shared secret, the file's bytes less one trailing newline; not world-readable
	Alg        string
	KID        string // label for a PEM or secret key; must not be set with JWKSFile
}

// LoadPlatformKeys reads and checks one platform's verification keys.
func LoadPlatformKeys(src KeySource) ([]PlatformKey, error) {
	set := 0
	for _, f := range []string{src.PEMFile, src.JWKSFile, src.SecretFile} {
		if f != "" {
			set++
		}
	}
	if set != 1 {
		return nil, configErr("key source", "set exactly one of pem_file, jwks_file and secret_file (%d set)", set)
	}
	switch {
	case src.PEMFile != "":
		data, err := readKeyFile(src.PEMFile, false)
		if err != nil {
			return nil, err
		}
		k, err := ParsePublicKeyPEM(data, src.Alg, src.KID)
		if err != nil {
			return nil, relabel(err, src.PEMFile)
		}
		return []PlatformKey{k}, nil
	case src.JWKSFile != "":
		if src.KID != "" {
			return nil, configErr(src.JWKSFile, "kid must not be set for a JWKS file: each JWK carries its own kid")
		}
		data, err := readKeyFile(src.JWKSFile, false)
		if err != nil {
			return nil, err
		}
		keys, err := ParseJWKS(data, src.Alg)
		if err != nil {
			return nil, relabel(err, src.JWKSFile)
		}
		return keys, nil
	default:
		if src.Alg != "" && src.Alg != AlgHS256 {
			return nil, configErr(src.SecretFile, "a secret file is an HS256 key; alg %s needs pem_file or jwks_file", clip(src.Alg))
		}
		data, err := readKeyFile(src.SecretFile, true)
		if err != nil {
			return nil, err
		}
		data = trimNewline(data)
		k, err := NewSecretKey(data, src.KID)
		if err != nil {
			return nil, relabel(err, src.SecretFile)
		}
		return []PlatformKey{k}, nil
	}
}

// NewSecretKey makes an HS256 key, refusing short secrets and PEM text (an HS256 "secret" that
// is really a public key is the classic alg-confusion mistake).
func NewSecretKey(secret []byte, kid string) (PlatformKey, error) {
	if len(secret) < MinHS256SecretBytes {
		return PlatformKey{}, configErr("hs256 secret", "secret is %d bytes; HS256 needs at least %d random bytes (e.g. `openssl rand -base64 48`)", len(secret), MinHS256SecretBytes)
	}
	if bytes.Contains(secret, []byte("-----BEGIN")) {
		return PlatformKey{}, configErr("hs256 secret", "secret looks like a PEM key; HS256 needs a random shared secret, public keys go in pem_file")
	}
	return PlatformKey{ID: kid, Alg: AlgHS256, Secret: bytes.Clone(secret)}, nil
}

// ParsePublicKeyPEM reads one public key (PKIX "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY" or an X.509
// "CERTIFICATE") and pins it to alg.
func ParsePublicKeyPEM(data []byte, alg, kid string) (PlatformKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return PlatformKey{}, configErr("pem", "no PEM block found; expected a PUBLIC KEY or CERTIFICATE")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return PlatformKey{}, configErr("pem", "more than one PEM block; give one key per file (use a JWKS file for several keys)")
	}
	var pub crypto.PublicKey
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE") {
			return PlatformKey{}, configErr("pem", "this is a private key (%s); configure the platform's public key only", block.Type)
		}
		return PlatformKey{}, configErr("pem", "unsupported PEM block %q; expected PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
	}
	if err != nil {
		return PlatformKey{}, configErr("pem", "cannot parse %s: %v", block.Type, err)
	}
	k := PlatformKey{ID: kid, Alg: alg, Public: pub}
	if err := k.check(); err != nil {
		return PlatformKey{}, err
	}
	return k, nil
}

// check ensures the key material fits the pinned algorithm.
func (k PlatformKey) check() error {
	field := "key"
	if k.ID != "" {
		field = "key " + clip(k.ID)
	}
	if k.Alg != AlgHS256 && k.Secret != nil {
		return configErr(field, "a shared secret can only be used with HS256, not %s", clip(k.Alg))
	}
	switch k.Alg {
	case AlgEdDSA:
		pub, ok := k.Public.(ed25519.PublicKey)
		if !ok || len(pub) != ed25519.PublicKeySize {
			return configErr(field, "alg EdDSA needs an Ed25519 public key, got %s", keyKind(k.Public))
		}
	case AlgES256:
		pub, ok := k.Public.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			return configErr(field, "alg ES256 needs an ECDSA P-256 public key, got %s", keyKind(k.Public))
		}
	case AlgRS256:
		pub, ok := k.Public.(*rsa.PublicKey)
		if !ok {
			return configErr(field, "alg RS256 needs an RSA public key, got %s", keyKind(k.Public))
		}
		if pub.N.BitLen() < MinRSABits {
			return configErr(field, "RSA key is %d bits; RS256 needs at least %d", pub.N.BitLen(), MinRSABits)
		}
	case AlgHS256:
		if k.Public != nil {
			return configErr(field, "alg HS256 takes a shared secret, not a public key (%s)", keyKind(k.Public))
		}
		if len(k.Secret) < MinHS256SecretBytes {
			return configErr(field, "HS256 secret is %d bytes; at least %d needed", len(k.Secret), MinHS256SecretBytes)
		}
	case "":
		return configErr(field, "alg is required: one of EdDSA, ES256, RS256, HS256")
	default:
		return configErr(field, "alg %s is not supported; use EdDSA, ES256, RS256 or HS256", clip(k.Alg))
	}
	return nil
}

// verificationKey is what golang-jwt's Verify expects for k.Alg.
func (k PlatformKey) verificationKey() any {
	if k.Alg == AlgHS256 {
		return k.Secret
	}
	return k.Public
}

func keyKind(pub crypto.PublicKey) string {
	switch p := pub.(type) {
	case nil:
		return "no key"
	case ed25519.PublicKey:
		return "an Ed25519 key"
	case *ecdsa.PublicKey:
		return "an ECDSA " + p.Curve.Params().Name + " key"
	case *rsa.PublicKey:
		return fmt.Sprintf("an RSA-%d key", p.N.BitLen())
	default:
		return fmt.Sprintf("a %T", pub)
	}
}

// jwk holds the JWK members we read. Private members are decoded only to refuse them.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	D      string   `json:"d"`
	K      string   `json:"k"`
}

// ParseJWKS reads a JSON Web Key Set of public keys (OKP/Ed25519, EC/P-256, RSA). Each JWK is
// pinned to its `alg`, or to defaultAlg when it has none. With several keys every key needs a
// distinct kid.
func ParseJWKS(data []byte, defaultAlg string) ([]PlatformKey, error) {
	if len(data) > maxKeyFileBytes {
		return nil, configErr("jwks", "JWKS is larger than %d bytes", maxKeyFileBytes)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&set); err != nil {
		return nil, configErr("jwks", "not a JWKS JSON object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, configErr("jwks", "trailing data after the JWKS object")
	}
	if len(set.Keys) == 0 {
		return nil, configErr("jwks", `no keys: expected {"keys":[{...}]}`)
	}
	keys := make([]PlatformKey, 0, len(set.Keys))
	seen := map[string]bool{}
	for i, raw := range set.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, configErr(fmt.Sprintf("jwks key #%d", i), "not a JWK object: %v", err)
		}
		k, err := j.platformKey(defaultAlg)
		if err != nil {
			return nil, relabel(err, fmt.Sprintf("jwks key #%d", i))
		}
		if len(set.Keys) > 1 && k.ID == "" {
			return nil, configErr(fmt.Sprintf("jwks key #%d", i), "kid is required when the set has several keys")
		}
		if seen[k.ID] {
			return nil, configErr(fmt.Sprintf("jwks key #%d", i), "duplicate kid %s", clip(k.ID))
		}
		seen[k.ID] = true
		keys = append(keys, k)
	}
	return keys, nil
}

func (j jwk) platformKey(defaultAlg string) (PlatformKey, error) {
	if j.D != "" || j.K != "" {
		return PlatformKey{}, configErr("jwk", "holds private or symmetric key material; publish public keys only (HS256 secrets go in secret_file)")
	}
	if j.Use != "" && j.Use != "sig" {
		return PlatformKey{}, configErr("jwk", "use is %s; handoff keys need use \"sig\"", clip(j.Use))
	}
	if j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify") {
		return PlatformKey{}, configErr("jwk", "key_ops does not include \"verify\"")
	}
	alg := j.Alg
	switch {
	case alg == "" && defaultAlg == "":
		return PlatformKey{}, configErr("jwk", "no alg: set alg on every JWK (or alg beside jwks_file) so the algorithm is pinned")
	case alg == "":
		alg = defaultAlg
	case defaultAlg != "" && alg != defaultAlg:
		return PlatformKey{}, configErr("jwk", "alg %s differs from the configured alg %s", clip(alg), clip(defaultAlg))
	}
	var pub crypto.PublicKey
	var err error
	switch j.Kty {
	case "OKP":
		pub, err = j.ed25519()
	case "EC":
		pub, err = j.ecdsa()
	case "RSA":
		pub, err = j.rsa()
	default:
		return PlatformKey{}, configErr("jwk", "kty %s not supported; use OKP (Ed25519), EC (P-256) or RSA", clip(j.Kty))
	}
	if err != nil {
		return PlatformKey{}, err
	}
	k := PlatformKey{ID: j.Kid, Alg: alg, Public: pub}
	if err := k.check(); err != nil {
		return PlatformKey{}, err
	}
	return k, nil
}

func (j jwk) ed25519() (crypto.PublicKey, error) {
	if j.Crv != "Ed25519" {
		return nil, configErr("jwk", "OKP crv %s not supported; use Ed25519", clip(j.Crv))
	}
	x, err := b64Field("x", j.X)
	if err != nil {
		return nil, err
	}
	if len(x) != ed25519.PublicKeySize {
		return nil, configErr("jwk", "Ed25519 x is %d bytes, want %d", len(x), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(x), nil
}

func (j jwk) ecdsa() (crypto.PublicKey, error) {
	if j.Crv != "P-256" {
		return nil, configErr("jwk", "EC crv %s not supported; use P-256", clip(j.Crv))
	}
	x, err := b64Field("x", j.X)
	if err != nil {
		return nil, err
	}
	y, err := b64Field("y", j.Y)
	if err != nil {
		return nil, err
	}
	if len(x) != 32 || len(y) != 32 {
		return nil, configErr("jwk", "P-256 x and y must be 32 bytes each (got %d and %d)", len(x), len(y))
	}
	point := append(append([]byte{4}, x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, configErr("jwk", "P-256 point is invalid: %v", err)
	}
	return pub, nil
}

func (j jwk) rsa() (crypto.PublicKey, error) {
	n, err := b64Field("n", j.N)
	if err != nil {
		return nil, err
	}
	e, err := b64Field("e", j.E)
	if err != nil {
		return nil, err
	}
	if len(e) > 4 {
		return nil, configErr("jwk", "RSA exponent e is too large")
	}
	exp := new(big.Int).SetBytes(e).Int64()
	if exp < 3 || exp%2 == 0 || exp > 1<<31-1 {
		return nil, configErr("jwk", "RSA exponent e=%d is not a usable public exponent", exp)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}, nil
}

func b64Field(name, v string) ([]byte, error) {
	if v == "" {
		return nil, configErr("jwk", "member %q is missing", name)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(v)
	if err != nil {
		return nil, configErr("jwk", "member %q is not unpadded base64url: %v", name, err)
	}
	return b, nil
}

// readKeyFile reads a bounded key file; secret files must not be readable by other users.
func readKeyFile(path string, secret bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, configErr(path, "cannot open: %v", errors.Unwrap(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, configErr(path, "cannot stat: %v", err)
	}
	if !st.Mode().IsRegular() {
		return nil, configErr(path, "not a regular file")
	}
	if secret && runtime.GOOS != "windows" && st.Mode().Perm()&0o007 != 0 {
		return nil, configErr(path, "secret file is accessible to all users (mode %04o); run chmod 600 on it", st.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, configErr(path, "cannot read: %v", err)
	}
	if len(data) > maxKeyFileBytes {
		return nil, configErr(path, "file is larger than %d bytes", maxKeyFileBytes)
	}
	return data, nil
}

func trimNewline(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// relabel puts the file name (or JWK index) on a ConfigError made by a parser.
func relabel(err error, field string) error {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return &ConfigError{Field: field + ": " + ce.Field, Msg: ce.Msg}
	}
	return err
}
