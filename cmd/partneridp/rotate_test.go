package main

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/metadata"
)

const rolloverSigning = `{key_file: signing.key, cert_file: signing.crt, next_key_file: next-signing.key, next_cert_file: next-signing.crt, previous_cert_file: previous-signing.crt}`

// rolloverSetup makes a config and a current key pair in a temporary folder.
func rolloverSetup(t *testing.T, signing string) (dir, cfgPath string) {
	t.Helper()
	dir = t.TempDir()
	cfg := strings.Replace(minimalConfig, "{key_file: k, cert_file: c}", signing, 1)
	cfgPath = filepath.Join(dir, "partneridp.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "keygen", "--cn", "idp.example", "--key-out", filepath.Join(dir, "signing.key"), "--cert-out", filepath.Join(dir, "signing.crt")); err != nil {
		t.Fatal(err)
	}
	return dir, cfgPath
}

var x509CertRE = regexp.MustCompile(`<ds:X509Certificate>([^<]+)</ds:X509Certificate>`)

// published builds the metadata for the config as `partneridp metadata`
// does and returns the certificates the document lists, in order, and the
// key that signs.
func published(t *testing.T, cfgPath string) ([]*x509.Certificate, metadata.SigningKey) {
	t.Helper()
	cfg, err := LoadConfig(cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc, ks, err := buildIDPMetadata(cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if problems := metadata.CheckIDPMetadata(doc, metadata.CheckOptions{Now: time.Now()}); len(problems) > 0 {
		t.Fatalf("metadata problems: %v", problems)
	}
	var certs []*x509.Certificate
	for _, m := range x509CertRE.FindAllSubmatch(doc, -1) {
		der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(m[1])), ""))
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	return certs, ks.Current
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	c, err := metadata.LoadCertificate(path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sameCerts(got []*x509.Certificate, want ...*x509.Certificate) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !got[i].Equal(want[i]) {
			return false
		}
	}
	return true
}

