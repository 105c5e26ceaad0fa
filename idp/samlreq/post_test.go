package samlreq

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"

	dsig "github.com/russellhaering/goxmldsig"

	"github.com/partneridp/partneridp/metadata"
	"github.com/partneridp/partneridp/metadata/xmlsectest"
)

const authnRequestIDAttr = "urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest"

// signedPostSample is Huawei's sample AuthnRequest with an enveloped
// signature by the test SP: the golden file testdata/samlreq/post-authnrequest-signed.xml.
func signedPostSample(tb testing.TB) []byte {
	return signEnveloped(tb, sampleXMLForTables, loadKey(tb, "sp-test"), dsig.RSASHA256SignatureMethod)
}

func TestPostGolden(t *testing.T) {
	doc := signedPostSample(t)
	golden(t, "post-authnrequest-signed.xml", doc)
	// An implementation we did not write agrees the fixture is signed.
	if xmlsectest.Have(t, "xmlsec1") {
		if out, ok := xmlsectest.Verify(t, doc, loadKey(t, "sp-test").Cert, authnRequestIDAttr); !ok {
			t.Fatalf("xmlsec1 refuses the signed fixture:\n%s", out)
		}
	}
}

func TestFromPost(t *testing.T) {
	testCert := func(tb testing.TB) testKey { return loadKey(tb, "sp-test") }
	tamper := func(old, new string) func(testing.TB) []byte {
		return func(tb testing.TB) []byte {
			doc := signedPostSample(tb)
			if !bytes.Contains(doc, []byte(old)) {
				tb.Fatalf("signed sample has no %q", old)
			}
			return bytes.Replace(doc, []byte(old), []byte(new), 1)
		}
	}
	signDoc := func(doc string, key string, method string) func(testing.TB) []byte {
		return func(tb testing.TB) []byte { return signEnveloped(tb, doc, loadKey(tb, key), method) }
	}
	cases := []struct {
		name    string
		doc     func(testing.TB) []byte
		form    func(testing.TB) url.Values // overrides doc
		tweak   func(*Intake)
		kind    Kind
		reason  string
		sha1    bool // accepted with the SHA-1 warning
		xmlsecN bool // xmlsec1 must agree with our verdict on this document
	}{
		{name: "signed by the test SP", doc: signedPostSample, xmlsecN: true},
		{name: "rsa-sha512", doc: signDoc(sampleXMLForTables, "sp-test", dsig.RSASHA512SignatureMethod), xmlsecN: true},
		{name: "rsa-sha1 when allowed", doc: signDoc(sampleXMLForTables, "sp-test", dsig.RSASHA1SignatureMethod),
			tweak: func(in *Intake) { in.Policy.AllowSHA1 = true }, sha1: true},
		{name: "signed by xmlsec1", doc: fixture("post-authnrequest-xmlsec1-sha256.xml"), xmlsecN: true},
		{name: "signed by xmlsec1 with a sha1 digest, when allowed", doc: fixture("post-authnrequest-xmlsec1-sha1digest.xml"),
			tweak: func(in *Intake) { in.Policy.AllowSHA1 = true }, sha1: true},
		{name: "sha1 digest refused by default", doc: fixture("post-authnrequest-xmlsec1-sha1digest.xml"),
			kind: Untrusted, reason: ReasonSigAlgNotAllowed},

		{name: "unsigned (Huawei's sample as is)", doc: func(testing.TB) []byte { return []byte(sampleXMLForTables) },
			kind: Untrusted, reason: ReasonSignatureMissing},
		{name: "ACS swapped for another metadata ACS after signing", doc: tamper(huaweiACS+`"`, huaweiAltACS+`"`),
			kind: Untrusted, reason: ReasonBadSignature, xmlsecN: true},
		{name: "Issuer text changed after signing", doc: tamper(`/</saml2:Issuer>`, `/x</saml2:Issuer>`),
			kind: Untrusted, reason: ReasonUnknownIssuer},
		{name: "IsPassive changed after signing", doc: tamper(`IsPassive="false"`, `IsPassive="true"`),
			kind: Untrusted, reason: ReasonBadSignature, xmlsecN: true},
		{name: "SignatureValue altered", doc: func(tb testing.TB) []byte {
			doc := signedPostSample(tb)
			i := bytes.Index(doc, []byte("SignatureValue>")) + len("SignatureValue>")
			doc = bytes.Clone(doc)
			doc[i+5] = flipBase64(doc[i+5])
			return doc
		}, kind: Untrusted, reason: ReasonBadSignature, xmlsecN: true},
		{name: "signed by sp-other", doc: signDoc(sampleXMLForTables, "sp-other", dsig.RSASHA256SignatureMethod),
			kind: Untrusted, reason: ReasonBadSignature, xmlsecN: true},
		{name: "rsa-sha1 refused by default", doc: signDoc(sampleXMLForTables, "sp-test", dsig.RSASHA1SignatureMethod),
			kind: Untrusted, reason: ReasonSigAlgNotAllowed},
		{name: "rsa-sha384 not on the allow-list", doc: signDoc(sampleXMLForTables, "sp-test", dsig.RSASHA384SignatureMethod),
			kind: Untrusted, reason: ReasonSigAlgNotAllowed},
		{name: "signature wrapped inside another AuthnRequest", doc: func(tb testing.TB) []byte {
			signed := signedPostSample(tb)
			inner := strings.TrimPrefix(string(signed), `<?xml version="1.0" encoding="UTF-8"?>`)
			evil := strings.Replace(sampleXMLForTables, samplePolicyEl, `<saml2p:Extensions>`+inner+`</saml2p:Extensions>`, 1)
			evil = strings.Replace(evil, sampleID, "_evil", 1)
			return []byte(strings.Replace(evil, huaweiACS+`"`, huaweiAltACS+`"`, 1))
		}, kind: Untrusted, reason: ReasonSignatureWrapping},
		{name: "valid signature nested below the root (XML-DSig accepts it, the SAML profile does not)", doc: func(tb testing.TB) []byte {
			withExt := strings.Replace(sampleXMLForTables, sampleIssuerEl, sampleIssuerEl+"<saml2p:Extensions></saml2p:Extensions>", 1)
			signed := string(signEnveloped(tb, withExt, testCert(tb), dsig.RSASHA256SignatureMethod))
			i := strings.Index(signed, "<ds:Signature")
			j := strings.Index(signed, "</ds:Signature>") + len("</ds:Signature>")
			sig := signed[i:j]
			moved := signed[:i] + signed[j:]
			return []byte(strings.Replace(moved, "<saml2p:Extensions/>", "<saml2p:Extensions>"+sig+"</saml2p:Extensions>", 1))
		}, kind: Untrusted, reason: ReasonSignatureWrapping},
		{name: "two signatures", doc: func(tb testing.TB) []byte {
			signed := string(signedPostSample(tb))
			i := strings.Index(signed, "<ds:Signature")
			j := strings.Index(signed, "</ds:Signature>") + len("</ds:Signature>")
			return []byte(signed[:j] + signed[i:j] + signed[j:])
		}, kind: Untrusted, reason: ReasonSignatureWrapping},
		{name: "Reference to another ID", doc: func(tb testing.TB) []byte {
			doc := strings.Replace(sampleXMLForTables, sampleID, "_other", 1)
			signed := string(signEnveloped(tb, doc, testCert(tb), dsig.RSASHA256SignatureMethod))
			return []byte(strings.Replace(signed, `ID="_other"`, `ID="`+sampleID+`"`, 1))
		}, kind: Untrusted, reason: ReasonSignatureWrapping},
		{name: "Reference URI empty (whole document) instead of #ID", doc: func(tb testing.TB) []byte {
			return signEnveloped(tb, sampleXMLForTables, testCert(tb), dsig.RSASHA256SignatureMethod,
				func(c *dsig.SigningContext) { c.IdAttribute = "NoSuchAttribute" })
		}, kind: Untrusted, reason: ReasonSignatureWrapping},
		{name: "missing Issuer", doc: func(tb testing.TB) []byte {
			return signEnveloped(tb, strings.Replace(sampleXMLForTables, sampleIssuerEl, "<saml2p:Extensions/>", 1), testCert(tb), dsig.RSASHA256SignatureMethod)
		}, kind: Untrusted, reason: ReasonMissingIssuer},
		{name: "signed but ACS not in metadata", doc: func(tb testing.TB) []byte {
			return signEnveloped(tb, strings.Replace(sampleXMLForTables, huaweiACS, "https://evil.example/acs", 1), testCert(tb), dsig.RSASHA256SignatureMethod)
		}, kind: Untrusted, reason: ReasonACSMismatch},
		{name: "signed but stale", doc: func(tb testing.TB) []byte {
			return signEnveloped(tb, strings.Replace(sampleXMLForTables, sampleInstant, "2018-11-26T08:00:00Z", 1), testCert(tb), dsig.RSASHA256SignatureMethod)
		}, kind: Untrusted, reason: ReasonExpired},
		{name: "DTD", doc: func(tb testing.TB) []byte {
			return []byte(strings.Replace(string(signedPostSample(tb)), `?>`, `?><!DOCTYPE x [<!ENTITY e "e">]>`, 1))
		}, kind: Untrusted, reason: ReasonDTD},

		{name: "no SAMLRequest field", form: func(testing.TB) url.Values { return url.Values{"RelayState": {"x"}} },
			kind: Untrusted, reason: ReasonNoMessage},
		{name: "SAMLRequest twice", form: func(tb testing.TB) url.Values {
			f := postForm(signedPostSample(tb), "")
			f.Add("SAMLRequest", f.Get("SAMLRequest"))
			return f
		}, kind: Untrusted, reason: ReasonDuplicateParam},
		{name: "RelayState twice", form: func(tb testing.TB) url.Values {
			f := postForm(signedPostSample(tb), "a")
			f.Add("RelayState", "b")
			return f
		}, kind: Untrusted, reason: ReasonDuplicateParam},
		{name: "RelayState too long", form: func(tb testing.TB) url.Values {
			return postForm(signedPostSample(tb), strings.Repeat("r", maxRelayState+1))
		}, kind: Untrusted, reason: ReasonMalformedQuery},
		{name: "SAMLRequest not base64", form: func(testing.TB) url.Values { return url.Values{"SAMLRequest": {"<xml/>"}} },
			kind: Untrusted, reason: ReasonUndecodable},
		{name: "SAMLRequest over the cap", form: func(tb testing.TB) url.Values { return postForm(signedPostSample(tb), "") },
			tweak: func(in *Intake) { in.MaxInflated = 512 }, kind: Untrusted, reason: ReasonTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := newIntake(t)
			if c.tweak != nil {
				c.tweak(in)
			}
			var form url.Values
			if c.form != nil {
				form = c.form(t)
			} else {
				doc := c.doc(t)
				form = postForm(doc, relayStateValue)
				if c.xmlsecN && xmlsectest.Have(t, "xmlsec1") {
					out, ok := xmlsectest.Verify(t, doc, loadKey(t, "sp-test").Cert, authnRequestIDAttr)
					if ok != (c.kind == 0) {
						t.Errorf("xmlsec1 says %v, we say %v:\n%s", ok, c.kind == 0, out)
					}
				}
			}
			req, err := in.FromPost(context.Background(), form)
			if c.kind == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				checkAccepted(t, req)
				if req.SAMLBinding != metadata.SAMLBindingHTTPPost || req.RelayState != relayStateValue || req.ID != sampleID ||
					req.ACS.Location != huaweiACS || req.NameIDFormat != metadata.NameIDFormatTransient {
					t.Errorf("request: %+v", req)
				}
				if req.SHA1Warning != c.sha1 {
					t.Errorf("SHA1Warning = %v, want %v", req.SHA1Warning, c.sha1)
				}
				return
			}
			asError(t, err, c.kind, c.reason)
			if n := len(in.Replay.(*memReplay).seen); n != 0 {
				t.Errorf("a refused request spent an ID")
			}
		})
	}
}

func TestFromPostReplay(t *testing.T) {
	in := newIntake(t)
	form := postForm(signedPostSample(t), "")
	if _, err := in.FromPost(context.Background(), form); err != nil {
		t.Fatal(err)
	}
	_, err := in.FromPost(context.Background(), form)
	asError(t, err, Untrusted, ReasonReplay)
	// The same request by redirect afterwards is a replay too.
	_, err = in.FromRedirect(context.Background(), signedSample(t))
	asError(t, err, Untrusted, ReasonReplay)
}

func fixture(name string) func(testing.TB) []byte {
	return func(tb testing.TB) []byte { return readFile(tb, samlreqDir+"/"+name) }
}

func flipBase64(c byte) byte {
	if c == 'A' {
		return 'B'
	}
	return 'A'
}
