package mockiam

import (
	"net/http"
	"strings"
	"testing"
)

// TestBrowserStyleFlowThroughTheIdP runs the whole SP-initiated login the
// way a browser would: login link → 302 to the IdP's SSO URL → the IdP's
// auto-post page → POST to the ACS → console → logout → IdP's SLO.
func TestBrowserStyleFlowThroughTheIdP(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	if _, err := h.iam.SeedAccount(xat, "partner-user-1", "acme_corp"); err != nil {
		t.Fatal(err)
	}
	resp, _ := h.get(h.iam.LoginURL(xat, false, service))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login link: %d", resp.StatusCode)
	}
	resp, idpPage := h.get(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("IdP refused the AuthnRequest: %d %s", resp.StatusCode, idpPage)
	}
	action, form := parseForm(t, idpPage, "sso")
	if action != h.iam.ACSURL() {
		t.Fatalf("IdP posts to %q", action)
	}
	resp, body := h.post(action, form)
	if resp.StatusCode != http.StatusOK || verdict(body) != "accepted" || !strings.Contains(body, `id="account"`) {
		t.Fatalf("ACS: %d %q %q", resp.StatusCode, reason(body), detail(body))
	}

	resp, _ = h.get(PathLogout + "?xAccountType=" + xat)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != h.idp.sloURL {
		t.Fatalf("logout: %d to %q, want a redirect to the IdP's SingleLogoutService", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := h.get(PathConsole); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("session survived logout: %d", resp.StatusCode)
	}
	if ev, _ := h.iam.LastEvent(EventLogout); !ev.Accepted || ev.XUserID != "partner-user-1" {
		t.Errorf("logout event = %+v", ev)
	}
}

func TestLogoutWithoutSingleLogoutService(t *testing.T) {
	h := newHarness(t, harnessOpts{noSLO: true})
	resp, body := h.get(PathLogout + "?xAccountType=" + xat)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "has no SingleLogoutService") {
		t.Fatalf("status %d\n%s", resp.StatusCode, body)
	}
	resp, body = h.get(PathLogout + "?xAccountType=nobody_IDP")
	if resp.StatusCode != http.StatusBadRequest || reason(body) != string(ReasonUnknownXAccountType) {
		t.Fatalf("unknown xAccountType: %d %q", resp.StatusCode, reason(body))
	}
}

func TestEveryPageIsNoStoreWithCSP(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	for _, tc := range []struct {
		method, path string
		status       int
		reason       Reason
	}{
		{"GET", PathConsole, http.StatusUnauthorized, ReasonNoSession},
		{"GET", "/nowhere", http.StatusNotFound, ReasonNotFound},
		{"POST", PathLogin, http.StatusMethodNotAllowed, ReasonMethodNotAllowed},
		{"GET", PathBind, http.StatusOK, ""},                          // "Nothing to bind"
		{"GET", PathNotify, http.StatusUnauthorized, ReasonNoSession}, // via the console
		{"GET", PathUnbind, http.StatusUnauthorized, ReasonNoSession}, // via the console
		{"PUT", PathBind, http.StatusMethodNotAllowed, ReasonMethodNotAllowed},
		{"POST", PathBind, http.StatusForbidden, ReasonBadBindForm},
		{"POST", PathUnbind, http.StatusUnauthorized, ReasonNoSession},
		{"GET", PathSLORedirect, http.StatusNotImplemented, ReasonNotImplemented},
		{"POST", PathSLOPost, http.StatusNotImplemented, ReasonNotImplemented},
	} {
		req, _ := http.NewRequest(tc.method, h.srv.URL+tc.path, strings.NewReader(""))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, body := h.do(req)
		if resp.StatusCode != tc.status || reason(body) != string(tc.reason) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, reason(body), tc.status, tc.reason)
		}
		if resp.Header.Get("Cache-Control") != "no-store" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s %s: headers %v", tc.method, tc.path, resp.Header)
		}
		if !strings.Contains(body, `id="banner"`) {
			t.Errorf("%s %s: no banner", tc.method, tc.path)
		}
	}
	resp, _ := h.get(PathMetadata)
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("metadata is cacheable")
	}
}
