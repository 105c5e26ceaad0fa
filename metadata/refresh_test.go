package metadata

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	b.buf.Reset()
	b.mu.Unlock()
}

// spServer serves whatever its handler field says, over TLS.
type spServer struct {
	srv     *httptest.Server
	handler atomic.Pointer[http.HandlerFunc]
	hits    atomic.Int64
}

func newSPServer(t *testing.T) *spServer {
	t.Helper()
	s := &spServer{}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		(*s.handler.Load())(w, r)
	}))
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	return s
}

func (s *spServer) serve(h http.HandlerFunc) { s.handler.Store(&h) }

func (s *spServer) serveDoc(doc []byte) {
	s.serve(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		w.Write(doc)
	})
}

func (s *spServer) url() string { return s.srv.URL + "/metadata.xml" }

// spDocs are SP metadata documents for the refresh tests, all for the test
// SP whose certificate is pinned unless said otherwise.
type spDocs struct {
	key               SigningKey
	a, b              []byte // two good versions: ACS differs
	otherSigner       []byte // good shape, signed by another key
	tampered          []byte // version a with its ACS changed after signing
	unsigned          []byte
	otherEntity       []byte // signed by the pinned key, another entityID
	acsA, acsB        string
	oversizedFor      int64
	oversized, notXML []byte
}

func makeSPDocs(t *testing.T) spDocs {
	t.Helper()
	d := spDocs{key: loadTestKey(t, "sp-test")}
	other := loadTestKey(t, "sp-other")
	cfgA := testSPConfig()
	cfgB := testSPConfig()
	cfgB.ACSURL = "https://sp.test.example/authui/saml/SAMLAssertionConsumer2"
	d.acsA, d.acsB = cfgA.ACSURL, cfgB.ACSURL
	build := func(cfg SPConfig, key SigningKey) []byte {
		out, err := BuildSPMetadata(cfg, key)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	d.a = build(cfgA, d.key)
	d.b = build(cfgB, d.key)
	d.otherSigner = build(cfgB, other)
	d.tampered = bytes.Replace(d.a, []byte(cfgA.ACSURL+`"`), []byte(cfgB.ACSURL+`"`), 1)
	if bytes.Equal(d.tampered, d.a) {
		t.Fatal("tampering changed nothing")
	}
	d.unsigned = stripSignature(t, d.b)
	cfgOther := cfgB
	cfgOther.EntityID = "https://evil.example/"
	d.otherEntity = build(cfgOther, d.key)
	d.oversizedFor = int64(len(d.b)) + 100
	d.oversized = append(bytes.Clone(d.b), bytes.Repeat([]byte("\n"), 4096)...)
	d.notXML = []byte("<html><body>maintenance</body></html")
	return d
}

func testClock() time.Time { return testNow }

func newTestSource(t *testing.T, url string, opts SPLoadOptions, logs io.Writer, options ...SPSourceOption) *SPSource {
	t.Helper()
	options = append([]SPSourceOption{WithSPClock(testClock)}, options...)
	src, err := NewSPSource(url, opts, time.Hour, slog.New(slog.NewTextHandler(logs, nil)), options...)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestSPSourceRefreshPicksUpNewDocument(t *testing.T) {
	d := makeSPDocs(t)
	srv := newSPServer(t)
	srv.serveDoc(d.a)
	var logs syncBuffer
	var changes []string
	opts := SPLoadOptions{HTTPClient: srv.srv.Client(), PinnedCert: d.key.Cert}
	src := newTestSource(t, srv.url(), opts, &logs, WithOnChange(func(old, new *SP) {
		changes = append(changes, old.ACS[0].Location+" -> "+new.ACS[0].Location)
	}))
	if got := src.Current().ACS[0].Location; got != d.acsA {
		t.Fatalf("initial ACS %s", got)
	}
	if at, err := src.LastRefresh(); err != nil || !at.Equal(testNow) {
		t.Errorf("LastRefresh = %v, %v", at, err)
	}

	// The same document again: no change reported.
	if err := src.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 0 {
		t.Errorf("OnChange ran for an unchanged document: %v", changes)
	}
	srv.serveDoc(d.b)
	if err := src.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := src.Current().ACS[0].Location; got != d.acsB {
		t.Errorf("after refresh ACS %s, want %s", got, d.acsB)
	}
	if len(changes) != 1 || changes[0] != d.acsA+" -> "+d.acsB {
		t.Errorf("OnChange calls: %v", changes)
	}
	if src.Current().SignatureStatus != SignatureVerified {
		t.Errorf("signature status %q", src.Current().SignatureStatus)
	}
	if !strings.Contains(logs.String(), "SP metadata changed") || src.Failures() != 0 {
		t.Errorf("failures %d, logs:\n%s", src.Failures(), logs.String())
	}
}

func TestSPSourceFailedRefreshKeepsLastGoodCopy(t *testing.T) {
	d := makeSPDocs(t)
	srv := newSPServer(t)
	srv.serveDoc(d.a)
	var logs syncBuffer
	opts := SPLoadOptions{HTTPClient: srv.srv.Client(), PinnedCert: d.key.Cert, MaxBytes: d.oversizedFor}
	src := newTestSource(t, srv.url(), opts, &logs)
	good := src.Current()

	doc := func(b []byte) http.HandlerFunc { return func(w http.ResponseWriter, r *http.Request) { w.Write(b) } }
	cases := []struct {
		name    string
		handler http.HandlerFunc
		want    error
	}{
		{"HTTP 500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }, ErrSPMetadataFetch},
		{"signed by another key", doc(d.otherSigner), ErrSPMetadataSignature},
		{"changed after signing", doc(d.tampered), ErrSPMetadataSignature},
		{"signature removed", doc(d.unsigned), ErrSPMetadataSignature},
		{"oversized", doc(d.oversized), ErrSPMetadataTooLarge},
		{"not XML", doc(d.notXML), ErrSPMetadataMalformed},
		{"another SP, validly signed", doc(d.otherEntity), ErrSPEntityChanged},
		{"connection dropped", func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}, ErrSPMetadataFetch},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			srv.serve(tc.handler)
			err := src.Refresh(context.Background())
			if !errors.Is(err, tc.want) {
				t.Fatalf("Refresh err = %v, want %v", err, tc.want)
			}
			if src.Current() != good {
				t.Fatal("a failed refresh replaced the last good copy")
			}
			if got := src.Current().ACS[0].Location; got != d.acsA {
				t.Fatalf("ACS is now %s", got)
			}
			if n := src.Failures(); n != uint64(i+1) {
				t.Errorf("Failures = %d, want %d", n, i+1)
			}
			if _, last := src.LastRefresh(); !errors.Is(last, tc.want) {
				t.Errorf("LastRefresh error = %v", last)
			}
			out := logs.String()
			if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "keeping the last good copy") || !strings.Contains(out, "reason=") {
				t.Errorf("no warning with a reason logged:\n%s", out)
			}
			if strings.Contains(out, "BEGIN") || strings.Contains(out, "<md:") {
				t.Errorf("log carries document content:\n%s", out)
			}
		})
	}

	// Recovery: the next good document is taken and the error cleared.
	srv.serveDoc(d.b)
	if err := src.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := src.LastRefresh(); err != nil || src.Current().ACS[0].Location != d.acsB {
		t.Errorf("after recovery: err %v, ACS %s", err, src.Current().ACS[0].Location)
	}
}

