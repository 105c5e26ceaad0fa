package main

import (
	"context"
	"crypto/rand"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/idp/mockiam"
	"github.com/partneridp/partneridp/metadata"
	"github.com/partneridp/partneridp/metadata/xmlsectest"
)

func TestMockHuaweiExampleConfigParses(t *testing.T) {
	cfg, err := LoadMockHuaweiConfig("../../mock-huawei.example.yaml")
	if err != nil {
		t.Fatalf("the example mock-huawei config must stay valid: %v", err)
	}
	reg, ok := cfg.IdPs["example_IDP"]
	if cfg.Listen != "127.0.0.1:9443" || !ok || reg.MetadataURL == "" || reg.NotificationURL == "" {
		t.Errorf("unexpected example values: %+v", cfg)
	}
	if cfg.ClockSkew.Duration != mockiam.DefaultSkew {
		t.Errorf("clock_skew = %s", cfg.ClockSkew)
	}
}

func TestMockHuaweiConfigProblems(t *testing.T) {
	const good = "idps: {ok_IDP: {metadata_url: http://127.0.0.1:8443/saml/metadata}}\n"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"minimal is fine", good, nil},
		{"unknown key", good + "bogus: 1\n", []string{"field bogus not found"}},
		{"misspelt nested key", "idps: {ok_IDP: {metadata_ur: http://x/}}\n", []string{"field metadata_ur not found"}},
		{"no idps", "listen: 127.0.0.1:1\n", []string{"idps: register at least one"}},
		{"every problem at once", `
listen: nonsense
base_url: ftp://mock
sp_key_file: k.pem
clock_skew: forever
idps:
  "bad type!": {metadata_url: http://x/m}
  both_IDP: {metadata_url: http://x/m, metadata_file: m.xml}
  none_IDP: {notification_url: /relative}
accounts:
  - {x_account_type: other_IDP, xaccount_id: "", domain_name: "1bad"}
tls: {cert_file: c.pem}
log: {format: xml, level: loud}
`, []string{
			`listen: "nonsense" is not host:port`,
			`base_url: "ftp://mock" is not an absolute http(s) URL`,
			"sp_key_file, sp_cert_file: set both",
			`"forever" is not a duration`,
			`idps: "bad type!" is not an xAccountType`,
			"idps.both_IDP: set exactly one of metadata_file or metadata_url",
			"idps.none_IDP: set exactly one",
			`idps.none_IDP.notification_url: "/relative" is not an absolute http(s) URL`,
			`accounts[0].x_account_type: "other_IDP" is not one of the idps`,
			"accounts[0].xaccount_id: must be 1-128 characters",
			"accounts[0].domain_name:",
			"tls: set both cert_file and key_file",
			`log.format: "xml" is unknown`,
			`log.level: "loud" is unknown`,
		}},
		{"base_url with a path", good + "base_url: http://127.0.0.1:9443/iam\n", []string{"must be scheme://host[:port] only"}},
		{"all interfaces without base_url", good + "listen: :9443\n", []string{"set base_url"}},
		{"all interfaces with base_url", good + "listen: :9443\nbase_url: http://mock.test:9443\n", nil},
		{"not yaml", "idps: [\n", []string{"yaml:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMockHuaweiConfig([]byte(tt.yaml), t.TempDir())
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("problems do not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestMockHuaweiCommand runs `partneridp mock-huawei` as an operator would:
// it generates its SP key in the data directory, prints where its metadata
// is, serves signed SP metadata that xmlsec1 verifies, stops when its
// context ends, and reuses the key at the next start.
func TestMockHuaweiCommand(t *testing.T) {
	dir := t.TempDir()
	idpMetadata, err := os.ReadFile("../../testdata/mockiam/idp-metadata/good.xml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "IDP Metadata.xml"), idpMetadata, 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "mock.yaml")
	if err := os.WriteFile(cfgPath, []byte(`
listen: 127.0.0.1:0
data_dir: data
idps:
  test_IDP: {metadata_file: IDP Metadata.xml, notification_url: http://127.0.0.1:1/huawei/bind}
accounts:
  - {x_account_type: test_IDP, xaccount_id: cust-1, domain_name: cust_one}
log: {level: warn}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	metadataURL := regexp.MustCompile(`SP metadata:\s+(http://127\.0\.0\.1:\d+/authui/saml/metadata\.xml)`)

	rc := startCLI(t, "mock-huawei", "--config", cfgPath)
	url := rc.waitFor(t, metadataURL)
	outputHas(t, "start-up output", rc.stdout.String(), "login link:", "xAccountType=test_IDP&isFirstLogin=<true|false>", "huawei.sp_fingerprint_sha256", "Press Ctrl-C to stop.")
	status, doc := httpGet(t, url)
	if status != 200 {
		t.Fatalf("SP metadata: HTTP %d", status)
	}
	keyPath, certPath := filepath.Join(dir, "data", mockSPKeyName), filepath.Join(dir, "data", mockSPCertName)
	st, err := os.Stat(keyPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("generated SP key: %v %v", st, err)
	}
	cert, err := metadata.LoadCertificate(certPath, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if xmlsectest.Have(t, "xmlsec1") {
		if out, ok := xmlsectest.Verify(t, []byte(doc), cert, "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor"); !ok {
			t.Fatalf("xmlsec1 refused the served SP metadata:\n%s", out)
		}
	}
	if err := rc.stop(t); err != nil {
		t.Fatalf("mock-huawei ended with %v", err)
	}
	if !strings.Contains(rc.stdout.String(), "mock Huawei IAM stopped") {
		t.Errorf("no stop message:\n%s", rc.stdout)
	}
	if _, err := httpGetErr(url); err == nil {
		t.Error("the mock still answers after it stopped")
	}

	// The next start keeps the key, so a bridge pinned to it keeps working.
	fingerprint := metadata.FingerprintSHA256(cert)
	rc2 := startCLI(t, "mock-huawei", "--config", cfgPath)
	rc2.waitFor(t, metadataURL)
	if !strings.Contains(rc2.stdout.String(), fingerprint) {
		t.Errorf("second start has another SP certificate; want %s:\n%s", fingerprint, rc2.stdout)
	}
	if err := rc2.stop(t); err != nil {
		t.Fatal(err)
	}
}

func TestMockHuaweiCommandRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "mock.yaml")
	if err := os.WriteFile(cfgPath, []byte("idps: {x_IDP: {metadata_file: missing.xml}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := run(t, "mock-huawei", "--config", cfgPath)
	if err == nil || !strings.Contains(err.Error(), "missing.xml") {
		t.Fatalf("err = %v, want it to name the missing metadata file", err)
	}
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.File != cfgPath {
		t.Errorf("err = %#v, want a *ConfigError for %s (exit status 2)", err, cfgPath)
	}
	if _, err := os.Stat(filepath.Join(dir, "mock-huawei-data")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused config still made the data directory (%v)", err)
	}
	_, _, err = run(t, "mock-huawei", "--config", filepath.Join(dir, "absent.yaml"))
	if err == nil || !strings.Contains(err.Error(), "absent.yaml") {
		t.Fatalf("err = %v, want it to name the absent config", err)
	}
}

func FuzzParseMockHuaweiConfig(f *testing.F) {
	example, err := os.ReadFile("../../mock-huawei.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte("idps: {a_IDP: {metadata_url: http://x/m}}\n"))
	f.Add([]byte("clock_skew: 5\nidps: []\n"))
	f.Add([]byte("accounts: [{x_account_type: a}]\n"))
	f.Add([]byte("listen: \"[::1]:0\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseMockHuaweiConfig(data, "cfgdir") // parsing reads no files
		if err != nil {
			return // any error is fine; a panic is not
		}
		if len(cfg.IdPs) == 0 || cfg.Listen == "" {
			t.Fatalf("accepted a config without idps or listen: %+v", cfg)
		}
		for t2, reg := range cfg.IdPs {
			if !validXAccountType(t2) || (reg.MetadataFile == "") == (reg.MetadataURL == "") {
				t.Fatalf("accepted registration %q: %+v", t2, reg)
			}
		}
	})
}

// TestBridgeConfigPointedAtMock follows the README section "Point a bridge at the mock": a bridge config with
// site custom, the mock's SP metadata URL pinned by the fingerprint the mock
// prints, its login and console URLs, loads and wires a bridge that trusts
// the mock's SP.
func TestBridgeConfigPointedAtMock(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "mock.yaml")
	if err := os.WriteFile(cfgPath, []byte("listen: 127.0.0.1:0\ndata_dir: data\nidps: {example_IDP: {metadata_url: http://127.0.0.1:8443/saml/metadata}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rc := startCLI(t, "mock-huawei", "--config", cfgPath)
	spMetadata := rc.waitFor(t, regexp.MustCompile(`SP metadata:\s+(\S+)`))
	fingerprint := rc.waitFor(t, regexp.MustCompile(`SP cert:\s+SHA-256 (\S+)`))
	loginURL := rc.waitFor(t, regexp.MustCompile(`login URL:\s+(\S+)`))
	consoleURL := rc.waitFor(t, regexp.MustCompile(`console:\s+(\S+)`))

	now := time.Now()
	idpKey, err := metadata.GenerateKeyPair(2048, pkix.Name{CommonName: "bridge"}, now.Add(-time.Hour), now.AddDate(1, 0, 0), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := metadata.WriteKeyPair(idpKey, filepath.Join(dir, "signing.key"), filepath.Join(dir, "signing.crt"), false); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "platform.secret"), []byte(strings.Repeat("s", 48)), 0o600); err != nil {
		t.Fatal(err)
	}
	bridgeCfg := fmt.Sprintf(`
public_url: http://127.0.0.1:8443
development: true
data_dir: bridge-data
idp: {signing: {key_file: signing.key, cert_file: signing.crt}}
huawei:
  site: custom
  x_account_type: example_IDP
  sp_metadata: %s
  sp_fingerprint_sha256: "%s"
  login_url: %s
  console_url: %s
platforms:
  - {name: shop, issuer: http://127.0.0.1:8080, audience: http://127.0.0.1:8443, alg: HS256, secret_file: platform.secret, login_url: http://127.0.0.1:8080/login}
landing_url: http://127.0.0.1:8080/
`, spMetadata, fingerprint, loginURL, consoleURL)
	bridgePath := filepath.Join(dir, "partneridp.yaml")
	if err := os.WriteFile(bridgePath, []byte(bridgeCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(bridgePath, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newBridge(context.Background(), cfg, bridgeOptions{})
	if err != nil {
		t.Fatalf("a bridge configured as the README says does not start: %v", err)
	}
	defer b.Close()
	base := strings.TrimSuffix(spMetadata, mockiam.PathMetadata)
	if sp := b.sp(); sp.EntityID != base+"/" || sp.SignatureStatus != metadata.SignatureVerified {
		t.Errorf("the bridge trusts SP %q (signature %s), want the mock %s/", sp.EntityID, sp.SignatureStatus, base)
	}
	if err := rc.stop(t); err != nil {
		t.Fatal(err)
	}
}
