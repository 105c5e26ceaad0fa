package samlresp

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/partneridp/partneridp/idp/user"
	"github.com/partneridp/partneridp/internal/testtools"
	"github.com/partneridp/partneridp/metadata"
	"github.com/partneridp/partneridp/metadata/xmlsectest"
)

const (
	idAttrAssertion = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"
	idAttrResponse  = "urn:oasis:names:tc:SAML:2.0:protocol:Response"
	nsDSig          = "http://www.w3.org/2000/09/xmldsig#"
)

var idPattern = regexp.MustCompile(`^_[0-9a-f]{40}$`)

// child returns the only child element of el with namespace ns and local name tag.
func child(t *testing.T, el *etree.Element, ns, tag string) *etree.Element {
	t.Helper()
	var found *etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			if found != nil {
				t.Fatalf("%s has more than one %s", el.Tag, tag)
			}
			found = c
		}
	}
	if found == nil {
		t.Fatalf("%s has no {%s}%s child", el.Tag, ns, tag)
	}
	return found
}

// childTags lists el's child elements as "ns-prefix-free" local names, in order.
func childTags(el *etree.Element) []string {
	var tags []string
	for _, c := range el.ChildElements() {
		tags = append(tags, c.Tag)
	}
	return tags
}

func attr(t *testing.T, el *etree.Element, key string) string {
	t.Helper()
	a := el.SelectAttr(key)
	if a == nil {
		t.Fatalf("%s has no attribute %s", el.Tag, key)
	}
	return a.Value
}

func wantEqual(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestBuildSignaturesVerify(t *testing.T) {
	key := loadKey(t, "idp-current")
	for _, signResponse := range []bool{false, true} {
		t.Run(map[bool]string{false: "assertion only", true: "assertion and response"}[signResponse], func(t *testing.T) {
			b := testBuilder(t)
			b.SignResponse = signResponse
			r, err := b.Build(huaweiRequest(), testUser())
			if err != nil {
				t.Fatal(err)
			}
			// xmlsec1, an implementation we did not write, is the judge.
			if xmlsectest.Have(t, "xmlsec1") {
				if !signResponse {
					if out, ok := xmlsectest.Verify(t, r.XML, key.Cert, idAttrAssertion); !ok {
						t.Fatalf("xmlsec1 refused the assertion signature:\n%s", out)
					}
				}
			}
			if xmlsectest.Have(t, "xmlsec1") {
				if out, ok := verifyXMLSec(t, r.XML, key.Cert, idAttrAssertion, r.AssertionID); !ok {
					t.Fatalf("xmlsec1 refused the assertion signature:\n%s", out)
				}
			}
			if xmlsectest.Have(t, "xmlsec1") {
				if signResponse {
					if out, ok := xmlsectest.Verify(t, r.XML, key.Cert, idAttrResponse); !ok {
						t.Fatalf("xmlsec1 refused the response signature:\n%s", out)
					}
				}
			}

			root := parseDoc(t, r.XML)
			assertion := child(t, root, nsAssertion, "Assertion")
			if err := verifyGoxmldsig(t, assertion, key.Cert); err != nil {
				t.Errorf("goxmldsig refused the assertion in place: %v", err)
			}
			if signResponse {
				if err := verifyGoxmldsig(t, root, key.Cert); err != nil {
					t.Errorf("goxmldsig refused the response: %v", err)
				}
			} else if len(root.SelectElements("Signature")) != 0 {
				t.Error("the Response is signed although SignResponse is off")
			}
		})
	}
}

func TestBuildTamperedFails(t *testing.T) {
	key := loadKey(t, "idp-current")
	b := testBuilder(t)
	b.SignResponse = true
	r, err := b.Build(huaweiRequest(), testUser())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                    string
		from, to                string
		assertionOK, responseOK bool
	}{
		{"attribute value in the assertion", ">86-13800000000<", ">86-13900000000<", false, false},
		{"audience in the assertion", "<saml2:Audience>https://auth.huaweicloud.com/<", "<saml2:Audience>https://evil.example/<", false, false},
		{"response Destination only", `Destination="` + testACS, `Destination="https://evil.example/acs`, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(r.XML, []byte(tt.from)) {
				t.Fatalf("output lacks %q", tt.from)
			}
			bad := bytes.Replace(r.XML, []byte(tt.from), []byte(tt.to), 1)
			if xmlsectest.Have(t, "xmlsec1") {
				if out, ok := verifyXMLSec(t, bad, key.Cert, idAttrAssertion, r.AssertionID); ok != tt.assertionOK {
					t.Errorf("xmlsec1 assertion verdict %v, want %v:\n%s", ok, tt.assertionOK, out)
				}
			}
			if xmlsectest.Have(t, "xmlsec1") {
				if out, ok := xmlsectest.Verify(t, bad, key.Cert, idAttrResponse); ok != tt.responseOK {
					t.Errorf("xmlsec1 response verdict %v, want %v:\n%s", ok, tt.responseOK, out)
				}
			}
			root := parseDoc(t, bad)
			if err := verifyGoxmldsig(t, child(t, root, nsAssertion, "Assertion"), key.Cert); (err == nil) != tt.assertionOK {
				t.Errorf("goxmldsig assertion verdict %v, want %v", err, tt.assertionOK)
			}
		})
	}
	t.Run("other key", func(t *testing.T) {
		other := loadKey(t, "idp-next")
		if xmlsectest.Have(t, "xmlsec1") {
			if out, ok := verifyXMLSec(t, r.XML, other.Cert, idAttrAssertion, r.AssertionID); ok {
				t.Errorf("xmlsec1 accepted the signature with the wrong certificate:\n%s", out)
			}
		}
	})
}

