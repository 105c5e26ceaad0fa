package samlreq

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/metadata"
)

func TestDecodeRedirectMessageHuaweiSample(t *testing.T) {
	v, err := url.QueryUnescape(sampleRaw(t))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := DecodeRedirectMessage(v, 0)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "huawei-authnrequest-sample.xml", doc)

	m, err := parseAuthnRequestXML(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := authnRequestXML{
		header: header{
			ID:           sampleID,
			Version:      "2.0",
			IssueInstant: sampleInstant,
			Destination:  sampleSSOURL,
			Issuer:       huaweiEntityID,
		},
		ACSURL:          huaweiACS,
		ProtocolBinding: metadata.SAMLBindingHTTPPost,
		NameIDFormat:    metadata.NameIDFormatTransient,
		SPNameQualifier: huaweiEntityID,
		AllowCreate:     true,
	}
	if *m != want {
		t.Errorf("parsed sample:\n got %+v\nwant %+v", *m, want)
	}
}

// The real sample value, signed by the test SP over the octets exactly as
// they appear in the query, passes with every field right.
func TestFromRedirectHuaweiSample(t *testing.T) {
	in := newIntake(t)
	q := signedSample(t)
	golden(t, "huawei-authnrequest-sample-signed.query", []byte(q))

	req, err := in.FromRedirect(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := in.SPs(huaweiEntityID)
	want := AuthnRequest{
		ID:              sampleID,
		Issuer:          huaweiEntityID,
		Destination:     sampleSSOURL,
		IssueInstant:    time.Date(2018, 11, 26, 9, 11, 58, 446e6, time.UTC),
		ACS:             metadata.Endpoint{SAMLBinding: metadata.SAMLBindingHTTPPost, Location: huaweiACS, Index: 0, IsDefault: true},
		ProtocolBinding: metadata.SAMLBindingHTTPPost,
		NameIDFormat:    metadata.NameIDFormatTransient,
		SPNameQualifier: huaweiEntityID,
		AllowCreate:     true,
		RelayState:      relayStateValue,
		SP:              sp,
		SigAlg:          metadata.SigAlgRSASHA256,
		SAMLBinding:     metadata.SAMLBindingHTTPRedirect,
	}
	if !req.IssueInstant.Equal(want.IssueInstant) {
		t.Errorf("IssueInstant = %v, want %v", req.IssueInstant, want.IssueInstant)
	}
	req.IssueInstant = want.IssueInstant
	if *req != want {
		t.Errorf("request:\n got %+v\nwant %+v", *req, want)
	}
	if got := in.Replay.(*memReplay).seen[huaweiEntityID+"\x00"+sampleID]; !got.Equal(want.IssueInstant.Add(DefaultSkew + ReplayMargin)) {
		t.Errorf("replay record expires %v, want IssueInstant + skew + ReplayMargin", got)
	}
}

// replaceIn signs the sample XML with one textual change.
func replaceIn(old, new string) func(testing.TB) string {
	return func(tb testing.TB) string {
		doc := sampleXML(tb)
		if !strings.Contains(doc, old) {
			tb.Fatalf("the sample has no %q", old)
		}
		return signedXML(tb, strings.Replace(doc, old, new, 1))
	}
}

func signedDoc(doc string) func(testing.TB) string {
	return func(tb testing.TB) string { return signedXML(tb, doc) }
}

// signedRaw signs an arbitrary (raw, encoded) SAMLRequest value.
func signedRaw(raw string) func(testing.TB) string {
	return func(tb testing.TB) string {
		return redirect{SAMLRequest: raw, RelayState: relayStateRaw, Key: loadKey(tb, "sp-test").Key}.query(tb)
	}
}

func rawEncode(b []byte) string { return url.QueryEscape(base64.StdEncoding.EncodeToString(b)) }

const (
	sampleIssuerEl = `<saml2:Issuer xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion">https://auth.huaweicloud.com/</saml2:Issuer>`
	sampleDestAttr = ` Destination="` + sampleSSOURL + `"`
	sampleACSAttr  = ` AssertionConsumerServiceURL="` + huaweiACS + `"`
	samplePolicyEl = `<saml2p:NameIDPolicy AllowCreate="true" Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" SPNameQualifier="https://auth.huaweicloud.com/"/>`
	transientURI   = `urn:oasis:names:tc:SAML:2.0:nameid-format:transient`
)

func TestFromRedirect(t *testing.T) {
	key := func(tb testing.TB) testKey { return loadKey(tb, "sp-test") }
	bigDoc := strings.Replace(sampleXMLForTables, "</saml2p:AuthnRequest>", "<!--"+strings.Repeat("A", 1<<20)+"--></saml2p:AuthnRequest>", 1)

	cases := []struct {
		name   string
		query  func(testing.TB) string
		tweak  func(testing.TB, *Intake)
		kind   Kind   // 0: must succeed
		reason string // for failures
		check  func(*testing.T, *AuthnRequest)
	}{
		// ---- accepted ----
		{name: "Huawei sample as sent", query: signedSample},
		{name: "sample re-deflated by us", query: signedDoc(sampleXMLForTables)},
		{name: "no RelayState: left out of the signed octets", query: func(tb testing.TB) string {
			return redirect{SAMLRequest: sampleRaw(tb), NoRelay: true, Key: key(tb).Key}.query(tb)
		}, check: func(t *testing.T, r *AuthnRequest) {
			if r.RelayState != "" {
				t.Errorf("RelayState = %q", r.RelayState)
			}
		}},
		{name: "empty RelayState is part of the signed octets", query: func(tb testing.TB) string {
			return redirect{SAMLRequest: sampleRaw(tb), RelayState: "", Key: key(tb).Key}.query(tb)
		}},
		{name: "rsa-sha512", query: func(tb testing.TB) string {
			return redirect{SAMLRequest: sampleRaw(tb), RelayState: relayStateRaw, SigAlg: metadata.SigAlgRSASHA512, Key: key(tb).Key}.query(tb)
		}, check: func(t *testing.T, r *AuthnRequest) {
			if r.SigAlg != metadata.SigAlgRSASHA512 || r.SHA1Warning {
				t.Errorf("SigAlg = %q, SHA1Warning = %v", r.SigAlg, r.SHA1Warning)
			}
		}},
		{name: "unusual but valid encoding verifies as sent (no re-encoding)", query: func(tb testing.TB) string {
			return redirect{SAMLRequest: lowerHex(sampleRaw(tb)), RelayState: lowerHex(relayStateRaw), Key: key(tb).Key}.query(tb)
		}, check: func(t *testing.T, r *AuthnRequest) {
			if r.RelayState != relayStateValue {
				t.Errorf("RelayState = %q", r.RelayState)
			}
		}},
		{name: "rsa-sha1 when the operator allows it: warning flag", query: func(tb testing.TB) string {
			return redirect{SAMLRequest: sampleRaw(tb), RelayState: relayStateRaw, SigAlg: metadata.SigAlgRSASHA1, Key: key(tb).Key}.query(tb)
		}, tweak: func(_ testing.TB, in *Intake) { in.Policy.AllowSHA1 = true },
			check: func(t *testing.T, r *AuthnRequest) {
				if !r.SHA1Warning || r.SigAlg != metadata.SigAlgRSASHA1 {
					t.Errorf("SHA1Warning = %v, SigAlg = %q", r.SHA1Warning, r.SigAlg)
				}
			}},
		{name: "every metadata certificate is tried", query: signedSample, tweak: func(tb testing.TB, in *Intake) {
			sp := huaweiSP(loadKey(tb, "sp-other").Cert, loadKey(tb, "sp-test").Cert)
			in.SPs = func(string) (*metadata.SP, bool) { return sp, true }
		}},
		{name: "no Destination", query: replaceIn(sampleDestAttr, ""), check: func(t *testing.T, r *AuthnRequest) {
			if r.Destination != "" {
				t.Errorf("Destination = %q", r.Destination)
			}
		}},
		{name: "no ACS URL: the metadata default", query: replaceIn(sampleACSAttr, ""), check: wantACS(huaweiACS)},
		{name: "ACS URL of the second metadata ACS", query: replaceIn(sampleACSAttr, ` AssertionConsumerServiceURL="`+huaweiAltACS+`"`), check: wantACS(huaweiAltACS)},
		{name: "ACS index from metadata", query: replaceIn(sampleACSAttr, ` AssertionConsumerServiceIndex="1"`), check: wantACS(huaweiAltACS)},
		{name: "IsPassive and ForceAuthn", query: replaceIn(`ForceAuthn="false" ID="_th2kld6nqqaq6lbvbw1cqqkbld2m7shj5i7x" IsPassive="false"`, `ForceAuthn="1" ID="_th2kld6nqqaq6lbvbw1cqqkbld2m7shj5i7x" IsPassive="true"`),
			check: func(t *testing.T, r *AuthnRequest) {
				if !r.IsPassive || !r.ForceAuthn {
					t.Errorf("IsPassive = %v, ForceAuthn = %v", r.IsPassive, r.ForceAuthn)
				}
			}},
		{name: "IssueInstant exactly one skew old", query: replaceIn(sampleInstant, "2018-11-26T09:09:00Z")},
		{name: "IssueInstant exactly one skew ahead", query: replaceIn(sampleInstant, "2018-11-26T09:15:00Z")},
		{name: "IssueInstant with a zone offset", query: replaceIn(sampleInstant, "2018-11-26T17:11:58.446+08:00")},
		{name: "no NameIDPolicy", query: replaceIn(samplePolicyEl, ""), check: func(t *testing.T, r *AuthnRequest) {
			if r.NameIDFormat != "" || r.AllowCreate {
				t.Errorf("NameIDFormat = %q, AllowCreate = %v", r.NameIDFormat, r.AllowCreate)
			}
		}},
		{name: "unspecified NameID format", query: replaceIn(transientURI, metadata.NameIDFormatUnspecified)},
		{name: "persistent NameID format", query: replaceIn(transientURI, metadata.NameIDFormatPersistent)},
		{name: "NameID format enabled by the operator", query: replaceIn(transientURI, metadata.NameIDFormatEmail),
			tweak: func(_ testing.TB, in *Intake) { in.NameIDFormats = []string{metadata.NameIDFormatEmail} }},

		// ---- query and signature ----
		{name: "no SAMLRequest", query: func(testing.TB) string { return "RelayState=" + relayStateRaw }, kind: Untrusted, reason: ReasonNoMessage},
		{name: "empty query", query: func(testing.TB) string { return "" }, kind: Untrusted, reason: ReasonNoMessage},
		{name: "missing Signature", query: func(tb testing.TB) string {
			return redirect{SAMLRequest: sampleRaw(tb), RelayState: relayStateRaw}.octets()
		}, kind: Untrusted, reason: ReasonSignatureMissing},
		{name: "missing SigAlg", query: func(tb testing.TB) string {
			q := signedSample(tb)
			return strings.Replace(q, "&SigAlg="+url.QueryEscape(metadata.SigAlgRSASHA256), "", 1)
		}, kind: Untrusted, reason: ReasonSignatureMissing},
		{name: "empty Signature", query: func(tb testing.TB) string {
			return redirect{SAMLRequest: sampleRaw(tb), RelayState: relayStateRaw}.octets() + "&Signature="
		}, kind: Untrusted, reason: ReasonSignatureMissing},
		{name: "signature bytes altered", query: func(tb testing.TB) string {
			return alterSignature(tb, signedSample(tb))
		}, kind: Untrusted, reason: ReasonBadSignature},
		{name: "Signature not base64", query: func(tb testing.TB) string {
			return redirect{SAMLRequest: sampleRaw(tb), RelayState: relayStateRaw}.octets() + "&Signature=%21%21%21"
		}, kind: Untrusted, reason: ReasonBadSignature},
		{name: "signed by sp-other (not in metadata)", query: func(tb testing.TB) string {
			return redirect{SAMLRequest: sampleRaw(tb), RelayState: relayStateRaw, Key: loadKey(tb, "sp-other").Key}.query(tb)
		}, kind: Untrusted, reason: ReasonBadSignature},
		{name: "SP metadata without signing certificate", query: signedSample, tweak: func(tb testing.TB, in *Intake) {
			sp := huaweiSP()
			in.SPs = func(string) (*metadata.SP, bool) { return sp, true }
		}, kind: Untrusted, reason: ReasonBadSignature},
		{name: "RelayState re-encoded after signing", query: func(tb testing.TB) string {
			return strings.Replace(signedSample(tb), "RelayState="+relayStateRaw, "RelayState="+lowerHex(relayStateRaw), 1)
		}, kind: Untrusted, reason: ReasonBadSignature},
		{name: "SAMLRequest re-encoded after signing", query: func(tb testing.TB) string {
			return strings.Replace(signedSample(tb), sampleRaw(tb), lowerHex(sampleRaw(tb)), 1)
		}, kind: Untrusted, reason: ReasonBadSignature},
		{name: "RelayState dropped after signing", query: func(tb testing.TB) string {
			return strings.Replace(signedSample(tb), "&RelayState="+relayStateRaw, "", 1)
		}, kind: Untrusted, reason: ReasonBadSignature},
		{name: "RelayState added after signing", query: func(tb testing.TB) string {
			q := redirect{SAMLRequest: sampleRaw(tb), NoRelay: true, Key: key(tb).Key}.query(tb)
			return strings.Replace(q, "&SigAlg=", "&RelayState=evil&SigAlg=", 1)
		}, kind: Untrusted, reason: ReasonBadSignature},
		{name: "RelayState changed after signing", query: func(tb testing.TB) string {
			return strings.Replace(signedSample(tb), "RelayState="+relayStateRaw, "RelayState=https%3A%2F%2Fevil.example%2F", 1)
		}, kind: Untrusted, reason: ReasonBadSignature},
		{name: "SigAlg changed after signing", query: func(tb testing.TB) string {
			return strings.Replace(signedSample(tb), url.QueryEscape(metadata.SigAlgRSASHA256), url.QueryEscape(metadata.SigAlgRSASHA512), 1)
		}, kind: Untrusted, reason: ReasonBadSignature},
		{name: "rsa-sha1 refused by default", query: func(tb testing.TB) string {
			return redirect{SAMLRequest: sampleRaw(tb), RelayState: relayStateRaw, SigAlg: metadata.SigAlgRSASHA1, Key: key(tb).Key}.query(tb)
		}, kind: Untrusted, reason: ReasonSigAlgNotAllowed},
		{name: "unknown SigAlg", query: func(tb testing.TB) string {
			return redirect{SAMLRequest: sampleRaw(tb), RelayState: relayStateRaw, SigAlg: "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256", Key: key(tb).Key}.query(tb)
		}, kind: Untrusted, reason: ReasonSigAlgNotAllowed},
		{name: "rsa-sha384 is not on the allow-list", query: func(tb testing.TB) string {
			return redirect{SAMLRequest: sampleRaw(tb), RelayState: relayStateRaw, SigAlg: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384", Key: key(tb).Key}.query(tb)
		}, kind: Untrusted, reason: ReasonSigAlgNotAllowed},
		{name: "duplicate SAMLRequest", query: func(tb testing.TB) string { return signedSample(tb) + "&SAMLRequest=" + sampleRaw(tb) },
			kind: Untrusted, reason: ReasonDuplicateParam},
		{name: "duplicate RelayState", query: func(tb testing.TB) string { return "RelayState=a&" + signedSample(tb) },
			kind: Untrusted, reason: ReasonDuplicateParam},
		{name: "duplicate SigAlg", query: func(tb testing.TB) string { return signedSample(tb) + "&SigAlg=x" },
			kind: Untrusted, reason: ReasonDuplicateParam},
		{name: "duplicate Signature", query: func(tb testing.TB) string { return signedSample(tb) + "&Signature=x" },
			kind: Untrusted, reason: ReasonDuplicateParam},
		{name: "bad percent-encoding in RelayState", query: func(tb testing.TB) string {
			return redirect{SAMLRequest: sampleRaw(tb), RelayState: "%zz", Key: key(tb).Key}.query(tb)
		}, kind: Untrusted, reason: ReasonMalformedQuery},
		{name: "RelayState over 8 KiB", query: func(tb testing.TB) string {
			return redirect{SAMLRequest: sampleRaw(tb), RelayState: strings.Repeat("r", maxRelayState+1), Key: key(tb).Key}.query(tb)
		}, kind: Untrusted, reason: ReasonMalformedQuery},
		{name: "query over the size cap", query: func(tb testing.TB) string {
			return "SAMLRequest=" + strings.Repeat("A", 400<<10) + "&SigAlg=x&Signature=y"
		}, kind: Untrusted, reason: ReasonTooLarge},

		// ---- decoding ----
		{name: "bad base64", query: signedRaw("not%2Abase64"), kind: Untrusted, reason: ReasonUndecodable},
		{name: "'+' left unencoded in base64", query: func(tb testing.TB) string {
			return signedRaw(strings.ReplaceAll(sampleRaw(tb), "%2B", "+"))(tb)
		}, kind: Untrusted, reason: ReasonUndecodable},
		{name: "zlib instead of raw DEFLATE", query: func(tb testing.TB) string {
			var b bytes.Buffer
			w := zlib.NewWriter(&b)
			w.Write([]byte(sampleXML(tb)))
			w.Close()
			return signedRaw(rawEncode(b.Bytes()))(tb)
		}, kind: Untrusted, reason: ReasonUndecodable},
		{name: "not DEFLATE at all", query: signedRaw(rawEncode([]byte("<saml2p:AuthnRequest/>"))), kind: Untrusted, reason: ReasonUndecodable},
		{name: "truncated DEFLATE", query: func(tb testing.TB) string {
			v, _ := url.QueryUnescape(sampleRaw(tb))
			b, _ := base64.StdEncoding.DecodeString(v)
			return signedRaw(rawEncode(b[:len(b)/2]))(tb)
		}, kind: Untrusted, reason: ReasonUndecodable},
		{name: "deflate bomb over the inflate cap", query: signedDoc(bigDoc), kind: Untrusted, reason: ReasonTooLarge},
		{name: "message over a lowered cap", query: signedSample, tweak: func(_ testing.TB, in *Intake) { in.MaxInflated = 256 },
			kind: Untrusted, reason: ReasonTooLarge},

		// ---- XML ----
		{name: "DTD with entities", query: replaceIn(`?><saml2p:AuthnRequest`, `?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><saml2p:AuthnRequest`),
			kind: Untrusted, reason: ReasonDTD},
		{name: "DTD without XML declaration", query: signedDoc(`<!DOCTYPE x SYSTEM "http://evil.example/x.dtd">` + strings.TrimPrefix(sampleXMLForTables, `<?xml version="1.0" encoding="UTF-8"?>`)),
			kind: Untrusted, reason: ReasonDTD},
		{name: "not XML", query: signedDoc("this is not xml"), kind: Untrusted, reason: ReasonMalformedXML},
		{name: "unclosed element", query: replaceIn(`</saml2p:AuthnRequest>`, ``), kind: Untrusted, reason: ReasonMalformedXML},
		{name: "declared encoding not UTF-8", query: replaceIn(`encoding="UTF-8"`, `encoding="ISO-8859-1"`), kind: Untrusted, reason: ReasonMalformedXML},
		{name: "LogoutRequest sent to the SSO URL", query: func(tb testing.TB) string { return signedXML(tb, logoutXML(tb)) },
			kind: Untrusted, reason: ReasonWrongMessage},
		{name: "AuthnRequest outside the protocol namespace", query: replaceIn(`xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol"`, `xmlns:saml2p="urn:oasis:names:tc:SAML:1.0:protocol"`),
			kind: Untrusted, reason: ReasonWrongMessage},
		{name: "ID attribute twice", query: replaceIn(` ID="`, ` ID="_evil" ID="`), kind: Untrusted, reason: ReasonMalformedXML},
		{name: "two Issuers", query: replaceIn(sampleIssuerEl, sampleIssuerEl+sampleIssuerEl), kind: Untrusted, reason: ReasonMalformedXML},
		{name: "comment inside Issuer", query: replaceIn(`>https://auth.huaweicloud.com/</saml2:Issuer>`, `>https://auth.huaweicloud.com/<!---->.evil</saml2:Issuer>`),
			kind: Untrusted, reason: ReasonMalformedXML},
		{name: "IsPassive not a boolean", query: replaceIn(`IsPassive="false"`, `IsPassive="maybe"`), kind: Untrusted, reason: ReasonMalformedXML},

		// ---- the named checks ----
		{name: "missing Issuer", query: replaceIn(sampleIssuerEl, ""), kind: Untrusted, reason: ReasonMissingIssuer},
		{name: "empty Issuer", query: replaceIn(`https://auth.huaweicloud.com/</saml2:Issuer>`, `</saml2:Issuer>`), kind: Untrusted, reason: ReasonMissingIssuer},
		{name: "Issuer outside the assertion namespace", query: replaceIn(`xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion"`, `xmlns:saml2="urn:example"`),
			kind: Untrusted, reason: ReasonMissingIssuer},
		{name: "unknown Issuer", query: replaceIn(`>https://auth.huaweicloud.com/</saml2:Issuer>`, `>https://auth-intl.huaweicloud.com/</saml2:Issuer>`),
			kind: Untrusted, reason: ReasonUnknownIssuer},
		{name: "lookup returns an SP with another entityID", query: signedSample, tweak: func(tb testing.TB, in *Intake) {
			sp := huaweiSP(loadKey(tb, "sp-test").Cert)
			sp.EntityID = "https://auth-intl.huaweicloud.com/"
			in.SPs = func(string) (*metadata.SP, bool) { return sp, true }
		}, kind: Untrusted, reason: ReasonUnknownIssuer},
		{name: "Version 1.1", query: replaceIn(`Version="2.0"`, `Version="1.1"`), kind: Untrusted, reason: ReasonBadVersion},
		{name: "no Version", query: replaceIn(` Version="2.0"`, ``), kind: Untrusted, reason: ReasonBadVersion},
		{name: "no ID", query: replaceIn(` ID="`+sampleID+`"`, ``), kind: Untrusted, reason: ReasonMissingID},
		{name: "ID too long", query: replaceIn(sampleID, "_"+strings.Repeat("x", maxRequestID)), kind: Untrusted, reason: ReasonMissingID},
		{name: "IssueInstant too old", query: replaceIn(sampleInstant, "2018-11-26T09:08:59.999Z"), kind: Untrusted, reason: ReasonExpired},
		{name: "IssueInstant too far in the future", query: replaceIn(sampleInstant, "2018-11-26T09:15:00.001Z"), kind: Untrusted, reason: ReasonIssuedInFuture},
		{name: "IssueInstant outside a smaller configured skew", query: signedSample,
			tweak: func(_ testing.TB, in *Intake) { in.Skew = time.Second }, kind: Untrusted, reason: ReasonExpired},
		{name: "IssueInstant without time zone", query: replaceIn(sampleInstant, "2018-11-26T09:11:58.446"), kind: Untrusted, reason: ReasonBadIssueInstant},
		{name: "IssueInstant missing", query: replaceIn(` IssueInstant="`+sampleInstant+`"`, ``), kind: Untrusted, reason: ReasonBadIssueInstant},
		{name: "wrong Destination", query: replaceIn(sampleDestAttr, ` Destination="https://other-idp.example/sso"`), kind: Untrusted, reason: ReasonWrongDestination},
		{name: "our SSO URL configured differently", query: signedSample,
			tweak: func(_ testing.TB, in *Intake) { in.SSOURL = "https://idp.partner.example/saml/sso" }, kind: Untrusted, reason: ReasonWrongDestination},
		{name: "ACS not in metadata", query: replaceIn(sampleACSAttr, ` AssertionConsumerServiceURL="https://evil.example/acs"`), kind: Untrusted, reason: ReasonACSMismatch},
		{name: "ACS differs only by case", query: replaceIn(sampleACSAttr, ` AssertionConsumerServiceURL="https://auth.huaweicloud.com/authui/saml/samlassertionconsumer"`), kind: Untrusted, reason: ReasonACSMismatch},
		{name: "ACS index not in metadata", query: replaceIn(sampleACSAttr, ` AssertionConsumerServiceIndex="7"`), kind: Untrusted, reason: ReasonACSMismatch},
		{name: "ACS URL and index both", query: replaceIn(sampleACSAttr, sampleACSAttr+` AssertionConsumerServiceIndex="0"`), kind: Untrusted, reason: ReasonACSMismatch},
		{name: "metadata ACS not HTTP-POST", query: signedSample, tweak: func(tb testing.TB, in *Intake) {
			sp := huaweiSP(loadKey(tb, "sp-test").Cert)
			sp.ACS[0].SAMLBinding = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"
			in.SPs = func(string) (*metadata.SP, bool) { return sp, true }
		}, kind: Untrusted, reason: ReasonACSMismatch},
		{name: "metadata without ACS", query: replaceIn(sampleACSAttr, ""), tweak: func(tb testing.TB, in *Intake) {
			sp := huaweiSP(loadKey(tb, "sp-test").Cert)
			sp.ACS = nil
			in.SPs = func(string) (*metadata.SP, bool) { return sp, true }
		}, kind: Untrusted, reason: ReasonNoACS},

		// ---- trusted but unsatisfiable ----
		{name: "ProtocolBinding HTTP-Artifact", query: replaceIn(`ProtocolBinding="`+metadata.SAMLBindingHTTPPost, `ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact`),
			kind: Unsatisfiable, reason: ReasonUnsupportedBinding},
		{name: "NameID format emailAddress", query: replaceIn(transientURI, metadata.NameIDFormatEmail),
			kind: Unsatisfiable, reason: ReasonUnsupportedNameIDFormat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := newIntake(t)
			if c.tweak != nil {
				c.tweak(t, in)
			}
			store := in.Replay.(*memReplay)
			req, err := in.FromRedirect(context.Background(), c.query(t))
			if c.kind == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				checkAccepted(t, req)
				if c.check != nil {
					c.check(t, req)
				}
				return
			}
			if req != nil {
				t.Errorf("a refused request was returned: %+v", req)
			}
			e := asError(t, err, c.kind, c.reason)
			switch c.kind {
			case Untrusted:
				if e.Request != nil {
					t.Errorf("an untrusted error carries a request")
				}
				if len(store.seen) != 0 {
					t.Errorf("an untrusted request spent an ID in the replay store")
				}
			case Unsatisfiable:
				checkUnsatisfiable(t, e)
			}
		})
	}
}

