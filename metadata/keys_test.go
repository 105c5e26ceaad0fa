package metadata

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testNow is inside the validity of both the test keys (2026-11-21 to 2046)
// and Huawei's SP certificate (to 2028-06-18).
var testNow = time.Date(2027, 6, 1, 12, 0, 0, 0, time.UTC)

// copyKey copies a test key pair into a temporary directory, the key with
// mode 0600 (git does not keep file modes), and returns the new paths.
func copyKey(t *testing.T, name string) (keyPath, certPath string) {
	t.Helper()
	dir := t.TempDir()
	keyPath = filepath.Join(dir, name+".key")
	certPath = filepath.Join(dir, name+".crt")
	for src, dst := range map[string]string{
		filepath.Join("..", "testdata", "keys", name+".key"): keyPath,
		filepath.Join("..", "testdata", "keys", name+".crt"): certPath,
	} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return keyPath, certPath
}

func loadTestKey(t *testing.T, name string) SigningKey {
	t.Helper()
	k, c := copyKey(t, name)
	key, err := LoadSigningKey(k, c, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writePEM(t *testing.T, path, typ string, der []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		t.Fatal(err)
	}
}

// selfSigned makes a certificate for pub signed by priv, for negative cases.
func selfSigned(t *testing.T, pub, priv any, notBefore, notAfter time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestGenerateWriteLoadRoundTrip(t *testing.T) {
	subject := pkix.Name{CommonName: "idp.example.com", Organization: []string{"Example"}}
	k, err := GenerateKeyPair(2048, subject, testNow.Add(-time.Hour), testNow.AddDate(2, 0, 0), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if k.Cert.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Errorf("signature algorithm = %v, want SHA256WithRSA", k.Cert.SignatureAlgorithm)
	}
	if k.Cert.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("key usage = %v, want digitalSignature", k.Cert.KeyUsage)
	}
	if k.Cert.Subject.CommonName != "idp.example.com" || k.Cert.Issuer.CommonName != "idp.example.com" {
		t.Errorf("subject/issuer = %v / %v", k.Cert.Subject, k.Cert.Issuer)
	}
	if err := k.Cert.CheckSignature(k.Cert.SignatureAlgorithm, k.Cert.RawTBSCertificate, k.Cert.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}

	dir := t.TempDir()
	keyPath, certPath := filepath.Join(dir, "idp.key"), filepath.Join(dir, "idp.crt")
	if err := WriteKeyPair(k, keyPath, certPath, false); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", st.Mode().Perm())
	}
	keyPEM, _ := os.ReadFile(keyPath)
	if !bytes.HasPrefix(keyPEM, []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Errorf("key file is not PKCS#8 PEM: %.30s", keyPEM)
	}
	got, err := LoadSigningKey(keyPath, certPath, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cert.Equal(k.Cert) || !got.Key.Equal(k.Key) {
		t.Error("loaded key pair differs from the generated one")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("directory holds %d entries, want 2 (no temporary files left)", len(entries))
	}
}

func TestGenerateKeyPairSizes(t *testing.T) {
	for _, bits := range []int{0, 512, 1024, 2047, 2049, 8192} {
		if _, err := GenerateKeyPair(bits, pkix.Name{CommonName: "x"}, testNow, testNow.AddDate(1, 0, 0), rand.Reader); !errors.Is(err, ErrKeySizeNotAllowed) {
			t.Errorf("bits=%d: err = %v, want ErrKeySizeNotAllowed", bits, err)
		}
	}
	if testing.Short() {
		return
	}
	k, err := GenerateKeyPair(3072, pkix.Name{CommonName: "x"}, testNow, testNow.AddDate(1, 0, 0), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if k.Key.N.BitLen() != 3072 {
		t.Errorf("bits = %d, want 3072", k.Key.N.BitLen())
	}
	if _, err := GenerateKeyPair(2048, pkix.Name{CommonName: "x"}, testNow, testNow, rand.Reader); err == nil {
		t.Error("notAfter == notBefore accepted")
	}
}

func TestWriteKeyPairRefusesOverwrite(t *testing.T) {
	k := loadTestKey(t, "idp-current")
	for _, existing := range []string{"key", "cert"} {
		t.Run(existing, func(t *testing.T) {
			dir := t.TempDir()
			keyPath, certPath := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem")
			target := keyPath
			if existing == "cert" {
				target = certPath
			}
			if err := os.WriteFile(target, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			err := WriteKeyPair(k, keyPath, certPath, false)
			if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "--force") {
				t.Fatalf("err = %v, want ErrExists mentioning --force", err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("directory holds %d entries after refusal, want only the old file", len(entries))
			}
			if old, _ := os.ReadFile(target); string(old) != "old" {
				t.Error("the existing file was changed")
			}

			// force replaces both, and a loose old mode does not survive.
			if err := os.Chmod(target, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := WriteKeyPair(k, keyPath, certPath, true); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadSigningKey(keyPath, certPath, testNow); err != nil {
				t.Fatalf("after --force: %v", err)
			}
		})
	}
}

func TestLoadSigningKeyAcceptsPKCS1(t *testing.T) {
	k := loadTestKey(t, "idp-current")
	dir := t.TempDir()
	keyPath, certPath := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem")
	writePEM(t, keyPath, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.Key), 0o600)
	writePEM(t, certPath, "CERTIFICATE", k.Cert.Raw, 0o644)
	if _, err := LoadSigningKey(keyPath, certPath, testNow); err != nil {
		t.Fatal(err)
	}
}

func TestLoadSigningKeyRefusals(t *testing.T) {
	current := loadTestKey(t, "idp-current")
	other := loadTestKey(t, "sp-other")
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}

	type files struct {
		keyType  string
		keyDER   []byte
		keyMode  os.FileMode
		certDER  []byte
		keyBytes []byte // raw file content instead of a PEM block
	}
	cases := []struct {
		name    string
		files   files
		want    error
		message string
	}{
		{"group readable", files{keyType: "PRIVATE KEY", keyDER: pkcs8(current.Key), keyMode: 0o640, certDER: current.Cert.Raw}, ErrKeyFileMode, "chmod 600"},
		{"world readable", files{keyType: "PRIVATE KEY", keyDER: pkcs8(current.Key), keyMode: 0o604, certDER: current.Cert.Raw}, ErrKeyFileMode, "chmod 600"},
		{"mismatch", files{keyType: "PRIVATE KEY", keyDER: pkcs8(other.Key), keyMode: 0o600, certDER: current.Cert.Raw}, ErrKeyMismatch, "matching pair"},
		{"expired cert", files{keyType: "PRIVATE KEY", keyDER: pkcs8(current.Key), keyMode: 0o600,
			certDER: selfSigned(t, &current.Key.PublicKey, current.Key, testNow.AddDate(-2, 0, 0), testNow.AddDate(0, 0, -1))}, ErrCertExpired, "generate a new key pair"},
		{"future cert", files{keyType: "PRIVATE KEY", keyDER: pkcs8(current.Key), keyMode: 0o600,
			certDER: selfSigned(t, &current.Key.PublicKey, current.Key, testNow.AddDate(0, 0, 1), testNow.AddDate(1, 0, 0))}, ErrCertNotYetValid, "clock"},
		{"1024-bit key", files{keyType: "PRIVATE KEY", keyDER: pkcs8(small), keyMode: 0o600,
			certDER: selfSigned(t, &small.PublicKey, small, testNow.AddDate(-1, 0, 0), testNow.AddDate(1, 0, 0))}, ErrKeyTooSmall, "2048"},
		{"EC key", files{keyType: "PRIVATE KEY", keyDER: pkcs8(ec), keyMode: 0o600, certDER: current.Cert.Raw}, ErrKeyNotRSA, "RSA"},
		{"EC PEM type", files{keyType: "EC PRIVATE KEY", keyDER: []byte{1, 2, 3}, keyMode: 0o600, certDER: current.Cert.Raw}, ErrKeyNotRSA, "RSA"},
		{"encrypted", files{keyType: "ENCRYPTED PRIVATE KEY", keyDER: []byte{1, 2, 3}, keyMode: 0o600, certDER: current.Cert.Raw}, ErrKeyPEM, "decrypt"},
		{"garbage in PEM", files{keyType: "PRIVATE KEY", keyDER: []byte("not a key"), keyMode: 0o600, certDER: current.Cert.Raw}, ErrKeyPEM, "does not parse"},
		{"no PEM", files{keyBytes: []byte("hello"), keyMode: 0o600, certDER: current.Cert.Raw}, ErrKeyPEM, "no PRIVATE KEY"},
		{"cert not PEM", files{keyType: "PRIVATE KEY", keyDER: pkcs8(current.Key), keyMode: 0o600}, ErrCertPEM, "no CERTIFICATE"},
		{"EC cert", files{keyType: "PRIVATE KEY", keyDER: pkcs8(current.Key), keyMode: 0o600,
			certDER: selfSigned(t, &ec.PublicKey, ec, testNow.AddDate(-1, 0, 0), testNow.AddDate(1, 0, 0))}, ErrKeyNotRSA, "RSA"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			keyPath, certPath := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem")
			if tc.files.keyBytes != nil {
				if err := os.WriteFile(keyPath, tc.files.keyBytes, tc.files.keyMode); err != nil {
					t.Fatal(err)
				}
			} else {
				writePEM(t, keyPath, tc.files.keyType, tc.files.keyDER, tc.files.keyMode)
			}
			os.Chmod(keyPath, tc.files.keyMode) // umask may have narrowed it
			if tc.files.certDER != nil {
				writePEM(t, certPath, "CERTIFICATE", tc.files.certDER, 0o644)
			} else if err := os.WriteFile(certPath, []byte("nothing here"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadSigningKey(keyPath, certPath, testNow)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("message %q does not say %q", err, tc.message)
			}
			if strings.Contains(err.Error(), "MII") {
				t.Errorf("message seems to carry key bytes: %q", err)
			}
		})
	}
}

func TestLoadKeyset(t *testing.T) {
	k, c := copyKey(t, "idp-current")
	_, next := copyKey(t, "idp-next")

	ks, err := LoadKeyset(k, c, "", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if ks.Next != nil || len(ks.Published()) != 1 {
		t.Errorf("without next: Next=%v, published %d", ks.Next, len(ks.Published()))
	}
	ks, err = LoadKeyset(k, c, next, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if pub := ks.Published(); len(pub) != 2 || !pub[0].Equal(ks.Current.Cert) || !pub[1].Equal(ks.Next) {
		t.Error("Published() is not [current, next]")
	}
	if _, err := LoadKeyset(k, c, c, testNow); !errors.Is(err, ErrKeysetDuplicate) {
		t.Errorf("next == current: err = %v, want ErrKeysetDuplicate", err)
	}
	if _, err := LoadKeyset(k, c, filepath.Join(t.TempDir(), "missing.crt"), testNow); err == nil {
		t.Error("missing next certificate accepted")
	}
	if _, err := LoadKeyset(k, c, next, time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, ErrCertExpired) {
		t.Errorf("in 2050: err = %v, want ErrCertExpired", err)
	}
}

func TestLoadCertificateHuawei(t *testing.T) {
	cert, err := LoadCertificate(filepath.Join("..", "testdata", "huawei", "sp-signing-cert-cn.pem"), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if got := FingerprintSHA256(cert); got != huaweiFingerprint {
		t.Errorf("fingerprint = %s, want %s", got, huaweiFingerprint)
	}
	if _, err := LoadCertificate(filepath.Join("..", "testdata", "huawei", "sp-signing-cert-cn.pem"), time.Date(2028, 6, 19, 0, 0, 0, 0, time.UTC)); !errors.Is(err, ErrCertExpired) {
		t.Errorf("after 2028-06-18: err = %v, want ErrCertExpired", err)
	}
}

const huaweiFingerprint = "70:14:9F:C1:F6:03:92:44:2D:3F:7E:D0:9D:DE:1C:88:1B:A6:D0:08:A6:AB:3E:B0:F7:69:9B:3D:02:CC:79:3E"

func TestParseFingerprintSHA256(t *testing.T) {
	plain := strings.ReplaceAll(huaweiFingerprint, ":", "")
	for _, in := range []string{huaweiFingerprint, strings.ToLower(huaweiFingerprint), plain, strings.ToLower(plain), " sha256:" + plain + "\n"} {
		got, err := ParseFingerprintSHA256(in)
		if err != nil || got != huaweiFingerprint {
			t.Errorf("ParseFingerprintSHA256(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "70:14", plain[:62], plain + "00", strings.Replace(plain, "70", "ZZ", 1), "7014:" + huaweiFingerprint[6:] + ":00"} {
		if _, err := ParseFingerprintSHA256(bad); !errors.Is(err, ErrFingerprint) {
			t.Errorf("ParseFingerprintSHA256(%q): err = %v, want ErrFingerprint", bad, err)
		}
	}
}
