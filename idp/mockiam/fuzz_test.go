package mockiam

import (
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/partneridp/partneridp/metadata"
)

// FuzzACS feeds the ACS checks arbitrary SAMLResponse and RelayState
// values against one outstanding request. A refusal must be a *Refusal with
// a reason and a 400/403 status; an acceptance must be exactly the login
// the test IdP signed.
func FuzzACS(f *testing.F) {
	clock := newTestClock()
	spKey := loadKey(f, "sp-test")
	idp := newTestIdP(f, loadKey(f, "idp-current"), spKey.Cert, clock)
	m, err := New(Config{
		BaseURL: "https://iam.mock.test", Key: spKey, Clock: clock.Now, Rand: seededRand(3),
		Logger: slog.New(slog.DiscardHandler),
		IdPs:   map[string]IdPRegistration{xat: {MetadataFile: idp.writeMetadata(f, true)}},
	})
	if err != nil {
		f.Fatal(err)
	}
	location, _, err := m.startLogin(f.Context(), LoginLink{XAccountType: xat})
	if err != nil {
		f.Fatal(err)
	}
	req, err := idp.receive(location)
	if err != nil {
		f.Fatal(err)
	}
	good := idp.goodSpec(req)
	goodXML := idp.build(good)
	if _, err := m.checkResponse(base64.StdEncoding.EncodeToString(goodXML), req.RelayState, true); err != nil {
		f.Fatalf("the seed Response is refused: %v", err)
	}
	f.Add(base64.StdEncoding.EncodeToString(goodXML), req.RelayState)
	f.Add(string(goodXML), req.RelayState)
	for _, spoil := range []func(*responseSpec){
		func(s *responseSpec) { s.Unsigned = true },
		func(s *responseSpec) { s.Audience = "https://auth.huaweicloud.com/" },
		func(s *responseSpec) {
			s.AfterSign = func(resp, a *etree.Element) {
				evil := a.Copy()
				evil.CreateAttr("ID", "_evil")
				resp.AddChild(evil)
			}
		},
	} {
		spec := idp.goodSpec(req)
		spoil(spec)
		f.Add(base64.StdEncoding.EncodeToString(idp.build(spec)), req.RelayState)
	}

	f.Fuzz(func(t *testing.T, samlResponse, relayState string) {
		l, err := m.checkResponse(samlResponse, relayState, true)
		if err != nil {
			var rf *Refusal
			if !errors.As(err, &rf) || rf.Reason == "" || rf.Detail == "" || (rf.Status != http.StatusBadRequest && rf.Status != http.StatusForbidden) {
				t.Fatalf("refusal is not a 400/403 *Refusal with a reason: %#v", err)
			}
			return
		}
		if l.AssertionID != good.AssertionID || l.XUserID != idp.xUserID || l.Pending.RequestID != req.ID || l.NameID != good.NameID {
			t.Fatalf("accepted a login the IdP did not sign: %+v", l)
		}
	})
}

func FuzzParseIdPMetadata(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join(goldenDir, "idp-metadata", "*.xml"))
	paths = append(paths, huaweiIdPMetadata)
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := ParseIdPMetadata(raw)
		if err != nil {
			if !errors.Is(err, ErrIdPMetadata) {
				t.Fatalf("error is not ErrIdPMetadata: %v", err)
			}
			return
		}
		if m.EntityID == "" || len(m.SigningCerts) == 0 || len(m.SSO) == 0 || m.SSO[0].SAMLBinding != metadata.SAMLBindingHTTPRedirect {
			t.Fatalf("accepted unusable metadata: %+v", m)
		}
		for _, e := range append(m.SSO, m.SLO...) {
			if err := checkAbsoluteURL(e.Location); err != nil {
				t.Fatalf("accepted endpoint %q: %v", e.Location, err)
			}
		}
	})
}

func FuzzParseLoginLink(f *testing.F) {
	for _, s := range []string{
		"xAccountType=csdndev_IDP&isFirstLogin=false&service=https%3a%2f%2fconsole.huaweicloud.com%2fiam%2f",
		"xAccountType=yunion_IDP&isFirstLogin=true",
		"xAccountType=a&xAccountType=b",
		"isFirstLogin=maybe",
		"xAccountType=x&service=javascript:alert(1)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		l, err := ParseLoginLink(q)
		if err != nil {
			var rf *Refusal
			if !errors.As(err, &rf) || rf.Reason != ReasonBadLoginLink || rf.Status != http.StatusBadRequest {
				t.Fatalf("error is not a bad_login_link refusal: %#v", err)
			}
			return
		}
		if checkXAccountType(l.XAccountType) != nil || (l.Service != "" && checkAbsoluteURL(l.Service) != nil) {
			t.Fatalf("accepted %+v", l)
		}
		if l.IsFirstLogin != (q.Get("isFirstLogin") == "true") || strings.ContainsAny(l.XAccountType, " &=") {
			t.Fatalf("misread %q as %+v", raw, l)
		}
	})
}
