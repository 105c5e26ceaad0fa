package samlreq

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/partneridp/partneridp/metadata"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/samlreq")

// Paths are relative to this package; the project never reads ../shared.
const (
	huaweiDir  = "../../testdata/huawei"
	keysDir    = "../../testdata/keys"
	samlreqDir = "../../testdata/samlreq"
)

// Facts of Huawei's real 2018 sample (testdata/huawei/authnrequest-sample.urlenc).
const (
	huaweiEntityID = "https://auth.huaweicloud.com/"
	huaweiACS      = "https://auth.huaweicloud.com/authui/saml/SAMLAssertionConsumer"
	huaweiAltACS   = "https://auth.huaweicloud.com/authui/saml/SAMLAssertionConsumer/alt" // test-only second ACS
	sampleSSOURL   = "http://hwtest.51web.com/user/product/cloud/century/ecs!loginHw.action"
	sampleSLOURL   = "http://hwtest.51web.com/user/product/cloud/century/logout.action"
	sampleID       = "_th2kld6nqqaq6lbvbw1cqqkbld2m7shj5i7x"
	sampleInstant  = "2018-11-26T09:11:58.446Z"
)

// sampleNow is a fixed clock two seconds after the sample was issued.
var sampleNow = time.Date(2018, 11, 26, 9, 12, 0, 0, time.UTC)

// A RelayState as Huawei might send it (the service URL), URL-encoded the
// way a Java sender does.
const relayStateRaw = "https%3A%2F%2Fconsole.huaweicloud.com%2Fconsole%2F%3Flocale%3Dzh-cn%23%2Fhome"
const relayStateValue = "https://console.huaweicloud.com/console/?locale=zh-cn#/home"

type testKey struct {
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
}

var keyCache sync.Map

// loadKey reads testdata/keys/<name>.key and .crt with crypto/x509 and
// encoding/pem directly (the metadata loader is not used here).
func loadKey(tb testing.TB, name string) testKey {
	tb.Helper()
	if k, ok := keyCache.Load(name); ok {
		return k.(testKey)
	}
	keyPEM, err := os.ReadFile(filepath.Join(keysDir, name+".key"))
	if err != nil {
		tb.Fatal(err)
	}
	certPEM, err := os.ReadFile(filepath.Join(keysDir, name+".crt"))
	if err != nil {
		tb.Fatal(err)
	}
	kb, _ := pem.Decode(keyPEM)
	cb, _ := pem.Decode(certPEM)
	if kb == nil || cb == nil {
		tb.Fatalf("%s: no PEM block", name)
	}
	var key *rsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(kb.Bytes); err == nil {
		key = k.(*rsa.PrivateKey)
	} else if key, err = x509.ParsePKCS1PrivateKey(kb.Bytes); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	k := testKey{Key: key, Cert: cert}
	keyCache.Store(name, k)
	return k
}

// huaweiSP is an SP built like Huawei IAM's China-site metadata, but
// trusting the given (test) certificates.
func huaweiSP(certs ...*x509.Certificate) *metadata.SP {
	return &metadata.SP{
		EntityID: huaweiEntityID,
		ACS: []metadata.Endpoint{
			{SAMLBinding: metadata.SAMLBindingHTTPPost, Location: huaweiACS, Index: 0, IsDefault: true},
			{SAMLBinding: metadata.SAMLBindingHTTPPost, Location: huaweiAltACS, Index: 1},
		},
		SLO: []metadata.Endpoint{
			{SAMLBinding: metadata.SAMLBindingHTTPRedirect, Location: "https://auth.huaweicloud.com/authui/saml/logout"},
		},
		SigningCerts:         certs,
		NameIDFormats:        []string{metadata.NameIDFormatTransient},
		AuthnRequestsSigned:  true,
		WantAssertionsSigned: true,
		SignatureStatus:      "verified",
	}
}

// memReplay is an in-memory ReplayStore.
type memReplay struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func newMemReplay() *memReplay { return &memReplay{seen: map[string]time.Time{}} }

func (m *memReplay) MarkUsed(_ context.Context, issuer, id string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := issuer + "\x00" + id
	if _, ok := m.seen[k]; ok {
		return ErrReplay
	}
	m.seen[k] = expires
	return nil
}

// failingReplay is a store that is down.
type failingReplay struct{}

func (failingReplay) MarkUsed(context.Context, string, string, time.Time) error {
	return errors.New("bbolt: database not open")
}

// acceptAll never refuses: benchmarks and fuzzing replay the same message.
type acceptAll struct{}

func (acceptAll) MarkUsed(context.Context, string, string, time.Time) error { return nil }