func TestBuildGolden(t *testing.T) {
	errReq := huaweiRequest()
	tests := []struct {
		file  string
		build func(b *Builder) (*Response, error)
	}{
		{"response.golden.xml", func(b *Builder) (*Response, error) { return b.Build(huaweiRequest(), testUser()) }},
		{"response-signed.golden.xml", func(b *Builder) (*Response, error) {
			b.SignResponse = true
			return b.Build(huaweiRequest(), testUser())
		}},
		{"error-nopassive.golden.xml", func(b *Builder) (*Response, error) {
			return b.BuildError(errReq, StatusNoPassive, "no session and IsPassive was requested")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r, err := tt.build(testBuilder(t))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("..", "..", "testdata", "samlresp", tt.file)
			if *update {
				if err := os.WriteFile(path, r.XML, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(r.XML, want) {
				t.Errorf("%s differs from the golden file; if intended, rerun with -update\ngot:\n%s", tt.file, r.XML)
			}
		})
	}
}

func TestBuildStructure(t *testing.T) {
	b := testBuilder(t)
	u := testUser()
	r, err := b.Build(huaweiRequest(), u)
	if err != nil {
		t.Fatal(err)
	}
	for name, id := range map[string]string{"ResponseID": r.ResponseID, "AssertionID": r.AssertionID, "NameID": r.NameID} {
		if !idPattern.MatchString(id) {
			t.Errorf("%s %q is not _ and 40 hex digits", name, id)
		}
	}
	issued := "2027-03-14T09:26:53.589Z"
	expires := "2027-03-14T09:31:53.589Z" // issued + 5m default lifetime

	root := parseDoc(t, r.XML)
	if root.Tag != "Response" || root.NamespaceURI() != nsProtocol {
		t.Fatalf("root is {%s}%s", root.NamespaceURI(), root.Tag)
	}
	wantEqual(t, "Response ID", attr(t, root, "ID"), r.ResponseID)
	wantEqual(t, "Response Version", attr(t, root, "Version"), "2.0")
	wantEqual(t, "Response IssueInstant", attr(t, root, "IssueInstant"), issued)
	wantEqual(t, "Response Destination", attr(t, root, "Destination"), testACS)
	wantEqual(t, "Response InResponseTo", attr(t, root, "InResponseTo"), testReqID)
	wantEqual(t, "Response children", strings.Join(childTags(root), ","), "Issuer,Status,Assertion")
	wantEqual(t, "Response Issuer", child(t, root, nsAssertion, "Issuer").Text(), testIdP)
	status := child(t, child(t, root, nsProtocol, "Status"), nsProtocol, "StatusCode")
	wantEqual(t, "StatusCode", attr(t, status, "Value"), StatusSuccess)

	a := child(t, root, nsAssertion, "Assertion")
	wantEqual(t, "Assertion ID", attr(t, a, "ID"), r.AssertionID)
	wantEqual(t, "Assertion Version", attr(t, a, "Version"), "2.0")
	wantEqual(t, "Assertion IssueInstant", attr(t, a, "IssueInstant"), issued)
	// The schema order, with ds:Signature right after Issuer.
	wantEqual(t, "Assertion children", strings.Join(childTags(a), ","), "Issuer,Signature,Subject,Conditions,AuthnStatement,AttributeStatement")
	wantEqual(t, "Assertion Issuer", child(t, a, nsAssertion, "Issuer").Text(), testIdP)

	sig := child(t, a, nsDSig, "Signature")
	signedInfo := child(t, sig, nsDSig, "SignedInfo")
	wantEqual(t, "CanonicalizationMethod", attr(t, child(t, signedInfo, nsDSig, "CanonicalizationMethod"), "Algorithm"), "http://www.w3.org/2001/10/xml-exc-c14n#")
	wantEqual(t, "SignatureMethod", attr(t, child(t, signedInfo, nsDSig, "SignatureMethod"), "Algorithm"), "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
	ref := child(t, signedInfo, nsDSig, "Reference")
	wantEqual(t, "Reference URI", attr(t, ref, "URI"), "#"+r.AssertionID)
	wantEqual(t, "DigestMethod", attr(t, child(t, ref, nsDSig, "DigestMethod"), "Algorithm"), "http://www.w3.org/2001/04/xmlenc#sha256")
	var transforms []string
	for _, tr := range child(t, ref, nsDSig, "Transforms").ChildElements() {
		transforms = append(transforms, attr(t, tr, "Algorithm"))
	}
	wantEqual(t, "Transforms", strings.Join(transforms, " "), "http://www.w3.org/2000/09/xmldsig#enveloped-signature http://www.w3.org/2001/10/xml-exc-c14n#")
	certB64 := child(t, child(t, child(t, sig, nsDSig, "KeyInfo"), nsDSig, "X509Data"), nsDSig, "X509Certificate").Text()
	wantEqual(t, "KeyInfo certificate", certB64, b64(b.Key.Cert.Raw))

	subject := child(t, a, nsAssertion, "Subject")
	nameID := child(t, subject, nsAssertion, "NameID")
	wantEqual(t, "NameID Format", attr(t, nameID, "Format"), metadata.NameIDFormatTransient)
	wantEqual(t, "NameID SPNameQualifier", attr(t, nameID, "SPNameQualifier"), testSPID)
	wantEqual(t, "NameID value", nameID.Text(), r.NameID)
	sc := child(t, subject, nsAssertion, "SubjectConfirmation")
	wantEqual(t, "SubjectConfirmation Method", attr(t, sc, "Method"), "urn:oasis:names:tc:SAML:2.0:cm:bearer")
	scd := child(t, sc, nsAssertion, "SubjectConfirmationData")
	wantEqual(t, "SubjectConfirmationData Recipient", attr(t, scd, "Recipient"), testACS)
	wantEqual(t, "SubjectConfirmationData InResponseTo", attr(t, scd, "InResponseTo"), testReqID)
	wantEqual(t, "SubjectConfirmationData NotOnOrAfter", attr(t, scd, "NotOnOrAfter"), expires)
	if scd.SelectAttr("NotBefore") != nil {
		t.Error("bearer SubjectConfirmationData must not carry NotBefore")
	}

	cond := child(t, a, nsAssertion, "Conditions")
	wantEqual(t, "Conditions NotBefore", attr(t, cond, "NotBefore"), "2027-03-14T09:23:53.589Z") // issued - 3m skew
	wantEqual(t, "Conditions NotOnOrAfter", attr(t, cond, "NotOnOrAfter"), expires)
	wantEqual(t, "Audience", child(t, child(t, cond, nsAssertion, "AudienceRestriction"), nsAssertion, "Audience").Text(), testSPID)

	authn := child(t, a, nsAssertion, "AuthnStatement")
	wantEqual(t, "AuthnInstant", attr(t, authn, "AuthnInstant"), "2027-03-14T09:25:23.589Z")
	wantEqual(t, "SessionIndex", attr(t, authn, "SessionIndex"), "sess-0001")
	wantEqual(t, "AuthnContextClassRef", child(t, child(t, authn, nsAssertion, "AuthnContext"), nsAssertion, "AuthnContextClassRef").Text(), AuthnContextPasswordProtectedTransport)

	wantEqual(t, "Response.NotOnOrAfter", r.NotOnOrAfter.Format(TimeFormat), expires)
	wantEqual(t, "Response.SessionIndex", r.SessionIndex, "sess-0001")
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// attributes returns the AttributeStatement as name → values, checking the
// NameFormat and the xs:string typing of every value on the way.
func attributes(t *testing.T, xml []byte) (names []string, values map[string][]string) {
	t.Helper()
	root := parseDoc(t, xml)
	a := child(t, root, nsAssertion, "Assertion")
	values = map[string][]string{}
	statements := a.SelectElements("AttributeStatement")
	if len(statements) == 0 {
		return nil, values
	}
	for _, at := range statements[0].ChildElements() {
		name := attr(t, at, "Name")
		wantEqual(t, name+" NameFormat", attr(t, at, "NameFormat"), AttrNameFormatURI)
		names = append(names, name)
		for _, v := range at.ChildElements() {
			typ := v.SelectAttr("type")
			if typ == nil || typ.Space == "" || typ.NamespaceURI() != nsXSI {
				t.Fatalf("%s value has no xsi:type", name)
			}
			prefix, local, _ := strings.Cut(typ.Value, ":")
			if local != "string" || lookupNamespace(v, prefix) != nsXS {
				t.Errorf("%s value type %q does not resolve to xs:string", name, typ.Value)
			}
			values[name] = append(values[name], v.Text())
		}
	}
	return names, values
}

// lookupNamespace resolves prefix in el's scope.
func lookupNamespace(el *etree.Element, prefix string) string {
	for e := el; e != nil; e = e.Parent() {
		if a := e.SelectAttr("xmlns:" + prefix); a != nil {
			return a.Value
		}
	}
	return ""
}

func TestBuildHuaweiAttributes(t *testing.T) {
	tests := []struct {
		name      string
		user      func(u *user.User)
		wantNames string
		want      map[string]string
	}{
		{"all known", func(u *user.User) {}, "xUserId,xAccountId,name,mobile,email,bpId", map[string]string{
			"xUserId": "a1b2c3d4e5f60718293a4b5c6d7e8f90", "xAccountId": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
			"name": "Zhang San & Co <Ltd>", "mobile": "86-13800000000", "email": "zhang.san@example.com",
			"bpId": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}},
		{"only xaccount_id known", func(u *user.User) { u.Fields = nil },
			"xUserId,xAccountId", map[string]string{"xUserId": "a1b2c3d4e5f60718293a4b5c6d7e8f90"}},
		{"mobile with plus", func(u *user.User) { u.Set(user.Mobile, "+852-61234567") }, "xUserId,xAccountId,name,mobile,email,bpId",
			map[string]string{"mobile": "852-61234567"}},
		{"unicode name", func(u *user.User) { u.Set(user.Name, "张三 “引号” ✓") }, "xUserId,xAccountId,name,mobile,email,bpId",
			map[string]string{"name": "张三 “引号” ✓"}},
		{"markup in values", func(u *user.User) { u.Set(user.Name, `O'Brien "Q" > x ]]>`); u.Set(user.BPID, `<bp id="1"/>`) }, "xUserId,xAccountId,name,mobile,email,bpId",
			map[string]string{"name": `O'Brien "Q" > x ]]>`, "bpId": `<bp id="1"/>`}},
	}
	key := loadKey(t, "idp-current")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := testUser()
			tt.user(&u)
			r, err := testBuilder(t).Build(huaweiRequest(), u)
			if err != nil {
				t.Fatal(err)
			}
			names, values := attributes(t, r.XML)
			wantEqual(t, "attribute names", strings.Join(names, ","), tt.wantNames)
			for name, want := range tt.want {
				if len(values[name]) != 1 || values[name][0] != want {
					t.Errorf("%s = %q, want [%q]", name, values[name], want)
				}
			}
			if err := verifyGoxmldsig(t, child(t, parseDoc(t, r.XML), nsAssertion, "Assertion"), key.Cert); err != nil {
				t.Errorf("goxmldsig: %v", err)
			}
			if xmlsectest.Have(t, "xmlsec1") {
				if out, ok := verifyXMLSec(t, r.XML, key.Cert, idAttrAssertion, r.AssertionID); !ok {
					t.Errorf("xmlsec1: %s", out)
				}
			}
		})
	}
}

func TestBuildValidityFromIssuance(t *testing.T) {
	// The request arrived long ago and the user logged in slowly: validity
	// still runs from the moment the assertion is issued.
	issued := time.Date(2027, 5, 1, 12, 0, 0, 0, time.UTC)
	b := testBuilder(t)
	b.Clock = func() time.Time { return issued }
	b.Lifetime = 2 * time.Minute
	b.Skew = 30 * time.Second
	u := testUser()
	u.AuthTime = issued.Add(-25 * time.Minute)
	r, err := b.Build(huaweiRequest(), u)
	if err != nil {
		t.Fatal(err)
	}
	a := child(t, parseDoc(t, r.XML), nsAssertion, "Assertion")
	cond := child(t, a, nsAssertion, "Conditions")
	wantEqual(t, "NotBefore", attr(t, cond, "NotBefore"), "2027-05-01T11:59:30.000Z")
	wantEqual(t, "NotOnOrAfter", attr(t, cond, "NotOnOrAfter"), "2027-05-01T12:02:00.000Z")
	scd := child(t, child(t, child(t, a, nsAssertion, "Subject"), nsAssertion, "SubjectConfirmation"), nsAssertion, "SubjectConfirmationData")
	wantEqual(t, "SubjectConfirmationData NotOnOrAfter", attr(t, scd, "NotOnOrAfter"), "2027-05-01T12:02:00.000Z")
	wantEqual(t, "AuthnInstant", attr(t, child(t, a, nsAssertion, "AuthnStatement"), "AuthnInstant"), "2027-05-01T11:35:00.000Z")
	if !r.NotOnOrAfter.Equal(issued.Add(2 * time.Minute)) {
		t.Errorf("Response.NotOnOrAfter = %v", r.NotOnOrAfter)
	}
}

func TestBuildFreshValues(t *testing.T) {
	b := &Builder{IssuerEntityID: testIdP, Key: loadKey(t, "idp-current")} // real clock and crypto/rand
	u := testUser()
	u.AuthTime = time.Now()
	req := huaweiRequest()
	req.SessionIndex = ""
	seen := map[string]bool{}
	for range 3 {
		r, err := b.Build(req, u)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{r.ResponseID, r.AssertionID, r.NameID, r.SessionIndex} {
			if !idPattern.MatchString(v) || seen[v] {
				t.Fatalf("value %q is malformed or repeated", v)
			}
			seen[v] = true
		}
		if !strings.Contains(string(r.XML), `SessionIndex="`+r.SessionIndex+`"`) {
			t.Error("the generated SessionIndex is not in the assertion")
		}
	}
}

func TestBuildNameIDFormats(t *testing.T) {
	tests := []struct {
		format, wantFormat string
		wantValue          func(r *Response) string
	}{
		{"", metadata.NameIDFormatTransient, func(r *Response) string { return r.NameID }},
		{metadata.NameIDFormatUnspecified, metadata.NameIDFormatUnspecified, func(r *Response) string { return r.NameID }},
		{metadata.NameIDFormatEmail, metadata.NameIDFormatEmail, func(*Response) string { return "zhang.san@example.com" }},
	}
	for _, tt := range tests {
		t.Run(tt.wantFormat, func(t *testing.T) {
			req := huaweiRequest()
			req.SP.NameIDFormats = nil // the SP lists none: any format it asks for is fine
			req.NameIDFormat = tt.format
			req.SPNameQualifier = ""
			r, err := testBuilder(t).Build(req, testUser())
			if err != nil {
				t.Fatal(err)
			}
			nameID := child(t, child(t, child(t, parseDoc(t, r.XML), nsAssertion, "Assertion"), nsAssertion, "Subject"), nsAssertion, "NameID")
			wantEqual(t, "Format", attr(t, nameID, "Format"), tt.wantFormat)
			wantEqual(t, "value", nameID.Text(), tt.wantValue(r))
			if nameID.SelectAttr("SPNameQualifier") != nil {
				t.Error("SPNameQualifier present although not requested")
			}
		})
	}
}

func TestBuildRefuses(t *testing.T) {
	current := loadKey(t, "idp-current")
	next := loadKey(t, "idp-next")
	tests := []struct {
		name    string
		builder func(b *Builder)
		req     func(r *Request)
		user    func(u *user.User)
		want    error
	}{
		{name: "no issuer", builder: func(b *Builder) { b.IssuerEntityID = "" }, want: ErrInvalidConfig},
		{name: "no key", builder: func(b *Builder) { b.Key.Key = nil }, want: ErrInvalidConfig},
		{name: "certificate of another key", builder: func(b *Builder) { b.Key.Cert = next.Cert }, want: ErrInvalidConfig},
		{name: "negative lifetime", builder: func(b *Builder) { b.Lifetime = -time.Minute }, want: ErrInvalidConfig},
		{name: "invalid profile", builder: func(b *Builder) {
			b.Profile = Profile{Name: "x", Attributes: []AttributeRule{{Name: "a", From: "nope"}}}
		}, want: ErrInvalidProfile},
		{name: "no SP", req: func(r *Request) { r.SP = nil }, want: ErrInvalidRequest},
		{name: "ACS not in metadata", req: func(r *Request) { r.ACS = "https://evil.example/acs" }, want: ErrInvalidRequest},
		{name: "empty ACS", req: func(r *Request) { r.ACS = "" }, want: ErrInvalidRequest},
		{name: "InResponseTo with space", req: func(r *Request) { r.InResponseTo = "_a b" }, want: ErrInvalidRequest},
		{name: "InResponseTo with newline", req: func(r *Request) { r.InResponseTo = "_a\nb" }, want: ErrInvalidRequest},
		{name: "InResponseTo too long", req: func(r *Request) { r.InResponseTo = "_" + strings.Repeat("a", 300) }, want: ErrInvalidRequest},
		{name: "persistent NameID", req: func(r *Request) { r.SP.NameIDFormats = nil; r.NameIDFormat = metadata.NameIDFormatPersistent }, want: ErrInvalidNameIDPolicy},
		{name: "format not in SP metadata", req: func(r *Request) { r.NameIDFormat = metadata.NameIDFormatEmail }, want: ErrInvalidNameIDPolicy},
		{name: "SPNameQualifier of another SP", req: func(r *Request) { r.SPNameQualifier = "https://other.example/" }, want: ErrInvalidNameIDPolicy},
		{name: "email NameID without email", req: func(r *Request) { r.SP.NameIDFormats = nil; r.NameIDFormat = metadata.NameIDFormatEmail },
			user: func(u *user.User) { u.Set(user.Email, "") }, want: ErrInvalidNameIDPolicy},
		{name: "no xaccount_id", user: func(u *user.User) { u.XAccountID = "" }, want: ErrInvalidUser},
		{name: "mobile without country code", user: func(u *user.User) { u.Set(user.Mobile, "13800000000") }, want: ErrInvalidUser},
		{name: "mobile with spaces", user: func(u *user.User) { u.Set(user.Mobile, "86 138 0000 0000") }, want: ErrInvalidUser},
		{name: "email with display name", user: func(u *user.User) { u.Set(user.Email, "Zhang <z@example.com>") }, want: ErrInvalidUser},
		{name: "email without domain", user: func(u *user.User) { u.Set(user.Email, "zhang") }, want: ErrInvalidUser},
		{name: "no AuthnInstant", user: func(u *user.User) { u.AuthTime = time.Time{} }, want: ErrInvalidUser},
		{name: "AuthnInstant in the future", user: func(u *user.User) { u.AuthTime = fixedNow.Add(10 * time.Minute) }, want: ErrInvalidUser},
		{name: "control character in name", user: func(u *user.User) { u.Set(user.Name, "a\x01b") }, want: ErrInvalidUser},
		{name: "newline in name", user: func(u *user.User) { u.Set(user.Name, "a\r\nb") }, want: ErrInvalidUser},
		{name: "invalid UTF-8 in xaccount_id", user: func(u *user.User) { u.XAccountID = "a\xffb" }, want: ErrInvalidUser},
		{name: "over-long name", user: func(u *user.User) { u.Set(user.Name, strings.Repeat("n", 1025)) }, want: ErrInvalidUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := testBuilder(t)
			b.Key = current
			req, u := huaweiRequest(), testUser()
			if tt.builder != nil {
				tt.builder(b)
			}
			if tt.req != nil {
				tt.req(&req)
			}
			if tt.user != nil {
				tt.user(&u)
			}
			r, err := b.Build(req, u)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if r != nil {
				t.Error("a response was issued along with the error")
			}
			for _, secret := range []string{u.XAccountID, u.Get(user.Email), "13800000000"} {
				if secret != "" && len(secret) > 3 && strings.Contains(err.Error(), secret) {
					t.Errorf("error message leaks user data: %v", err)
				}
			}
		})
	}
}

