package demoplatform

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzCheckReturnTo: whatever return_to is accepted, the URL the browser is
// sent to (with the token appended) is on the bridge's origin, as Go and
// as a browser-like raw reading both see it, and carries exactly one token.
func FuzzCheckReturnTo(f *testing.F) {
	for _, seed := range []string{
		bridgeURL + "/sso/resume?flow=abc",
		bridgeURL,
		bridgeURL + "?",
		"http://127.0.0.1:18443@evil.example/",
		"http://127.0.0.1:18443\\@evil.example/",
		"http://127.0.0.1:18443.evil.example/",
		"//evil.example",
		"http://127.0.0.1:18443/x#y",
		"http://127.0.0.1:18443/x?token=a",
		"http://127.0.0.1:18443/%2F%2Fevil.example",
		"HTTP://127.0.0.1:18443/x",
		"http://[::1]:18443/x",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, returnTo string) {
		if err := CheckReturnTo(returnTo, bridgeURL); err != nil {
			if _, ok := err.(*ReturnToError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		dest := withToken(returnTo, "tok.en_-")
		u, err := url.Parse(dest)
		if err != nil {
			t.Fatalf("accepted %q but the destination does not parse: %v", returnTo, err)
		}
		if !strings.EqualFold(u.Scheme+"://"+u.Host, bridgeURL) || u.User != nil {
			t.Fatalf("accepted %q: destination origin %s://%s", returnTo, u.Scheme, u.Host)
		}
		if toks := u.Query()["token"]; len(toks) != 1 || toks[0] != "tok.en_-" {
			t.Fatalf("accepted %q: destination tokens %q", returnTo, toks)
		}
	})
}

// FuzzLoginPage: the login page's query never panics, and it shows the
// picker only for a return_to on the bridge's origin.
func FuzzLoginPage(f *testing.F) {
	for _, seed := range []string{
		"return_to=" + url.QueryEscape(bridgeURL+"/sso/resume?flow=1"),
		"return_to=http%3A%2F%2Fevil.example",
		"return_to=a&return_to=b",
		"return_to=%zz",
		"",
		";;;",
	} {
		f.Add(seed)
	}
	p, err := New(testConfig("http://127.0.0.1:18001"))
	if err != nil {
		f.Fatal(err)
	}
	h := p.Handler()
	f.Fuzz(func(t *testing.T, rawQuery string) {
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:18001/login", nil)
		req.URL.RawQuery = rawQuery
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d", rec.Code)
		}
		if rec.Code == http.StatusOK {
			q, err := url.ParseQuery(rawQuery)
			if err != nil {
				t.Fatalf("bad query %q accepted", rawQuery)
			}
			if rt := q.Get("return_to"); rt != "" && CheckReturnTo(rt, bridgeURL) != nil {
				t.Fatalf("picker shown for return_to %q", rt)
			}
		}
	})
}

// FuzzLoginForm: whatever the login form carries, the platform redirects
// only home or to the bridge's origin, and only for a listed customer.
func FuzzLoginForm(f *testing.F) {
	for _, seed := range []string{
		"customer=alice",
		"customer=alice&return_to=" + url.QueryEscape(bridgeURL+"/sso/huawei?flow=ab"),
		"customer=bob&return_to=http%3A%2F%2Fevil.example%2F",
		"customer=mallory",
		"customer=alice&customer=bob",
		"return_to=" + url.QueryEscape(bridgeURL),
		"%zz",
	} {
		f.Add(seed)
	}
	p, err := New(testConfig("http://127.0.0.1:18001"))
	if err != nil {
		f.Fatal(err)
	}
	h := p.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:18001/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		loc := rec.Header().Get("Location")
		switch rec.Code {
		case http.StatusSeeOther:
			form, err := url.ParseQuery(body)
			if err != nil {
				t.Fatalf("redirected for an unreadable form %q", body)
			}
			if _, ok := p.byID[form.Get("customer")]; !ok {
				t.Fatalf("logged in unknown customer %q", form.Get("customer"))
			}
			if loc == PathHome {
				return
			}
			u, err := url.Parse(loc)
			if err != nil || !strings.EqualFold(u.Scheme+"://"+u.Host, bridgeURL) || len(u.Query()["token"]) != 1 {
				t.Fatalf("redirected to %q", loc)
			}
		case http.StatusBadRequest, http.StatusForbidden, http.StatusServiceUnavailable: // 503: session table full
			if loc != "" || rec.Header().Get("Set-Cookie") != "" {
				t.Fatalf("refusal %d still redirected or set a cookie", rec.Code)
			}
		default:
			t.Fatalf("status %d", rec.Code)
		}
	})
}
