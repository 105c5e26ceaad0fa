package metadata

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rotationDir lays out a rollover's files in a temporary folder with the
// idp-current pair as the current one, and returns their paths.
func rotationDir(t *testing.T) RotationFiles {
	t.Helper()
	dir := t.TempDir()
	f := RotationFiles{
		Key:          filepath.Join(dir, "signing.key"),
		Cert:         filepath.Join(dir, "signing.crt"),
		NextKey:      filepath.Join(dir, "next-signing.key"),
		NextCert:     filepath.Join(dir, "next-signing.crt"),
		PreviousCert: filepath.Join(dir, "previous-signing.crt"),
	}
	copyFile(t, filepath.Join("..", "testdata", "keys", "idp-current.key"), f.Key, 0o600)
	copyFile(t, filepath.Join("..", "testdata", "keys", "idp-current.crt"), f.Cert, 0o644)
	return f
}

// stageTestPair stages the idp-next pair by hand, as StageNextKey would.
func stageTestPair(t *testing.T, f RotationFiles) {
	t.Helper()
	copyFile(t, filepath.Join("..", "testdata", "keys", "idp-next.key"), f.NextKey, 0o600)
	copyFile(t, filepath.Join("..", "testdata", "keys", "idp-next.crt"), f.NextCert, 0o644)
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestLoadKeysetFiles(t *testing.T) {
	cur := loadTestKey(t, "idp-current")
	next := loadTestKey(t, "idp-next")
	f := rotationDir(t)

	// Configured paths whose files do not exist: no rollover in progress.
	ks, err := LoadKeysetFiles(f.Keyset(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if ks.Next != nil || ks.Previous != nil || len(ks.Published()) != 1 {
		t.Fatalf("single: %+v", ks)
	}
	// Unconfigured paths: the same.
	if ks, err := LoadKeysetFiles(KeysetFiles{CurrentKey: f.Key, CurrentCert: f.Cert}, testNow); err != nil || len(ks.Published()) != 1 {
		t.Fatalf("unconfigured: %v", err)
	}

	copyFile(t, filepath.Join("..", "testdata", "keys", "idp-next.crt"), f.PreviousCert, 0o644)
	ks, err = LoadKeysetFiles(f.Keyset(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if pub := ks.Published(); len(pub) != 2 || !pub[0].Equal(cur.Cert) || !pub[1].Equal(next.Cert) || ks.Previous == nil {
		t.Errorf("with previous: Published() = %d certs", len(pub))
	}

	tests := []struct {
		name  string
		setup func(t *testing.T, f RotationFiles)
		want  error
		msg   string
	}{
		{"previous is current", func(t *testing.T, f RotationFiles) {
			copyFile(t, f.Cert, f.PreviousCert, 0o644)
		}, ErrKeysetDuplicate, "keys rotate promote"},
		{"next is current", func(t *testing.T, f RotationFiles) {
			copyFile(t, f.Cert, f.NextCert, 0o644)
		}, ErrKeysetDuplicate, "keys rotate promote"},
		{"next is previous", func(t *testing.T, f RotationFiles) {
			stageTestPair(t, f)
			copyFile(t, f.NextCert, f.PreviousCert, 0o644)
		}, ErrKeysetDuplicate, "stage a new key pair"},
		{"key replaced, certificate not yet", func(t *testing.T, f RotationFiles) {
			stageTestPair(t, f)
			copyFile(t, f.NextKey, f.Key, 0o600)
		}, ErrKeyMismatch, "keys rotate promote"},
		{"previous not a certificate", func(t *testing.T, f RotationFiles) {
			os.WriteFile(f.PreviousCert, []byte("nope"), 0o644)
		}, ErrCertPEM, "previous certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := rotationDir(t)
			tt.setup(t, f)
			_, err := LoadKeysetFiles(f.Keyset(), testNow)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.want, tt.msg)
			}
		})
	}

	// An expired previous certificate cannot be published: retire it.
	f = rotationDir(t)
	copyFile(t, filepath.Join("..", "testdata", "huawei", "sp-signing-cert-cn.pem"), f.PreviousCert, 0o644)
	_, err = LoadKeysetFiles(f.Keyset(), time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC))
	if !errors.Is(err, ErrCertExpired) || !strings.Contains(err.Error(), "retire") {
		t.Errorf("expired previous: %v", err)
	}
}

func TestInspectRotation(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(t *testing.T, f RotationFiles)
		want     RotationStage
		problems string
	}{
		{"single", func(t *testing.T, f RotationFiles) {}, RotationSingle, ""},
		{"staged", stageTestPair, RotationStaged, ""},
		{"promoted", func(t *testing.T, f RotationFiles) {
			copyFile(t, filepath.Join("..", "testdata", "keys", "idp-next.crt"), f.PreviousCert, 0o644)
		}, RotationPromoted, ""},
		{"staged while previous still published", func(t *testing.T, f RotationFiles) {
			stageTestPair(t, f)
			copyFile(t, filepath.Join("..", "testdata", "keys", "sp-test.crt"), f.PreviousCert, 0o644)
		}, RotationStaged, "retire it before promoting"},
		{"half staged: key only", func(t *testing.T, f RotationFiles) {
			copyFile(t, filepath.Join("..", "testdata", "keys", "idp-next.key"), f.NextKey, 0o600)
		}, RotationInconsistent, "only one of"},
		{"staged pair does not match", func(t *testing.T, f RotationFiles) {
			stageTestPair(t, f)
			copyFile(t, filepath.Join("..", "testdata", "keys", "sp-test.crt"), f.NextCert, 0o644)
		}, RotationInconsistent, "does not match next_cert_file"},
		{"current pair does not match", func(t *testing.T, f RotationFiles) {
			copyFile(t, filepath.Join("..", "testdata", "keys", "sp-test.key"), f.Key, 0o600)
		}, RotationInconsistent, "key_file does not match cert_file"},
		{"current key missing", func(t *testing.T, f RotationFiles) {
			os.Remove(f.Key)
		}, RotationInconsistent, "must both exist"},
		{"key file readable by others", func(t *testing.T, f RotationFiles) {
			os.Chmod(f.Key, 0o644)
		}, RotationInconsistent, "chmod 600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := rotationDir(t)
			tt.setup(t, f)
			st := InspectRotation(f, testNow)
			if st.Stage != tt.want {
				t.Fatalf("stage = %v, want %v (problems %q)", st.Stage, tt.want, st.Problems)
			}
			got := strings.Join(st.Problems, "\n")
			if (tt.problems == "") != (got == "") || !strings.Contains(got, tt.problems) {
				t.Errorf("problems %q, want %q", got, tt.problems)
			}
		})
	}
	// Expired certificates are shown, with a problem, not hidden.
	st := InspectRotation(rotationDir(t), time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC))
	if st.Current == nil || !strings.Contains(strings.Join(st.Problems, ""), "cert_file: the certificate expired") {
		t.Errorf("expired current: %+v", st)
	}
}

