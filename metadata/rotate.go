package metadata

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Errors of a signing-key rollover.
var (
	ErrRotationNotConfigured = errors.New("key rollover files are not configured")
	ErrRotationStage         = errors.New("key rollover is not at the stage this step needs")
)

// RotationFiles names the files of a signing-key rollover as the config's
// idp.signing section does. The paths stay configured for good; which files
// exist tells the stage:
//
//	stage      key_file, cert_file   next_key/cert_file   previous_cert_file   metadata publishes
//	single     current pair          -                    -                    current
//	staged     current pair          new pair             -                    current, next
//	promoted   new pair              -                    old certificate      current, previous
//
// Stage goes single → staged, Promote staged → promoted, Retire promoted →
// single.
type RotationFiles struct {
	Key, Cert         string
	NextKey, NextCert string
	PreviousCert      string
}

// Keyset names the files LoadKeysetFiles reads for these rollover files.
func (f RotationFiles) Keyset() KeysetFiles {
	return KeysetFiles{CurrentKey: f.Key, CurrentCert: f.Cert, NextCert: f.NextCert, PreviousCert: f.PreviousCert}
}

// requireConfigured lists every unconfigured path among those named.
func (f RotationFiles) requireConfigured(op string, which ...string) error {
	paths := map[string]string{
		"key_file": f.Key, "cert_file": f.Cert, "next_key_file": f.NextKey,
		"next_cert_file": f.NextCert, "previous_cert_file": f.PreviousCert,
	}
	var missing []string
	for _, name := range which {
		if paths[name] == "" {
			missing = append(missing, "idp.signing."+name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s needs %s in the config (for example next-signing.key, next-signing.crt, previous-signing.crt beside the current pair)",
			ErrRotationNotConfigured, op, strings.Join(missing, ", "))
	}
	return nil
}

// RotationStage is where a rollover stands, as read from the files.
type RotationStage int

const (
	// RotationSingle: only the current pair; the metadata lists one certificate.
	RotationSingle RotationStage = iota + 1
	// RotationStaged: a next pair waits beside the current one; both are published.
	RotationStaged
	// RotationPromoted: the new pair signs; the old certificate is still published.
	RotationPromoted
	// RotationPromoting: a promotion stopped half-way; promoting again finishes it.
	RotationPromoting
	// RotationInconsistent: the files fit no stage; RotationStatus.Problems says why.
	RotationInconsistent
)

func (s RotationStage) String() string {
	switch s {
	case RotationSingle:
		return "single (current key only)"
	case RotationStaged:
		return "staged (next key published, not signing)"
	case RotationPromoted:
		return "promoted (new key signing, previous certificate still published)"
	case RotationPromoting:
		return "promotion interrupted (run promote again to finish)"
	case RotationInconsistent:
		return "inconsistent"
	}
	return fmt.Sprintf("RotationStage(%d)", int(s))
}

// RotationStatus is what InspectRotation found.
type RotationStatus struct {
	Stage RotationStage
	// Certificates as found, expired or not; nil when absent or unreadable.
	Current, Next, Previous *x509.Certificate
	// CurrentKeyMatches and NextKeyMatches say whether each key file holds
	// the key of the certificate beside it.
	CurrentKeyMatches, NextKeyMatches bool
	// Problems say what is wrong and how to fix it.
	Problems []string

	resumeAt int // RotationStaged/RotationPromoting: first promotion step still to do
	// strayPrevious: the only fault is a previous certificate equal to the
	// current one, which retiring fixes.
	strayPrevious bool
}

// rotationFile is one file as read: absent, unreadable, or parsed.
type rotationFile struct {
	path   string
	exists bool
	err    error
	cert   *x509.Certificate
	key    *rsa.PrivateKey
}

type rotationSnapshot struct {
	key, cert, nextKey, nextCert, previous rotationFile
}

func readRotationFiles(f RotationFiles) rotationSnapshot {
	return rotationSnapshot{
		key:      readRotationKey(f.Key),
		cert:     readRotationCert(f.Cert),
		nextKey:  readRotationKey(f.NextKey),
		nextCert: readRotationCert(f.NextCert),
		previous: readRotationCert(f.PreviousCert),
	}
}

func readRotationKey(path string) rotationFile {
	rf := rotationFile{path: path}
	if !fileExists(path, &rf) {
		return rf
	}
	rf.key, rf.err = loadPrivateKey(path)
	return rf
}

func readRotationCert(path string) rotationFile {
	rf := rotationFile{path: path}
	if !fileExists(path, &rf) {
		return rf
	}
	rf.cert, rf.err = readCertificateFile(path)
	return rf
}

func fileExists(path string, rf *rotationFile) bool {
	if path == "" {
		return false
	}
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		rf.exists = true
	case !errors.Is(err, os.ErrNotExist):
		rf.exists, rf.err = true, err
	}
	return rf.exists
}

