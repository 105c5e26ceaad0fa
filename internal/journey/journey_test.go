package journey

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// The browser reads the POST forms our pages and
// the mock's pages write; what it cannot read it leaves out.
func TestFindForm(t *testing.T) {
	long := strings.Repeat("QUJD", 2048)
	base, _ := url.Parse("http://127.0.0.1:8080/saml/sso?x=1")
	cases := []struct {
		name   string
		body   string
		id     string
		want   *Form
		wantOK bool
	}{
		{"saml post form", `<html><form id="saml-post" method="post" action="https://auth.example/acs">` +
			`<input type="hidden" name="SAMLResponse" value="` + long + `">` +
			`<input type="hidden" name="RelayState" value="a&amp;b">` +
			`<noscript><button>Continue</button></noscript></form>`,
			"saml-post", &Form{ID: "saml-post", Action: "https://auth.example/acs", Values: url.Values{"SAMLResponse": {long}, "RelayState": {"a&b"}}}, true},
		{"relative action", `<form id="bind" method="post" action="/bind"><input type="hidden" name="bindRequest" value="{&#34;a&#34;:1}"></form>`,
			"bind", &Form{ID: "bind", Action: "http://127.0.0.1:8080/bind", Values: url.Values{"bindRequest": {`{"a":1}`}}}, true},
		{"inputs after the form end are not the form's", `<form id="f" method="post" action="/a"></form><input type="hidden" name="x" value="y">`,
			"f", &Form{ID: "f", Action: "http://127.0.0.1:8080/a", Values: url.Values{}}, true},
		{"unterminated value and odd names skipped", `<form id="f" method="post" action="/a">` +
			`<input type="hidden" name="bad name" value="1"><input type="hidden" name="ok" value="2"><input type="hidden" name="cut" value="3`,
			"f", &Form{ID: "f", Action: "http://127.0.0.1:8080/a", Values: url.Values{"ok": {"2"}}}, true},
		{"another form", `<form id="other" method="post" action="/a"></form>`, "f", nil, false},
		{"no form", `<p>nothing</p>`, "f", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := FindForm(&Page{URL: base, Body: tc.body}, tc.id)
			if ok != tc.wantOK || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("findForm = %+v, %v; want %+v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func FuzzHiddenInputs(f *testing.F) {
	f.Add(`<input type="hidden" name="SAMLResponse" value="PHNhbWxwOlJlc3BvbnNlLz4=">`)
	f.Add(`<input type="hidden" name="a" value="1"><input type="hidden" name="b" value="`)
	f.Fuzz(func(t *testing.T, s string) {
		for name := range hiddenInputs(s) {
			if !validInputName(name) {
				t.Fatalf("returned the invalid name %q", name)
			}
		}
	})
}

// TestBrowserFollowsAllowedHostsOnly: redirects among the allowed hosts
// are followed with the cookie jar; a redirect elsewhere is the page; a
// start outside them is an error.
func TestBrowserFollowsAllowedHostsOnly(t *testing.T) {
	outside := "http://platform.invalid/login"
	var b2 *httptest.Server
	b1 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, b2.URL+"/two", http.StatusFound)
	}))
	defer b1.Close()
	b2 = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie("seen"); err == nil {
			fmt.Fprint(w, `<p id="who">again</p>`)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "seen", Value: "1", Path: "/"})
		http.Redirect(w, r, outside, http.StatusSeeOther)
	}))
	defer b2.Close()
	host := func(s string) string { u, _ := url.Parse(s); return u.Host }
	br := NewBrowser(http.DefaultTransport, host(b1.URL), host(b2.URL))
	ctx := context.Background()
	p, err := br.Get(ctx, b1.URL+"/one")
	if err != nil {
		t.Fatal(err)
	}
	loc, err := p.Location()
	if err != nil || loc.String() != outside || p.Status != http.StatusSeeOther || len(p.Chain) != 2 || !p.Visited(b2.URL+"/two") {
		t.Fatalf("stopped at %s (%d), location %v, chain %v", p.URL, p.Status, loc, p.Chain)
	}
	if !strings.Contains(p.Describe(), "redirecting to http://platform.invalid/login") {
		t.Errorf("describe: %s", p.Describe())
	}
	p, err = br.Get(ctx, b1.URL+"/one")
	if err != nil || Field(p.Body, "who") != "again" {
		t.Fatalf("the cookie did not come back: %v %s", err, p.Describe())
	}
	if _, err := br.Get(ctx, outside); err == nil || !strings.Contains(err.Error(), "left the servers under test") {
		t.Errorf("a start outside the allowed hosts: %v", err)
	}
}

// TestOpenConsoleOnDemoPlatform: the customer logs in and presses the
// console button, CSRF token and all, as the demo platform's pages ask.
func TestOpenConsoleOnDemoPlatform(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("customer") != "alice" {
			http.Error(w, "unknown customer", http.StatusForbidden)
			return
		}
		fmt.Fprint(w, `<form id="open-console-form" method="post" action="/open-console"><input type="hidden" name="csrf" value="c0ffee"><button>Open</button></form>`)
	})
	mux.HandleFunc("POST /open-console", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<p id="got">%s</p>`, r.FormValue("csrf"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	p, err := OpenConsoleOnDemoPlatform(context.Background(), NewBrowser(nil, host), srv.URL, "alice")
	if err != nil || Field(p.Body, "got") != "c0ffee" {
		t.Fatalf("open console: %v %v", p, err)
	}
	if _, err := OpenConsoleOnDemoPlatform(context.Background(), NewBrowser(nil, host), srv.URL, "mallory"); err == nil || !strings.Contains(err.Error(), "no console button") {
		t.Errorf("an unknown customer: want no console button, got %v", err)
	}
}
