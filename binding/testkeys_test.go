package binding_test

import (
	"time"

	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"github.com/partneridp/partneridp/binding/memory"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/binding")

func testdata(parts ...string) string {
	return filepath.Join(append([]string{"..", "testdata"}, parts...)...)
}

func readPEM(t testing.TB, name, wantType string) []byte {
	t.Helper()
	data, err := os.ReadFile(testdata("keys", name))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != wantType {
		t.Fatalf("%s: no %s PEM block", name, wantType)
	}
	return block.Bytes
}

// loadKey reads a PKCS#8 RSA test key from testdata/keys.
func loadKey(t testing.TB, name string) *rsa.PrivateKey {
	t.Helper()
	k, err := x509.ParsePKCS8PrivateKey(readPEM(t, name, "PRIVATE KEY"))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("%s is not an RSA key", name)
	}
	return rk
}

func loadCert(t testing.TB, name string) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(readPEM(t, name, "CERTIFICATE"))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

// openMem is a new in-memory store: the tests of this package check the
// contracts' shared code, which runs the same on every backend.
func openMem(t testing.TB, clock func() time.Time) *memory.Store {
	s := memory.New(clock)
	t.Cleanup(func() { s.Close() })
	return s
}
