package idp

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/metadata"
)

// FuzzSSOHandler feeds arbitrary raw queries to the SSO endpoint of a whole
// server (bbolt store, session cookie present). It must never panic, never
// fail on our side (5xx), and never serve a SAMLResponse for a query whose
// signature does not verify with the SP's certificate.
func FuzzSSOHandler(f *testing.F) {
	e := newEnv(f, envOptions{noTLS: true})
	rec := httptest.NewRecorder()
	if err := e.cfg.Sessions.Start(rec, handoffClaims(e)); err != nil {
		f.Fatal(err)
	}
	session := rec.Result().Cookies()[0]

	valid := e.newRequest("_fuzz-valid")
	passive := e.newRequest("_fuzz-passive")
	passive.IsPassive, passive.ForceAuthn = true, true
	unsigned := e.newRequest("_fuzz-unsigned")
	unsigned.Unsigned = true
	raw := strings.TrimSpace(string(readFile(f, filepath.Join(huaweiDir, "authnrequest-sample.urlenc"))))
	for _, seed := range []string{
		valid.Query(f),
		passive.Query(f),
		unsigned.Query(f),
		signRedirect(f, "SAMLRequest", raw, consoleURL, false, "", e.spKey.Key, false), // wrong Destination and date
		"SAMLRequest=" + raw,
		"",
		"SAMLRequest=&SigAlg=&Signature=",
		"SAMLRequest=%zz",
		"a=1&a=2&SAMLRequest=x&SAMLRequest=y",
	} {
		f.Add(seed)
	}
	certs := []*x509.Certificate{e.spKey.Cert}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		req := httptest.NewRequest(http.MethodGet, ssoURL, nil)
		req.URL.RawQuery = rawQuery
		req.AddCookie(session)
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q:\n%s", w.Code, rawQuery, w.Body)
		}
		if strings.Contains(w.Body.String(), "SAMLResponse") && !signedBySP(rawQuery, certs) {
			t.Fatalf("a SAMLResponse for a query the SP did not sign: %q", rawQuery)
		}
	})
}

// signedBySP checks the redirect-binding signature of a raw query on its
// own (not with the intake's code): the octets SAMLRequest, RelayState,
// SigAlg exactly as they appear.
func signedBySP(rawQuery string, certs []*x509.Certificate) bool {
	params := map[string][]string{}
	for part := range strings.SplitSeq(rawQuery, "&") {
		name, value, _ := strings.Cut(part, "=")
		params[name] = append(params[name], value)
	}
	one := func(name string) (string, bool) {
		v := params[name]
		return strings.Join(v, ""), len(v) == 1
	}
	req, ok1 := one("SAMLRequest")
	alg, ok2 := one("SigAlg")
	sig, ok3 := one("Signature")
	if !ok1 || !ok2 || !ok3 {
		return false
	}
	octets := "SAMLRequest=" + req
	if relay, ok := one("RelayState"); ok {
		octets += "&RelayState=" + relay
	}
	octets += "&SigAlg=" + alg
	algValue, err1 := url.QueryUnescape(alg)
	sigValue, err2 := url.QueryUnescape(sig)
	if err1 != nil || err2 != nil {
		return false
	}
	_, err := metadata.SigAlgPolicy{}.VerifyDetached(algValue, []byte(octets), sigValue, certs)
	return err == nil
}

// FuzzBindHandler feeds arbitrary bind notifications (POST bodies and GET
// queries) to the bind endpoint: no panic, no 5xx, and no binding changes
// unless the bindRequest value is signed with the SP's certificate.
func FuzzBindHandler(f *testing.F) {
	e := newEnv(f, envOptions{noTLS: true})
	good := notification(f, e.spKey, bindFields(customer, "d1", 0))
	f.Add(good.Encode(), true)
	f.Add(good.Encode(), false)
	f.Add(notification(f, e.spKey, bindFields(customer, "d1", 1)).Encode(), true)
	f.Add(notification(f, loadKey(f, "sp-other"), bindFields(customer, "d1", 0)).Encode(), true)
	f.Add(strings.TrimSpace(string(readFile(f, filepath.Join(bindingDir, "notification-doc-example.form")))), true)
	f.Add("bindRequest=e30%3D&SigAlg=x&Signature=", false)
	f.Add("bindRequest=a&bindRequest=b", true)
	f.Add("%zz", true)
	certs := []*x509.Certificate{e.spKey.Cert}
	f.Fuzz(func(t *testing.T, body string, post bool) {
		before := historyLen(t, e)
		var req *http.Request
		if post {
			req = httptest.NewRequest(http.MethodPost, publicURL+PathBind, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req = httptest.NewRequest(http.MethodGet, publicURL+PathBind, nil)
			req.URL.RawQuery = body
		}
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q:\n%s", w.Code, body, w.Body)
		}
		if historyLen(t, e) != before {
			values, err := url.ParseQuery(body)
			_, verr := metadata.SigAlgPolicy{}.VerifyDetached(values.Get(fieldSigAlg), []byte(values.Get(fieldBindRequest)), values.Get(fieldSignature), certs)
			if err != nil || verr != nil {
				t.Fatalf("a binding changed for a notification the SP did not sign: %q", body)
			}
		}
	})
}

// historyLen counts every change ever stored for the test customer and the
// doc example's account (the only accounts the seeds name).
func historyLen(t *testing.T, e *env) int {
	n := 0
	for _, id := range []string{customer, "yongzhix"} {
		h, err := e.db.History(context.Background(), binding.Key{XAccountType: xAccountType, XAccountID: id})
		if err != nil {
			t.Fatal(err)
		}
		n += len(h)
	}
	return n
}

// FuzzHandoffHandler feeds arbitrary queries to the handoff endpoint: no
// panic, no 5xx, and no session or login link unless the query carries a
// token the platform minted.
func FuzzHandoffHandler(f *testing.F) {
	e := newEnv(f, envOptions{noTLS: true})
	minted := map[string]bool{}
	for i := range 3 {
		tok := e.token(customer, customerClaims())
		minted[tok] = true
		switch i {
		case 0:
			f.Add(strings.TrimPrefix(handoffURL(tok, consoleURL), publicURL+PathHandoff+"?"))
		case 1:
			f.Add("flow=00112233445566778899aabbccddeeff&token=" + tok)
		case 2:
			f.Add("token=" + tok + "&token=" + tok)
		}
	}
	f.Add("token=not.a.jwt&service=https%3A%2F%2Fevil.example%2F")
	f.Add("flow=..%2F..&token=x")
	f.Add("%zz")
	f.Add("")
	f.Fuzz(func(t *testing.T, rawQuery string) {
		req := httptest.NewRequest(http.MethodGet, publicURL+PathHandoff, nil)
		req.URL.RawQuery = rawQuery
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q:\n%s", w.Code, rawQuery, w.Body)
		}
		if w.Code == http.StatusFound || len(w.Result().Cookies()) > 0 {
			q, err := url.ParseQuery(rawQuery)
			if err != nil || !minted[q.Get("token")] {
				t.Fatalf("a login link or session for a query without a minted token: %q", rawQuery)
			}
		}
	})
}
