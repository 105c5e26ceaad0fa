package metadata

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// MinRSABits is the smallest RSA modulus accepted anywhere: for our own keys,
// staged certificates and pinned certificates.
const MinRSABits = 2048

// maxPEMFileBytes bounds what we read from a key or certificate file.
const maxPEMFileBytes = 1 << 20

// Errors of key and certificate handling. Each message says how to fix it;
// none contains key bytes.
var (
	ErrKeySizeNotAllowed = errors.New("RSA key size not allowed")
	ErrExists            = errors.New("file already exists")
	ErrKeyFileMode       = errors.New("private key file is readable by group or others")
	ErrKeyPEM            = errors.New("private key file is not a usable PEM private key")
	ErrCertPEM           = errors.New("certificate file is not a PEM certificate")
	ErrKeyNotRSA         = errors.New("key is not RSA")
	ErrKeyTooSmall       = errors.New("RSA key is too small")
	ErrKeyMismatch       = errors.New("private key does not match the certificate")
	ErrCertExpired       = errors.New("certificate has expired")
	ErrCertNotYetValid   = errors.New("certificate is not valid yet")
	ErrKeysetDuplicate   = errors.New("next certificate is the current certificate")
	ErrFingerprint       = errors.New("malformed SHA-256 fingerprint")
)

