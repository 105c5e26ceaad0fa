package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

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

// TestServeReloadsOnSIGHUP: a real serve process takes a rotated key on
// SIGHUP (the metadata it serves changes, the log says so) and keeps it
// when the next SIGHUP finds a broken key file.
func TestServeReloadsOnSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := haServerBinary(t)
	_, dir := serveConfig(t, "store: {type: memory}\n")
	var logs lockedBuffer
	cmd := exec.Command(bin, "serve", "--config", filepath.Join(dir, "partneridp.yaml"))
	cmd.Env = withoutConfigOverrides(os.Environ())
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	re := regexp.MustCompile(`"msg":"partneridp serving","addr":"([^"]+)"`)
	var addr string
	for deadline := time.Now().Add(30 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("serve did not start:\n%s", logs.String())
	}
	served := func() string { _, body := httpGet(t, "http://"+addr+idp.PathMetadata); return servedCert(t, body) }
	before := served()

	fresh := newKeyPair(t, dir)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, &logs, `"msg":"reloaded"`)
	if got := served(); got != certBase64(fresh) || got == before {
		t.Fatal("after SIGHUP the metadata does not publish the new certificate")
	}

	if err := os.WriteFile(filepath.Join(dir, "idp-current.crt"), []byte("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, &logs, `"msg":"reload refused: the keys and metadata in use stay"`)
	if served() != certBase64(fresh) {
		t.Fatal("a refused reload changed the served metadata")
	}
	if code, _ := httpGet(t, "http://"+addr+idp.PathReadyz); code != 200 {
		t.Errorf("/readyz after a refused reload: %d", code)
	}
	if strings.Contains(logs.String(), "PRIVATE KEY") {
		t.Error("the log shows key material")
	}
}

func waitLog(t *testing.T, logs *lockedBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(logs.String(), want) {
			return
		}
	}
	t.Fatalf("no %s in the log:\n%s", want, logs.String())
}

// serveGet answers one GET with the bridge's handler in process.
func serveGet(t *testing.T, b *bridge, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	b.server.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}
