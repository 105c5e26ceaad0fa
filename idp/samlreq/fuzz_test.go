package samlreq

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// Every refusal is an *Error with a kind and a reason; nothing panics.
func checkRefusal(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Kind == 0 || e.Reason == "" || e.Msg == "" {
		t.Fatalf("refusal is not a complete *Error: %#v", err)
	}
}

func FuzzDecodeRedirectMessage(f *testing.F) {
	sample := mustUnescape(strings.TrimSpace(string(mustRead(huaweiDir + "/authnrequest-sample.urlenc"))))
	f.Add(sample, 0)
	f.Add(sample, 100)
	f.Add("", 0)
	f.Add("AwA=", 0)
	f.Add(mustUnescape(deflateEncode(f, strings.Repeat("A", 1<<17))), 0)
	f.Fuzz(func(t *testing.T, v string, max int) {
		max %= 1 << 20
		out, err := DecodeRedirectMessage(v, max)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		limit := max
		if limit <= 0 {
			limit = DefaultMaxInflated
		}
		if len(out) == 0 || len(out) > limit {
			t.Fatalf("decoded %d bytes with cap %d", len(out), limit)
		}
	})
}

func FuzzParseAuthnRequestXML(f *testing.F) {
	f.Add(sampleXMLForTables)
	f.Add(string(mustRead(samlreqDir + "/post-authnrequest-signed.xml")))
	f.Add(string(mustRead(samlreqDir + "/logoutrequest.xml")))
	f.Add(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>`)
	f.Add(strings.Replace(sampleXMLForTables, `/</saml2:Issuer>`, `/<!---->x</saml2:Issuer>`, 1))
	f.Add(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="a" ID="b"/>`)
	f.Fuzz(func(t *testing.T, doc string) {
		m, err := parseAuthnRequestXML([]byte(doc))
		if err != nil {
			checkRefusal(t, err)
		} else if m == nil {
			t.Fatal("nil message without error")
		}
		if err == nil && strings.Contains(doc, "<!DOCTYPE") {
			t.Fatal("a DOCTYPE was accepted")
		}
		if _, err := parseLogoutRequestXML([]byte(doc)); err != nil {
			checkRefusal(t, err)
		}
	})
}

func FuzzFromRedirect(f *testing.F) {
	f.Add(signedSample(f))
	f.Add(signedXML(f, logoutXML(f)))
	f.Add(redirect{SAMLRequest: sampleRaw(f), NoRelay: true, Key: loadKey(f, "sp-test").Key}.query(f))
	f.Add("SAMLRequest=&SigAlg=&Signature=")
	f.Add("SAMLRequest=a&SAMLRequest=b")
	in := newIntake(f)
	f.Fuzz(func(t *testing.T, rawQuery string) {
		in := *in
		in.Replay = newMemReplay()
		req, err := in.FromRedirect(context.Background(), rawQuery)
		if err != nil {
			checkRefusal(t, err)
		} else {
			checkAccepted(t, req)
		}
		lr, err := in.LogoutFromRedirect(context.Background(), rawQuery)
		if err != nil {
			checkRefusal(t, err)
		} else if lr.NameID == "" || lr.SP == nil {
			t.Fatalf("incomplete LogoutRequest %+v", lr)
		}
	})
}

func FuzzFromPost(f *testing.F) {
	f.Add(string(mustRead(samlreqDir+"/post-authnrequest-signed.xml")), "relay")
	f.Add(sampleXMLForTables, "")
	f.Fuzz(func(t *testing.T, doc, relayState string) {
		in := newIntake(t)
		req, err := in.FromPost(context.Background(), postForm([]byte(doc), relayState))
		if err != nil {
			checkRefusal(t, err)
			return
		}
		checkAccepted(t, req)
		if req.RelayState != relayState {
			t.Fatalf("RelayState %q became %q", relayState, req.RelayState)
		}
	})
}