// sampleXMLForTables is the decoded sample, read once for table set-up.
var sampleXMLForTables = func() string {
	b, err := DecodeRedirectMessage(mustUnescape(strings.TrimSpace(string(mustRead(huaweiDir+"/authnrequest-sample.urlenc")))), 0)
	if err != nil {
		panic(err)
	}
	return string(b)
}()

func wantACS(loc string) func(*testing.T, *AuthnRequest) {
	return func(t *testing.T, r *AuthnRequest) {
		if r.ACS.Location != loc || r.ACS.SAMLBinding != metadata.SAMLBindingHTTPPost {
			t.Errorf("ACS = %+v, want %s", r.ACS, loc)
		}
	}
}

// checkAccepted holds for every accepted AuthnRequest.
func checkAccepted(t *testing.T, r *AuthnRequest) {
	t.Helper()
	if r.ID == "" || r.Issuer != r.SP.EntityID || r.IssueInstant.IsZero() || r.SigAlg == "" || r.SAMLBinding == "" {
		t.Errorf("incomplete request: %+v", r)
	}
	if _, ok := r.SP.FindACS(r.ACS.Location); !ok {
		t.Errorf("ACS %q is not from the SP metadata", r.ACS.Location)
	}
}

// checkUnsatisfiable: the caller needs a trusted request with its metadata
// ACS to send the signed error Response, and the ID is spent.
func checkUnsatisfiable(t *testing.T, e *Error) {
	t.Helper()
	if e.Request == nil || e.Status == "" {
		t.Fatalf("unsatisfiable error without request or status: %+v", e)
	}
	checkAccepted(t, e.Request)
	if e.RequestID != e.Request.ID || e.Issuer != e.Request.Issuer {
		t.Errorf("error names %q/%q, request is %q/%q", e.RequestID, e.Issuer, e.Request.ID, e.Request.Issuer)
	}
}

