package samlresp

import (
	"errors"
	"html"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/idp/user"
)

// FuzzWritePostForm: any RelayState and ACS either is refused with a typed
// error (and nothing written) or comes back out of the page exactly, with no
// markup injected and a CSP naming only the ACS origin.
func FuzzWritePostForm(f *testing.F) {
	for _, seed := range [][2]string{
		{`"><script>alert(1)</script>`, testACS},
		{"&amp;", "https://auth-intl.huaweicloud.com/authui/saml/SAMLAssertionConsumer"},
		{"中文 🚀", "http://127.0.0.1:8080/acs?x=1&y=<2>"},
		{"a\nb", "https://a.example;x/"},
		{"", "javascript:alert(1)"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, relayState, acs string) {
		w := httptest.NewRecorder()
		err := WritePostForm(w, acs, []byte("<x/>"), relayState)
		if err != nil {
			if !errors.Is(err, ErrInvalidACS) && !errors.Is(err, ErrInvalidRelayState) {
				t.Fatalf("untyped error: %v", err)
			}
			if w.Body.Len() != 0 {
				t.Fatal("page written despite the error")
			}
			return
		}
		body := w.Body.String()
		fields := formFields(body)
		if relayState != "" && (len(fields["RelayState"]) != 1 || fields["RelayState"][0] != relayState) {
			t.Fatalf("RelayState %q echoed as %q", relayState, fields["RelayState"])
		}
		if strings.Count(body, "<input") != len(fields["SAMLResponse"])+len(fields["RelayState"]) ||
			strings.Count(body, "<script") != 1 || strings.Count(body, "<form") != 1 {
			t.Fatalf("markup injected:\n%s", body)
		}
		start := strings.Index(body, `action="`) + len(`action="`)
		end := strings.Index(body[start:], `"`)
		if html.UnescapeString(body[start:start+end]) != acs {
			t.Fatalf("form action is not the ACS")
		}
		origin, _ := endpointOrigin(acs)
		if !strings.Contains(w.Header().Get("Content-Security-Policy"), "; form-action "+origin+"; base-uri") {
			t.Fatalf("CSP %q", w.Header().Get("Content-Security-Policy"))
		}
	})
}

// FuzzBuild: whatever the handoff token and the request carry, Build either
// refuses with a typed error or issues a response whose assertion signature
// verifies and carries the values unchanged.
func FuzzBuild(f *testing.F) {
	f.Add("a1b2c3d4e5f60718293a4b5c6d7e8f90", "Zhang San", "86-13800000000", "z@example.com", testReqID, "Sales")
	f.Add("x", "<&>\"'", "+852-61234567", "", "", "")
	f.Add("x\x00", "a\r\nb", "13800000000", "Name <z@example.com>", "_a b", "\xff")
	f.Add("张三", "ü", "1-2", "a@b", strings.Repeat("i", 257), "]]>")
	key := loadKey(f, "idp-current")
	f.Fuzz(func(t *testing.T, xaccount, name, mobile, email, inResponseTo, claim string) {
		b := &Builder{IssuerEntityID: testIdP, Key: key, Clock: func() time.Time { return fixedNow }, Rand: seededRand()}
		b.Profile, _ = HuaweiProfile().With(nil, nil, []AttributeRule{{Name: "dept", From: "claim:dept"}})
		req := huaweiRequest()
		req.InResponseTo = inResponseTo
		u := user.User{XAccountID: xaccount, Fields: map[string]string{user.Name: name, user.Mobile: mobile, user.Email: email},
			Extra: map[string]string{"dept": claim}, AuthTime: fixedNow.Add(-time.Minute)}
		r, err := b.Build(req, u)
		if err != nil {
			if !errors.Is(err, ErrInvalidUser) && !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		root := parseDoc(t, r.XML)
		if inResponseTo != "" && root.SelectAttrValue("InResponseTo", "") != inResponseTo {
			t.Fatalf("InResponseTo %q written as %q", inResponseTo, root.SelectAttrValue("InResponseTo", ""))
		}
		assertion := root.SelectElement("Assertion")
		if err := verifyGoxmldsig(t, assertion, key.Cert); err != nil {
			t.Fatalf("signature does not verify: %v", err)
		}
		values := map[string]string{}
		for _, a := range assertion.FindElements("./AttributeStatement/Attribute") {
			values[a.SelectAttrValue("Name", "")] = a.SelectElement("AttributeValue").Text()
		}
		for attrName, want := range map[string]string{"xUserId": xaccount, "name": name, "email": email, "dept": claim} {
			if values[attrName] != want {
				t.Fatalf("%s = %q, want %q", attrName, values[attrName], want)
			}
		}
	})
}

// FuzzProfileWith: operator config either is refused with ErrInvalidProfile
// or yields a valid profile with unique, non-empty names.
func FuzzProfileWith(f *testing.F) {
	f.Add("bpId", "partnerId", "email", "tenant", "", "acme")
	f.Add("name", "", "nope", "x", "claim:", "")
	f.Add("name", "email", "", "xUserId", "name", "v")
	f.Fuzz(func(t *testing.T, renameFrom, renameTo, drop, addName, addFrom, addValue string) {
		p, err := HuaweiProfile().With(map[string]string{renameFrom: renameTo}, []string{drop},
			[]AttributeRule{{Name: addName, From: addFrom, Value: addValue}})
		if err != nil {
			if !errors.Is(err, ErrInvalidProfile) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("With returned an invalid profile: %v", err)
		}
		seen := map[string]bool{}
		for _, a := range p.Attributes {
			if strings.TrimSpace(a.Name) == "" || seen[a.Name] {
				t.Fatalf("bad or duplicate name %q", a.Name)
			}
			seen[a.Name] = true
		}
	})
}