// TestKeyRolloverCycle walks stage → promote → retire and checks which
// certificates the metadata publishes and which key signs at each stage.
func TestKeyRolloverCycle(t *testing.T) {
	dir, cfgPath := rolloverSetup(t, rolloverSigning)
	path := func(name string) string { return filepath.Join(dir, name) }
	oldCert := readCert(t, path("signing.crt"))

	certs, signer := published(t, cfgPath)
	if !sameCerts(certs, oldCert) {
		t.Fatalf("single: metadata lists %d certificates", len(certs))
	}
	oldKey := signer.Key
	status, _, err := run(t, "keys", "status", "--config", cfgPath)
	if err != nil || !strings.Contains(status, "stage: single") || !strings.Contains(status, metadata.FingerprintSHA256(oldCert)) {
		t.Fatalf("status (single): %v\n%s", err, status)
	}

	// Stage.
	out, _, err := run(t, "keys", "rotate", "stage", "--config", cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	outputHas(t, "stage output", out, "partneridp metadata --config "+cfgPath+" --out IDP-Metadata.xml", "Capability Opening > Access Configuration > Modify", "keys rotate promote", "publishes 2 certificates")
	newCert := readCert(t, path("next-signing.crt"))
	certs, signer = published(t, cfgPath)
	if !sameCerts(certs, oldCert, newCert) {
		t.Fatalf("staged: metadata lists %d certificates, want current and next", len(certs))
	}
	if !signer.Key.Equal(oldKey) {
		t.Fatal("staged: the signing key changed before promotion")
	}
	if st, _ := os.Stat(path("next-signing.key")); st.Mode().Perm() != 0o600 {
		t.Errorf("next key mode %v", st.Mode())
	}
	// Staging twice is refused; --force replaces the staged pair.
	if _, _, err := run(t, "keys", "rotate", "stage", "--config", cfgPath); !errors.Is(err, metadata.ErrExists) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second stage: %v", err)
	}
	if _, _, err := run(t, "keys", "rotate", "stage", "--config", cfgPath, "--force", "--bits", "3072"); err != nil {
		t.Fatal(err)
	}
	replaced := readCert(t, path("next-signing.crt"))
	if replaced.Equal(newCert) {
		t.Fatal("--force did not replace the staged pair")
	}
	newCert = replaced
	status, _, err = run(t, "keys", "status", "--config", cfgPath)
	if err != nil || !strings.Contains(status, "stage: staged") || !strings.Contains(status, metadata.FingerprintSHA256(newCert)) {
		t.Fatalf("status (staged): %v\n%s", err, status)
	}

	// Promote.
	out, _, err = run(t, "keys", "rotate", "promote", "--config", cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	outputHas(t, "promote output", out, "kill -HUP", "old private key was deleted", "Capability Opening > Access Configuration > Modify", "keys rotate retire", metadata.FingerprintSHA256(newCert))
	certs, signer = published(t, cfgPath)
	if !sameCerts(certs, newCert, oldCert) {
		t.Fatalf("promoted: metadata lists %d certificates, want new current and previous", len(certs))
	}
	if signer.Key.Equal(oldKey) || !signer.Cert.Equal(newCert) || signer.Key.N.BitLen() != 3072 {
		t.Fatal("promoted: the new key does not sign")
	}
	for _, gone := range []string{"next-signing.key", "next-signing.crt"} {
		if _, err := os.Stat(path(gone)); !os.IsNotExist(err) {
			t.Errorf("%s still exists after promote", gone)
		}
	}
	status, _, err = run(t, "keys", "status", "--config", cfgPath)
	if err != nil || !strings.Contains(status, "stage: promoted") || !strings.Contains(status, "keys rotate retire") {
		t.Fatalf("status (promoted): %v\n%s", err, status)
	}
	if _, _, err := run(t, "keys", "rotate", "stage", "--config", cfgPath); !errors.Is(err, metadata.ErrRotationStage) || !strings.Contains(err.Error(), "retire") {
		t.Errorf("stage while previous is published: %v", err)
	}

	// Retire.
	out, _, err = run(t, "keys", "rotate", "retire", "--config", cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Capability Opening > Access Configuration > Modify") || !strings.Contains(out, "publishes 1 certificate") {
		t.Errorf("retire output:\n%s", out)
	}
	certs, signer = published(t, cfgPath)
	if !sameCerts(certs, newCert) || !signer.Cert.Equal(newCert) {
		t.Fatalf("retired: metadata lists %d certificates, want the new one only", len(certs))
	}
	if _, _, err := run(t, "keys", "rotate", "retire", "--config", cfgPath); !errors.Is(err, metadata.ErrRotationStage) {
		t.Errorf("second retire: %v", err)
	}
	status, _, err = run(t, "keys", "status", "--config", cfgPath)
	if err != nil || !strings.Contains(status, "stage: single") {
		t.Errorf("status (single again): %v\n%s", err, status)
	}
}

func TestKeyRolloverRefusals(t *testing.T) {
	t.Run("promote without stage", func(t *testing.T) {
		_, cfgPath := rolloverSetup(t, rolloverSigning)
		if _, _, err := run(t, "keys", "rotate", "promote", "--config", cfgPath); !errors.Is(err, metadata.ErrRotationStage) || !strings.Contains(err.Error(), "rotate stage") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("mismatched staged pair", func(t *testing.T) {
		dir, cfgPath := rolloverSetup(t, rolloverSigning)
		if _, _, err := run(t, "keys", "rotate", "stage", "--config", cfgPath); err != nil {
			t.Fatal(err)
		}
		// Another pair's certificate in next_cert_file.
		other := t.TempDir()
		if _, _, err := run(t, "keygen", "--key-out", filepath.Join(other, "o.key"), "--cert-out", filepath.Join(other, "o.crt")); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(filepath.Join(other, "o.crt"))
		if err := os.WriteFile(filepath.Join(dir, "next-signing.crt"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		keyBefore, _ := os.ReadFile(filepath.Join(dir, "signing.key"))
		if _, _, err := run(t, "keys", "rotate", "promote", "--config", cfgPath); !errors.Is(err, metadata.ErrKeyMismatch) {
			t.Fatalf("err = %v, want ErrKeyMismatch", err)
		}
		if keyAfter, _ := os.ReadFile(filepath.Join(dir, "signing.key")); string(keyAfter) != string(keyBefore) {
			t.Fatal("refused promote changed the signing key")
		}
		status, _, err := run(t, "keys", "status", "--config", cfgPath)
		if err == nil || !strings.Contains(status, "stage: inconsistent") || !strings.Contains(status, "DOES NOT match") {
			t.Errorf("status: %v\n%s", err, status)
		}
	})
	t.Run("unconfigured paths", func(t *testing.T) {
		_, cfgPath := rolloverSetup(t, `{key_file: signing.key, cert_file: signing.crt}`)
		for _, sub := range []string{"stage", "promote", "retire"} {
			_, _, err := run(t, "keys", "rotate", sub, "--config", cfgPath)
			if !errors.Is(err, metadata.ErrRotationNotConfigured) || !strings.Contains(err.Error(), "idp.signing.previous_cert_file") {
				t.Errorf("%s: err = %v", sub, err)
			}
		}
		status, _, err := run(t, "keys", "status", "--config", cfgPath)
		if err != nil || !strings.Contains(status, "next_cert_file not configured") {
			t.Errorf("status: %v\n%s", err, status)
		}
	})
	t.Run("interrupted promotion", func(t *testing.T) {
		dir, cfgPath := rolloverSetup(t, rolloverSigning)
		if _, _, err := run(t, "keys", "rotate", "stage", "--config", cfgPath); err != nil {
			t.Fatal(err)
		}
		// As if promote stopped after replacing the key.
		data, _ := os.ReadFile(filepath.Join(dir, "next-signing.key"))
		os.WriteFile(filepath.Join(dir, "signing.key"), data, 0o600)
		os.Remove(filepath.Join(dir, "next-signing.key"))
		if _, _, err := run(t, "metadata", "--config", cfgPath); err == nil || !strings.Contains(err.Error(), "keys rotate promote") {
			t.Fatalf("metadata with a half-promoted keyset: %v", err)
		}
		status, _, err := run(t, "keys", "status", "--config", cfgPath)
		if err == nil || !strings.Contains(status, "promotion interrupted") {
			t.Fatalf("status: %v\n%s", err, status)
		}
		out, _, err := run(t, "keys", "rotate", "promote", "--config", cfgPath)
		if err != nil || !strings.Contains(out, "Finished an interrupted promotion") {
			t.Fatalf("resume: %v\n%s", err, out)
		}
		if certs, _ := published(t, cfgPath); len(certs) != 2 {
			t.Errorf("after resume: %d certificates", len(certs))
		}
	})
}

func TestKeysHelpNamesPartnerCenterSteps(t *testing.T) {
	for _, args := range [][]string{
		{"keys", "--help"}, {"keys", "status", "--help"}, {"keys", "rotate", "--help"},
		{"keys", "rotate", "stage", "--help"}, {"keys", "rotate", "promote", "--help"}, {"keys", "rotate", "retire", "--help"},
	} {
		out, _, err := run(t, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for _, want := range []string{"Capability Opening > Access Configuration > Modify", "partneridp metadata", "--config"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: help lacks %q", args, want)
			}
		}
	}
}
