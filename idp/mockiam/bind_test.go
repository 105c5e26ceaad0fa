package mockiam

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/partneridp/partneridp/metadata"
)

// partner records the bind notifications the browser delivers, and then
// sends the browser onwards as a partner platform would.
type partner struct {
	mu     sync.Mutex
	got    []url.Values
	srv    *httptest.Server
	after  string // where the partner sends the browser; default its /done
	landed chan string
}

func newPartner(t *testing.T, after string) *partner {
	p := &partner{after: after, landed: make(chan string, 4)}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/done" {
			_, _ = io.WriteString(w, "partner: welcome back")
			p.landed <- r.URL.Path
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/bind" {
			http.Error(w, "partner: POST /bind only", http.StatusMethodNotAllowed)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.got = append(p.got, r.PostForm)
		p.mu.Unlock()
		after := p.after
		if after == "" {
			after = p.srv.URL + "/done"
		}
		http.Redirect(w, r, after, http.StatusFound)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *partner) notifications() []url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]url.Values(nil), p.got...)
}

// decodeNotification verifies a notification the way the partner must
// (section 7) and returns its raw JSON.
func decodeNotification(t *testing.T, form url.Values, cert *x509.Certificate) string {
	t.Helper()
	if _, err := (metadata.SigAlgPolicy{}).VerifyDetached(form.Get("SigAlg"), []byte(form.Get("bindRequest")), form.Get("Signature"), []*x509.Certificate{cert}); err != nil {
		t.Fatalf("bind notification signature does not verify with the mock's certificate: %v", err)
	}
	if _, err := (metadata.SigAlgPolicy{}).VerifyDetached(form.Get("SigAlg"), []byte(form.Get("bindRequest")), form.Get("Signature"), []*x509.Certificate{loadCert(t, "sp-other")}); !errors.Is(err, metadata.ErrSignatureInvalid) {
		t.Errorf("bind notification verified with an unrelated certificate: %v", err)
	}
	raw, err := base64.StdEncoding.DecodeString(form.Get("bindRequest"))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

var scriptRE = regexp.MustCompile(`<script>([^<]*)</script>`)

// checkAutoPostCSP requires the page's one script to be allowed by hash
// and nothing else.
func checkAutoPostCSP(t *testing.T, resp *http.Response, body string) {
	t.Helper()
	scripts := scriptRE.FindAllStringSubmatch(body, -1)
	if len(scripts) != 1 {
		t.Fatalf("page has %d scripts, want 1", len(scripts))
	}
	sum := sha256.Sum256([]byte(scripts[0][1]))
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
		t.Errorf("CSP %q does not allow the page's script by its hash", csp)
	}
	if strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q is too loose", csp)
	}
	if !strings.Contains(body, `<noscript><button type="submit" id="notify-continue">`) {
		t.Error("auto-post page has no noscript button")
	}
}

