package samlresp

import (
	"bytes"
	"crypto"
	"errors"
	"io"
	"testing"

	"github.com/beevik/etree"
	"github.com/partneridp/partneridp/idp/user"
	"github.com/partneridp/partneridp/metadata"
	dsig "github.com/russellhaering/goxmldsig"
)

// TestBuildThroughSignerSlot: with Builder.Signer set, the slot's current
// Signer signs and its certificate goes into KeyInfo; a swap takes effect
// on the next document, and Key is not used.
func TestBuildThroughSignerSlot(t *testing.T) {
	cur, next := loadKey(t, "idp-current"), loadKey(t, "idp-next")
	curSigner, err := metadata.NewKeySigner(cur)
	if err != nil {
		t.Fatal(err)
	}
	nextSigner, err := metadata.NewKeySigner(next)
	if err != nil {
		t.Fatal(err)
	}
	slot, err := metadata.NewSignerSlot(curSigner)
	if err != nil {
		t.Fatal(err)
	}
	b := testBuilder(t)
	b.Key = metadata.SigningKey{} // the slot alone signs
	b.Signer = slot
	b.SignResponse = true

	for _, step := range []struct {
		name string
		key  metadata.SigningKey
	}{{"current", cur}, {"after swap", next}} {
		if step.name == "after swap" {
			if _, err := slot.Swap(nextSigner); err != nil {
				t.Fatal(err)
			}
		}
		r, err := b.Build(huaweiRequest(), testUser())
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if out, ok := verifyXMLSec(t, r.XML, step.key.Cert, idAttrAssertion, r.AssertionID); !ok {
			t.Errorf("%s: xmlsec1 refused the assertion:\n%s", step.name, out)
		}
		if out, ok := verifyXMLSec(t, r.XML, step.key.Cert, idAttrResponse, r.ResponseID); !ok {
			t.Errorf("%s: xmlsec1 refused the response:\n%s", step.name, out)
		}
		if !bytes.Contains(r.XML, []byte(b64(step.key.Cert.Raw))) {
			t.Errorf("%s: KeyInfo does not carry the signer's certificate", step.name)
		}
	}
	if _, err := b.BuildError(huaweiRequest(), StatusNoPassive, ""); err != nil {
		t.Errorf("BuildError through the slot: %v", err)
	}
	if _, err := b.LogoutResponseRedirectURL(huaweiSP(), testReqID, "", ""); err != nil {
		t.Errorf("LogoutResponse through the slot: %v", err)
	}
}

type failingSigner struct{ metadata.Signer }

var errHSM = errors.New("hsm unavailable")

func (failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) { return nil, errHSM }

type fixedSource struct{ s metadata.Signer }

func (f fixedSource) Current() metadata.Signer { return f.s }

func TestBuildSignerErrors(t *testing.T) {
	good, err := metadata.NewKeySigner(loadKey(t, "idp-current"))
	if err != nil {
		t.Fatal(err)
	}
	b := testBuilder(t)
	b.Signer = fixedSource{failingSigner{good}}
	if _, err := b.Build(huaweiRequest(), testUser()); !errors.Is(err, errHSM) {
		t.Errorf("failing signer: err = %v, want it wrapped", err)
	}
	b.Signer = fixedSource{nil}
	if _, err := b.Build(huaweiRequest(), testUser()); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("empty source: err = %v, want ErrInvalidConfig", err)
	}
}

// TestCanonicalFormMatchesGoxmldsig: the canonical bytes we digest are
// those goxmldsig's exc-c14n computes from the parsed document, for values
// full of characters that escape differently in documents and in c14n.
// xmlsec1 then checks the same document independently.
func TestCanonicalFormMatchesGoxmldsig(t *testing.T) {
	key := loadKey(t, "idp-current")
	sp := huaweiSP()
	acs := `https://auth.huaweicloud.com/acs?a=1&b='2'&c="3">`
	sp.ACS[0].Location = acs
	req := Request{SP: sp, ACS: acs, InResponseTo: `_id&<>"'x`, SPNameQualifier: testSPID}
	u := testUser()
	u.Set(user.Name, `<"Zhang" & 'San'> ü 中文 🙂`)
	u.Set(user.BPID, `a"b'c<d>e&f`)
	b := testBuilder(t)
	b.SignResponse = true
	r, err := b.Build(req, u)
	if err != nil {
		t.Fatal(err)
	}
	if out, ok := verifyXMLSec(t, r.XML, key.Cert, idAttrAssertion, r.AssertionID); !ok {
		t.Errorf("xmlsec1 refused the assertion:\n%s", out)
	}
	if out, ok := verifyXMLSec(t, r.XML, key.Cert, idAttrResponse, r.ResponseID); !ok {
		t.Errorf("xmlsec1 refused the response:\n%s", out)
	}
	root := parseDoc(t, r.XML)
	for _, e := range []*etree.Element{child(t, root, nsAssertion, "Assertion"), root} {
		if err := verifyGoxmldsig(t, e, key.Cert); err != nil {
			t.Errorf("goxmldsig refused %s: %v", e.Tag, err)
		}
	}

	// The same tree, canonicalised both ways without its signatures.
	s, err := b.settings()
	if err != nil {
		t.Fatal(err)
	}
	out := &Response{AssertionID: "_a", NameID: "_n", SessionIndex: "s&<\"", NotOnOrAfter: fixedNow}
	a := s.assertion(out, req, u, metadata.NameIDFormatTransient)
	resp := s.statusResponse("saml2p:Response", "_r", acs, req.InResponseTo)
	resp.add(a)
	for _, n := range []*node{a, resp} {
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(resp.document()); err != nil {
			t.Fatal(err)
		}
		target := doc.Root()
		if n == a {
			target = target.SelectElement("Assertion")
		}
		want, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(target)
		if err != nil {
			t.Fatal(err)
		}
		if got := n.canonical(nil, nil); !bytes.Equal(got, want) {
			t.Errorf("%s canonical form differs from goxmldsig's\ngot:  %s\nwant: %s", n.name, got, want)
		}
	}
}
