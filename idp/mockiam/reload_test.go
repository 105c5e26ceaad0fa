package mockiam

import (
	"net/http"
	"strings"
	"testing"
)

// TestReloadAndBackLandSensibly: every form the mock answers is answered
// with 303 See Other to a page reached by GET, so reloading any page the
// browser lands on, or going Back to it, shows a sensible page: never a
// resubmission warning, a replay refusal or a second notification.
func TestReloadAndBackLandSensibly(t *testing.T) {
	p := newPartner(t, "")
	h := newHarness(t, harnessOpts{notificationURL: p.srv.URL + "/bind"})
	noFollow := &http.Client{Jar: h.client.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// The Response is answered with a redirect to the bind page.
	spec := h.idp.goodSpec(h.login(true, "http://127.0.0.1:1/console"))
	resp, err := noFollow.PostForm(h.srv.URL+PathACS, spec.form(h.idp.build(spec)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != PathBind {
		t.Fatalf("ACS answered %d to %q, want 303 to %s", resp.StatusCode, resp.Header.Get("Location"), PathBind)
	}
	at := func(step string, resp *http.Response, body, path string, status int, want string) {
		t.Helper()
		if resp.Request.URL.Path != path || resp.StatusCode != status || !strings.Contains(body, want) {
			t.Fatalf("%s: at %s with %d (want %s, %d, %q)\n%s", step, resp.Request.URL.Path, resp.StatusCode, path, status, want, body)
		}
	}
	resp, bindPage := h.get(PathBind)
	at("the bind page", resp, bindPage, PathBind, http.StatusOK, `id="create-account"`)
	if strings.Contains(bindPage, `<a id="service"`) || !strings.Contains(bindPage, `<code id="service">http://127.0.0.1:1/console</code>`) {
		t.Error("the bind page links the console, which opens only after binding")
	}
	resp, again := h.get(PathBind)
	at("reload the bind page", resp, again, PathBind, http.StatusOK, `id="create-account"`)

	// A refused bind form comes back to the bind page with the error;
	// reloading it shows the page, not the post again.
	action, form := parseForm(t, bindPage, "create-form")
	form.Set("domainName", "x")
	resp, body := h.post(action, form)
	at("a refused bind form", resp, body, PathBind, http.StatusOK, `id="bind-error"`)
	resp, body = h.get(PathBind)
	at("reload after the refused form", resp, body, PathBind, http.StatusOK, `id="create-account"`)

	// The accepted form goes to the notification page, shown once.
	form.Set("domainName", "reload_co")
	resp, body = h.post(action, form)
	at("the bind form", resp, body, PathNotify, http.StatusOK, `<form id="notify"`)
	if n := strings.Count(body, `name="bindRequest"`); n != 1 {
		t.Fatalf("%d notification forms", n)
	}
	for _, path := range []string{PathNotify, PathBind, PathACS, PathConsole} {
		resp, body := h.get(path)
		at("Back or reload to "+path+" after the bind", resp, body, PathConsole, http.StatusOK, `id="domain-id"`)
		if strings.Contains(body, `<form id="notify"`) {
			t.Errorf("%s sent the notification again", path)
		}
	}
	if _, bound := h.iam.Account(xat, "partner-user-1"); !bound {
		t.Fatal("not bound")
	}

	// A bound user's Response goes straight to the console; reloading it
	// is a plain GET of the console.
	spec = h.idp.goodSpec(h.login(false, ""))
	resp, body = h.post(PathACS, spec.form(h.idp.build(spec)))
	at("a bound login", resp, body, PathConsole, http.StatusOK, `id="domain-id"`)
	resp, body = h.get(PathConsole)
	at("reload the console", resp, body, PathConsole, http.StatusOK, `id="domain-id"`)

	// Unbinding shows its notification once, then the console says the
	// session has ended and where to start again.
	action, form = parseForm(t, body, "unbind-form")
	resp, body = h.post(action, form)
	at("unbind", resp, body, PathNotify, http.StatusOK, `<form id="notify"`)
	resp, body = h.get(PathNotify)
	at("reload after unbind", resp, body, PathConsole, http.StatusUnauthorized, "open it from the partner platform")
	if strings.Contains(body, "mockiam.") || strings.Contains(body, "Config.") {
		t.Errorf("the page speaks of Go code:\n%s", body)
	}

	// Without any bind in progress, the bind page says what to do.
	fresh := newHarness(t, harnessOpts{})
	resp, body = fresh.get(PathBind)
	at("a stale bind page", resp, body, PathBind, http.StatusOK, "Open the Huawei Cloud console again from the partner platform")
}

// TestErrorTextsSpeakToBrowserUsers: what the mock shows a browser names
// no Go function, type or configuration field.
func TestErrorTextsSpeakToBrowserUsers(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	for _, path := range []string{
		"/authui/saml/login?xAccountType=nobody_IDP&isFirstLogin=true",
		PathConsole, "/nowhere", PathSLORedirect,
	} {
		_, body := h.get(path)
		for _, code := range []string{"Config.", "Register", "SeedAccount", "CreateDomain", "mockiam.", "func ", "%!"} {
			if strings.Contains(body, code) {
				t.Errorf("GET %s shows %q: %s", path, code, detail(body))
			}
		}
	}
	if got := asRefusal(errTest("open /secret/path: permission denied")); strings.Contains(got.Detail, "/secret") || got.Status != http.StatusInternalServerError {
		t.Errorf("an internal error shows %q", got.Detail)
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }
