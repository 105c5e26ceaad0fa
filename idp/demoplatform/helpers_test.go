package demoplatform

import (
	"context"
	"crypto/ed25519"
	"flag"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/idp/handoff"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/demoplatform")

const (
	bridgeURL = "http://127.0.0.1:18443"
	issuer    = "http://platform.demo.example"
	audience  = "http://127.0.0.1:18443"
	service   = "http://127.0.0.1:19443/console"
)

var fixedNow = time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)

func clock() time.Time { return fixedNow }

func seeded(seed byte) io.Reader { return mrand.NewChaCha8([32]byte{seed}) }

// platformKey is a fixed Ed25519 key so golden pages and tokens repeat.
func platformKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed([]byte("demoplatform-test-key-seed-32byt"))
}

func testConfig(baseURL string) Config {
	return Config{
		BaseURL:   baseURL,
		BridgeURL: bridgeURL,
		Minter: &handoff.Minter{Issuer: issuer, Audience: audience, Alg: handoff.AlgEdDSA, Key: platformKey(),
			Rand: seeded(7)},
		Customers: DefaultCustomers(),
		Service:   service,
		Clock:     clock,
		Rand:      seeded(1),
	}
}

// site is the platform behind an httptest server and a browser-like client
// with a cookie jar that does not follow redirects.
type site struct {
	t      *testing.T
	p      *Platform
	srv    *httptest.Server
	client *http.Client
}

func newSite(t *testing.T) *site {
	t.Helper()
	return newSiteWith(t, nil)
}

// newSiteWith is newSite with the test config changed by edit (nil: as is).
func newSiteWith(t *testing.T, edit func(*Config)) *site {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	cfg := testConfig("http://" + srv.Listener.Addr().String())
	if edit != nil {
		edit(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = p.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &site{t: t, p: p, srv: srv, client: client}
}

func (s *site) do(req *http.Request) (*http.Response, string) {
	s.t.Helper()
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp, string(body)
}

func (s *site) get(path string) (*http.Response, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.srv.URL+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.do(req)
}

func (s *site) post(path string, form url.Values, header ...string) (*http.Response, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return s.do(req)
}

// login picks a customer on the platform's own login form.
func (s *site) login(xAccountID string) {
	s.t.Helper()
	resp, body := s.post(PathLogin, url.Values{"customer": {xAccountID}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != PathHome {
		s.t.Fatalf("login: status %d, Location %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func (s *site) csrf() string {
	s.t.Helper()
	_, body := s.get(PathHome)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		s.t.Fatalf("home page has no CSRF token:\n%s", body)
	}
	return m[1]
}

// verifier is the bridge's side of the handoff, configured for the test
// platform's public key.
func verifier() *handoff.Verifier {
	return &handoff.Verifier{
		Platforms: []handoff.Platform{{
			Name: "demo", Issuer: issuer, Audience: audience,
			Keys: []handoff.PlatformKey{{Alg: handoff.AlgEdDSA, Public: platformKey().Public()}},
		}},
		Replay: &handoff.MemoryReplay{Clock: clock},
		Clock:  clock,
	}
}

func verify(t *testing.T, token string) handoff.Claims {
	t.Helper()
	c, err := verifier().Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("the bridge would refuse the minted token: %v", err)
	}
	return c
}

// golden compares got with testdata/demoplatform/name, or rewrites it
// with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "demoplatform", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (run go test -update after checking):\n--- got\n%s", name, got)
	}
}
