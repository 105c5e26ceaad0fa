package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bolt"
	"github.com/partneridp/partneridp/internal/selftest"
	"github.com/partneridp/partneridp/metadata"
)

func TestSelftestInProcess(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	stdout, _, err := run(t, "selftest")
	if err != nil {
		t.Fatalf("selftest failed: %v\n%s", err, stdout)
	}
	outputHas(t, "selftest output", stdout,
		"[ ok ] first login: isFirstLogin=true",
		"store: demo_IDP/alice -> ",
		"[ ok ] second login: isFirstLogin=false",
		"xUserId=alice",
		"mobile=86-13800000001",
		"[ ok ] login started at Huawei without a bridge session",
		"[ ok ] tampered Response",
		"reason bad_signature",
		"5 passed, 0 failed, 0 skipped",
	)
	if got := listTree(t, tmp); len(got) != 0 {
		t.Errorf("selftest left %v in the temporary folder", got)
	}
}

// selftestDeployment writes what an operator has before going live: an IdP
// key pair, a platform key pair, a config with https URLs (no development
// mode) and a store with one binding. It returns the config path.
func selftestDeployment(t *testing.T, platformPrivateKey ed25519.PrivateKey) (string, string) {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	idpKey, err := metadata.GenerateKeyPair(2048, pkix.Name{CommonName: "idp.partner.example"}, now.Add(-time.Hour), now.AddDate(1, 0, 0), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := metadata.WriteKeyPair(idpKey, filepath.Join(dir, "signing.key"), filepath.Join(dir, "signing.crt"), false); err != nil {
		t.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if platformPrivateKey == nil {
		if pub, platformPrivateKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
			t.Fatal(err)
		}
	} // else: the configured public key is another key's
	if err := writePublicKey(filepath.Join(dir, "platform-shop.pub.pem"), pub); err != nil {
		t.Fatal(err)
	}
	writeEd25519PrivateKey(t, filepath.Join(dir, "platform-shop.key"), platformPrivateKey)
	cfg := `
public_url: https://idp.partner.example
data_dir: data
idp:
  signing: {key_file: signing.key, cert_file: signing.crt}
  logout: true
huawei:
  site: cn
  x_account_type: shop_IDP
platforms:
  - name: shop
    issuer: https://shop.partner.example
    audience: https://idp.partner.example
    alg: EdDSA
    public_key_file: platform-shop.pub.pem
    test_signing_key_file: platform-shop.key
    login_url: https://shop.partner.example/login
landing_url: https://shop.partner.example/
`
	cfgPath := filepath.Join(dir, "partneridp.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	storePath := filepath.Join(dir, "data", "partneridp.db")
	db, err := bolt.Open(storePath, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = binding.Put(context.Background(), db, binding.Binding{Key: binding.Key{XAccountType: "shop_IDP", XAccountID: "cust-000123"},
		DomainID: "0123456789abcdef0123456789abcdef", DomainName: "cust_one", Source: binding.SourceImport}, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return cfgPath, storePath
}

func writeEd25519PrivateKey(t *testing.T, path string, key ed25519.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// TestSelftestAgainstConfig checks a production-shaped deployment (https,
// no development mode) with the mock in Huawei's place, on a copy of its
// store: the original store file is not changed.
func TestSelftestAgainstConfig(t *testing.T) {
	cfgPath, storePath := selftestDeployment(t, nil)
	before := fileSum(t, storePath)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	stdout, _, err := run(t, "selftest", "--config", cfgPath, "--customer", "cust-selftest-1")
	if err != nil {
		t.Fatalf("selftest failed: %v\n%s", err, stdout)
	}
	t.Log("\n" + stdout)
	outputHas(t, "selftest output", stdout,
		"[ ok ] platform key",
		"[ ok ] IdP signing key and IDP Metadata.xml",
		"[ ok ] binding store (a temporary copy)",
		"1 binding(s)",
		"bridge https://idp.partner.example (served in-process",
		"store: shop_IDP/cust-selftest-1 -> ",
		"xUserId=cust-selftest-1",
		"reason bad_signature",
		"8 passed, 0 failed, 0 skipped",
	)
	if fileSum(t, storePath) != before {
		t.Error("the selftest changed the deployment's store file")
	}
	if got := listTree(t, tmp); len(got) != 0 {
		t.Errorf("selftest left %v in the temporary folder", got)
	}
}

// TestSelftestCatchesMismatchedKeys: the keys a deployment would go live
// with do not fit together, and the selftest says so and fails.
func TestSelftestCatchesMismatchedKeys(t *testing.T) {
	t.Run("platform private key is not the configured public key's", func(t *testing.T) {
		_, other, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		cfgPath, _ := selftestDeployment(t, other)
		stdout, _, err := run(t, "selftest", "--config", cfgPath)
		if !errors.Is(err, selftest.ErrFailed) {
			t.Fatalf("err = %v, want selftest.ErrFailed\n%s", err, stdout)
		}
		outputHas(t, "selftest output", stdout,
			"[FAIL] platform key",
			"does not match the public key the bridge has for platform shop",
			"[skip] first login",
			"0 passed, 1 failed",
		)
	})
	t.Run("IdP certificate is not the signing key's", func(t *testing.T) {
		cfgPath, _ := selftestDeployment(t, nil)
		dir := filepath.Dir(cfgPath)
		other, err := metadata.GenerateKeyPair(2048, pkix.Name{CommonName: "other"}, time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := metadata.WriteKeyPair(other, filepath.Join(dir, "other.key"), filepath.Join(dir, "signing.crt"), true); err != nil {
			t.Fatal(err)
		}
		stdout, _, err := run(t, "selftest", "--config", cfgPath)
		if !errors.Is(err, selftest.ErrFailed) {
			t.Fatalf("err = %v, want selftest.ErrFailed\n%s", err, stdout)
		}
		if !strings.Contains(stdout, "[FAIL] IdP signing key and IDP Metadata.xml") || !strings.Contains(stdout, metadata.ErrKeyMismatch.Error()) {
			t.Errorf("output does not say the IdP key and certificate differ:\n%s", stdout)
		}
	})
	t.Run("no platform private key", func(t *testing.T) {
		cfgPath, _ := selftestDeployment(t, nil)
		data, _ := os.ReadFile(cfgPath)
		os.WriteFile(cfgPath, []byte(strings.Replace(string(data), "    test_signing_key_file: platform-shop.key\n", "", 1)), 0o644)
		stdout, _, err := run(t, "selftest", "--config", cfgPath)
		if !errors.Is(err, selftest.ErrFailed) || !strings.Contains(stdout, "--platform-key") {
			t.Errorf("err = %v; output should ask for --platform-key:\n%s", err, stdout)
		}
		// With the key given on the command line it passes.
		stdout, _, err = run(t, "selftest", "--config", cfgPath, "--platform-key", filepath.Join(filepath.Dir(cfgPath), "platform-shop.key"))
		if err != nil {
			t.Errorf("with --platform-key: %v\n%s", err, stdout)
		}
	})
	t.Run("unusable config", func(t *testing.T) {
		cfgPath := filepath.Join(t.TempDir(), "bad.yaml")
		os.WriteFile(cfgPath, []byte("public_url: nope\n"), 0o644)
		_, _, err := run(t, "selftest", "--config", cfgPath)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("err = %v, want the config's *ConfigError", err)
		}
	})
}

// TestSelftestAgainstTwoSiteConfig: with huawei_sites, a mock stands in for
// each site (its own entityID and key), and the flows run on every site:
// the customer is bound on each under its xAccountType.
func TestSelftestAgainstTwoSiteConfig(t *testing.T) {
	cfgPath, _ := selftestDeployment(t, nil)
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	twoSites := strings.Replace(string(data), "huawei:\n  site: cn\n  x_account_type: shop_IDP\n",
		"huawei_sites:\n  - {site: cn, x_account_type: shop_IDP}\n  - {site: intl, x_account_type: shop_intl_IDP}\n", 1)
	if twoSites == string(data) {
		t.Fatal("the deployment's huawei section was not found")
	}
	if err := os.WriteFile(cfgPath, []byte(twoSites), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", t.TempDir())
	stdout, _, err := run(t, "selftest", "--config", cfgPath, "--customer", "cust-selftest-2")
	if err != nil {
		t.Fatalf("selftest failed: %v\n%s", err, stdout)
	}
	t.Log("\n" + stdout)
	outputHas(t, "selftest output", stdout,
		"site cn (1 of 2)",
		"site intl (2 of 2)",
		"mocks cn https://127.0.0.1:",
		"store: shop_IDP/cust-selftest-2 -> ",
		"store: shop_intl_IDP/cust-selftest-2 -> ",
		"8 passed, 0 failed, 0 skipped",
		"4 passed, 0 failed, 0 skipped",
		"selftest, 2 of 2 site(s) run: 12 passed, 0 failed, 0 skipped",
	)
}
