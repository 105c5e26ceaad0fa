package mockiam

import (
	"bytes"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/partneridp/partneridp/metadata"
)

const xat = "partnertest_IDP"

// syncBuffer collects the mock's slog output for assertions.
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

type harnessOpts struct {
	notificationURL string
	noSLO           bool
	byURL           bool
	keepMessages    bool
}

// harness is the mock behind an httptest server, the test IdP, and a
// browser-like client with a cookie jar that follows only 303 See Other
// (the mock's answer to a form post), so tests see every 302.
type harness struct {
	t      *testing.T
	clock  *testClock
	spKey  metadata.SigningKey
	iam    *IAM
	srv    *httptest.Server
	idp    *testIdP
	client *http.Client
	logs   *syncBuffer
}

func seededRand(seed byte) io.Reader {
	return mrand.NewChaCha8([32]byte{seed})
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	clock := newTestClock()
	spKey := loadKey(t, "sp-test")
	idp := newTestIdP(t, loadKey(t, "idp-current"), spKey.Cert, clock)
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	reg := IdPRegistration{NotificationURL: o.notificationURL}
	if o.byURL {
		reg.MetadataURL = idp.srv.URL + "/metadata.xml"
	} else {
		reg.MetadataFile = idp.writeMetadata(t, !o.noSLO)
	}
	logs := &syncBuffer{}
	iam, err := New(Config{
		BaseURL: base, Key: spKey, IdPs: map[string]IdPRegistration{xat: reg},
		Clock: clock.Now, Logger: slog.New(slog.NewTextHandler(logs, nil)), Rand: seededRand(1),
		KeepMessages: o.keepMessages,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = iam.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar, CheckRedirect: followSeeOther}
	return &harness{t: t, clock: clock, spKey: spKey, iam: iam, srv: srv, idp: idp, client: client, logs: logs}
}

// followSeeOther follows the mock's post-redirect-get and nothing else.
func followSeeOther(req *http.Request, _ []*http.Request) error {
	if req.Response != nil && req.Response.StatusCode == http.StatusSeeOther {
		return nil
	}
	return http.ErrUseLastResponse
}

func (h *harness) do(req *http.Request) (*http.Response, string) {
	h.t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, string(body)
}

func (h *harness) get(rawURL string) (*http.Response, string) {
	h.t.Helper()
	if strings.HasPrefix(rawURL, "/") {
		rawURL = h.srv.URL + rawURL
	}
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(req)
}

func (h *harness) post(rawURL string, form url.Values) (*http.Response, string) {
	h.t.Helper()
	if strings.HasPrefix(rawURL, "/") {
		rawURL = h.srv.URL + rawURL
	}
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.do(req)
}

// login follows the login link to the IdP and returns the AuthnRequest the
// IdP received (its query signature already checked).
func (h *harness) login(isFirstLogin bool, service string) *authnRequest {
	h.t.Helper()
	resp, body := h.get(h.iam.LoginURL(xat, isFirstLogin, service))
	if resp.StatusCode != http.StatusFound {
		h.t.Fatalf("login link: status %d, want 302\n%s", resp.StatusCode, body)
	}
	req, err := h.idp.receive(resp.Header.Get("Location"))
	if err != nil {
		h.t.Fatalf("IdP could not read the AuthnRequest: %v", err)
	}
	return req
}

// answer builds the IdP's Response for spec and posts it to the ACS.
func (h *harness) answer(spec *responseSpec) (*http.Response, string) {
	h.t.Helper()
	return h.post(PathACS, spec.form(h.idp.build(spec)))
}

var (
	verdictRE = regexp.MustCompile(`id="verdict" class="\w+">(\w+)</p>`)
	reasonRE  = regexp.MustCompile(`<code id="reason">([a-z_]+)</code>`)
	detailRE  = regexp.MustCompile(`<p id="detail">([^<]*)</p>`)
)

func pageValue(re *regexp.Regexp, body string) string {
	m := re.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

func verdict(body string) string { return pageValue(verdictRE, body) }
func reason(body string) string  { return pageValue(reasonRE, body) }
func detail(body string) string  { return pageValue(detailRE, body) }