func TestFromRedirectUnsatisfiableStatus(t *testing.T) {
	for _, c := range []struct {
		query  func(testing.TB) string
		status string
	}{
		{replaceIn(transientURI, metadata.NameIDFormatEmail), StatusInvalidNameIDPolicy},
		{replaceIn(`ProtocolBinding="`+metadata.SAMLBindingHTTPPost, `ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:PAOS`), StatusUnsupportedBinding},
	} {
		in := newIntake(t)
		_, err := in.FromRedirect(context.Background(), c.query(t))
		var e *Error
		if !errors.As(err, &e) || e.Status != c.status || e.Request.ACS.Location != huaweiACS || e.Request.RelayState != relayStateValue {
			t.Errorf("got %+v, want status %s with request, ACS and RelayState", e, c.status)
		}
	}
}

func TestFromRedirectReplay(t *testing.T) {
	in := newIntake(t)
	q := signedSample(t)
	if _, err := in.FromRedirect(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	_, err := in.FromRedirect(context.Background(), q)
	e := asError(t, err, Untrusted, ReasonReplay)
	if !errors.Is(err, ErrReplay) || e.RequestID != sampleID || e.Issuer != huaweiEntityID {
		t.Errorf("replay error: %+v", e)
	}
	// The same ID in another message (re-deflated, other RelayState) is
	// still a replay: the ID is what is single use.
	_, err = in.FromRedirect(context.Background(), redirect{SAMLRequest: deflateEncode(t, sampleXML(t)), NoRelay: true, Key: loadKey(t, "sp-test").Key}.query(t))
	asError(t, err, Untrusted, ReasonReplay)
}

func TestFromRedirectReplayStoreDown(t *testing.T) {
	in := newIntake(t)
	in.Replay = failingReplay{}
	_, err := in.FromRedirect(context.Background(), signedSample(t))
	e := asError(t, err, Internal, ReasonReplayStore)
	if e.Err == nil {
		t.Error("the store's error is not kept")
	}
}

func TestIntakeMisconfigured(t *testing.T) {
	for _, c := range []struct {
		name  string
		tweak func(*Intake)
	}{
		{"no SSOURL", func(in *Intake) { in.SSOURL = "" }},
		{"no SPs", func(in *Intake) { in.SPs = nil }},
		{"no replay store", func(in *Intake) { in.Replay = nil }},
		{"negative skew", func(in *Intake) { in.Skew = -time.Second }},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := newIntake(t)
			c.tweak(in)
			_, err := in.FromRedirect(context.Background(), signedSample(t))
			asError(t, err, Internal, ReasonMisconfigured)
			_, err = in.FromPost(context.Background(), url.Values{})
			asError(t, err, Internal, ReasonMisconfigured)
		})
	}
	in := newIntake(t)
	in.SLOURL = ""
	_, err := in.LogoutFromRedirect(context.Background(), "")
	asError(t, err, Internal, ReasonMisconfigured)
}

