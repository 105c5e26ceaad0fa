package main

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// The browser of selftest and loadtest reads the POST forms our pages and
// the mock's pages write; what it cannot read it leaves out.
func TestFindForm(t *testing.T) {
	long := strings.Repeat("QUJD", 2048)
	base, _ := url.Parse("http://127.0.0.1:8080/saml/sso?x=1")
	cases := []struct {
		name   string
		body   string
		id     string
		want   *form
		wantOK bool
	}{
		{"saml post form", `<html><form id="saml-post" method="post" action="https://auth.example/acs">` +
			`<input type="hidden" name="SAMLResponse" value="` + long + `">` +
			`<input type="hidden" name="RelayState" value="a&amp;b">` +
			`<noscript><button>Continue</button></noscript></form>`,
			"saml-post", &form{ID: "saml-post", Action: "https://auth.example/acs", Values: url.Values{"SAMLResponse": {long}, "RelayState": {"a&b"}}}, true},
		{"relative action", `<form id="bind" method="post" action="/bind"><input type="hidden" name="bindRequest" value="{&#34;a&#34;:1}"></form>`,
			"bind", &form{ID: "bind", Action: "http://127.0.0.1:8080/bind", Values: url.Values{"bindRequest": {`{"a":1}`}}}, true},
		{"inputs after the form end are not the form's", `<form id="f" method="post" action="/a"></form><input type="hidden" name="x" value="y">`,
			"f", &form{ID: "f", Action: "http://127.0.0.1:8080/a", Values: url.Values{}}, true},
		{"unterminated value and odd names skipped", `<form id="f" method="post" action="/a">` +
			`<input type="hidden" name="bad name" value="1"><input type="hidden" name="ok" value="2"><input type="hidden" name="cut" value="3`,
			"f", &form{ID: "f", Action: "http://127.0.0.1:8080/a", Values: url.Values{"ok": {"2"}}}, true},
		{"another form", `<form id="other" method="post" action="/a"></form>`, "f", nil, false},
		{"no form", `<p>nothing</p>`, "f", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := findForm(&page{URL: base, Body: tc.body}, tc.id)
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
