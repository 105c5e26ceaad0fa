package samlresp

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

var (
	inputPattern  = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	scriptPattern = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
)

// formFields reads the hidden inputs back as a browser would: attribute
// values are HTML-unescaped.
func formFields(body string) map[string][]string {
	fields := map[string][]string{}
	for _, m := range inputPattern.FindAllStringSubmatch(body, -1) {
		fields[m[1]] = append(fields[m[1]], html.UnescapeString(m[2]))
	}
	return fields
}

func TestWritePostForm(t *testing.T) {
	xml := []byte(`<?xml version="1.0" encoding="UTF-8"?><saml2p:Response ID="_1">&amp; ünïcode</saml2p:Response>`)
	relayStates := []string{
		`"><script>alert(1)</script>`,
		`&amp;`,
		`a'b"c<d>e&f`,
		"中文 ✓ 🚀 Ünïcödé",
		"https://console.huaweicloud.com/iam/?region=cn-north-4&locale=zh-cn#/home",
		"  spaces  kept  ",
		"tab-free %0A %00 literal percent escapes",
		"",
	}
	for _, rs := range relayStates {
		t.Run(rs, func(t *testing.T) {
			w := httptest.NewRecorder()
			if err := WritePostForm(w, testACS, xml, rs); err != nil {
				t.Fatal(err)
			}
			if w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			body := w.Body.String()
			fields := formFields(body)

			if got := fields["SAMLResponse"]; len(got) != 1 {
				t.Fatalf("SAMLResponse inputs: %d", len(got))
			}
			raw, err := base64.StdEncoding.DecodeString(fields["SAMLResponse"][0])
			if err != nil || string(raw) != string(xml) {
				t.Fatalf("SAMLResponse is not base64 of the XML (not deflated): %v", err)
			}
			switch got := fields["RelayState"]; {
			case rs == "" && len(got) != 0:
				t.Error("an empty RelayState was sent")
			case rs != "" && (len(got) != 1 || got[0] != rs):
				t.Errorf("RelayState echoed as %q, want %q", got, rs)
			}
			if n := strings.Count(body, "<input"); n != len(fields["SAMLResponse"])+len(fields["RelayState"]) {
				t.Errorf("the page has %d inputs: markup was injected", n)
			}
			if !strings.Contains(body, `<form id="saml-post" method="post" action="`+testACS+`">`) {
				t.Error("form does not post to the ACS")
			}
			if !strings.Contains(body, "<noscript>") || !strings.Contains(body, `<button type="submit">`) {
				t.Error("no submit button for browsers without script")
			}
			checkPostHeaders(t, w, body, "https://auth.huaweicloud.com")
		})
	}
}

func checkPostHeaders(t *testing.T, w *httptest.ResponseRecorder, body, formAction string) {
	t.Helper()
	scripts := scriptPattern.FindAllStringSubmatch(body, -1)
	if len(scripts) != 1 {
		t.Fatalf("%d script elements, want 1", len(scripts))
	}
	if regexp.MustCompile(`(?i)\son[a-z]+\s*=`).MatchString(body) {
		t.Error("the page has an inline event handler")
	}
	sum := sha256.Sum256([]byte(scripts[0][1]))
	hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	want := map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Cache-Control":           "no-store",
		"Pragma":                  "no-cache",
		"Content-Security-Policy": "default-src 'none'; script-src " + hash + "; form-action " + formAction + "; base-uri 'none'; frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	}
	for k, v := range want {
		wantEqual(t, k, w.Header().Get(k), v)
	}
}

func TestWritePostFormFormActionAlso(t *testing.T) {
	w := httptest.NewRecorder()
	if err := WritePostForm(w, testACS, []byte("<x/>"), "", "https://console.huaweicloud.com", "https:"); err != nil {
		t.Fatal(err)
	}
	checkPostHeaders(t, w, w.Body.String(), "https://auth.huaweicloud.com https://console.huaweicloud.com https:")
}

func TestWritePostFormRefuses(t *testing.T) {
	tests := []struct {
		name, acs, relayState string
		also                  []string
		xml                   string
		want                  error
	}{
		{name: "http ACS off loopback", acs: "http://auth.huaweicloud.com/acs", want: ErrInvalidACS},
		{name: "relative ACS", acs: "/acs", want: ErrInvalidACS},
		{name: "javascript ACS", acs: "javascript:alert(1)", want: ErrInvalidACS},
		{name: "ACS with credentials", acs: "https://u:p@auth.huaweicloud.com/acs", want: ErrInvalidACS},
		{name: "ACS with fragment", acs: "https://auth.huaweicloud.com/acs#x", want: ErrInvalidACS},
		{name: "IPv6 ACS", acs: "https://[2001:db8::1]/acs", want: ErrInvalidACS},
		{name: "ACS host with CSP syntax", acs: "https://a.example;script-src/acs", want: ErrInvalidACS},
		{name: "form-action with path", acs: testACS, also: []string{"https://console.huaweicloud.com/x"}, want: ErrInvalidACS},
		{name: "form-action keyword", acs: testACS, also: []string{"'self'"}, want: ErrInvalidACS},
		{name: "form-action wildcard", acs: testACS, also: []string{"*"}, want: ErrInvalidACS},
		{name: "form-action with space", acs: testACS, also: []string{"https: 'unsafe-inline'"}, want: ErrInvalidACS},
		{name: "empty response", acs: testACS, xml: "-", want: ErrInvalidRequest},
		{name: "RelayState with newline", acs: testACS, relayState: "a\nb", want: ErrInvalidRelayState},
		{name: "RelayState with CR", acs: testACS, relayState: "a\rb", want: ErrInvalidRelayState},
		{name: "RelayState with NUL", acs: testACS, relayState: "a\x00b", want: ErrInvalidRelayState},
		{name: "RelayState with C1 control", acs: testACS, relayState: "a\u0085b", want: ErrInvalidRelayState},
		{name: "RelayState not UTF-8", acs: testACS, relayState: "a\xffb", want: ErrInvalidRelayState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			xml := []byte("<x/>")
			if tt.xml == "-" {
				xml = nil
			}
			w := httptest.NewRecorder()
			err := WritePostForm(w, tt.acs, xml, tt.relayState, tt.also...)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if w.Body.Len() != 0 || len(w.Header()) != 0 {
				t.Error("something was written despite the error")
			}
		})
	}
}

func TestWritePostFormLoopbackHTTP(t *testing.T) {
	for _, acs := range []string{"http://127.0.0.1:8443/acs", "http://localhost/acs"} {
		if err := WritePostForm(httptest.NewRecorder(), acs, []byte("<x/>"), ""); err != nil {
			t.Errorf("%s: %v", acs, err)
		}
	}
}
