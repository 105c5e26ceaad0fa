package samlreq

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/metadata"
)

const (
	logoutID      = "_lr4q2m9x7c1v8b3n6k0j5h2g7f4d1s9a8p3o6i"
	logoutNameID  = "_c7e1b2f0a9d84e5f8a6b3c2d1e0f9a8b"
	logoutSession = "<saml2p:SessionIndex>_s8d2f6a1c9e3b7</saml2p:SessionIndex>"
)

func TestLogoutFromRedirect(t *testing.T) {
	logout := func(old, new string) func(testing.TB) string {
		return func(tb testing.TB) string {
			doc := logoutXML(tb)
			if !strings.Contains(doc, old) {
				tb.Fatalf("the LogoutRequest fixture has no %q", old)
			}
			return signedXML(tb, strings.Replace(doc, old, new, 1))
		}
	}
	asIs := func(tb testing.TB) string { return signedXML(tb, logoutXML(tb)) }
	cases := []struct {
		name   string
		query  func(testing.TB) string
		tweak  func(*Intake)
		kind   Kind
		reason string
		check  func(*testing.T, *LogoutRequest)
	}{
		{name: "fixture, signed by the test SP", query: asIs, check: func(t *testing.T, r *LogoutRequest) {
			want := LogoutRequest{
				ID:             logoutID,
				Issuer:         huaweiEntityID,
				Destination:    sampleSLOURL,
				NameID:         logoutNameID,
				NameIDFormat:   metadata.NameIDFormatTransient,
				SessionIndexes: []string{"_s8d2f6a1c9e3b7"},
				RelayState:     relayStateValue,
				SigAlg:         metadata.SigAlgRSASHA256,
				SAMLBinding:    metadata.SAMLBindingHTTPRedirect,
			}
			if r.ID != want.ID || r.Issuer != want.Issuer || r.Destination != want.Destination || r.NameID != want.NameID ||
				r.NameIDFormat != want.NameIDFormat || strings.Join(r.SessionIndexes, ",") != strings.Join(want.SessionIndexes, ",") ||
				r.RelayState != want.RelayState || r.SigAlg != want.SigAlg || r.SAMLBinding != want.SAMLBinding || r.SHA1Warning || r.SP == nil {
				t.Errorf("got %+v\nwant %+v", *r, want)
			}
			if !r.IssueInstant.Equal(time.Date(2018, 11, 26, 9, 11, 58, 446e6, time.UTC)) ||
				!r.NotOnOrAfter.Equal(time.Date(2018, 11, 26, 9, 16, 58, 446e6, time.UTC)) {
				t.Errorf("IssueInstant %v, NotOnOrAfter %v", r.IssueInstant, r.NotOnOrAfter)
			}
		}},
		{name: "two SessionIndex", query: logout(logoutSession, logoutSession+"<saml2p:SessionIndex>_second</saml2p:SessionIndex>"),
			check: func(t *testing.T, r *LogoutRequest) {
				if len(r.SessionIndexes) != 2 || r.SessionIndexes[1] != "_second" {
					t.Errorf("SessionIndexes = %q", r.SessionIndexes)
				}
			}},
		{name: "no NotOnOrAfter", query: logout(` NotOnOrAfter="2018-11-26T09:16:58.446Z"`, ""), check: func(t *testing.T, r *LogoutRequest) {
			if !r.NotOnOrAfter.IsZero() {
				t.Errorf("NotOnOrAfter = %v", r.NotOnOrAfter)
			}
		}},
		{name: "no Destination", query: logout(` Destination="`+sampleSLOURL+`"`, "")},
		{name: "rsa-sha1 when allowed", query: func(tb testing.TB) string {
			return redirect{SAMLRequest: deflateEncode(tb, logoutXML(tb)), NoRelay: true, SigAlg: metadata.SigAlgRSASHA1, Key: loadKey(tb, "sp-test").Key}.query(tb)
		}, tweak: func(in *Intake) { in.Policy.AllowSHA1 = true }, check: func(t *testing.T, r *LogoutRequest) {
			if !r.SHA1Warning {
				t.Error("no SHA-1 warning")
			}
		}},

		{name: "plain redirect without SAMLRequest", query: func(testing.TB) string { return "" }, kind: Untrusted, reason: ReasonNoMessage},
		{name: "unsigned", query: func(tb testing.TB) string {
			return redirect{SAMLRequest: deflateEncode(tb, logoutXML(tb)), NoRelay: true}.octets()
		}, kind: Untrusted, reason: ReasonSignatureMissing},
		{name: "signed by sp-other", query: func(tb testing.TB) string {
			return redirect{SAMLRequest: deflateEncode(tb, logoutXML(tb)), NoRelay: true, Key: loadKey(tb, "sp-other").Key}.query(tb)
		}, kind: Untrusted, reason: ReasonBadSignature},
		{name: "signature altered", query: func(tb testing.TB) string { return alterSignature(tb, asIs(tb)) }, kind: Untrusted, reason: ReasonBadSignature},
		{name: "rsa-sha1 refused by default", query: func(tb testing.TB) string {
			return redirect{SAMLRequest: deflateEncode(tb, logoutXML(tb)), NoRelay: true, SigAlg: metadata.SigAlgRSASHA1, Key: loadKey(tb, "sp-test").Key}.query(tb)
		}, kind: Untrusted, reason: ReasonSigAlgNotAllowed},
		{name: "AuthnRequest sent to the SLO URL", query: signedSample, kind: Untrusted, reason: ReasonWrongMessage},
		{name: "DTD", query: logout(`?>`, `?><!DOCTYPE x>`), kind: Untrusted, reason: ReasonDTD},
		{name: "missing Issuer", query: logout(sampleIssuerEl, ""), kind: Untrusted, reason: ReasonMissingIssuer},
		{name: "unknown Issuer", query: logout(`>https://auth.huaweicloud.com/</saml2:Issuer>`, `>https://evil.example/</saml2:Issuer>`), kind: Untrusted, reason: ReasonUnknownIssuer},
		{name: "Destination is the SSO URL", query: logout(sampleSLOURL, sampleSSOURL), kind: Untrusted, reason: ReasonWrongDestination},
		{name: "IssueInstant too old", query: logout(`IssueInstant="2018-11-26T09:11:58.446Z"`, `IssueInstant="2018-11-26T09:00:00Z"`), kind: Untrusted, reason: ReasonExpired},
		{name: "past NotOnOrAfter", query: logout(`NotOnOrAfter="2018-11-26T09:16:58.446Z"`, `NotOnOrAfter="2018-11-26T09:08:00Z"`), kind: Untrusted, reason: ReasonExpired},
		{name: "NotOnOrAfter not a dateTime", query: logout(`NotOnOrAfter="2018-11-26T09:16:58.446Z"`, `NotOnOrAfter="soon"`), kind: Untrusted, reason: ReasonBadIssueInstant},
		{name: "Version 1.0", query: logout(`Version="2.0"`, `Version="1.0"`), kind: Untrusted, reason: ReasonBadVersion},
		{name: "no ID", query: logout(` ID="`+logoutID+`"`, ""), kind: Untrusted, reason: ReasonMissingID},
		{name: "no NameID", query: logout(`>`+logoutNameID+`<`, `><`), kind: Untrusted, reason: ReasonMissingNameID},
		{name: "comment inside NameID", query: logout(logoutNameID, logoutNameID+`<!---->x`), kind: Untrusted, reason: ReasonMalformedXML},
		{name: "two NameIDs", query: logout(logoutSession, `<saml2:NameID xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion">other</saml2:NameID>`+logoutSession),
			kind: Untrusted, reason: ReasonMalformedXML},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := newIntake(t)
			if c.tweak != nil {
				c.tweak(in)
			}
			req, err := in.LogoutFromRedirect(context.Background(), c.query(t))
			if c.kind == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.check != nil {
					c.check(t, req)
				}
				return
			}
			if req != nil {
				t.Errorf("a refused request was returned")
			}
			asError(t, err, c.kind, c.reason)
			if len(in.Replay.(*memReplay).seen) != 0 {
				t.Errorf("a refused request spent an ID")
			}
		})
	}
}

func TestLogoutFromRedirectReplay(t *testing.T) {
	in := newIntake(t)
	q := signedXML(t, logoutXML(t))
	if _, err := in.LogoutFromRedirect(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	_, err := in.LogoutFromRedirect(context.Background(), q)
	asError(t, err, Untrusted, ReasonReplay)
}