func TestDecodeRedirectMessage(t *testing.T) {
	sample := mustUnescape(strings.TrimSpace(string(mustRead(huaweiDir + "/authnrequest-sample.urlenc"))))
	cases := []struct {
		name   string
		in     string
		max    int
		reason string
	}{
		{"sample", sample, 0, ""},
		{"sample with line breaks", sample[:76] + "\r\n" + sample[76:], 0, ""},
		{"sample at exactly its size", sample, len(sampleXMLForTables), ""},
		{"sample one byte over", sample, len(sampleXMLForTables) - 1, ReasonTooLarge},
		{"empty", "", 0, ReasonUndecodable},
		{"bad base64", "%%%", 0, ReasonUndecodable},
		{"base64 of nothing deflated", base64.StdEncoding.EncodeToString([]byte{3, 0}), 0, ReasonUndecodable},
		{"base64 too long for the cap", strings.Repeat("A", 4096), 100, ReasonTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := DecodeRedirectMessage(c.in, c.max)
			if c.reason == "" {
				if err != nil || string(out) != sampleXMLForTables {
					t.Fatalf("got %q, %v", out, err)
				}
				return
			}
			asError(t, err, Untrusted, c.reason)
		})
	}
}

// lowerHex lower-cases percent-escapes: the same decoded value, different
// bytes on the wire.
func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1] = lowerASCII(b[i+1])
			b[i+2] = lowerASCII(b[i+2])
		}
	}
	return string(b)
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

// alterSignature flips one bit of the Signature value.
func alterSignature(tb testing.TB, q string) string {
	i := strings.Index(q, "&Signature=")
	sig, _ := url.QueryUnescape(q[i+len("&Signature="):])
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		tb.Fatal(err)
	}
	raw[10] ^= 1
	return q[:i] + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(raw))
}

func logoutXML(tb testing.TB) string {
	return string(readFile(tb, samlreqDir+"/logoutrequest.xml"))
}

func mustRead(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return b
}

func mustUnescape(s string) string {
	v, err := url.QueryUnescape(s)
	if err != nil {
		panic(err)
	}
	return v
}
