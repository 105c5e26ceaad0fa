package samlresp

import (
	"bytes"
	"compress/flate"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/partneridp/partneridp/metadata"
)

// splitRedirect takes a signed HTTP-Redirect URL apart the way a receiving
// SP must: the signed octets are the raw parameters as they appear.
func splitRedirect(t *testing.T, u string) (base string, raw map[string]string, signed string) {
	t.Helper()
	base, query, ok := strings.Cut(u, "?")
	if !ok {
		t.Fatalf("no query in %s", u)
	}
	raw = map[string]string{}
	var parts []string
	for _, kv := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(kv, "=")
		raw[k] = v
		if k == "SAMLResponse" || k == "RelayState" || k == "SigAlg" {
			parts = append(parts, kv)
		}
	}
	return base, raw, strings.Join(parts, "&")
}

func inflateSAML(t *testing.T, rawParam string) []byte {
	t.Helper()
	b64, err := url.QueryUnescape(rawParam)
	if err != nil {
		t.Fatal(err)
	}
	deflated, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	xml, err := io.ReadAll(flate.NewReader(bytes.NewReader(deflated)))
	if err != nil {
		t.Fatalf("SAMLResponse is not raw DEFLATE: %v", err)
	}
	return xml
}

func TestLogoutResponseRedirectURL(t *testing.T) {
	key := loadKey(t, "idp-current")
	tests := []struct {
		name, relayState, status, wantTop, wantSecond string
	}{
		{"success with relay state", "https://console.huaweicloud.com/?a=1&b=2 ü", "", StatusSuccess, ""},
		{"no relay state", "", StatusSuccess, StatusSuccess, ""},
		{"partial logout", "rs", StatusPartialLogout, StatusSuccess, StatusPartialLogout},
		{"responder error", "rs", StatusResponder, StatusResponder, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := testBuilder(t).LogoutResponseRedirectURL(huaweiSP(), "_logoutreq1", tt.relayState, tt.status)
			if err != nil {
				t.Fatal(err)
			}
			base, raw, signed := splitRedirect(t, u)
			wantEqual(t, "endpoint", base, "https://auth.huaweicloud.com/authui/saml/LogoutServiceHTTPRedirectResponse")
			wantEqual(t, "SigAlg", raw["SigAlg"], url.QueryEscape(metadata.SigAlgRSASHA256))
			sig, _ := url.QueryUnescape(raw["Signature"])
			if _, err := (metadata.SigAlgPolicy{}).VerifyDetached(metadata.SigAlgRSASHA256, []byte(signed), sig, huaweiSP().SigningCerts); !errors.Is(err, metadata.ErrSignatureInvalid) {
				t.Errorf("verification without a trusted certificate: %v", err)
			}
			if _, err := (metadata.SigAlgPolicy{}).VerifyDetached(metadata.SigAlgRSASHA256, []byte(signed), sig, []*x509.Certificate{key.Cert}); err != nil {
				t.Fatalf("signature does not verify over %q: %v", signed, err)
			}
			tampered := strings.Replace(signed, "SigAlg=", "SigAlg=x", 1)
			if _, err := (metadata.SigAlgPolicy{}).VerifyDetached(metadata.SigAlgRSASHA256, []byte(tampered), sig, []*x509.Certificate{key.Cert}); err == nil {
				t.Error("the signature verifies over other octets")
			}
			if tt.relayState == "" {
				if _, ok := raw["RelayState"]; ok {
					t.Error("empty RelayState was sent")
				}
			} else {
				got, _ := url.QueryUnescape(raw["RelayState"])
				wantEqual(t, "RelayState", got, tt.relayState)
			}

			root := parseDoc(t, inflateSAML(t, raw["SAMLResponse"]))
			if root.Tag != "LogoutResponse" || root.NamespaceURI() != nsProtocol {
				t.Fatalf("root is {%s}%s", root.NamespaceURI(), root.Tag)
			}
			if !idPattern.MatchString(attr(t, root, "ID")) {
				t.Errorf("ID %q", attr(t, root, "ID"))
			}
			wantEqual(t, "Version", attr(t, root, "Version"), "2.0")
			wantEqual(t, "IssueInstant", attr(t, root, "IssueInstant"), "2027-03-14T09:26:53.589Z")
			wantEqual(t, "Destination", attr(t, root, "Destination"), base)
			wantEqual(t, "InResponseTo", attr(t, root, "InResponseTo"), "_logoutreq1")
			wantEqual(t, "children", strings.Join(childTags(root), ","), "Issuer,Status") // no embedded signature in the Redirect binding
			wantEqual(t, "Issuer", child(t, root, nsAssertion, "Issuer").Text(), testIdP)
			code := child(t, child(t, root, nsProtocol, "Status"), nsProtocol, "StatusCode")
			wantEqual(t, "status", attr(t, code, "Value"), tt.wantTop)
			if tt.wantSecond != "" {
				wantEqual(t, "second-level status", attr(t, child(t, code, nsProtocol, "StatusCode"), "Value"), tt.wantSecond)
			}
		})
	}
}

func TestLogoutResponseEndpoints(t *testing.T) {
	sp := huaweiSP()
	sp.SLO = []metadata.Endpoint{{SAMLBinding: metadata.SAMLBindingHTTPRedirect, Location: "https://sp.example/slo?tenant=7"}}
	u, err := testBuilder(t).LogoutResponseRedirectURL(sp, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, "https://sp.example/slo?tenant=7&SAMLResponse=") {
		t.Errorf("URL %s does not extend the Location's own query", u)
	}
	root := parseDoc(t, inflateSAML(t, strings.SplitN(strings.SplitN(u, "SAMLResponse=", 2)[1], "&", 2)[0]))
	if root.SelectAttr("InResponseTo") != nil {
		t.Error("InResponseTo present although empty")
	}

	refusals := []struct {
		name         string
		slo          []metadata.Endpoint
		sp           bool
		inResponseTo string
		status       string
		want         error
	}{
		{name: "no SP", want: ErrInvalidRequest},
		{name: "POST-only SLO", sp: true, slo: []metadata.Endpoint{{SAMLBinding: metadata.SAMLBindingHTTPPost, Location: "https://sp.example/slo"}}, want: ErrNoSLOEndpoint},
		{name: "http SLO", sp: true, slo: []metadata.Endpoint{{SAMLBinding: metadata.SAMLBindingHTTPRedirect, Location: "http://sp.example/slo"}}, want: ErrInvalidACS},
		{name: "bad InResponseTo", sp: true, inResponseTo: "a b", want: ErrInvalidRequest},
		{name: "unknown status", sp: true, status: "urn:x", want: ErrUnknownStatus},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			var sp *metadata.SP
			if tt.sp {
				sp = huaweiSP()
				if tt.slo != nil {
					sp.SLO = tt.slo
				}
			}
			u, err := testBuilder(t).LogoutResponseRedirectURL(sp, tt.inResponseTo, "", tt.status)
			if !errors.Is(err, tt.want) || u != "" {
				t.Fatalf("got %q, %v; want %v", u, err, tt.want)
			}
		})
	}
}