func TestNewSPSourceFailsWhenFirstLoadFails(t *testing.T) {
	d := makeSPDocs(t)
	srv := newSPServer(t)
	for name, h := range map[string]http.HandlerFunc{
		"500":           func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) },
		"bad signature": func(w http.ResponseWriter, r *http.Request) { w.Write(d.otherSigner) },
	} {
		srv.serve(h)
		src, err := NewSPSource(srv.url(), SPLoadOptions{HTTPClient: srv.srv.Client(), PinnedCert: d.key.Cert}, time.Hour, nil, WithSPClock(testClock))
		if err == nil || src != nil {
			t.Errorf("%s: NewSPSource = %v, %v; want an error", name, src, err)
		}
	}
}

func TestSPSourceRun(t *testing.T) {
	d := makeSPDocs(t)
	srv := newSPServer(t)
	srv.serveDoc(d.a)
	opts := SPLoadOptions{HTTPClient: srv.srv.Client(), PinnedCert: d.key.Cert}
	src, err := NewSPSource(srv.url(), opts, 10*time.Millisecond, nil, WithSPClock(testClock))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { src.Run(ctx); close(done) }()

	// Readers never see nil or a torn value while refreshes run.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for i := 0; i < 4; i++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if sp := src.Current(); sp == nil || len(sp.ACS) == 0 {
					t.Error("Current returned nothing usable")
					return
				}
			}
		}()
	}

	srv.serveDoc(d.b)
	deadline := time.Now().Add(10 * time.Second)
	for src.Current().ACS[0].Location != d.acsB {
		if time.Now().After(deadline) {
			t.Fatal("Run did not pick up the new document")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	readers.Wait()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if src.Failures() != 0 {
		t.Errorf("failures %d", src.Failures())
	}
	// A fetch cancelled on the client side may still reach the handler a
	// moment later, so let stragglers land before counting; a ticker still
	// running at 10ms would add about 20 hits in the window below.
	time.Sleep(100 * time.Millisecond)
	hits := srv.hits.Load()
	time.Sleep(200 * time.Millisecond)
	if got := srv.hits.Load(); got != hits {
		t.Errorf("fetches continued after Run returned: %d more", got-hits)
	}
}

func TestSPSourceNoIntervalDoesNotRun(t *testing.T) {
	d := makeSPDocs(t)
	srv := newSPServer(t)
	srv.serveDoc(d.a)
	src, err := NewSPSource(srv.url(), SPLoadOptions{HTTPClient: srv.srv.Client(), PinnedCert: d.key.Cert}, 0, nil, WithSPClock(testClock))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { src.Run(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run with interval 0 did not return")
	}
}

func TestSPSourceFile(t *testing.T) {
	d := makeSPDocs(t)
	path := filepath.Join(t.TempDir(), "sp.xml")
	if err := os.WriteFile(path, d.a, 0o600); err != nil {
		t.Fatal(err)
	}
	var now atomic.Pointer[time.Time]
	now.Store(&testNow)
	clock := func() time.Time { return *now.Load() }
	// opts.Now is ignored: the source's clock decides, at every load.
	src, err := NewSPSource(path, SPLoadOptions{PinnedCert: d.key.Cert, Now: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}, time.Hour, nil, WithSPClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, d.b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := src.Refresh(context.Background()); err != nil || src.Current().ACS[0].Location != d.acsB {
		t.Fatalf("file re-read: %v, ACS %s", err, src.Current().ACS[0].Location)
	}
	if err := os.WriteFile(path, d.tampered, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := src.Refresh(context.Background()); !errors.Is(err, ErrSPMetadataSignature) || src.Current().ACS[0].Location != d.acsB {
		t.Fatalf("tampered file: %v, ACS %s", err, src.Current().ACS[0].Location)
	}
	os.Remove(path)
	if err := src.Refresh(context.Background()); !errors.Is(err, ErrSPMetadataFetch) || src.Current().ACS[0].Location != d.acsB {
		t.Fatalf("missing file: %v", err)
	}
	// Once the pinned certificate has expired, refreshes fail and the last
	// good copy stays.
	if err := os.WriteFile(path, d.a, 0o600); err != nil {
		t.Fatal(err)
	}
	later := d.key.Cert.NotAfter.Add(time.Hour)
	now.Store(&later)
	if err := src.Refresh(context.Background()); !errors.Is(err, ErrSPMetadataSignature) || src.Current().ACS[0].Location != d.acsB {
		t.Fatalf("after the pin expired: %v, ACS %s", err, src.Current().ACS[0].Location)
	}
	if at, _ := src.LastRefresh(); !at.Equal(later) {
		t.Errorf("LastRefresh at %v, want the clock's %v", at, later)
	}
}

func TestSPSourceCertExpiry(t *testing.T) {
	d := makeSPDocs(t)
	notAfter := d.key.Cert.NotAfter
	path := filepath.Join(t.TempDir(), "sp.xml")
	if err := os.WriteFile(path, d.a, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		now     time.Time
		options []SPSourceOption
		warn    bool
	}{
		{"far from expiry", notAfter.Add(-60 * 24 * time.Hour), nil, false},
		{"ten days left", notAfter.Add(-10 * 24 * time.Hour), nil, true},
		{"sixty days left, warning at 90", notAfter.Add(-60 * 24 * time.Hour), []SPSourceOption{WithCertExpiryWarning(90 * 24 * time.Hour)}, true},
		{"ten days left, warnings off", notAfter.Add(-10 * 24 * time.Hour), []SPSourceOption{WithCertExpiryWarning(0)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			now := tt.now
			options := append([]SPSourceOption{WithSPClock(func() time.Time { return now })}, tt.options...)
			src := newTestSource(t, path, SPLoadOptions{PinnedCert: d.key.Cert}, &logs, options...)
			if !src.CertExpiry().Equal(notAfter) {
				t.Errorf("CertExpiry = %v, want %v", src.CertExpiry(), notAfter)
			}
			got := strings.Contains(logs.String(), "expires soon")
			if got != tt.warn {
				t.Fatalf("warned = %v, want %v; logs:\n%s", got, tt.warn, logs.String())
			}
			if got && !strings.Contains(logs.String(), FingerprintSHA256(d.key.Cert)) {
				t.Errorf("warning does not name the certificate:\n%s", logs.String())
			}
		})
	}

	// Huawei's real metadata: its certificate's expiry is what CertExpiry reports.
	src, err := NewSPSource(filepath.Join("..", "testdata", "huawei", "sp-metadata-cn.xml"), SPLoadOptions{PinnedCert: huaweiSPCert(t)}, 0, nil, WithSPClock(testClock))
	if err != nil {
		t.Fatal(err)
	}
	if got := src.CertExpiry().UTC().Format(time.DateOnly); got != "2028-06-18" {
		t.Errorf("Huawei CertExpiry = %s", got)
	}
}

func TestRedactSource(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:secret@sp.example/m.xml?token=abc":        "https://user:xxxxx@sp.example/m.xml?...",
		"https://auth.huaweicloud.com/authui/saml/metadata.xml": "https://auth.huaweicloud.com/authui/saml/metadata.xml",
		"/etc/partneridp/sp.xml":                                "/etc/partneridp/sp.xml",
	} {
		if got := redactSource(in); got != want {
			t.Errorf("redactSource(%q) = %q, want %q", in, got, want)
		}
	}
}