func TestFirstLoginCreatesAccountAndNotifies(t *testing.T) {
	p := newPartner(t, service)
	h := newHarness(t, harnessOpts{notificationURL: p.srv.URL + "/bind"})
	req := h.login(true, service)
	resp, body := h.answer(h.idp.goodSpec(req))
	if resp.StatusCode != http.StatusOK || verdict(body) != "accepted" {
		t.Fatalf("status %d reason %q\n%s", resp.StatusCode, reason(body), body)
	}
	for _, want := range []string{`id="create-account"`, `id="bind-existing"`, `<code id="xuserid">partner-user-1</code>`, `id="attributes"`} {
		if !strings.Contains(body, want) {
			t.Errorf("bind page lacks %q", want)
		}
	}
	if _, bound := h.iam.Account(xat, "partner-user-1"); bound {
		t.Fatal("bound before the user chose")
	}

	action, form := parseForm(t, body, "create-form")
	form.Set("domainName", "new_customer_1")
	resp, body = h.post(action, form)
	if resp.StatusCode != http.StatusOK || verdict(body) != "accepted" {
		t.Fatalf("create: status %d reason %q detail %q", resp.StatusCode, reason(body), detail(body))
	}
	acct, bound := h.iam.Account(xat, "partner-user-1")
	if !bound || acct.Domain.Name != "new_customer_1" || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(acct.Domain.ID) {
		t.Fatalf("account after create = %+v, %v", acct, bound)
	}
	checkAutoPostCSP(t, resp, body)

	notifyAction, notification := parseForm(t, body, "notify")
	if notifyAction != p.srv.URL+"/bind" {
		t.Errorf("notification goes to %q", notifyAction)
	}
	if notification.Get("SigAlg") != metadata.SigAlgRSASHA256 {
		t.Errorf("SigAlg = %q", notification.Get("SigAlg"))
	}
	wantJSON := `{"domainName":"new_customer_1","domainId":"` + acct.Domain.ID + `","xUserId":"partner-user-1","bindAction":0}`
	if got := decodeNotification(t, notification, h.spKey.Cert); got != wantJSON {
		t.Errorf("bindRequest JSON = %s, want %s", got, wantJSON)
	}

	// The browser submits the form; the partner gets exactly those fields
	// and sends the browser on to service.
	resp, _ = h.post(notifyAction, notification)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != service {
		t.Errorf("partner answered %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	got := p.notifications()
	if len(got) != 1 || got[0].Get("bindRequest") != notification.Get("bindRequest") || got[0].Get("Signature") != notification.Get("Signature") {
		t.Fatalf("partner received %v", got)
	}
	if ev, _ := h.iam.LastEvent(EventBind); !ev.Accepted || ev.DomainID != acct.Domain.ID {
		t.Errorf("bind event = %+v", ev)
	}

	// The user is now logged in to the mock console, and the next login
	// with isFirstLogin=false goes straight there.
	if resp, body := h.get(PathConsole); resp.StatusCode != http.StatusOK || !strings.Contains(body, acct.Domain.ID) {
		t.Fatalf("console after bind: %d", resp.StatusCode)
	}
	req = h.login(false, "")
	if resp, body := h.answer(h.idp.goodSpec(req)); resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="account"`) {
		t.Fatalf("second login: status %d reason %q", resp.StatusCode, reason(body))
	}

	// The bind form is single use.
	if resp, body := h.post(action, form); resp.StatusCode != http.StatusForbidden || reason(body) != string(ReasonBadBindForm) {
		t.Errorf("bind form reused: status %d reason %q", resp.StatusCode, reason(body))
	}
}

func TestFirstLoginBindsExistingAccount(t *testing.T) {
	h := newHarness(t, harnessOpts{}) // no notification URL registered
	existing, err := h.iam.CreateDomain("existing_co")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.iam.CreateDomain("taken_name"); err != nil {
		t.Fatal(err)
	}
	_, body := h.answer(h.idp.goodSpec(h.login(true, "")))
	action, create := parseForm(t, body, "create-form")
	_, existingForm := parseForm(t, body, "existing-form")

	// A refused form comes back to the bind page by GET (post-redirect-get)
	// with the error, so a reload does not post it again.
	bad := []struct {
		form       url.Values
		name       string
		wantStatus int
		wantDetail string
	}{
		{existingForm, "unknown_co", http.StatusOK, "no Huawei account with that name"},
		{existingForm, "x", http.StatusOK, "5-32 characters"},
		{create, "op_reserved", http.StatusOK, "op_ or shadow_"},
		{create, "9starts_with_digit", http.StatusOK, "not starting with a digit"},
		{create, "taken_name", http.StatusOK, "already exists"},
		{url.Values{"token": create["token"], "action": {"delete"}}, "acme_corp", http.StatusOK, "neither create nor bind-existing"},
	}
	for _, b := range bad {
		f := url.Values{}
		for k, v := range b.form {
			f[k] = v
		}
		f.Set("domainName", b.name)
		resp, body := h.post(action, f)
		if resp.Request.URL.Path != PathBind || resp.StatusCode != b.wantStatus || reason(body) != string(ReasonBadBindForm) || !strings.Contains(body, b.wantDetail) {
			t.Errorf("%s %q: status %d reason %q detail %q", f.Get("action"), b.name, resp.StatusCode, reason(body), detail(body))
		}
		if !strings.Contains(body, `id="bind-error"`) || !strings.Contains(body, `id="create-account"`) {
			t.Errorf("%q: the bind page is not shown again with the error", b.name)
		}
	}
	if _, bound := h.iam.Account(xat, "partner-user-1"); bound {
		t.Fatal("a refused bind form bound the user")
	}

	// A form from another browser (no bind cookie) is refused.
	stranger := &http.Client{}
	f := url.Values{}
	for k, v := range existingForm {
		f[k] = v
	}
	f.Set("domainName", "existing_co")
	resp, err := stranger.PostForm(h.srv.URL+action, f)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("bind form without the cookie: status %d", resp.StatusCode)
	}

	resp, body = h.post(action, f)
	if resp.StatusCode != http.StatusOK || verdict(body) != "accepted" {
		t.Fatalf("bind existing: status %d detail %q", resp.StatusCode, detail(body))
	}
	if acct, _ := h.iam.Account(xat, "partner-user-1"); acct.Domain != existing {
		t.Errorf("bound to %+v, want %+v", acct.Domain, existing)
	}
	if !strings.Contains(body, "No NotificationURL is registered") || strings.Contains(body, `id="notify"`) {
		t.Error("page should say no notification was sent")
	}
	if strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src") {
		t.Error("a page without a script allows scripts")
	}

	// Another partner user cannot bind the same Huawei account.
	h.idp.xUserID = "partner-user-2"
	_, body = h.answer(h.idp.goodSpec(h.login(true, "")))
	action, f = parseForm(t, body, "existing-form")
	f.Set("domainName", "existing_co")
	if resp, body := h.post(action, f); resp.StatusCode != http.StatusOK || !strings.Contains(body, "already bound to another user") {
		t.Errorf("second user on the same account: status %d detail %q", resp.StatusCode, detail(body))
	}
}

func TestUnboundUserWithoutFirstLoginIsRefused(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	resp, body := h.answer(h.idp.goodSpec(h.login(false, service)))
	if resp.StatusCode != http.StatusForbidden || verdict(body) != "refused" || reason(body) != string(ReasonNotBound) {
		t.Fatalf("status %d verdict %q reason %q", resp.StatusCode, verdict(body), reason(body))
	}
	if !strings.Contains(detail(body), "isFirstLogin=false") || !strings.Contains(body, `id="attributes"`) {
		t.Errorf("page does not explain or lacks attributes:\n%s", body)
	}
	if ev, _ := h.iam.LastEvent(EventSession); ev.Accepted || ev.Reason != ReasonNotBound {
		t.Errorf("session event = %+v", ev)
	}
	if ev, _ := h.iam.LastEvent(EventACS); !ev.Accepted {
		t.Errorf("the Response itself should be recorded as accepted: %+v", ev)
	}
}

func TestUnbindFromConsoleNotifies(t *testing.T) {
	p := newPartner(t, service)
	h := newHarness(t, harnessOpts{notificationURL: p.srv.URL + "/bind"})
	acct, err := h.iam.SeedAccount(xat, "partner-user-1", "acme_corp")
	if err != nil {
		t.Fatal(err)
	}
	_, body := h.answer(h.idp.goodSpec(h.login(false, "")))
	action, form := parseForm(t, body, "unbind-form")

	forged := url.Values{"csrf": {"0000"}}
	if resp, body := h.post(action, forged); resp.StatusCode != http.StatusForbidden || reason(body) != string(ReasonBadBindForm) {
		t.Errorf("forged unbind: status %d reason %q", resp.StatusCode, reason(body))
	}
	if _, bound := h.iam.Account(xat, "partner-user-1"); !bound {
		t.Fatal("a forged unbind removed the binding")
	}

	resp, body := h.post(action, form)
	if resp.StatusCode != http.StatusOK || verdict(body) != "accepted" {
		t.Fatalf("unbind: status %d detail %q", resp.StatusCode, detail(body))
	}
	checkAutoPostCSP(t, resp, body)
	_, notification := parseForm(t, body, "notify")
	want := `{"domainName":"acme_corp","domainId":"` + acct.Domain.ID + `","xUserId":"partner-user-1","bindAction":1}`
	if got := decodeNotification(t, notification, h.spKey.Cert); got != want {
		t.Errorf("unbind JSON = %s, want %s", got, want)
	}
	if _, bound := h.iam.Account(xat, "partner-user-1"); bound {
		t.Error("still bound after unbind")
	}
	if resp, _ := h.get(PathConsole); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("session survived unbind: console status %d", resp.StatusCode)
	}
}

func TestSignBindNotificationFormat(t *testing.T) {
	key := loadKey(t, "sp-test")
	n, err := SignBindNotification(BindNotification{DomainName: "yongzhi", DomainID: "yongzhiid", XUserID: "yongzhix", BindAction: 1}, key)
	if err != nil {
		t.Fatal(err)
	}
	// Huawei's documented example, case restored (section 7).
	if raw, _ := base64.StdEncoding.DecodeString(n.BindRequest); string(raw) != `{"domainName":"yongzhi","domainId":"yongzhiid","xUserId":"yongzhix","bindAction":1}` {
		t.Errorf("JSON = %s", raw)
	}
	var decoded map[string]any
	raw, _ := base64.StdEncoding.DecodeString(n.BindRequest)
	if err := json.Unmarshal(raw, &decoded); err != nil || decoded["bindAction"] != float64(1) {
		t.Errorf("bindAction is not the number 1: %v %v", decoded, err)
	}
	if _, err := (metadata.SigAlgPolicy{}).VerifyDetached(n.SigAlg, []byte(n.BindRequest), n.Signature, []*x509.Certificate{key.Cert}); err != nil {
		t.Errorf("signature: %v", err)
	}
}