// GenerateKeyPair makes an RSA key and a self-signed SHA256WithRSA
// certificate for it. bits must be 2048, 3072 or 4096. rand supplies the
// serial number; since Go 1.26 the key itself always comes from the system's
// secure source (see crypto/rsa.GenerateKey).
func GenerateKeyPair(bits int, subject pkix.Name, notBefore, notAfter time.Time, rand io.Reader) (SigningKey, error) {
	switch bits {
	case 2048, 3072, 4096:
	default:
		return SigningKey{}, fmt.Errorf("%w: %d bits (use 2048, 3072 or 4096)", ErrKeySizeNotAllowed, bits)
	}
	if !notAfter.After(notBefore) {
		return SigningKey{}, fmt.Errorf("certificate validity: notAfter %s is not after notBefore %s",
			notAfter.Format(time.RFC3339), notBefore.Format(time.RFC3339))
	}
	key, err := rsa.GenerateKey(rand, bits)
	if err != nil {
		return SigningKey{}, fmt.Errorf("generate RSA key: %w", err)
	}
	serial, err := randomSerial(rand)
	if err != nil {
		return SigningKey{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		Issuer:                subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		SignatureAlgorithm:    x509.SHA256WithRSA,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return SigningKey{}, fmt.Errorf("create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return SigningKey{}, fmt.Errorf("parse new certificate: %w", err)
	}
	return SigningKey{Key: key, Cert: cert}, nil
}

// randomSerial is a positive 127-bit serial number (RFC 5280 allows 20 octets).
func randomSerial(rand io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	b[0] &= 0x7f
	n := new(big.Int).SetBytes(b)
	if n.Sign() == 0 {
		n.SetInt64(1)
	}
	return n, nil
}

// WriteKeyPair writes the key (PKCS#8 PEM, mode 0600) and the certificate
// (PEM). Without force it refuses, before writing anything, when either file
// exists.
func WriteKeyPair(k SigningKey, keyPath, certPath string, force bool) error {
	if k.Key == nil || k.Cert == nil {
		return errors.New("write key pair: key and certificate are both required")
	}
	if !force {
		for _, p := range []string{keyPath, certPath} {
			if _, err := os.Lstat(p); err == nil {
				return fmt.Errorf("%w: %s (use --force to overwrite)", ErrExists, p)
			} else if !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("check %s: %w", p, err)
			}
		}
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	if err != nil {
		return fmt.Errorf("encode private key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Cert.Raw})

	if err := writeFileAtomic(keyPath, keyPEM, 0o600, force); err != nil {
		return err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644, force); err != nil {
		if !force {
			os.Remove(keyPath) // we created it a moment ago: leave nothing half-written
		}
		return err
	}
	return nil
}

// writeFileAtomic writes path with mode. Without overwrite it creates the
// file exclusively, so a file that appeared since the check is never
// replaced; with overwrite it goes through a temporary file and a rename, so a
// crash never leaves a truncated key and an old file's looser mode does not
// survive.
func writeFileAtomic(path string, data []byte, mode os.FileMode, overwrite bool) error {
	if !overwrite {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: %s (use --force to overwrite)", ErrExists, path)
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := writeAndClose(f, data); err != nil {
			os.Remove(path)
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".partneridp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := writeAndClose(tmp, data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func writeAndClose(f *os.File, data []byte) error {
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LoadSigningKey loads and checks the IdP's current key pair: the key file
// must be private to its owner, the key RSA of at least 2048 bits, the
// certificate valid at now and made for that key.
func LoadSigningKey(keyPath, certPath string, now time.Time) (SigningKey, error) {
	key, err := loadPrivateKey(keyPath)
	if err != nil {
		return SigningKey{}, err
	}
	cert, err := LoadCertificate(certPath, now)
	if err != nil {
		return SigningKey{}, err
	}
	pub := cert.PublicKey.(*rsa.PublicKey) // LoadCertificate admits only RSA
	if pub.N.Cmp(key.N) != 0 || pub.E != key.E {
		return SigningKey{}, fmt.Errorf("%w: %s was not issued for %s (regenerate the certificate from this key, or point key_file and cert_file at a matching pair)",
			ErrKeyMismatch, certPath, keyPath)
	}
	return SigningKey{Key: key, Cert: cert}, nil
}

func loadPrivateKey(path string) (*rsa.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open private key: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the file we check is the file we read.
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat private key: %w", err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o (run: chmod 600 %s)", ErrKeyFileMode, path, st.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPEMFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read private key %s: %w", path, err)
	}
	if len(data) > maxPEMFileBytes {
		return nil, fmt.Errorf("%w: %s is larger than 1 MiB", ErrKeyPEM, path)
	}
	return parsePrivateKeyPEM(path, data)
}

// parsePrivateKeyPEM accepts PKCS#1 ("RSA PRIVATE KEY") and PKCS#8
// ("PRIVATE KEY"). Parser errors are not wrapped: they could echo key bytes.
func parsePrivateKeyPEM(path string, data []byte) (*rsa.PrivateKey, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("%w: no PRIVATE KEY block in %s (expected PEM from `partneridp keygen` or `openssl genpkey -algorithm RSA`)", ErrKeyPEM, path)
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			if len(block.Headers) != 0 {
				return nil, fmt.Errorf("%w: %s is encrypted; decrypt it with `openssl pkey -in %s -out <new file>` and keep the result mode 0600", ErrKeyPEM, path, path)
			}
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("%w: %s is encrypted; decrypt it with `openssl pkey -in %s -out <new file>` and keep the result mode 0600", ErrKeyPEM, path, path)
		case "EC PRIVATE KEY", "OPENSSH PRIVATE KEY":
			return nil, fmt.Errorf("%w: %s holds a %s; generate an RSA key (2048 bits or more)", ErrKeyNotRSA, path, block.Type)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: the %s block in %s does not parse", ErrKeyPEM, block.Type, path)
		}
		rsaKey, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%w: %s holds a %T; generate an RSA key (2048 bits or more)", ErrKeyNotRSA, path, key)
		}
		if bits := rsaKey.N.BitLen(); bits < MinRSABits {
			return nil, fmt.Errorf("%w: %s is %d bits (generate a new key of 2048 bits or more: partneridp keygen)", ErrKeyTooSmall, path, bits)
		}
		if rsaKey.Validate() != nil {
			return nil, fmt.Errorf("%w: the RSA key in %s is inconsistent", ErrKeyPEM, path)
		}
		return rsaKey, nil
	}
}

// LoadCertificate loads a PEM certificate (the staged next certificate, a
// pinned SP certificate) and checks that it is RSA of at least 2048 bits and
// valid at now.
func LoadCertificate(path string, now time.Time) (*x509.Certificate, error) {
	cert, err := readCertificateFile(path)
	if err != nil {
		return nil, err
	}
	if err := checkCertificate(cert, now); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cert, nil
}

// readCertificateFile reads the first PEM certificate in path without
// judging it, for reports that must show expired certificates too.
func readCertificateFile(path string) (*x509.Certificate, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open certificate: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPEMFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read certificate %s: %w", path, err)
	}
	if len(data) > maxPEMFileBytes {
		return nil, fmt.Errorf("%w: %s is larger than 1 MiB", ErrCertPEM, path)
	}
	var block *pem.Block
	for rest := data; ; {
		block, rest = pem.Decode(rest)
		if block == nil || block.Type == "CERTIFICATE" {
			break
		}
	}
	if block == nil {
		return nil, fmt.Errorf("%w: no CERTIFICATE block in %s", ErrCertPEM, path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCertPEM, path, err)
	}
	return cert, nil
}

// checkCertificate is the rule every certificate we sign with, publish or
// pin must pass.
func checkCertificate(cert *x509.Certificate, now time.Time) error {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: the certificate key is %s (use an RSA key of 2048 bits or more)", ErrKeyNotRSA, cert.PublicKeyAlgorithm)
	}
	if bits := pub.N.BitLen(); bits < MinRSABits {
		return fmt.Errorf("%w: the certificate key is %d bits (use 2048 bits or more)", ErrKeyTooSmall, bits)
	}
	if now.After(cert.NotAfter) {
		return fmt.Errorf("%w: it expired %s (generate a new key pair and publish new metadata)", ErrCertExpired, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(cert.NotBefore) {
		return fmt.Errorf("%w: it is valid from %s (check the system clock or the certificate's notBefore)", ErrCertNotYetValid, cert.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// LoadKeyset loads the current key pair and, when nextCert is not "", the
// staged next certificate published for a rollover.
func LoadKeyset(currentKey, currentCert, nextCert string, now time.Time) (*Keyset, error) {
	cur, err := LoadSigningKey(currentKey, currentCert, now)
	if err != nil {
		return nil, err
	}
	ks := &Keyset{Current: cur}
	if nextCert == "" {
		return ks, nil
	}
	next, err := LoadCertificate(nextCert, now)
	if err != nil {
		return nil, fmt.Errorf("next certificate: %w", err)
	}
	if next.Equal(cur.Cert) {
		return nil, fmt.Errorf("%w: %s (stage a certificate for a new key, or leave next_cert empty)", ErrKeysetDuplicate, nextCert)
	}
	ks.Next = next
	return ks, nil
}

// KeysetFiles names the keyset's files as the config's idp.signing section
// does. The paths of a rollover stay configured while the files come and go
// (see RotationFiles), so NextCert and PreviousCert may be "" (not
// configured) or name a file that does not exist (that stage of a rollover is
// not in progress): both mean "none".
type KeysetFiles struct {
	CurrentKey   string
	CurrentCert  string
	NextCert     string
	PreviousCert string
}

// LoadKeysetFiles loads the current key pair and whichever of the next and
// previous certificates exist. Every certificate must be valid at now, and
// none may appear twice: a previous certificate equal to the current one, or
// a current certificate that does not match the key while the next one does,
// is a promotion that stopped half-way, and the error says to finish it.
func LoadKeysetFiles(f KeysetFiles, now time.Time) (*Keyset, error) {
	cur, err := LoadSigningKey(f.CurrentKey, f.CurrentCert, now)
	if err != nil {
		if errors.Is(err, ErrKeyMismatch) && keyMatchesCertFile(f.CurrentKey, f.NextCert) {
			return nil, fmt.Errorf("%w: %s", err, hintPromotionInterrupted)
		}
		return nil, err
	}
	ks := &Keyset{Current: cur}
	if ks.Next, err = loadOptionalCertificate(f.NextCert, now); err != nil {
		return nil, fmt.Errorf("next certificate: %w", err)
	}
	if ks.Previous, err = loadOptionalCertificate(f.PreviousCert, now); err != nil {
		if errors.Is(err, ErrCertExpired) {
			return nil, fmt.Errorf("previous certificate: %w (it cannot be published any more: run `partneridp keys rotate retire`)", err)
		}
		return nil, fmt.Errorf("previous certificate: %w", err)
	}
	switch {
	case ks.Next != nil && ks.Next.Equal(cur.Cert):
		return nil, fmt.Errorf("%w: %s (if a key promotion was interrupted, finish it with `partneridp keys rotate promote`; otherwise stage a new pair with `partneridp keys rotate stage --force`)", ErrKeysetDuplicate, f.NextCert)
	case ks.Previous != nil && ks.Previous.Equal(cur.Cert):
		return nil, fmt.Errorf("%w: the previous certificate %s is the current certificate: %s", ErrKeysetDuplicate, f.PreviousCert, hintPromotionInterrupted)
	case ks.Next != nil && ks.Previous != nil && ks.Next.Equal(ks.Previous):
		return nil, fmt.Errorf("%w: the next certificate %s is the previous certificate %s (stage a new key pair)", ErrKeysetDuplicate, f.NextCert, f.PreviousCert)
	}
	return ks, nil
}

const hintPromotionInterrupted = "a key promotion was interrupted; finish it with `partneridp keys rotate promote`"

// loadOptionalCertificate is LoadCertificate for a path that may be "" or
// name a missing file; both give nil.
func loadOptionalCertificate(path string, now time.Time) (*x509.Certificate, error) {
	if path == "" {
		return nil, nil
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return LoadCertificate(path, now)
}

// keyMatchesCertFile reports whether the key in keyPath belongs to the
// certificate in certPath; any problem reading either gives false.
func keyMatchesCertFile(keyPath, certPath string) bool {
	if keyPath == "" || certPath == "" {
		return false
	}
	key, err := loadPrivateKey(keyPath)
	if err != nil {
		return false
	}
	cert, err := readCertificateFile(certPath)
	if err != nil {
		return false
	}
	return certMatchesKey(cert, key)
}

// certMatchesKey reports whether cert is for key.
func certMatchesKey(cert *x509.Certificate, key *rsa.PrivateKey) bool {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	return ok && pub.N.Cmp(key.N) == 0 && pub.E == key.E
}

// FingerprintSHA256 is the certificate's SHA-256 fingerprint as openssl
// prints it: upper-case hex pairs joined by colons.
func FingerprintSHA256(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return formatFingerprint(sum[:])
}

func formatFingerprint(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(':')
		}
		fmt.Fprintf(&sb, "%02X", c)
	}
	return sb.String()
}

// ParseFingerprintSHA256 reads a pinned fingerprint in the colon form
// (70:14:9F:…) or as plain hex, either case, and returns it in the canonical
// colon form FingerprintSHA256 produces.
func ParseFingerprintSHA256(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(strings.ToLower(s), "sha256:") {
		s = s[len("sha256:"):]
	}
	plain := strings.ReplaceAll(s, ":", "")
	if len(plain) != 2*sha256.Size {
		return "", fmt.Errorf("%w: want 32 bytes as 64 hex digits (colons optional), got %d characters", ErrFingerprint, len(plain))
	}
	if strings.Contains(s, ":") && len(s) != 3*sha256.Size-1 {
		return "", fmt.Errorf("%w: colons must separate every byte (70:14:9F:…)", ErrFingerprint)
	}
	b, err := hex.DecodeString(plain)
	if err != nil {
		return "", fmt.Errorf("%w: not hexadecimal", ErrFingerprint)
	}
	return formatFingerprint(b), nil
}