// InspectRotation reads the rollover files and says which stage they are
// in. It never changes a file.
func InspectRotation(f RotationFiles, now time.Time) RotationStatus {
	snap := readRotationFiles(f)
	st := classify(snap)
	for _, c := range []struct {
		name string
		cert *x509.Certificate
	}{{"cert_file", st.Current}, {"next_cert_file", st.Next}, {"previous_cert_file", st.Previous}} {
		if c.cert != nil && now.After(c.cert.NotAfter) {
			st.Problems = append(st.Problems, fmt.Sprintf("%s: the certificate expired %s", c.name, c.cert.NotAfter.UTC().Format(time.DateOnly)))
		}
	}
	return st
}

// classify maps the files onto a stage. The promotion steps (see
// PromoteNextKey) leave recognisable states, so that a promotion stopped at
// any point is classified RotationPromoting with the step to resume at.
func classify(s rotationSnapshot) RotationStatus {
	st := RotationStatus{Current: s.cert.cert, Next: s.nextCert.cert, Previous: s.previous.cert}
	inconsistent := func(format string, a ...any) RotationStatus {
		st.Stage = RotationInconsistent
		st.Problems = append(st.Problems, fmt.Sprintf(format, a...))
		return st
	}
	for _, rf := range []rotationFile{s.key, s.cert, s.nextKey, s.nextCert, s.previous} {
		if rf.err != nil {
			return inconsistent("%v", rf.err)
		}
	}
	if !s.key.exists || !s.cert.exists {
		return inconsistent("key_file and cert_file must both exist (make them with `partneridp keygen`)")
	}
	st.CurrentKeyMatches = certMatchesKey(s.cert.cert, s.key.key)
	if s.nextKey.exists && s.nextCert.exists {
		st.NextKeyMatches = certMatchesKey(s.nextCert.cert, s.nextKey.key)
	}
	prevIsCurrent := s.previous.exists && s.previous.cert.Equal(s.cert.cert)

	if !st.CurrentKeyMatches {
		// Promotion step "key" done, step "cert" not: the key is already the
		// next certificate's.
		if s.nextCert.exists && certMatchesKey(s.nextCert.cert, s.key.key) &&
			(!s.nextKey.exists || s.nextKey.key.Equal(s.key.key)) &&
			(!s.previous.exists || prevIsCurrent) {
			st.Stage, st.resumeAt = RotationPromoting, stepKey
			return st
		}
		return inconsistent("key_file does not match cert_file (restore the pair, or make a new one with `partneridp keygen --force`)")
	}

	switch {
	case !s.nextKey.exists && !s.nextCert.exists:
		switch {
		case !s.previous.exists:
			st.Stage = RotationSingle
		case prevIsCurrent:
			st.strayPrevious = true
			return inconsistent("previous_cert_file holds the current certificate; delete it (`partneridp keys rotate retire`)")
		default:
			st.Stage = RotationPromoted
		}
		return st
	case s.nextKey.exists && s.nextCert.exists:
		if !st.NextKeyMatches {
			return inconsistent("next_key_file does not match next_cert_file (stage a new pair: `partneridp keys rotate stage --force`)")
		}
		if s.nextCert.cert.Equal(s.cert.cert) {
			return inconsistent("the staged next pair is the current pair (stage a new pair: `partneridp keys rotate stage --force`)")
		}
		switch {
		case !s.previous.exists:
			st.Stage, st.resumeAt = RotationStaged, stepPrevious
		case prevIsCurrent:
			st.Stage, st.resumeAt = RotationPromoting, stepKey
		default:
			st.Stage, st.resumeAt = RotationStaged, stepPrevious
			st.Problems = append(st.Problems, "previous_cert_file still holds an older certificate: retire it before promoting (`partneridp keys rotate retire`)")
		}
		return st
	case !s.nextKey.exists && s.nextCert.exists && s.nextCert.cert.Equal(s.cert.cert) && s.previous.exists && !prevIsCurrent:
		// Promotion step "cert" written, the next certificate not yet removed.
		st.Stage, st.resumeAt = RotationPromoting, stepCert
		return st
	}
	return inconsistent("only one of next_key_file and next_cert_file exists (stage again: `partneridp keys rotate stage --force`)")
}

