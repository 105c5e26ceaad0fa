package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding/bolt"
)

// copyFixture copies a testdata file into dir with mode (git does not keep
// 0600, and the loaders refuse readable key files).
func copyFixture(t testing.TB, dir, src string, mode os.FileMode) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("../../testdata", src))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
	return dst
}

// serveConfig is a development config served on loopback, trusting the
// test SP (testdata/metadata/sp-metadata-test.xml, pinned to sp-test.crt).
func serveConfig(t testing.TB, extra string) (*Config, string) {
	t.Helper()
	dir := t.TempDir()
	copyFixture(t, dir, "keys/idp-current.key", 0o600)
	copyFixture(t, dir, "keys/idp-current.crt", 0o644)
	copyFixture(t, dir, "keys/sp-test.crt", 0o644)
	copyFixture(t, dir, "metadata/sp-metadata-test.xml", 0o644)
	copyFixture(t, dir, "handoff/platform-hs256.secret", 0o600)
	yaml := `
public_url: http://127.0.0.1:1
development: true
listen: 127.0.0.1:0
admin: {listen: "127.0.0.1:0"}
idp: {signing: {key_file: idp-current.key, cert_file: idp-current.crt}, logout: true}
huawei:
  site: custom
  x_account_type: test_IDP
  login_url: http://127.0.0.1:2/authui/saml/login
  console_url: http://127.0.0.1:2/console
  sp_metadata: sp-metadata-test.xml
  sp_cert_pin_file: sp-test.crt
platforms: [{name: p, issuer: https://p.example, audience: http://127.0.0.1:1, alg: HS256, secret_file: platform-hs256.secret, login_url: http://127.0.0.1:3/login}]

log: {format: json, level: info, audit_log: audit.jsonl}

landing_url: http://127.0.0.1:3/
` + extra
	path := filepath.Join(dir, "partneridp.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, dir
}

func TestServeEndpointsLimitsAndGracefulStop(t *testing.T) {
	cfg, dir := serveConfig(t, "store: {path: bridge.db}\nlimits: {per_ip_per_minute: 60, burst: 3}\n")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var logs lockedBuffer
	adminAddr := make(chan string, 1)
	adminReadyHook = func(a string) { adminAddr <- a }
	t.Cleanup(func() { adminReadyHook = nil })
	go func() { done <- serve(ctx, cfg, &logs, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve ended: %v\n%s", err, logs.String())
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not start")
	}
	base := "http://" + addr
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	for _, c := range []struct {
		path string
		code int
		want string
	}{
		{"/healthz", 200, "ok"},
		{"/readyz", 200, ""},
		{"/saml/metadata", 200, "IDPSSODescriptor"},
		{"/metrics", 404, "not_found"}, // metrics are on admin.listen only
	} {
		resp, body := get(c.path)
		if resp.StatusCode != c.code || !strings.Contains(body, c.want) {
			t.Errorf("GET %s: %d %.200q", c.path, resp.StatusCode, body)
		}
	}
	admin := "http://" + <-adminAddr
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(admin + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("admin GET %s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
	base, publicBase := admin, base
	_, metrics := get("/metrics")
	base = publicBase
	if !strings.Contains(metrics, "partneridp_sp_cert_expiry_seconds") || !strings.Contains(metrics, "process_resident_memory_bytes") {
		t.Error("metrics lack the SP expiry gauge or process metrics")
	}

	// The SSO endpoint is rate limited per client IP: burst 3, then 429.
	var limited *http.Response
	for i := 0; i < 10; i++ {
		resp, _ := get("/saml/sso?SAMLRequest=x")
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = resp
			break
		}
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("unsigned request #%d: want 400, got %d", i, resp.StatusCode)
		}
	}
	if limited == nil || limited.Header.Get("Retry-After") == "" {
		t.Fatalf("no 429 with Retry-After after the burst: %+v", limited)
	}
	// Metadata is not limited.
	if resp, _ := get("/saml/metadata"); resp.StatusCode != 200 {
		t.Errorf("metadata limited: %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(logs.String(), "stopped cleanly") {
		t.Errorf("no clean-stop log:\n%s", logs.String())
	}
	// The store was closed: another process can open it at once.
	db, err := bolt.Open(filepath.Join(dir, "bridge.db"), bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("store still locked after shutdown: %v", err)
	}
	db.Close()
	audit, err := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	if err != nil || !strings.Contains(string(audit), `"verdict":"refused"`) {
		t.Errorf("audit log lacks the refused SSO requests: %v\n%s", err, audit)
	}
	if st, err := os.Stat(filepath.Join(dir, "audit.jsonl")); err == nil && st.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode %v", st.Mode().Perm())
	}
}

func TestServeRefusesPlainHTTPInProduction(t *testing.T) {
	cfg, _ := serveConfig(t, "store: {path: bridge.db}\n")
	cfg.Development = false
	err := serve(context.Background(), cfg, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "tls.cert_file") {
		t.Fatalf("want a TLS-or-proxy error, got %v", err)
	}
}

func TestServeRefusesLockedStore(t *testing.T) {
	cfg, dir := serveConfig(t, "store: {path: bridge.db, open_timeout: 200ms}\n")
	db, err := bolt.Open(filepath.Join(dir, "bridge.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = serve(context.Background(), cfg, io.Discard, nil)
	if !errors.Is(err, bolt.ErrLocked) {
		t.Fatalf("want ErrLocked, got %v", err)
	}
	fmt.Fprint(io.Discard, err)
}

func TestServeTLS(t *testing.T) {
	cfg, dir := serveConfig(t, "store: {path: bridge.db}\n")
	// The IdP test key pair doubles as a TLS certificate here.
	cfg.TLS.CertFile = filepath.Join(dir, "idp-current.crt")
	cfg.TLS.KeyFile = filepath.Join(dir, "idp-current.key")
	srv := serveInProcess(t, cfg)
	addr := srv.addr
	client := func(maxVersion uint16) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: maxVersion}}}
	}
	resp, err := client(tls.VersionTLS13).Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("TLS 1.3 client: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("healthz over TLS: %d", resp.StatusCode)
	}
	if _, err := client(tls.VersionTLS11).Get("https://" + addr + "/healthz"); err == nil {
		t.Fatal("a TLS 1.1 client was served")
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestServePprofOnAdminOnly: admin.pprof serves Go's profiler on the admin
// listener, never on the public one; without it neither has it.
func TestServePprofOnAdminOnly(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("pprof=%v", on), func(t *testing.T) {
			cfg, _ := serveConfig(t, "store: {type: memory}\n")
			cfg.Admin.Pprof = on
			srv := serveInProcess(t, cfg)
			public, admin := srv.addr, srv.admin
			want := http.StatusNotFound
			if on {
				want = http.StatusOK
			}
			if code, _ := httpGet(t, "http://"+admin+"/debug/pprof/cmdline"); code != want {
				t.Errorf("admin /debug/pprof/cmdline: %d, want %d", code, want)
			}
			if code, _ := httpGet(t, "http://"+public+"/debug/pprof/cmdline"); code != http.StatusNotFound {
				t.Errorf("public /debug/pprof/cmdline: %d, want 404", code)
			}
		})
	}
}