func TestStageNextKey(t *testing.T) {
	f := rotationDir(t)
	cur := loadTestKey(t, "idp-current")
	k, err := StageNextKey(f, StageOptions{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if k.Key.N.BitLen() != cur.Key.N.BitLen() {
		t.Errorf("new key has %d bits, current %d", k.Key.N.BitLen(), cur.Key.N.BitLen())
	}
	if k.Cert.Subject.String() != cur.Cert.Subject.String() {
		t.Errorf("subject %q, want the current %q", k.Cert.Subject, cur.Cert.Subject)
	}
	if want := testNow.Add(DefaultStageValidity); k.Cert.NotAfter.Sub(want).Abs() > 10*time.Minute {
		t.Errorf("NotAfter %v, want about %v", k.Cert.NotAfter, want)
	}
	loaded, err := LoadSigningKey(f.NextKey, f.NextCert, testNow)
	if err != nil || !loaded.Key.Equal(k.Key) {
		t.Fatalf("staged pair does not load: %v", err)
	}
	if st := InspectRotation(f, testNow); st.Stage != RotationStaged || !st.NextKeyMatches {
		t.Errorf("after stage: %v", st.Stage)
	}
	ks, err := LoadKeysetFiles(f.Keyset(), testNow)
	if err != nil || ks.Next == nil || !ks.Next.Equal(k.Cert) || !ks.Current.Key.Equal(cur.Key) {
		t.Fatalf("keyset after stage: %v", err)
	}

	// Twice: refused without Force, nothing changed; with Force, replaced.
	if _, err := StageNextKey(f, StageOptions{Now: testNow}); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second stage: %v", err)
	}
	if again, _ := LoadSigningKey(f.NextKey, f.NextCert, testNow); !again.Key.Equal(k.Key) {
		t.Fatal("refused stage changed the staged pair")
	}
	subject := pkix.Name{CommonName: "idp.partner.example rollover"}
	k2, err := StageNextKey(f, StageOptions{Now: testNow, Force: true, Bits: 3072, Subject: &subject, Validity: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if k2.Key.Equal(k.Key) || k2.Key.N.BitLen() != 3072 || k2.Cert.Subject.CommonName != subject.CommonName {
		t.Errorf("forced stage: bits %d, subject %q", k2.Key.N.BitLen(), k2.Cert.Subject)
	}
	if st, _ := os.Stat(f.NextKey); st.Mode().Perm() != 0o600 {
		t.Errorf("next key mode %v", st.Mode())
	}
	if _, err := StageNextKey(f, StageOptions{Now: testNow, Force: true, Bits: 1024}); !errors.Is(err, ErrKeySizeNotAllowed) {
		t.Errorf("1024 bits: %v", err)
	}
}

func TestStageNextKeyRefusals(t *testing.T) {
	tests := []struct {
		name string
		edit func(t *testing.T, f *RotationFiles)
		want error
		msg  string
	}{
		{"rollover paths not configured", func(t *testing.T, f *RotationFiles) {
			f.NextKey, f.NextCert, f.PreviousCert = "", "", ""
		}, ErrRotationNotConfigured, "idp.signing.next_key_file, idp.signing.next_cert_file, idp.signing.previous_cert_file"},
		{"previous still published", func(t *testing.T, f *RotationFiles) {
			copyFile(t, filepath.Join("..", "testdata", "keys", "idp-next.crt"), f.PreviousCert, 0o644)
		}, ErrRotationStage, "retire it first"},
		{"current pair does not match", func(t *testing.T, f *RotationFiles) {
			copyFile(t, filepath.Join("..", "testdata", "keys", "sp-test.key"), f.Key, 0o600)
		}, ErrKeyMismatch, "does not match"},
		{"promotion interrupted", func(t *testing.T, f *RotationFiles) {
			stageTestPair(t, *f)
			copyFile(t, f.NextKey, f.Key, 0o600)
			os.Remove(f.NextKey)
		}, ErrRotationStage, "keys rotate promote"},
		{"no current pair", func(t *testing.T, f *RotationFiles) {
			os.Remove(f.Cert)
		}, ErrRotationStage, "partneridp keygen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := rotationDir(t)
			tt.edit(t, &f)
			before := exists(f.NextCert)
			_, err := StageNextKey(f, StageOptions{Now: testNow})
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.want, tt.msg)
			}
			if f.NextCert != "" && exists(f.NextCert) != before {
				t.Error("refused stage wrote next_cert_file")
			}
		})
	}
}

