package mockiam

import (
	"encoding/base64"
	"html"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

const service = "https://console.example.test/iam/?region=cn-north-4"

func TestGoodResponseLogsBoundUserIn(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	acct, err := h.iam.SeedAccount(xat, "partner-user-1", "acme_corp")
	if err != nil {
		t.Fatal(err)
	}
	req := h.login(false, service)
	resp, body := h.answer(h.idp.goodSpec(req))
	if resp.StatusCode != http.StatusOK || verdict(body) != "accepted" {
		t.Fatalf("good Response: status %d verdict %q\n%s", resp.StatusCode, verdict(body), body)
	}
	for _, want := range []string{
		`id="banner"`, "Mock Huawei Cloud IAM — not Huawei",
		`id="account"`, `<td id="domain-id">` + acct.Domain.ID + `</td>`, `<td id="domain-name">acme_corp</td>`,
		`<td id="xaccounttype">` + xat + `</td>`, `<td id="xuserid">partner-user-1</td>`,
		`id="attributes"`, "<td>xUserId</td>", "<td>xAccountId</td>", "<td>name</td>", "<td>Zhang San</td>",
		"<td>mobile</td>", "<td>86-13800000000</td>", "<td>email</td>",
		`id="service" href="` + html.EscapeString(service) + `"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("console page lacks %q", want)
		}
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	ev, ok := h.iam.LastEvent(EventACS)
	if !ok || !ev.Accepted || ev.RequestID != req.ID || ev.XUserID != "partner-user-1" || ev.AssertionID == "" {
		t.Errorf("ACS event = %+v", ev)
	}

	// The session cookie opens the console later.
	resp, body = h.get(PathConsole)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<td id="domain-name">acme_corp</td>`) {
		t.Fatalf("console: status %d\n%s", resp.StatusCode, body)
	}
}

// TestResponseRefusals spoils one thing at a time. Each must be refused
// with its own reason on the page, in Events and in the log; nothing is
// stored, so a correct Response to the same request is accepted afterwards.
func TestResponseRefusals(t *testing.T) {
	untrusted := loadKey(t, "sp-other")
	cases := []struct {
		name       string
		spoil      func(h *harness, spec *responseSpec)
		form       func(v url.Values)
		before     func(h *harness) // runs after building, before posting
		wantReason Reason
		wantStatus int
		wantDetail string
	}{
		{name: "unsigned assertion", spoil: func(h *harness, s *responseSpec) { s.Unsigned = true },
			wantReason: ReasonUnsigned, wantStatus: 403, wantDetail: "carries no ds:Signature"},
		{name: "signed by an untrusted key", spoil: func(h *harness, s *responseSpec) { s.SignKey = untrusted },
			wantReason: ReasonUntrustedKey, wantStatus: 403, wantDetail: "sp-other TEST ONLY"},
		{name: "signed by another key claiming the trusted certificate", spoil: func(h *harness, s *responseSpec) {
			s.SignKey = untrusted
			s.KeyInfoCert = h.idp.key.Cert
		}, wantReason: ReasonBadSignature, wantStatus: 403, wantDetail: "does not verify"},
		{name: "wrong audience", spoil: func(h *harness, s *responseSpec) { s.Audience = "https://auth.huaweicloud.com/" },
			wantReason: ReasonWrongAudience, wantStatus: 403, wantDetail: "https://auth.huaweicloud.com/"},
		{name: "audience without the trailing slash", spoil: func(h *harness, s *responseSpec) {
			s.Audience = strings.TrimSuffix(h.iam.EntityID(), "/")
		}, wantReason: ReasonWrongAudience, wantStatus: 403, wantDetail: "trailing slash"},
		{name: "wrong recipient", spoil: func(h *harness, s *responseSpec) { s.Recipient = "https://evil.example/acs" },
			wantReason: ReasonWrongRecipient, wantStatus: 403, wantDetail: "https://evil.example/acs"},
		{name: "wrong destination", spoil: func(h *harness, s *responseSpec) { s.Destination = "https://evil.example/acs" },
			wantReason: ReasonWrongDestination, wantStatus: 403, wantDetail: "https://evil.example/acs"},
		{name: "expired assertion", before: func(h *harness) { h.clock.Advance(7 * time.Minute) },
			wantReason: ReasonExpired, wantStatus: 403, wantDetail: "has passed"},
		{name: "short-lived assertion posted late", spoil: func(h *harness, s *responseSpec) { s.ValidFor = 30 * time.Second },
			before: func(h *harness) { h.clock.Advance(2 * time.Minute) }, wantReason: ReasonExpired, wantStatus: 403},
		{name: "issued in the future", spoil: func(h *harness, s *responseSpec) { s.IssueInstant = s.IssueInstant.Add(5 * time.Minute) },
			wantReason: ReasonNotYetValid, wantStatus: 403, wantDetail: "in the future"},
		{name: "request it never sent", spoil: func(h *harness, s *responseSpec) {
			s.InResponseTo = "_neversentbythemock00000000000000000"
			s.SubjectInResponseTo = s.InResponseTo
		}, wantReason: ReasonUnknownRequest, wantStatus: 403, wantDetail: "_neversentbythemock"},
		{name: "unsolicited (no InResponseTo)", spoil: func(h *harness, s *responseSpec) { s.InResponseTo = "" },
			wantReason: ReasonUnsolicited, wantStatus: 403},
		{name: "subject confirmation for another request", spoil: func(h *harness, s *responseSpec) { s.SubjectInResponseTo = "_other" },
			wantReason: ReasonWrongInResponseTo, wantStatus: 403},
		{name: "attribute tampered after signing", spoil: func(h *harness, s *responseSpec) {
			s.AfterSign = func(resp, a *etree.Element) {
				for _, v := range a.FindElements(".//AttributeValue") {
					if v.Text() == "partner-user-1" {
						v.SetText("someone-else")
					}
				}
			}
		}, wantReason: ReasonBadSignature, wantStatus: 403, wantDetail: "changed after signing"},
		{name: "signature wrapping: a second, unsigned assertion", spoil: func(h *harness, s *responseSpec) {
			s.AfterSign = func(resp, a *etree.Element) {
				evil := a.Copy()
				evil.RemoveChild(evil.SelectElement("Signature"))
				evil.CreateAttr("ID", "_evil")
				resp.InsertChildAt(a.Index(), evil)
			}
		}, wantReason: ReasonWrapping, wantStatus: 403, wantDetail: "2 Assertion elements"},
		{name: "signature wrapping: signed assertion hidden in Extensions", spoil: func(h *harness, s *responseSpec) {
			s.AfterSign = func(resp, a *etree.Element) {
				ext := etree.NewElement("saml2p:Extensions")
				resp.InsertChildAt(a.Index(), ext)
				resp.RemoveChild(a)
				ext.AddChild(a)
			}
		}, wantReason: ReasonWrapping, wantStatus: 403, wantDetail: "nested"},
		{name: "duplicate ID", spoil: func(h *harness, s *responseSpec) {
			s.AfterSign = func(resp, a *etree.Element) {
				resp.SelectElement("Status").CreateAttr("ID", a.SelectAttrValue("ID", ""))
			}
		}, wantReason: ReasonWrapping, wantStatus: 403, wantDetail: "two elements carry ID"},
		{name: "reference to the whole document", spoil: func(h *harness, s *responseSpec) {
			s.AfterSign = func(resp, a *etree.Element) {
				a.FindElement(".//Reference").CreateAttr("URI", "")
			}
		}, wantReason: ReasonBadSignature, wantStatus: 403, wantDetail: "Reference URI"},
		{name: "rsa-sha1 signature", spoil: func(h *harness, s *responseSpec) { s.SignatureMethod = dsig.RSASHA1SignatureMethod },
			wantReason: ReasonBadSignature, wantStatus: 403, wantDetail: "SignatureMethod"},
		{name: "wrong Response issuer", spoil: func(h *harness, s *responseSpec) { s.Issuer = "https://evil.example/idp" },
			wantReason: ReasonWrongIssuer, wantStatus: 403, wantDetail: "Response Issuer"},
		{name: "wrong Assertion issuer", spoil: func(h *harness, s *responseSpec) { s.AssertionIssuer = "https://evil.example/idp" },
			wantReason: ReasonWrongIssuer, wantStatus: 403, wantDetail: "Assertion Issuer"},
		{name: "status not success", spoil: func(h *harness, s *responseSpec) { s.Status = "urn:oasis:names:tc:SAML:2.0:status:Responder" },
			wantReason: ReasonStatus, wantStatus: 403, wantDetail: "Responder"},
		{name: "RelayState changed", spoil: func(h *harness, s *responseSpec) { s.RelayState += "x" },
			wantReason: ReasonRelayState, wantStatus: 403},
		{name: "RelayState missing", spoil: func(h *harness, s *responseSpec) { s.OmitRelayState = true },
			wantReason: ReasonRelayState, wantStatus: 403, wantDetail: "missing"},
		{name: "bearer data with NotBefore", spoil: func(h *harness, s *responseSpec) { s.SCDNotBefore = true },
			wantReason: ReasonNoBearer, wantStatus: 403, wantDetail: "NotBefore"},
		{name: "no xUserId", spoil: func(h *harness, s *responseSpec) { s.Attributes = [][2]string{{"name", "Zhang San"}} },
			wantReason: ReasonUserID, wantStatus: 403, wantDetail: "no xUserId"},
		{name: "xUserId and xAccountId differ", spoil: func(h *harness, s *responseSpec) {
			s.Attributes = [][2]string{{"xUserId", "a-user"}, {"xAccountId", "b-user"}}
		}, wantReason: ReasonUserID, wantStatus: 403, wantDetail: "differ"},
		{name: "encrypted assertion", spoil: func(h *harness, s *responseSpec) {
			s.AfterSign = func(resp, a *etree.Element) { a.Tag = "EncryptedAssertion" }
		}, wantReason: ReasonMalformed, wantStatus: 400, wantDetail: "EncryptedAssertion"},
		{name: "not base64", form: func(v url.Values) { v.Set("SAMLResponse", "%%% not base64") },
			wantReason: ReasonMalformed, wantStatus: 400, wantDetail: "not base64"},
		{name: "DTD", form: func(v url.Values) {
			v.Set("SAMLResponse", base64.StdEncoding.EncodeToString([]byte(`<!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>`)))
		}, wantReason: ReasonMalformed, wantStatus: 400, wantDetail: "DTD"},
		{name: "not a Response", form: func(v url.Values) {
			v.Set("SAMLResponse", base64.StdEncoding.EncodeToString([]byte(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`)))
		}, wantReason: ReasonMalformed, wantStatus: 400, wantDetail: "must be samlp:Response"},
		{name: "SAMLResponse missing", form: func(v url.Values) { v.Del("SAMLResponse") },
			wantReason: ReasonMalformed, wantStatus: 400, wantDetail: "missing"},
		{name: "SAMLResponse twice", form: func(v url.Values) { v.Add("SAMLResponse", v.Get("SAMLResponse")) },
			wantReason: ReasonMalformed, wantStatus: 400, wantDetail: "2 times"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			if _, err := h.iam.SeedAccount(xat, "partner-user-1", "acme_corp"); err != nil {
				t.Fatal(err)
			}
			req := h.login(false, service)
			spec := h.idp.goodSpec(req)
			if tc.spoil != nil {
				tc.spoil(h, spec)
			}
			form := spec.form(h.idp.build(spec))
			if tc.form != nil {
				tc.form(form)
			}
			if tc.before != nil {
				tc.before(h)
			}
			resp, body := h.post(PathACS, form)
			if resp.StatusCode != tc.wantStatus || verdict(body) != "refused" || reason(body) != string(tc.wantReason) {
				t.Fatalf("status %d verdict %q reason %q; want %d refused %q\n%s",
					resp.StatusCode, verdict(body), reason(body), tc.wantStatus, tc.wantReason, body)
			}
			if !strings.Contains(html.UnescapeString(detail(body)), tc.wantDetail) {
				t.Errorf("detail %q does not mention %q", html.UnescapeString(detail(body)), tc.wantDetail)
			}
			ev, ok := h.iam.LastEvent(EventACS)
			if !ok || ev.Accepted || ev.Reason != tc.wantReason || ev.Detail == "" {
				t.Errorf("ACS event = %+v, want refused %s", ev, tc.wantReason)
			}
			if !strings.Contains(h.logs.String(), "reason="+string(tc.wantReason)) {
				t.Errorf("log lacks reason=%s:\n%s", tc.wantReason, h.logs.String())
			}
			if strings.Contains(h.logs.String(), "PHNhbWwy") || strings.Contains(h.logs.String(), "SAMLResponse=") {
				t.Errorf("log holds a SAMLResponse")
			}
			if resp, _ := h.get(PathConsole); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("a refused Response opened a session: console status %d", resp.StatusCode)
			}
			// Nothing was consumed: the correct answer still works.
			good := h.idp.goodSpec(req)
			if resp, body := h.answer(good); resp.StatusCode != http.StatusOK || verdict(body) != "accepted" {
				t.Fatalf("good Response after the refusal: status %d reason %q\n%s", resp.StatusCode, reason(body), body)
			}
		})
	}
}

func TestResponseAlsoSignedAtResponseLevel(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	if _, err := h.iam.SeedAccount(xat, "partner-user-1", "acme_corp"); err != nil {
		t.Fatal(err)
	}
	spec := h.idp.goodSpec(h.login(false, ""))
	spec.SignResponse = true
	if resp, body := h.answer(spec); resp.StatusCode != http.StatusOK || verdict(body) != "accepted" {
		t.Fatalf("signed Response + signed Assertion: status %d reason %q\n%s", resp.StatusCode, reason(body), detail(body))
	}

	// A Response signature that does not hold is refused even though the
	// Assertion is fine.
	spec = h.idp.goodSpec(h.login(false, ""))
	spec.SignResponse = true
	spec.AfterSign = func(resp, a *etree.Element) {
		resp.CreateAttr("IssueInstant", resp.SelectAttrValue("IssueInstant", "")[:19]+".999Z")
	}
	resp, body := h.answer(spec)
	if resp.StatusCode != http.StatusForbidden || reason(body) != string(ReasonBadSignature) || !strings.Contains(detail(body), "Response signature") {
		t.Fatalf("tampered signed Response: status %d reason %q detail %q", resp.StatusCode, reason(body), detail(body))
	}
}

func TestReplay(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	if _, err := h.iam.SeedAccount(xat, "partner-user-1", "acme_corp"); err != nil {
		t.Fatal(err)
	}
	req := h.login(false, "")
	first := h.idp.goodSpec(req)
	form := first.form(h.idp.build(first))
	if resp, body := h.post(PathACS, form); resp.StatusCode != http.StatusOK {
		t.Fatalf("first post: %d %s", resp.StatusCode, detail(body))
	}

	check := func(name string, form url.Values, wantDetail string) {
		t.Helper()
		resp, body := h.post(PathACS, form)
		if resp.StatusCode != http.StatusForbidden || reason(body) != string(ReasonReplay) || !strings.Contains(html.UnescapeString(detail(body)), wantDetail) {
			t.Errorf("%s: status %d reason %q detail %q; want 403 replay mentioning %q", name, resp.StatusCode, reason(body), detail(body), wantDetail)
		}
	}
	check("the same Response again", form, "Response")
	again := h.idp.goodSpec(req) // fresh IDs, same request
	check("a new Response to an answered request", again.form(h.idp.build(again)), "already answered")

	// A new request answered with an assertion ID already used.
	req2 := h.login(false, "")
	reused := h.idp.goodSpec(req2)
	reused.AssertionID = first.AssertionID
	check("a consumed Assertion ID", reused.form(h.idp.build(reused)), "Assertion")
}

func TestConcurrentPostsOfOneResponseAcceptOnce(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	if _, err := h.iam.SeedAccount(xat, "partner-user-1", "acme_corp"); err != nil {
		t.Fatal(err)
	}
	spec := h.idp.goodSpec(h.login(false, ""))
	form := spec.form(h.idp.build(spec))
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := noFollow.PostForm(h.srv.URL+PathACS, form)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[http.StatusSeeOther] != 1 || statuses[http.StatusForbidden] != 7 {
		t.Fatalf("statuses = %v, want one 303 (to the console) and seven 403", statuses)
	}
}

func TestRequestExpires(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	req := h.login(false, "")
	h.clock.Advance(RequestLifetime + 2*DefaultSkew)
	spec := h.idp.goodSpec(req) // issued now, so only the request is stale
	form := spec.form(h.idp.build(spec))
	if resp, body := h.post(PathACS, form); resp.StatusCode != http.StatusForbidden || reason(body) != string(ReasonRequestExpired) {
		t.Fatalf("stale request: status %d reason %q", resp.StatusCode, reason(body))
	}
	// Once pruned (any new login prunes), the answer is still "expired".
	h.login(false, "")
	if resp, body := h.post(PathACS, form); resp.StatusCode != http.StatusForbidden || reason(body) != string(ReasonRequestExpired) {
		t.Fatalf("pruned stale request: status %d reason %q", resp.StatusCode, reason(body))
	}
}

// TestACSByGETGoesToTheConsole: Back or a bookmark to the ACS address
// lands on the console, which tells a browser without a session what to do.
func TestACSByGETGoesToTheConsole(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	resp, body := h.get(PathACS + "?SAMLResponse=x")
	if resp.Request.URL.Path != PathConsole || resp.StatusCode != http.StatusUnauthorized || reason(body) != string(ReasonNoSession) ||
		!strings.Contains(detail(body), "open it from the partner platform") {
		t.Fatalf("GET ACS: at %s, status %d reason %q detail %q", resp.Request.URL.Path, resp.StatusCode, reason(body), detail(body))
	}
	req, _ := http.NewRequest(http.MethodPut, h.srv.URL+PathACS, nil)
	if resp, body := h.do(req); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, POST" || reason(body) != string(ReasonMethodNotAllowed) {
		t.Fatalf("PUT ACS: status %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}
