package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/partneridp/partneridp/metadata/xmlsectest"
)

// run executes the CLI in-process and returns stdout, stderr and the error.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd(&out, &errb)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errb.String(), err
}

// TestKeygenThenMetadata is the operator's first walk: make a key, write the
// metadata from the example config, check it, and validate it against the
// OASIS schema with xmllint.
func TestKeygenThenMetadata(t *testing.T) {
	dir := t.TempDir()
	example, err := os.ReadFile("../../partneridp.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "partneridp.yaml")
	if err := os.WriteFile(cfgPath, example, 0o644); err != nil {
		t.Fatal(err)
	}
	keyPath, certPath := filepath.Join(dir, "signing.key"), filepath.Join(dir, "signing.crt")
	if _, _, err := run(t, "keygen", "--cn", "idp.partner.example", "--key-out", keyPath, "--cert-out", certPath); err != nil {
		t.Fatalf("keygen: %v", err)
	}
	st, err := os.Stat(keyPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st.Mode(), err)
	}
	// A second keygen must not overwrite without --force.
	if _, _, err := run(t, "keygen", "--key-out", keyPath, "--cert-out", certPath); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("keygen overwrote or said nothing useful: %v", err)
	}
	if _, _, err := run(t, "keygen", "--bits", "1024", "--key-out", filepath.Join(dir, "small.key"), "--cert-out", filepath.Join(dir, "small.crt")); err == nil {
		t.Fatal("keygen accepted a 1024-bit key")
	}
	if _, err := os.Stat(filepath.Join(dir, "small.key")); !os.IsNotExist(err) {
		t.Fatal("refused keygen still wrote a file")
	}

	out := filepath.Join(dir, "IDP-Metadata.xml")
	if _, _, err := run(t, "metadata", "--config", cfgPath, "--out", out); err != nil {
		t.Fatalf("metadata: %v", err)
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if xmlsectest.HaveSchemaTools(t) {
		if msg, ok := xmlsectest.ValidateSchema(t, doc, xmlsectest.MetadataXSD(t)); !ok {
			t.Fatalf("xmllint refused the metadata:\n%s", msg)
		}
	}
	stdout, _, err := run(t, "metadata", "check", out)
	if err != nil || !strings.Contains(stdout, "OK") {
		t.Fatalf("metadata check: %v\n%s", err, stdout)
	}
	for _, secret := range []string{"PRIVATE KEY", "signing.key"} {
		if bytes.Contains(doc, []byte(secret)) {
			t.Errorf("metadata mentions %q", secret)
		}
	}
}

func TestMetadataRefusesBadInputsAndWritesNothing(t *testing.T) {
	dir := t.TempDir()
	// World-readable key: refused, nothing written.
	keyPath, certPath := filepath.Join(dir, "signing.key"), filepath.Join(dir, "signing.crt")
	if _, _, err := run(t, "keygen", "--key-out", keyPath, "--cert-out", certPath); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := minimalConfig + "\n"
	cfg = strings.Replace(cfg, "{key_file: k, cert_file: c}", "{key_file: signing.key, cert_file: signing.crt}", 1)
	cfgPath := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "IDP-Metadata.xml")
	_, _, err := run(t, "metadata", "--config", cfgPath, "--out", out)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("want a key-mode error that says how to fix it, got %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("metadata was written despite the error")
	}

	// Huawei's own example fails our checks (1024-bit cert, no WantAuthnRequestsSigned).
	stdout, _, err := run(t, "metadata", "check", "../../testdata/huawei/idp-metadata-doc-example.xml")
	if err == nil || !strings.Contains(stdout, "1024-bit") || !strings.Contains(stdout, "WantAuthnRequestsSigned") {
		t.Fatalf("metadata check on Huawei's example: %v\n%s", err, stdout)
	}
}

func TestSPMetadataInspect(t *testing.T) {
	const pin = "70:14:9F:C1:F6:03:92:44:2D:3F:7E:D0:9D:DE:1C:88:1B:A6:D0:08:A6:AB:3E:B0:F7:69:9B:3D:02:CC:79:3E"
	stdout, _, err := run(t, "sp-metadata", "inspect", "../../testdata/huawei/sp-metadata-cn.xml", "--pin-sha256", pin)
	if err != nil {
		t.Fatal(err)
	}
	outputHas(t, "inspect output", stdout, "https://auth.huaweicloud.com/", "SAMLAssertionConsumer", "verified", pin, "2028-06-18")
	tampered := filepath.Join(t.TempDir(), "sp.xml")
	orig, _ := os.ReadFile("../../testdata/huawei/sp-metadata-cn.xml")
	if err := os.WriteFile(tampered, bytes.Replace(orig, []byte(`SAMLAssertionConsumer"`), []byte(`SAMLAssertionConsumeR"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "sp-metadata", "inspect", tampered, "--pin-sha256", pin); err == nil {
		t.Fatal("tampered SP metadata was accepted with a pin")
	}
}