// checkPromoted checks the files after a complete promotion of idp-next
// over idp-current.
func checkPromoted(t *testing.T, f RotationFiles) {
	t.Helper()
	cur := loadTestKey(t, "idp-current")
	next := loadTestKey(t, "idp-next")
	ks, err := LoadKeysetFiles(f.Keyset(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !ks.Current.Key.Equal(next.Key) || !ks.Current.Cert.Equal(next.Cert) {
		t.Error("the next pair is not current")
	}
	if ks.Previous == nil || !ks.Previous.Equal(cur.Cert) || ks.Next != nil {
		t.Error("the old certificate is not previous, or a next is left")
	}
	if exists(f.NextKey) || exists(f.NextCert) {
		t.Error("next files left behind")
	}
	if st := InspectRotation(f, testNow); st.Stage != RotationPromoted {
		t.Errorf("stage %v", st.Stage)
	}
	// The old private key is gone from every file in the folder.
	entries, _ := os.ReadDir(filepath.Dir(f.Key))
	for _, e := range entries {
		p := filepath.Join(filepath.Dir(f.Key), e.Name())
		if key, err := loadPrivateKey(p); err == nil && key.Equal(cur.Key) {
			t.Errorf("%s still holds the old private key", e.Name())
		}
		if strings.HasPrefix(e.Name(), ".partneridp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	if st, _ := os.Stat(f.Key); st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", st.Mode())
	}
}

func TestPromoteNextKey(t *testing.T) {
	f := rotationDir(t)
	stageTestPair(t, f)
	res, err := PromoteNextKey(f, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed || res.OldExpiredRemoved || !res.New.Equal(loadTestKey(t, "idp-next").Cert) || !res.Old.Equal(loadTestKey(t, "idp-current").Cert) {
		t.Errorf("result %+v", res)
	}
	checkPromoted(t, f)
	// Promoting again: nothing staged.
	if _, err := PromoteNextKey(f, testNow); !errors.Is(err, ErrRotationStage) || !strings.Contains(err.Error(), "retire") {
		t.Errorf("second promote: %v", err)
	}

	// Retire: the old certificate leaves; back to a single key.
	old, err := RetirePreviousCert(f)
	if err != nil || !old.Equal(loadTestKey(t, "idp-current").Cert) {
		t.Fatalf("retire: %v", err)
	}
	if st := InspectRotation(f, testNow); st.Stage != RotationSingle {
		t.Errorf("after retire: %v", st.Stage)
	}
	if _, err := RetirePreviousCert(f); !errors.Is(err, ErrRotationStage) || !strings.Contains(err.Error(), "nothing to retire") {
		t.Errorf("second retire: %v", err)
	}
}

func TestPromoteRefusals(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, f *RotationFiles)
		now   time.Time
		want  error
		msg   string
	}{
		{"nothing staged", func(t *testing.T, f *RotationFiles) {}, testNow, ErrRotationStage, "rotate stage"},
		{"staged pair does not match", func(t *testing.T, f *RotationFiles) {
			stageTestPair(t, *f)
			copyFile(t, filepath.Join("..", "testdata", "keys", "sp-test.crt"), f.NextCert, 0o644)
		}, testNow, ErrKeyMismatch, "stage --force"},
		{"only the next key staged", func(t *testing.T, f *RotationFiles) {
			copyFile(t, filepath.Join("..", "testdata", "keys", "idp-next.key"), f.NextKey, 0o600)
		}, testNow, ErrRotationStage, "only one of"},
		{"previous still published", func(t *testing.T, f *RotationFiles) {
			stageTestPair(t, *f)
			copyFile(t, filepath.Join("..", "testdata", "keys", "sp-test.crt"), f.PreviousCert, 0o644)
		}, testNow, ErrRotationStage, "retire it before promoting"},
		{"previous not configured", func(t *testing.T, f *RotationFiles) {
			stageTestPair(t, *f)
			f.PreviousCert = ""
		}, testNow, ErrRotationNotConfigured, "idp.signing.previous_cert_file"},
		{"staged certificate expired", func(t *testing.T, f *RotationFiles) {
			stageTestPair(t, *f)
		}, time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC), ErrCertExpired, "next certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := rotationDir(t)
			tt.setup(t, &f)
			keyBefore, _ := os.ReadFile(f.Key)
			certBefore, _ := os.ReadFile(f.Cert)
			_, err := PromoteNextKey(f, tt.now)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.want, tt.msg)
			}
			keyAfter, _ := os.ReadFile(f.Key)
			certAfter, _ := os.ReadFile(f.Cert)
			if string(keyBefore) != string(keyAfter) || string(certBefore) != string(certAfter) {
				t.Error("a refused promotion changed the current pair")
			}
			if f.PreviousCert != "" && tt.name != "previous still published" && exists(f.PreviousCert) {
				t.Error("a refused promotion wrote previous_cert_file")
			}
		})
	}
}