func TestBuildError(t *testing.T) {
	key := loadKey(t, "idp-current")
	tests := []struct {
		status, wantTop, wantSecond, msg string
	}{
		{StatusNoPassive, StatusResponder, StatusNoPassive, "no session and IsPassive was requested"},
		{StatusInvalidNameIDPolicy, StatusRequester, StatusInvalidNameIDPolicy, ""},
		{StatusResponder, StatusResponder, "", "internal error"},
		{StatusRequestDenied, StatusResponder, StatusRequestDenied, "account is not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			r, err := testBuilder(t).BuildError(huaweiRequest(), tt.status, tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if xmlsectest.Have(t, "xmlsec1") {
				if out, ok := xmlsectest.Verify(t, r.XML, key.Cert, idAttrResponse); !ok {
					t.Fatalf("xmlsec1 refused the error response signature:\n%s", out)
				}
			}
			root := parseDoc(t, r.XML)
			if err := verifyGoxmldsig(t, root, key.Cert); err != nil {
				t.Errorf("goxmldsig: %v", err)
			}
			wantEqual(t, "Reference URI", attr(t, root.FindElement("./Signature/SignedInfo/Reference"), "URI"), "#"+r.ResponseID)
			wantEqual(t, "children", strings.Join(childTags(root), ","), "Issuer,Signature,Status")
			if r.AssertionID != "" || root.FindElement("//Assertion") != nil || root.FindElement("//EncryptedAssertion") != nil {
				t.Error("an error response carries an assertion")
			}
			wantEqual(t, "Destination", attr(t, root, "Destination"), testACS)
			wantEqual(t, "InResponseTo", attr(t, root, "InResponseTo"), testReqID)
			status := child(t, root, nsProtocol, "Status")
			top := child(t, status, nsProtocol, "StatusCode")
			wantEqual(t, "top-level status", attr(t, top, "Value"), tt.wantTop)
			seconds := top.ChildElements()
			switch {
			case tt.wantSecond == "" && len(seconds) != 0:
				t.Errorf("unexpected second-level status %v", childTags(top))
			case tt.wantSecond != "":
				if len(seconds) != 1 {
					t.Fatalf("want one second-level status, got %d", len(seconds))
				}
				wantEqual(t, "second-level status", attr(t, seconds[0], "Value"), tt.wantSecond)
			}
			msgs := status.SelectElements("StatusMessage")
			if tt.msg == "" && len(msgs) != 0 || tt.msg != "" && (len(msgs) != 1 || msgs[0].Text() != tt.msg) {
				t.Errorf("StatusMessage = %v, want %q", msgs, tt.msg)
			}
		})
	}

	refusals := []struct {
		name, status, msg string
		req               func(r *Request)
		want              error
	}{
		{name: "success is not an error", status: StatusSuccess, want: ErrUnknownStatus},
		{name: "unknown status", status: "urn:example:status:Oops", want: ErrUnknownStatus},
		{name: "empty status", status: "", want: ErrUnknownStatus},
		{name: "ACS not in metadata", status: StatusNoPassive, req: func(r *Request) { r.ACS = "https://evil.example/" }, want: ErrInvalidRequest},
		{name: "control characters in message", status: StatusResponder, msg: "a\x00b", want: ErrInvalidRequest},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			req := huaweiRequest()
			if tt.req != nil {
				tt.req(&req)
			}
			r, err := testBuilder(t).BuildError(req, tt.status, tt.msg)
			if !errors.Is(err, tt.want) || r != nil {
				t.Fatalf("got %v, %v; want %v and no response", r, err, tt.want)
			}
		})
	}
}

