package idp

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"

	"github.com/partneridp/partneridp/metadata"
)

// Interoperability with crewjam/saml's ServiceProvider, an SP written in Go
// by others, used strictly as a validator of what our bridge posts. These
// tests use the real clock: crewjam checks every instant against
// saml.TimeNow and goxmldsig checks certificate validity against the system
// time, so a real clock keeps both checks honest without changing package
// globals.

const crewjamRequestID = "_crewjam-0123456789abcdef"

// crewjamFlow runs the whole flow through the bridge's handler on the real
// clock (platform handoff, a signed AuthnRequest from the test SP, the POST
// form) and returns the form with the IdP metadata the bridge publishes.
func crewjamFlow(t *testing.T, signResponse bool) (postForm, []byte) {
	t.Helper()
	e := newEnv(t, envOptions{now: time.Now(), tweak: func(c *Config) { c.Builder.SignResponse = signResponse }})
	md := e.get(idpEntityID)
	if md.Status != http.StatusOK {
		t.Fatalf("GET %s: status %d", idpEntityID, md.Status)
	}
	e.login(customer)
	f := readSAMLForm(t, e.get(ssoURL+"?"+e.newRequest(crewjamRequestID).Query(t)))
	if f.Action != acsURL {
		t.Fatalf("the form posts to %q, want the ACS %q", f.Action, acsURL)
	}
	return f, []byte(md.Body)
}

// crewjamSP is crewjam's ServiceProvider configured as the SP the bridge
// trusts (huaweiSP: its entityID and ACS, the test SP's key), trusting the
// IdP described by idpMetadataXML.
func crewjamSP(t *testing.T, idpMetadataXML []byte) *saml.ServiceProvider {
	t.Helper()
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(idpMetadataXML, &ed); err != nil {
		t.Fatalf("crewjam cannot read our IdP metadata: %v", err)
	}
	if ed.EntityID != idpEntityID {
		t.Fatalf("crewjam reads IdP entityID %q, want %q", ed.EntityID, idpEntityID)
	}
	acs, err := url.Parse(acsURL)
	if err != nil {
		t.Fatal(err)
	}
	spKey := loadKey(t, "sp-test")
	return &saml.ServiceProvider{
		EntityID:          spEntityID,
		Key:               spKey.Key,
		Certificate:       spKey.Cert,
		AcsURL:            *acs,
		IDPMetadata:       &ed,
		AllowIDPInitiated: false,
	}
}

// crewjamParse is the SP's ACS receiving the POST form's SAMLResponse.
func crewjamParse(t *testing.T, sp *saml.ServiceProvider, rawResponse string, requestIDs []string) (*saml.Assertion, error) {
	t.Helper()
	doc, err := base64.StdEncoding.DecodeString(rawResponse)
	if err != nil {
		t.Fatalf("SAMLResponse is not base64: %v", err)
	}
	return sp.ParseXMLResponse(doc, requestIDs, sp.AcsURL)
}

// crewjamReason is the private reason behind crewjam's public error.
func crewjamReason(err error) string {
	var ire *saml.InvalidResponseError
	if errors.As(err, &ire) && ire.PrivateErr != nil {
		return ire.PrivateErr.Error()
	}
	return err.Error()
}

// crewjamAttributes collects every attribute value of every
// AttributeStatement by attribute Name.
func crewjamAttributes(a *saml.Assertion) map[string][]string {
	out := map[string][]string{}
	for _, st := range a.AttributeStatements {
		for _, attr := range st.Attributes {
			for _, v := range attr.Values {
				out[attr.Name] = append(out[attr.Name], v.Value)
			}
		}
	}
	return out
}

// xAccountIDValue is the xAccountId attribute's value as the bridge writes it.
func xAccountIDValue(v string) string {
	return `FriendlyName="xAccountId"><saml2:AttributeValue xsi:type="xs:string">` + v + `<`
}

// idpMetadataWith is our IdP metadata naming keyName's certificate as the
// signing key.
func idpMetadataWith(t *testing.T, keyName string) []byte {
	t.Helper()
	doc, err := metadata.BuildIDPMetadata(metadata.IDPConfig{EntityID: idpEntityID, SSORedirectURL: ssoURL, SSOPostURL: ssoURL, SLOURL: sloURL},
		[]*x509.Certificate{loadKey(t, keyName).Cert}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// crewjam's SP accepts the Response the bridge posts, with the Assertion
// signed and with the Response signed too, reads xUserId and xAccountId
// from it, and refuses it once an attribute is altered, when it answers
// another AuthnRequest, or when the SP trusts another IdP certificate.
func TestCrewjamSPChecksOurResponses(t *testing.T) {
	for _, signResponse := range []bool{false, true} {
		name := "Assertion signed"
		if signResponse {
			name = "Response and Assertion signed"
		}
		t.Run(name, func(t *testing.T) {
			f, published := crewjamFlow(t, signResponse)
			sp := crewjamSP(t, published)

			assertion, err := crewjamParse(t, sp, f.RawResponse, []string{crewjamRequestID})
			if err != nil {
				t.Fatalf("crewjam refused our Response: %v: %s\n%s", err, crewjamReason(err), f.SAMLResponse)
			}
			attrs := crewjamAttributes(assertion)
			for _, name := range []string{"xUserId", "xAccountId"} {
				if got := attrs[name]; len(got) != 1 || got[0] != customer {
					t.Errorf("crewjam read %s = %q, want [%q]", name, got, customer)
				}
			}

			refusals := []struct {
				name       string
				sp         *saml.ServiceProvider
				response   string
				requestIDs []string
				wantReason string
			}{
				{"xAccountId changed after signing", sp, changeOnce(t, f, xAccountIDValue(customer), xAccountIDValue("cust-0002")),
					[]string{crewjamRequestID}, "Signature could not be verified"},
				{"name changed after signing", sp, changeOnce(t, f, ">Zhang San<", ">Zhang Sun<"),
					[]string{crewjamRequestID}, "Signature could not be verified"},
				{"the SP sent another AuthnRequest", sp, f.RawResponse,
					[]string{"_crewjam-another-request"}, "InResponseTo"},
				{"the SP trusts another IdP certificate", crewjamSP(t, idpMetadataWith(t, "idp-next")), f.RawResponse,
					[]string{crewjamRequestID}, "ertificate"},
			}
			for _, tc := range refusals {
				t.Run(tc.name, func(t *testing.T) {
					a, err := crewjamParse(t, tc.sp, tc.response, tc.requestIDs)
					if err == nil {
						t.Fatalf("crewjam accepted the Response (attributes %v), want it refused", crewjamAttributes(a))
					}
					var ire *saml.InvalidResponseError
					if !errors.As(err, &ire) {
						t.Errorf("crewjam's error is %T, want *saml.InvalidResponseError", err)
					}
					reason := crewjamReason(err)
					t.Logf("crewjam refused it: %s", reason)
					if !strings.Contains(reason, tc.wantReason) {
						t.Errorf("crewjam refused it for %q, want a reason mentioning %q", reason, tc.wantReason)
					}
				})
			}
		})
	}
}