// TestPromoteCrashSafety stops a promotion before each of its file
// operations, as a crash would, and checks that the files left behind never
// load as a mismatched pair, are recognised as an interrupted promotion,
// and that promoting again finishes the job.
func TestPromoteCrashSafety(t *testing.T) {
	ops := []string{"write previous", "write key", "remove next key", "write cert", "remove next cert"}
	cur := loadTestKey(t, "idp-current")
	for i, op := range ops {
		t.Run(op, func(t *testing.T) {
			f := rotationDir(t)
			stageTestPair(t, f)
			crash := errors.New("simulated crash")
			promoteHook = func(at string) error {
				if at == op {
					return crash
				}
				return nil
			}
			_, err := PromoteNextKey(f, testNow)
			promoteHook = nil
			if !errors.Is(err, crash) {
				t.Fatalf("promotion did not stop at %q: %v", op, err)
			}

			st := InspectRotation(f, testNow)
			wantStage := RotationPromoting
			if i == 0 {
				wantStage = RotationStaged // nothing was touched yet
			}
			if st.Stage != wantStage {
				t.Fatalf("after a crash before %q: stage %v (%q), want %v", op, st.Stage, st.Problems, wantStage)
			}
			// The service either loads a matching pair (the old one, while
			// the old key is still in place) or refuses with the fix.
			ks, err := LoadKeysetFiles(f.Keyset(), testNow)
			switch {
			case err == nil:
				if !ks.Current.Key.Equal(cur.Key) || !ks.Current.Cert.Equal(cur.Cert) {
					t.Fatal("a half-promoted keyset loaded with the new key")
				}
			case !strings.Contains(err.Error(), "keys rotate promote"):
				t.Fatalf("load error does not say how to finish: %v", err)
			}
			// Stage and retire refuse to act on a half-done promotion.
			if i > 0 {
				if _, err := RetirePreviousCert(f); !errors.Is(err, ErrRotationStage) {
					t.Errorf("retire during an interrupted promotion: %v", err)
				}
				if _, err := StageNextKey(f, StageOptions{Now: testNow, Force: true}); !errors.Is(err, ErrRotationStage) && !errors.Is(err, ErrKeyMismatch) {
					t.Errorf("stage during an interrupted promotion: %v", err)
				}
			}

			res, err := PromoteNextKey(f, testNow)
			if err != nil {
				t.Fatalf("resuming: %v", err)
			}
			if res.Resumed != (i > 0) {
				t.Errorf("Resumed = %v", res.Resumed)
			}
			if !res.Old.Equal(cur.Cert) {
				t.Error("result does not name the old certificate")
			}
			checkPromoted(t, f)
		})
	}
}