// newIntake returns an Intake that trusts the Huawei-like SP with the test
// SP certificate, at the sample's fixed clock.
func newIntake(tb testing.TB) *Intake {
	tb.Helper()
	sp := huaweiSP(loadKey(tb, "sp-test").Cert)
	return &Intake{
		SSOURL: sampleSSOURL,
		SLOURL: sampleSLOURL,
		SPs: func(entityID string) (*metadata.SP, bool) {
			if entityID == sp.EntityID {
				return sp, true
			}
			return nil, false
		},
		Replay: newMemReplay(),
		Clock:  func() time.Time { return sampleNow },
	}
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// sampleRaw is Huawei's SAMLRequest value exactly as it appears in the
// query (URL-encoded).
func sampleRaw(tb testing.TB) string {
	return strings.TrimSpace(string(readFile(tb, filepath.Join(huaweiDir, "authnrequest-sample.urlenc"))))
}

// sampleXML is the decoded sample, from the golden file.
func sampleXML(tb testing.TB) string {
	return string(readFile(tb, filepath.Join(samlreqDir, "huawei-authnrequest-sample.xml")))
}

// golden compares got with testdata/samlreq/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(samlreqDir, name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := readFile(t, path)
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update if the change is intended)\ngot:  %s\nwant: %s", name, got, want)
	}
}

// deflateEncode is what a sender does to an XML message for the redirect
// binding: raw DEFLATE, base64, URL-encode.
func deflateEncode(tb testing.TB, doc string) string {
	tb.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		tb.Fatal(err)
	}
	w.Write([]byte(doc))
	w.Close()
	return url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
}

// redirect builds a signed HTTP-Redirect query from raw (already encoded)
// parameter values, the way the SP's sender does.
type redirect struct {
	SAMLRequest string // raw
	RelayState  string // raw
	NoRelay     bool   // leave RelayState out
	SigAlg      string // URI; rsa-sha256 when empty
	Key         *rsa.PrivateKey
}

func (r redirect) octets() string {
	alg := r.SigAlg
	if alg == "" {
		alg = metadata.SigAlgRSASHA256
	}
	s := "SAMLRequest=" + r.SAMLRequest
	if !r.NoRelay {
		s += "&RelayState=" + r.RelayState
	}
	return s + "&SigAlg=" + url.QueryEscape(alg)
}

func (r redirect) query(tb testing.TB) string {
	tb.Helper()
	alg := r.SigAlg
	if alg == "" {
		alg = metadata.SigAlgRSASHA256
	}
	octets := r.octets()
	sig, err := metadata.SignDetached(r.Key, alg, []byte(octets))
	if err != nil {
		// SigAlgs SignDetached refuses are signed with sha256 bytes: the
		// intake must refuse them on the SigAlg alone.
		sig, err = metadata.SignDetached(r.Key, metadata.SigAlgRSASHA256, []byte(octets))
		if err != nil {
			tb.Fatal(err)
		}
	}
	return octets + "&Signature=" + url.QueryEscape(sig)
}

// signedSample is Huawei's exact sample value, signed by the test SP.
func signedSample(tb testing.TB) string {
	return redirect{SAMLRequest: sampleRaw(tb), RelayState: relayStateRaw, Key: loadKey(tb, "sp-test").Key}.query(tb)
}

// signedXML is doc deflated, encoded and signed by the test SP.
func signedXML(tb testing.TB, doc string) string {
	return redirect{SAMLRequest: deflateEncode(tb, doc), RelayState: relayStateRaw, Key: loadKey(tb, "sp-test").Key}.query(tb)
}

// signEnveloped signs the root of doc the way an SP signing a POSTed
// AuthnRequest does (exc-c14n, enveloped), with the Signature placed after
// the Issuer as the SAML schema wants.
func signEnveloped(tb testing.TB, doc string, k testKey, sigMethod string, opts ...func(*dsig.SigningContext)) []byte {
	tb.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromString(doc); err != nil {
		tb.Fatal(err)
	}
	ctx, err := dsig.NewSigningContext(k.Key, [][]byte{k.Cert.Raw})
	if err != nil {
		tb.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(sigMethod); err != nil {
		tb.Fatal(err)
	}
	for _, o := range opts {
		o(ctx)
	}
	signed, err := ctx.SignEnveloped(d.Root())
	if err != nil {
		tb.Fatal(err)
	}
	if issuer := signed.SelectElement("Issuer"); issuer != nil {
		// SignEnveloped appends the signature without parenting it, so
		// it is moved by position.
		sig := signed.RemoveChildAt(len(signed.Child) - 1)
		signed.InsertChildAt(issuer.Index()+1, sig)
	}
	d.SetRoot(signed)
	out, err := d.WriteToBytes()
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func postForm(doc []byte, relayState string) url.Values {
	f := url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(doc)}}
	if relayState != "" {
		f.Set("RelayState", relayState)
	}
	return f
}

// asError insists err is an *Error of the wanted kind and reason.
func asError(tb testing.TB, err error, kind Kind, reason string) *Error {
	tb.Helper()
	var e *Error
	if !errors.As(err, &e) {
		tb.Fatalf("want *Error %s/%s, got %T %v", kind, reason, err, err)
	}
	if e.Kind != kind || e.Reason != reason {
		tb.Fatalf("want %s/%s, got %s/%s: %s", kind, reason, e.Kind, e.Reason, e.Msg)
	}
	if e.Msg == "" {
		tb.Errorf("error %s has no message", reason)
	}
	return e
}