// xsdCatalog maps the W3C schema URLs the SAML XSDs import to the copies in
// Debian's xmltooling-schemas, so xmllint can work offline (--nonet).
func xsdCatalog(t *testing.T) {
	t.Helper()
	const dsigXSD = "/usr/share/xml/xmltooling/xmldsig-core-schema.xsd"
	const xencXSD = "/usr/share/xml/xmltooling/xenc-schema.xsd"
	xmlsectest.Require(t, "xmllint")
	for _, f := range []string{dsigXSD, xencXSD, protocolXSD} {
		if _, ok := testtools.HaveFile(t, "saml-schemas", f); !ok {
			t.SkipNow()
		}
	}
	catalog := filepath.Join(t.TempDir(), "catalog.xml")
	doc := `<?xml version="1.0"?>
<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">
  <system systemId="http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd" uri="file://` + dsigXSD + `"/>
  <system systemId="http://www.w3.org/TR/2002/REC-xmlenc-core-20021210/xenc-schema.xsd" uri="file://` + xencXSD + `"/>
</catalog>
`
	if err := os.WriteFile(catalog, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XML_CATALOG_FILES", catalog)
}

const protocolXSD = "/usr/share/xml/opensaml/saml-schema-protocol-2.0.xsd"

func TestSchemaValid(t *testing.T) {
	xsdCatalog(t)
	signed := testBuilder(t)
	signed.SignResponse = true
	docs := map[string]func() (*Response, error){
		"assertion signed": func() (*Response, error) { return testBuilder(t).Build(huaweiRequest(), testUser()) },
		"both signed":      func() (*Response, error) { return signed.Build(huaweiRequest(), testUser()) },
		"error response": func() (*Response, error) {
			return testBuilder(t).BuildError(huaweiRequest(), StatusNoPassive, "no session")
		},
		"no optional attribs": func() (*Response, error) {
			return testBuilder(t).Build(huaweiRequest(), user.User{XAccountID: "x1", AuthTime: fixedNow})
		},
	}
	for name, build := range docs {
		t.Run(name, func(t *testing.T) {
			r, err := build()
			if err != nil {
				t.Fatal(err)
			}
			if out, ok := xmlsectest.ValidateSchema(t, r.XML, protocolXSD); !ok {
				t.Fatalf("xmllint: %s", out)
			}
		})
	}
	t.Run("signature out of place is caught", func(t *testing.T) {
		r, err := testBuilder(t).Build(huaweiRequest(), testUser())
		if err != nil {
			t.Fatal(err)
		}
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(r.XML); err != nil {
			t.Fatal(err)
		}
		a := doc.Root().SelectElement("Assertion")
		sig := a.SelectElement("Signature")
		a.RemoveChild(sig)
		a.AddChild(sig) // where goxmldsig's SignEnveloped would put it
		bad, _ := doc.WriteToBytes()
		if out, ok := xmlsectest.ValidateSchema(t, bad, protocolXSD); ok {
			t.Fatalf("xmllint accepted a Signature after AttributeStatement: %s", out)
		}
	})
}
