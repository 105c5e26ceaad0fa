package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/metadata"
)

// newKeyPair writes a fresh signing key pair over the config's files the
// way an operator would: made beside them, then renamed into place.
func newKeyPair(t *testing.T, dir string) *x509.Certificate {
	t.Helper()
	key, crt := filepath.Join(dir, "new.key"), filepath.Join(dir, "new.crt")
	if _, _, err := run(t, "keygen", "--cn", "idp.example", "--key-out", key, "--cert-out", crt); err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{key: "idp-current.key", crt: "idp-current.crt"} {
		if err := os.Rename(from, filepath.Join(dir, to)); err != nil {
			t.Fatal(err)
		}
	}
	return readCert(t, filepath.Join(dir, "idp-current.crt"))
}

func servedCert(t *testing.T, xml string) string {
	t.Helper()
	m := x509CertRE.FindStringSubmatch(xml)
	if m == nil {
		t.Fatalf("no certificate in the metadata:\n%.300s", xml)
	}
	return strings.Join(strings.Fields(m[1]), "")
}

func certBase64(c *x509.Certificate) string {
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	body := strings.TrimSuffix(strings.TrimPrefix(string(b), "-----BEGIN CERTIFICATE-----\n"), "-----END CERTIFICATE-----\n")
	return strings.Join(strings.Fields(body), "")
}

// TestReloadSwapsKeysOrKeepsThem: reload takes a new signing key pair (the
// signer and the served metadata change together); a broken key file is
// refused and what is in use stays.
func TestReloadSwapsKeysOrKeepsThem(t *testing.T) {
	cfg, dir := serveConfig(t, "store: {type: memory}\n")
	b, err := newBridge(context.Background(), cfg, bridgeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	metadataNow := func() string {
		_, body := serveGet(t, b, idp.PathMetadata)
		return body
	}
	old := b.signer.Current().Certificate()
	if servedCert(t, metadataNow()) != certBase64(old) {
		t.Fatal("the metadata does not publish the signing certificate")
	}

	fresh := newKeyPair(t, dir)
	summary, err := b.reload(context.Background())
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !strings.Contains(summary, metadata.FingerprintSHA256(fresh)) {
		t.Errorf("reload summary %q lacks the new fingerprint", summary)
	}
	if !b.signer.Current().Certificate().Equal(fresh) || servedCert(t, metadataNow()) != certBase64(fresh) {
		t.Fatal("after reload the signer or the served metadata is not the new key's")
	}
	if err := b.server.Health(context.Background()); err != nil {
		t.Errorf("health after reload: %v", err)
	}

	if err := os.WriteFile(filepath.Join(dir, "idp-current.key"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := b.reload(context.Background()); err == nil || !strings.Contains(err.Error(), "signing keys") {
		t.Fatalf("reload with a broken key file: %v", err)
	}
	if !b.signer.Current().Certificate().Equal(fresh) || servedCert(t, metadataNow()) != certBase64(fresh) {
		t.Fatal("a refused reload changed the signer or the metadata")
	}
}

// serveGet answers one GET with the bridge's handler in process.
func serveGet(t *testing.T, b *bridge, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	b.server.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}
