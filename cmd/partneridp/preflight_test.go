package main

import (
	"context"
	"crypto/rand"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/metadata"
)

// brokenDeployment writes a production-like config (behind a proxy, SP
// metadata from a pinned file) and lets breakage change the folder or the
// YAML before it is written. It returns the config path.
func brokenDeployment(t *testing.T, breakage func(dir string, yaml *string)) string {
	t.Helper()
	dir := t.TempDir()
	copyFixture(t, dir, "keys/idp-current.key", 0o600)
	copyFixture(t, dir, "keys/idp-current.crt", 0o644)
	copyFixture(t, dir, "keys/sp-test.crt", 0o644)
	copyFixture(t, dir, "metadata/sp-metadata-test.xml", 0o644)
	copyFixture(t, dir, "handoff/platform-hs256.secret", 0o600)
	yaml := `
public_url: https://idp.partner.example
listen: 127.0.0.1:0
data_dir: data
idp: {signing: {key_file: idp-current.key, cert_file: idp-current.crt}}
huawei:
  site: custom
  x_account_type: test_IDP
  login_url: https://sp.test.example/authui/saml/login
  console_url: https://console.test.example/console
  sp_metadata: sp-metadata-test.xml
  sp_cert_pin_file: sp-test.crt
platforms: [{name: p, issuer: https://p.example, audience: https://idp.partner.example, alg: HS256, secret_file: platform-hs256.secret, login_url: https://p.example/login}]
landing_url: https://p.example/
tls: {behind_proxy: true, trusted_proxies: [127.0.0.1/32]}
log: {format: json, level: warn}
`
	if breakage != nil {
		breakage(dir, &yaml)
	}
	path := filepath.Join(dir, "partneridp.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeTLSPair writes an RSA key (mode) and a certificate valid between
// from and to as tls.key and tls.crt.
func writeTLSPair(t *testing.T, dir string, from, to time.Time, mode os.FileMode) {
	t.Helper()
	k, err := metadata.GenerateKeyPair(2048, pkix.Name{CommonName: "idp.partner.example"}, from, to, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := metadata.WriteKeyPair(k, filepath.Join(dir, "tls.key"), filepath.Join(dir, "tls.crt"), false); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "tls.key"), mode); err != nil {
		t.Fatal(err)
	}
}

// TestConfigCheckAgreesWithServe runs `config check` and `serve` over the
// same broken configs: whatever serve refuses, config check refuses too,
// naming the same thing, with exit status 2.
func TestConfigCheckAgreesWithServe(t *testing.T) {
	now := time.Now()
	useTLS := func(dir string, y *string) {
		*y = strings.Replace(*y, "tls: {behind_proxy: true, trusted_proxies: [127.0.0.1/32]}", "tls: {cert_file: tls.crt, key_file: tls.key}", 1)
	}
	cases := []struct {
		name     string
		breakage func(dir string, y *string)
		want     string // in both outputs
		offline  bool   // config check --offline accepts it (network only)
	}{
		{"neither TLS nor proxy", func(dir string, y *string) {
			*y = strings.Replace(*y, "behind_proxy: true", "behind_proxy: false", 1)
		}, "tls.behind_proxy", false},
		{"bad trusted proxy", func(dir string, y *string) {
			*y = strings.Replace(*y, "127.0.0.1/32]", "not-an-address]", 1)
		}, "tls.trusted_proxies", false},
		{"signing key readable by others", func(dir string, y *string) {
			os.Chmod(filepath.Join(dir, "idp-current.key"), 0o644)
		}, "idp-current.key", false},
		{"platform secret readable by others", func(dir string, y *string) {
			os.Chmod(filepath.Join(dir, "platform-hs256.secret"), 0o644)
		}, "platform-hs256.secret", false},
		{"platform secret missing", func(dir string, y *string) {
			os.Remove(filepath.Join(dir, "platform-hs256.secret"))
		}, "platform-hs256.secret", false},
		{"TLS certificate expired", func(dir string, y *string) {
			useTLS(dir, y)
			writeTLSPair(t, dir, now.AddDate(-2, 0, 0), now.AddDate(-1, 0, 0), 0o600)
		}, "tls.cert_file", false},
		{"TLS key readable by others", func(dir string, y *string) {
			useTLS(dir, y)
			writeTLSPair(t, dir, now.Add(-time.Hour), now.AddDate(1, 0, 0), 0o644)
		}, "tls.key_file", false},
		{"signing certificate expired", func(dir string, y *string) {
			k, err := metadata.GenerateKeyPair(2048, pkix.Name{CommonName: "old"}, now.AddDate(-2, 0, 0), now.AddDate(-1, 0, 0), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if err := metadata.WriteKeyPair(k, filepath.Join(dir, "old.key"), filepath.Join(dir, "old.crt"), false); err != nil {
				t.Fatal(err)
			}
			*y = strings.Replace(*y, "key_file: idp-current.key, cert_file: idp-current.crt", "key_file: old.key, cert_file: old.crt", 1)
		}, "old.crt", false},
		{"SP metadata unreachable", func(dir string, y *string) {
			*y = strings.Replace(*y, "sp_metadata: sp-metadata-test.xml", "sp_metadata: https://127.0.0.1:1/metadata.xml", 1)
		}, "sp_metadata", true},
		{"no landing_url", func(dir string, y *string) {
			*y = strings.Replace(*y, "landing_url: https://p.example/\n", "", 1)
		}, "landing_url", false},
		{"webhook secret readable by others", func(dir string, y *string) {
			os.WriteFile(filepath.Join(dir, "shop.whsec"), []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"), 0o640)
			*y = strings.Replace(*y, "login_url: https://p.example/login}", "login_url: https://p.example/login, webhook: {url: \"https://p.example/hooks\", secret_file: shop.whsec}}", 1)
		}, "platforms[0].webhook.secret_file", false},
		{"webhook secret without whsec_", func(dir string, y *string) {
			os.WriteFile(filepath.Join(dir, "shop.whsec"), []byte("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"), 0o600)
			*y = strings.Replace(*y, "login_url: https://p.example/login}", "login_url: https://p.example/login, webhook: {url: \"https://p.example/hooks\", secret_file: shop.whsec}}", 1)
		}, "whsec_", false},
		{"partner SK file readable by others", func(dir string, y *string) {
			os.WriteFile(filepath.Join(dir, "hw.ak"), []byte("AKTEST\n"), 0o600)
			os.WriteFile(filepath.Join(dir, "hw.sk"), []byte("SKTEST\n"), 0o644)
			*y = strings.Replace(*y, "  x_account_type: test_IDP\n", "  x_account_type: test_IDP\n  partner_api: {ak_file: hw.ak, sk_file: hw.sk, domain_id: d0}\n", 1)
		}, "huawei.partner_api.sk_file", false},
		{"partner AK env unset", func(dir string, y *string) {
			os.WriteFile(filepath.Join(dir, "hw.sk"), []byte("SKTEST\n"), 0o600)
			*y = strings.Replace(*y, "  x_account_type: test_IDP\n", "  x_account_type: test_IDP\n  partner_api: {ak_env: PARTNERIDP_TEST_UNSET_AK, sk_file: hw.sk, domain_id: d0}\n", 1)
		}, "PARTNERIDP_TEST_UNSET_AK is empty or unset", false},
		{"data_dir not writable", func(dir string, y *string) {
			os.WriteFile(filepath.Join(dir, "data"), []byte("a file"), 0o644)
		}, "data", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := brokenDeployment(t, tc.breakage)
			_, checkOut, checkErr := run(t, "config", "check", "--config", path)
			serveErr := runServeBriefly(t, path)
			if serveErr == nil {
				t.Fatalf("serve started; the case is not broken")
			}
			if checkErr == nil {
				t.Fatalf("serve refused (%v) but config check passed:\n%s", serveErr, checkOut)
			}
			if exitCode(checkErr) != exitConfig {
				t.Errorf("config check exit status %d, want %d", exitCode(checkErr), exitConfig)
			}
			if !strings.Contains(checkErr.Error(), tc.want) || !strings.Contains(serveErr.Error(), tc.want) {
				t.Errorf("want %q in both:\nconfig check: %v\nserve: %v", tc.want, checkErr, serveErr)
			}
			_, _, offErr := run(t, "config", "check", "--offline", "--config", path)
			if (offErr == nil) != tc.offline {
				t.Errorf("config check --offline: %v", offErr)
			}
		})
	}
	t.Run("the unbroken deployment", func(t *testing.T) {
		path := brokenDeployment(t, nil)
		if stdout, _, err := run(t, "config", "check", "--config", path); err != nil || !strings.Contains(stdout, "OK") {
			t.Fatalf("config check: %v %s", err, stdout)
		}
		if err := runServeBriefly(t, path); err != nil {
			t.Fatalf("serve: %v", err)
		}
	})
}

// runServeBriefly runs `serve`; nil means it was still serving after a
// moment (then it is stopped).
func runServeBriefly(t *testing.T, path string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var out lockedBuffer
	root := newRootCmd(&out, &out)
	root.SetArgs([]string{"serve", "--config", path})
	return root.ExecuteContext(ctx)
}
