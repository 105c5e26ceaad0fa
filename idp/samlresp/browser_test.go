package samlresp

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/partneridp/partneridp/metadata/xmlsectest"
)

// browserSite is an IdP page and an SP ACS on loopback, and a second origin
// the ACS may redirect to, driven by a real headless Chromium.
type browserSite struct {
	idp, other *httptest.Server
	mu         sync.Mutex
	page       http.HandlerFunc
	redirect   bool
	posts      chan url.Values
	landed     chan string
}

func newBrowserSite(t *testing.T) *browserSite {
	s := &browserSite{posts: make(chan url.Values, 4), landed: make(chan string, 4)}
	s.other = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/console" { // not /favicon.ico
			s.landed <- r.URL.Path
		}
		io.WriteString(w, "console")
	}))
	t.Cleanup(s.other.Close)
	s.idp = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		page, redirect := s.page, s.redirect
		s.mu.Unlock()
		switch r.URL.Path {
		case "/page":
			page(w, r)
		case "/acs":
			if err := r.ParseForm(); err != nil {
				t.Errorf("ACS: %v", err)
			}
			s.posts <- r.PostForm
			if redirect {
				http.Redirect(w, r, s.other.URL+"/console", http.StatusFound)
				return
			}
			io.WriteString(w, "consumed")
		}
	}))
	t.Cleanup(s.idp.Close)
	return s
}

// serve sets what the next subtest's page and ACS do, and forgets what
// earlier subtests' tabs sent.
func (s *browserSite) serve(redirect bool, page http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.page, s.redirect = page, redirect
	for len(s.posts) > 0 {
		<-s.posts
	}
	for len(s.landed) > 0 {
		<-s.landed
	}
}

func (s *browserSite) waitPost(t *testing.T, d time.Duration) url.Values {
	t.Helper()
	select {
	case v := <-s.posts:
		return v
	case <-time.After(d):
		return nil
	}
}

func TestPostFormInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chromium := xmlsectest.Require(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	browser, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(browser, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	site := newBrowserSite(t)
	acs := site.idp.URL + "/acs"
	xml := []byte(`<?xml version="1.0" encoding="UTF-8"?><saml2p:Response xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol" ID="_b">ü &amp; &lt;</saml2p:Response>`)
	relayState := `"><script>alert(1)</script> &amp; 中文✓🚀 'q' a+b%20c`

	// tab runs steps in a fresh tab with a time limit. The tab stays open
	// until the subtest ends: closing it at once could cancel the POST that
	// a click has just started.
	tab := func(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := chromedp.NewContext(browser)
		t.Cleanup(cancel)
		ctx, cancel = context.WithTimeout(ctx, 20*time.Second)
		t.Cleanup(cancel)
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	checkPost := func(t *testing.T, got url.Values) {
		t.Helper()
		if got == nil {
			t.Fatal("the ACS received no POST")
		}
		raw, err := base64.StdEncoding.DecodeString(got.Get("SAMLResponse"))
		if err != nil || string(raw) != string(xml) {
			t.Errorf("SAMLResponse arrived as %q", got.Get("SAMLResponse"))
		}
		if got.Get("RelayState") != relayState {
			t.Errorf("RelayState arrived as %q, want %q", got.Get("RelayState"), relayState)
		}
	}

	t.Run("auto-submits under its CSP", func(t *testing.T) {
		site.serve(false, func(w http.ResponseWriter, r *http.Request) {
			if err := WritePostForm(w, acs, xml, relayState); err != nil {
				t.Error(err)
			}
		})
		tab(t, chromedp.Navigate(site.idp.URL+"/page"))
		checkPost(t, site.waitPost(t, 10*time.Second))
	})

	t.Run("CSP blocks a script whose hash differs", func(t *testing.T) {
		// Proves the browser enforces the hash: the same page with one byte
		// changed in the script must not submit by itself.
		site.serve(false, func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			if err := WritePostForm(rec, acs, xml, relayState); err != nil {
				t.Error(err)
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			io.WriteString(w, strings.Replace(rec.Body.String(), postScript, postScript+" ", 1))
		})
		tab(t, chromedp.Navigate(site.idp.URL+"/page"))
		if got := site.waitPost(t, 2*time.Second); got != nil {
			t.Fatal("a script outside the CSP hash ran and submitted the form")
		}
	})

	t.Run("script off: the Continue button submits", func(t *testing.T) {
		site.serve(false, func(w http.ResponseWriter, r *http.Request) {
			if err := WritePostForm(w, acs, xml, relayState); err != nil {
				t.Error(err)
			}
		})
		noScript := chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
			_, err := cdp.Call(ctx, target, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		})
		tab(t, noScript, chromedp.Navigate(site.idp.URL+"/page"),
			chromedp.WaitVisible("button"), chromedp.Click("button"))
		checkPost(t, site.waitPost(t, 10*time.Second))
	})

	t.Run("ACS redirect to another origin listed in form-action", func(t *testing.T) {
		// Chromium checks form-action on the redirects after the POST too.
		site.serve(true, func(w http.ResponseWriter, r *http.Request) {
			if err := WritePostForm(w, acs, xml, relayState, site.other.URL); err != nil {
				t.Error(err)
			}
		})
		tab(t, chromedp.Navigate(site.idp.URL+"/page"))
		checkPost(t, site.waitPost(t, 10*time.Second))
		select {
		case <-site.landed:
		case <-time.After(10 * time.Second):
			t.Fatal("the browser did not follow the ACS redirect")
		}
	})

	t.Run("ACS redirect to an unlisted origin is stopped by Chromium", func(t *testing.T) {
		// Why formActionAlso exists: with form-action the ACS origin only,
		// the POST arrives but the browser refuses the redirect after it.
		site.serve(true, func(w http.ResponseWriter, r *http.Request) {
			if err := WritePostForm(w, acs, xml, relayState); err != nil {
				t.Error(err)
			}
		})
		tab(t, chromedp.Navigate(site.idp.URL+"/page"))
		checkPost(t, site.waitPost(t, 10*time.Second))
		select {
		case <-site.landed:
			t.Fatal("Chromium followed a redirect that form-action does not allow; formActionAlso may no longer be needed")
		case <-time.After(3 * time.Second):
		}
	})
}