// TestPromoteExpiredCurrent: rotating away from an expired certificate
// works, and the expired one is not kept for publishing.
func TestPromoteExpiredCurrent(t *testing.T) {
	f := rotationDir(t)
	// A current pair that expired yesterday.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, f.Key, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key), 0o600)
	writePEM(t, f.Cert, "CERTIFICATE", selfSigned(t, &key.PublicKey, key, testNow.AddDate(-1, 0, 0), testNow.AddDate(0, 0, -1)), 0o644)
	k, err := StageNextKey(f, StageOptions{Now: testNow})
	if err != nil {
		t.Fatalf("stage with an expired current certificate: %v", err)
	}
	res, err := PromoteNextKey(f, testNow)
	if err != nil || !res.OldExpiredRemoved {
		t.Fatalf("promote: %+v, %v", res, err)
	}
	ks, err := LoadKeysetFiles(f.Keyset(), testNow)
	if err != nil || !ks.Current.Key.Equal(k.Key) || ks.Previous != nil {
		t.Fatalf("after promote: %v", err)
	}
	if st := InspectRotation(f, testNow); st.Stage != RotationSingle {
		t.Errorf("stage %v", st.Stage)
	}
}

func TestRetireRefusals(t *testing.T) {
	f := rotationDir(t)
	f.PreviousCert = ""
	if _, err := RetirePreviousCert(f); !errors.Is(err, ErrRotationNotConfigured) {
		t.Errorf("unconfigured: %v", err)
	}
	f = rotationDir(t)
	if _, err := RetirePreviousCert(f); !errors.Is(err, ErrRotationStage) {
		t.Errorf("nothing to retire: %v", err)
	}
	// A previous certificate equal to the current one (left by hand) may go.
	copyFile(t, f.Cert, f.PreviousCert, 0o644)
	if _, err := RetirePreviousCert(f); err != nil || exists(f.PreviousCert) {
		t.Errorf("previous == current: %v", err)
	}
}