// StageOptions controls the new key pair StageNextKey makes.
type StageOptions struct {
	Bits     int           // 0: the current key's size
	Validity time.Duration // 0: three years
	Subject  *pkix.Name    // nil: the current certificate's subject
	Force    bool          // replace an existing staged pair
	Now      time.Time     // zero: time.Now()
	Rand     io.Reader     // nil: crypto/rand.Reader (the serial number)
}

// DefaultStageValidity is the validity of a staged certificate.
const DefaultStageValidity = 3 * 365 * 24 * time.Hour

// StageNextKey makes a new key pair and writes it to next_key_file and
// next_cert_file, so that the metadata publishes it beside the current
// certificate. It refuses when a pair is already staged (unless Force) or
// a previous certificate is still published.
func StageNextKey(f RotationFiles, o StageOptions) (SigningKey, error) {
	if err := f.requireConfigured("stage", "key_file", "cert_file", "next_key_file", "next_cert_file", "previous_cert_file"); err != nil {
		return SigningKey{}, err
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Validity == 0 {
		o.Validity = DefaultStageValidity
	}
	snap := readRotationFiles(f)
	for _, rf := range []rotationFile{snap.key, snap.cert} {
		if rf.err != nil {
			return SigningKey{}, rf.err
		}
	}
	if !snap.key.exists || !snap.cert.exists {
		return SigningKey{}, fmt.Errorf("%w: key_file and cert_file must exist before a rollover (make them with `partneridp keygen`)", ErrRotationStage)
	}
	if st := classify(snap); st.Stage == RotationPromoting {
		return SigningKey{}, fmt.Errorf("%w: %s", ErrRotationStage, hintPromotionInterrupted)
	}
	if !certMatchesKey(snap.cert.cert, snap.key.key) {
		return SigningKey{}, fmt.Errorf("%w: %s does not match %s; a promotion may have been interrupted: run `partneridp keys status`", ErrKeyMismatch, f.Cert, f.Key)
	}
	if snap.previous.exists {
		return SigningKey{}, fmt.Errorf("%w: %s is still published from the last rollover; retire it first (`partneridp keys rotate retire`) once Huawei uses the current metadata",
			ErrRotationStage, f.PreviousCert)
	}
	if !o.Force {
		for _, rf := range []rotationFile{snap.nextKey, snap.nextCert} {
			if rf.exists {
				return SigningKey{}, fmt.Errorf("%w: %s (a next key pair is already staged; promote it, or use --force to replace it)", ErrExists, rf.path)
			}
		}
	}
	bits := o.Bits
	if bits == 0 {
		bits = snap.key.key.N.BitLen()
	}
	subject := snap.cert.cert.Subject
	if o.Subject != nil {
		subject = *o.Subject
	}
	subject.Names = nil // ExtraNames and the fields are what x509 encodes
	notBefore := o.Now.Add(-5 * time.Minute).UTC().Truncate(time.Second)
	k, err := GenerateKeyPair(bits, subject, notBefore, notBefore.Add(o.Validity), o.Rand)
	if err != nil {
		return SigningKey{}, err
	}
	if err := WriteKeyPair(k, f.NextKey, f.NextCert, o.Force); err != nil {
		return SigningKey{}, err
	}
	if err := syncDirs(f.NextKey, f.NextCert); err != nil {
		return SigningKey{}, err
	}
	return k, nil
}

// Promotion steps, in order. Every file is replaced by writing a temporary
// file beside it and renaming it over the old one, so a file is always
// either wholly old or wholly new; after each rename the folder is synced.
//
//  1. previous: write the current certificate to previous_cert_file.
//  2. key:      write the next key over key_file (the old key's file is
//     replaced, so the old key is gone), then delete next_key_file.
//  3. cert:     write the next certificate over cert_file, then delete
//     next_cert_file.
//
// Each state between two of these is recognised by classify, so a crash at
// any point leaves files that `promote` finishes when run again. In the one
// window where key_file and cert_file disagree (after 2, before 3) the
// service refuses to load the keyset (the key does not match the
// certificate), and the error says to run promote again: it never signs
// with a pair that does not belong together.
const (
	stepPrevious = iota
	stepKey
	stepCert
	stepDone
)

// promoteHook, when set by tests, runs before each file operation of a
// promotion; an error stops the promotion there, as a crash would.
var promoteHook func(op string) error

func promoteOp(op string) error {
	if promoteHook == nil {
		return nil
	}
	return promoteHook(op)
}

// PromoteResult says what PromoteNextKey did.
type PromoteResult struct {
	New, Old *x509.Certificate
	// Resumed is true when an interrupted promotion was finished.
	Resumed bool
	// OldExpiredRemoved is true when the old certificate had expired and was
	// therefore not kept as previous.
	OldExpiredRemoved bool
}

// PromoteNextKey makes the staged next pair the current one and keeps the
// old certificate as previous (see the steps above). The staged pair must
// match and be valid at now. An interrupted promotion is finished.
func PromoteNextKey(f RotationFiles, now time.Time) (PromoteResult, error) {
	if err := f.requireConfigured("promote", "key_file", "cert_file", "next_key_file", "next_cert_file", "previous_cert_file"); err != nil {
		return PromoteResult{}, err
	}
	snap := readRotationFiles(f)
	st := classify(snap)
	switch st.Stage {
	case RotationSingle:
		return PromoteResult{}, fmt.Errorf("%w: nothing is staged (%s and %s do not exist); run `partneridp keys rotate stage` first", ErrRotationStage, f.NextKey, f.NextCert)
	case RotationPromoted:
		return PromoteResult{}, fmt.Errorf("%w: already promoted and nothing new is staged; when Huawei uses the current metadata, run `partneridp keys rotate retire`", ErrRotationStage)
	case RotationInconsistent:
		if snap.nextKey.exists && snap.nextCert.exists && snap.nextKey.err == nil && snap.nextCert.err == nil && !st.NextKeyMatches {
			return PromoteResult{}, fmt.Errorf("%w: %s was not issued for %s; stage a new pair with `partneridp keys rotate stage --force`", ErrKeyMismatch, f.NextCert, f.NextKey)
		}
		return PromoteResult{}, fmt.Errorf("%w: %s", ErrRotationStage, strings.Join(st.Problems, "; "))
	case RotationStaged:
		if len(st.Problems) > 0 {
			return PromoteResult{}, fmt.Errorf("%w: %s", ErrRotationStage, strings.Join(st.Problems, "; "))
		}
	}

	// The certificate that becomes current must be usable now.
	if err := checkCertificate(snap.nextCert.cert, now); err != nil {
		return PromoteResult{}, fmt.Errorf("next certificate %s: %w", f.NextCert, err)
	}
	res := PromoteResult{New: snap.nextCert.cert, Old: snap.cert.cert, Resumed: st.Stage == RotationPromoting}
	if st.resumeAt == stepCert {
		// The certificate was already written: the old one is in previous.
		res.Old = snap.previous.cert
	}
	// Step 1, also when a resumed promotion finds previous_cert_file gone:
	// until step 3, cert_file still holds the old certificate.
	if st.resumeAt <= stepKey && !snap.previous.exists {
		if err := promoteOp("write previous"); err != nil {
			return res, err
		}
		if err := writeCertFile(f.PreviousCert, snap.cert.cert); err != nil {
			return res, err
		}
	}
	if st.resumeAt <= stepKey {
		if snap.nextKey.exists && !snap.nextKey.key.Equal(snap.key.key) {
			if err := promoteOp("write key"); err != nil {
				return res, err
			}
			if err := writeKeyFile(f.Key, snap.nextKey.key); err != nil {
				return res, err
			}
		}
		if err := promoteOp("remove next key"); err != nil {
			return res, err
		}
		if err := removeSynced(f.NextKey); err != nil {
			return res, err
		}
	}
	if st.resumeAt <= stepCert {
		if err := promoteOp("write cert"); err != nil {
			return res, err
		}
		if err := writeCertFile(f.Cert, snap.nextCert.cert); err != nil {
			return res, err
		}
		if err := promoteOp("remove next cert"); err != nil {
			return res, err
		}
		if err := removeSynced(f.NextCert); err != nil {
			return res, err
		}
	}
	// An expired old certificate cannot be published: drop it at once.
	if res.Old != nil && now.After(res.Old.NotAfter) {
		if err := removeSynced(f.PreviousCert); err != nil {
			return res, err
		}
		res.OldExpiredRemoved = true
	}
	return res, nil
}

// RetirePreviousCert deletes previous_cert_file once the SP no longer needs
// the old certificate, and returns the certificate it removed.
func RetirePreviousCert(f RotationFiles) (*x509.Certificate, error) {
	if err := f.requireConfigured("retire", "key_file", "cert_file", "previous_cert_file"); err != nil {
		return nil, err
	}
	snap := readRotationFiles(f)
	st := classify(snap)
	switch {
	case st.Stage == RotationPromoting:
		return nil, fmt.Errorf("%w: %s", ErrRotationStage, hintPromotionInterrupted)
	case !snap.previous.exists:
		return nil, fmt.Errorf("%w: nothing to retire (%s does not exist)", ErrRotationStage, f.PreviousCert)
	case st.Stage == RotationInconsistent && !st.strayPrevious:
		return nil, fmt.Errorf("%w: %s", ErrRotationStage, strings.Join(st.Problems, "; "))
	}
	if err := removeSynced(f.PreviousCert); err != nil {
		return nil, err
	}
	return snap.previous.cert, nil
}

// writeCertFile writes cert alone as PEM: whatever else the source file
// held is not copied.
func writeCertFile(path string, cert *x509.Certificate) error {
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	if err := writeFileAtomic(path, data, 0o644, true); err != nil {
		return err
	}
	return syncDirs(path)
}

func writeKeyFile(path string, key *rsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode private key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := writeFileAtomic(path, data, 0o600, true); err != nil {
		return err
	}
	return syncDirs(path)
}

// removeSynced deletes path (a missing file is fine) and syncs its folder.
func removeSynced(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return syncDirs(path)
}

// syncDirs makes renames and removals in the folders of paths durable.
// Windows cannot sync a folder; there the renames stand on their own.
func syncDirs(paths ...string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	seen := map[string]bool{}
	for _, p := range paths {
		dir := filepath.Dir(p)
		if seen[dir] {
			continue
		}
		seen[dir] = true
		d, err := os.Open(dir)
		if err != nil {
			return fmt.Errorf("sync %s: %w", dir, err)
		}
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("sync %s: %w", dir, err)
		}
	}
	return nil
}
