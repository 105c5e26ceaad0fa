package idp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	mathrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/mockiam"
	"github.com/partneridp/partneridp/idp/samlresp"
	"github.com/partneridp/partneridp/metadata"
	"github.com/partneridp/partneridp/metadata/xmlsectest"
)

// The mock Huawei IAM is only evidence for the bridge if it is strict: each
// case makes the bridge (or a tampered copy of its output, or its own
// Builder) answer a genuine AuthnRequest of the mock badly, and the mock
// must refuse it with the one reason that names the fault, record it, and
// start no console session. The good baseline and an unchanged etree
// round-trip prove the harness itself gets logins through.
func TestMockRefusesBridgeOutput(t *testing.T) {
	rig := newMockRig(t)
	bridge := rig.bridge(t, nil)
	// The same bridge after a key rollover the mock was never told about:
	// it signs with idp-next while the mock holds metadata with idp-current.
	rolled := rig.bridge(t, func(c *Config) {
		b := *c.Builder
		b.Key = loadKey(t, "idp-next")
		// newEnv seeds every Builder alike; equal Response IDs would be
		// refused as replays before the key is looked at.
		b.Rand = &lockedRand{r: mathrand.NewChaCha8([32]byte{'r', 'o', 'l', 'l', 'e', 'd'})}
		c.Builder = &b
	})
	nextSum := sha256.Sum256(loadKey(t, "idp-next").Cert.Raw)
	// A second bound user: a tampered xUserId naming them would be an
	// account takeover if the mock let it through.
	if _, err := rig.iam.SeedAccount(xAccountType, "cust-0002", "lisi0002"); err != nil {
		t.Fatal(err)
	}
	otherSP := func(edit func(sp *metadata.SP)) *metadata.SP {
		sp := *rig.mockSP
		sp.ACS = append([]metadata.Endpoint(nil), sp.ACS...)
		edit(&sp)
		return &sp
	}

	tests := []struct {
		name   string
		bridge *env
		// answer turns the bridge's genuine POST form into what is posted
		// to the mock's ACS.
		answer func(t *testing.T, l genuineLogin) acsPost
		want   mockiam.Reason // "" means the mock must accept
		detail string         // must appear in the refusal's Detail
		// noRequest: the mock cannot tie the refusal to the genuine
		// AuthnRequest (it is not, or no longer, outstanding).
		noRequest bool
		// xmlsec: 1 when xmlsec1 must accept the Assertion signature under
		// idp-current (the fault lies elsewhere), -1 when it must refuse.
		xmlsec int
	}{
		{
			name:   "good baseline: the bridge's form as served",
			answer: func(t *testing.T, l genuineLogin) acsPost { return asServed(l.form) },
			xmlsec: 1,
		},
		{
			name: "control: etree round-trip without change",
			answer: func(t *testing.T, l genuineLogin) acsPost {
				return rewritten(t, l.form, func(*etree.Element) {})
			},
			xmlsec: 1,
		},
		{
			name: "unsigned assertion: ds:Signature removed",
			answer: func(t *testing.T, l genuineLogin) acsPost {
				return rewritten(t, l.form, func(resp *etree.Element) {
					a := resp.FindElement("./Assertion")
					a.RemoveChild(a.FindElement("./Signature"))
				})
			},
			want: mockiam.ReasonUnsigned, detail: "carries no ds:Signature", xmlsec: -1,
		},
		{
			name:   "signature by the wrong key: the rolled-over bridge's form as served",
			bridge: rolled,
			answer: func(t *testing.T, l genuineLogin) acsPost { return asServed(l.form) },
			want:   mockiam.ReasonUntrustedKey, detail: hex.EncodeToString(nextSum[:]), xmlsec: -1,
		},
		{
			name:   "signature by the wrong key, KeyInfo stripped so the key is not named",
			bridge: rolled,
			answer: func(t *testing.T, l genuineLogin) acsPost {
				return rewritten(t, l.form, func(resp *etree.Element) {
					sig := resp.FindElement("./Assertion/Signature")
					sig.RemoveChild(sig.FindElement("./KeyInfo"))
				})
			},
			want: mockiam.ReasonBadSignature, detail: "signed with another key", xmlsec: -1,
		},
		{
			name: "wrong audience: entityID without Huawei's trailing slash",
			answer: func(t *testing.T, l genuineLogin) acsPost {
				sp := otherSP(func(sp *metadata.SP) { sp.EntityID = strings.TrimSuffix(sp.EntityID, "/") })
				return l.built(t, nil, sp, rig.iam.ACSURL(), l.requestID)
			},
			want: mockiam.ReasonWrongAudience, detail: "trailing slash", xmlsec: 1,
		},
		{
			name: "wrong recipient: built for Huawei's real ACS",
			answer: func(t *testing.T, l genuineLogin) acsPost {
				sp := otherSP(func(sp *metadata.SP) {
					sp.ACS = append(sp.ACS, metadata.Endpoint{SAMLBinding: metadata.SAMLBindingHTTPPost, Location: acsURL, Index: 1})
				})
				return l.built(t, nil, sp, acsURL, l.requestID)
			},
			want: mockiam.ReasonWrongDestination, detail: acsURL, xmlsec: 1,
		},
		{
			// The Response envelope is unsigned, so an attacker can fix its
			// Destination; the signed Recipient must still give it away.
			name: "wrong recipient: built for Huawei's real ACS, Destination rewritten",
			answer: func(t *testing.T, l genuineLogin) acsPost {
				sp := otherSP(func(sp *metadata.SP) {
					sp.ACS = append(sp.ACS, metadata.Endpoint{SAMLBinding: metadata.SAMLBindingHTTPPost, Location: acsURL, Index: 1})
				})
				p := l.built(t, nil, sp, acsURL, l.requestID)
				return rewritten(t, p.form(), func(resp *etree.Element) {
					resp.CreateAttr("Destination", rig.iam.ACSURL())
				})
			},
			want: mockiam.ReasonWrongRecipient, detail: "Recipient", xmlsec: 1,
		},
		{
			name: "expired: built on a clock behind the mock's by more than lifetime+skew",
			answer: func(t *testing.T, l genuineLogin) acsPost {
				b := *l.env.cfg.Builder
				at := rig.clk.Now().Add(-(samlresp.DefaultLifetime + mockiam.DefaultSkew + time.Minute))
				b.Clock = func() time.Time { return at }
				return l.built(t, &b, rig.mockSP, rig.iam.ACSURL(), l.requestID)
			},
			want: mockiam.ReasonExpired, detail: "IssueInstant", xmlsec: 1,
		},
		{
			name: "expired: the bridge's form delivered after lifetime+skew",
			answer: func(t *testing.T, l genuineLogin) acsPost {
				rig.clk.Advance(samlresp.DefaultLifetime + mockiam.DefaultSkew + time.Second)
				return asServed(l.form)
			},
			want: mockiam.ReasonExpired, detail: "NotOnOrAfter", xmlsec: 1,
		},
		{
			name: "replayed Response: the good form posted again from another browser",
			answer: func(t *testing.T, l genuineLogin) acsPost {
				first := asServed(l.form)
				rig.postGood(t, l.env, first)
				freshBrowser(t, l.env)
				return first
			},
			want: mockiam.ReasonReplay, detail: "already consumed", noRequest: true, xmlsec: 1,
		},
		{
			// The envelope is unsigned: a fresh Response ID must not make
			// the signed Assertion new again.
			name: "replayed Assertion in a new Response envelope",
			answer: func(t *testing.T, l genuineLogin) acsPost {
				rig.postGood(t, l.env, asServed(l.form))
				freshBrowser(t, l.env)
				return rewritten(t, l.form, func(resp *etree.Element) {
					resp.CreateAttr("ID", "_0000000000000000000000000000000000replay")
				})
			},
			want: mockiam.ReasonReplay, detail: "already answered", noRequest: true, xmlsec: 1,
		},
		{
			// An accepted Assertion rewrapped to answer a request that is
			// still outstanding: only the Assertion ID gives it away.
			name: "replayed Assertion answering another genuine request",
			answer: func(t *testing.T, l genuineLogin) acsPost {
				earlier := rig.login(t, l.env)
				rig.postGood(t, l.env, asServed(earlier.form))
				freshBrowser(t, l.env)
				p := rewritten(t, earlier.form, func(resp *etree.Element) {
					resp.CreateAttr("ID", "_000000000000000000000000000000000rewrap")
					resp.CreateAttr("InResponseTo", l.requestID)
				})
				p.RelayState, p.HasRelay = l.form.RelayState, l.form.HasRelay
				return p
			},
			want: mockiam.ReasonReplay, detail: "Assertion", xmlsec: 1,
		},
		{
			name: "a Response to a request the mock never sent",
			answer: func(t *testing.T, l genuineLogin) acsPost {
				return l.built(t, nil, rig.mockSP, rig.iam.ACSURL(), "_madeup0request0id0that0was0never0sent")
			},
			want: mockiam.ReasonUnknownRequest, detail: "_madeup0request0id0that0was0never0sent", noRequest: true, xmlsec: 1,
		},
		{
			name: "an unsolicited (IdP-initiated) Response",
			answer: func(t *testing.T, l genuineLogin) acsPost {
				return l.built(t, nil, rig.mockSP, rig.iam.ACSURL(), "")
			},
			want: mockiam.ReasonUnsolicited, detail: "no InResponseTo", noRequest: true, xmlsec: 1,
		},
		{
			name: "tampered attribute after signing: xUserId names another bound user",
			answer: func(t *testing.T, l genuineLogin) acsPost {
				return rewritten(t, l.form, func(resp *etree.Element) {
					for _, name := range []string{"xUserId", "xAccountId"} {
						v := resp.FindElement("./Assertion/AttributeStatement/Attribute[@Name='" + name + "']/AttributeValue")
						if v == nil || v.Text() != customer {
							t.Fatalf("the bridge's Response has no %s %q to tamper with", name, customer)
						}
						v.SetText("cust-0002")
					}
				})
			},
			want: mockiam.ReasonBadSignature, detail: "changed after signing", xmlsec: -1,
		},
	}

	observed := make([]string, 0, len(tests))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.bridge
			if e == nil {
				e = bridge
			}
			l := rig.login(t, e)
			post := tc.answer(t, l)
			before := len(rig.iam.Events())
			p := e.post(rig.iam.ACSURL(), post.values())
			newEvents := rig.iam.Events()[before:]
			if tc.want == "" {
				rig.checkAccepted(t, e, p, newEvents, l.requestID)
				observed = append(observed, tc.name+" -> accepted")
			} else {
				rig.checkRefused(t, e, p, newEvents, tc.want, tc.detail, l.requestID, tc.noRequest)
				observed = append(observed, fmt.Sprintf("%s -> %d %s: %s", tc.name, p.Status, pageReason(p), newEvents[0].Detail))
			}
			if tc.xmlsec != 0 && xmlsectest.Have(t, "xmlsec1") {
				xml, err := base64.StdEncoding.DecodeString(post.SAMLResponse)
				if err != nil {
					t.Fatal(err)
				}
				out, ok := xmlsectest.Verify(t, xml, loadKey(t, "idp-current").Cert, assertionIDAttr)
				if ok != (tc.xmlsec > 0) {
					t.Errorf("xmlsec1 accepted the Assertion signature under idp-current: %t, want %t\n%s", ok, tc.xmlsec > 0, out)
				}
			}
		})
	}
	t.Logf("case -> the mock's verdict:\n  %s", strings.Join(observed, "\n  "))
}

// mockRig is the mock Huawei IAM as TestWithMockHuaweiIAM sets it up: it
// holds our IdP metadata with idp-current, and the customer is already
// bound on both sides (create-customer), so an accepted Response lands on
// the mock's console.
type mockRig struct {
	clk    *clock
	iam    *mockiam.IAM
	base   string
	mockSP *metadata.SP // the mock as our bridge trusts it
	acct   mockiam.Account
}

func newMockRig(t *testing.T) *mockRig {
	t.Helper()
	r := &mockRig{clk: &clock{now: testNow}}
	spKey := loadKey(t, "sp-test")
	srv := httptest.NewUnstartedServer(nil)
	r.base = "http://" + srv.Listener.Addr().String()
	metadataFile := filepath.Join(t.TempDir(), "IDP-Metadata.xml")
	if err := os.WriteFile(metadataFile, idpMetadata(t), 0o600); err != nil {
		t.Fatal(err)
	}
	iam, err := mockiam.New(mockiam.Config{BaseURL: r.base, Key: spKey, Clock: r.clk.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		IdPs: map[string]mockiam.IdPRegistration{xAccountType: {MetadataFile: metadataFile, NotificationURL: publicURL + PathBind}}})
	if err != nil {
		t.Fatal(err)
	}
	r.iam = iam
	srv.Config.Handler = iam.Handler()
	srv.Start()
	t.Cleanup(srv.Close)

	rec := httptest.NewRecorder()
	iam.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, r.base+mockiam.PathMetadata, nil))
	if r.mockSP, err = metadata.ParseSP(rec.Body.Bytes(), metadata.SPLoadOptions{PinnedCert: spKey.Cert, AllowHTTP: true, Now: testNow}); err != nil {
		t.Fatalf("the mock's SP metadata: %v", err)
	}
	if r.acct, err = iam.SeedAccount(xAccountType, customer, "zhangsan01"); err != nil {
		t.Fatal(err)
	}
	return r
}

// bridge is a whole bridge trusting the mock as its only SP, on the rig's
// clock, with the customer's binding imported.
func (r *mockRig) bridge(t *testing.T, tweak func(*Config)) *env {
	t.Helper()
	console := r.base + mockiam.PathConsole
	e := newEnv(t, envOptions{clock: r.clk, tweak: func(c *Config) {
		sps := func(id string) (*metadata.SP, bool) { return r.mockSP, id == r.mockSP.EntityID }
		c.SPs, c.Intake.SPs = sps, sps
		c.DefaultSP = func() *metadata.SP { return r.mockSP }
		c.LoginLink.LoginURL = r.base + mockiam.PathLogin
		c.Services = handoff.ServicePolicy{AllowedHosts: []string{strings.TrimPrefix(r.base, "http://")}, Default: console, AllowHTTP: true}
		if tweak != nil {
			tweak(c)
		}
	}})
	if _, err := binding.Put(context.Background(), e.db, binding.Binding{Key: binding.Key{XAccountType: xAccountType, XAccountID: customer},
		DomainID: r.acct.Domain.ID, DomainName: r.acct.Domain.Name, Source: binding.SourceImport}, "test", nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// genuineLogin is one real round: the mock's AuthnRequest and the bridge's
// answer to it, not yet posted.
type genuineLogin struct {
	env       *env
	requestID string
	form      postForm
}

// login runs the handoff, the mock's login link and the bridge's SSO in a
// fresh browser.
func (r *mockRig) login(t *testing.T, e *env) genuineLogin {
	t.Helper()
	freshBrowser(t, e)
	p := e.get(handoffURL(e.token(customer, customerClaims()), r.base+mockiam.PathConsole))
	if p.Status != http.StatusFound || !strings.Contains(p.Location, "isFirstLogin=false") {
		t.Fatalf("handoff: %d %s", p.Status, p.Location)
	}
	p = e.get(p.Location)
	if p.Status != http.StatusFound || !strings.HasPrefix(p.Location, ssoURL+"?SAMLRequest=") {
		t.Fatalf("mock login link: %d %s\n%s", p.Status, p.Location, p.Body)
	}
	ev, ok := r.iam.LastEvent(mockiam.EventLogin)
	if !ok || !ev.Accepted || ev.RequestID == "" {
		t.Fatalf("the mock recorded no AuthnRequest: %+v", ev)
	}
	f := readSAMLForm(t, e.get(p.Location))
	if f.Action != r.iam.ACSURL() {
		t.Fatalf("the bridge posts to %q, not the mock's ACS %q", f.Action, r.iam.ACSURL())
	}
	if irt := parseResponse(t, f.SAMLResponse).attr(".", "InResponseTo"); irt != ev.RequestID {
		t.Fatalf("the bridge answered %q, the mock sent %q", irt, ev.RequestID)
	}
	return genuineLogin{env: e, requestID: ev.RequestID, form: f}
}

// built is a Response from the bridge's own Builder (b when not nil) for
// the user the bridge's Verifier reads from a fresh handoff token, answering
// requestID at acs of sp, with the genuine login's RelayState.
func (l genuineLogin) built(t *testing.T, b *samlresp.Builder, sp *metadata.SP, acs, requestID string) acsPost {
	t.Helper()
	if b == nil {
		b = l.env.cfg.Builder
	}
	claims, err := l.env.cfg.Verifier.Verify(context.Background(), l.env.token(customer, customerClaims()))
	if err != nil {
		t.Fatal(err)
	}
	u := claims.User
	if b.Clock != nil {
		u.AuthTime = b.Clock() // the user logged in on the builder's clock
	}
	resp, err := b.Build(samlRequest(flowRecord{RequestID: requestID, ACS: acs}, sp), u)
	if err != nil {
		t.Fatalf("the bridge's Builder: %v", err)
	}
	return acsPost{SAMLResponse: base64.StdEncoding.EncodeToString(resp.XML), RelayState: l.form.RelayState, HasRelay: l.form.HasRelay}
}

// acsPost is what is posted to the mock's ACS.
type acsPost struct {
	SAMLResponse string // base64
	RelayState   string
	HasRelay     bool
}

func asServed(f postForm) acsPost {
	return acsPost{SAMLResponse: f.RawResponse, RelayState: f.RelayState, HasRelay: f.HasRelay}
}

func (p acsPost) values() url.Values {
	v := url.Values{"SAMLResponse": {p.SAMLResponse}}
	if p.HasRelay {
		v.Set("RelayState", p.RelayState)
	}
	return v
}

func (p acsPost) form() postForm {
	xml, _ := base64.StdEncoding.DecodeString(p.SAMLResponse)
	return postForm{SAMLResponse: xml, RawResponse: p.SAMLResponse, RelayState: p.RelayState, HasRelay: p.HasRelay}
}

// rewritten is f with its Response parsed by etree, edited and serialised
// again, as an attacker holding the bridge's output would.
func rewritten(t *testing.T, f postForm, edit func(resp *etree.Element)) acsPost {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(f.SAMLResponse); err != nil {
		t.Fatal(err)
	}
	edit(doc.Root())
	xml, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return acsPost{SAMLResponse: base64.StdEncoding.EncodeToString(xml), RelayState: f.RelayState, HasRelay: f.HasRelay}
}

// freshBrowser gives e's browser an empty cookie jar: no bridge session,
// no mock session.
func freshBrowser(t *testing.T, e *env) {
	t.Helper()
	jar, err := newJar()
	if err != nil {
		t.Fatal(err)
	}
	e.browser.Jar = jar
}

// postGood posts p to the mock's ACS and insists it is accepted.
func (r *mockRig) postGood(t *testing.T, e *env, p acsPost) {
	t.Helper()
	pg := e.post(r.iam.ACSURL(), p.values())
	if pg.Status != http.StatusOK || verdict(pg) != "accepted" {
		t.Fatalf("the good Response was not accepted: %d\n%s", pg.Status, pg.Body)
	}
}

var verdictRE = regexp.MustCompile(`<p id="verdict" class="([^"]*)">`)

func (r *mockRig) checkAccepted(t *testing.T, e *env, p page, events []mockiam.Event, requestID string) {
	t.Helper()
	if p.Status != http.StatusOK || verdict(p) != "accepted" || !strings.Contains(p.Body, `<td id="domain-id">`+r.acct.Domain.ID+`</td>`) {
		t.Fatalf("the mock did not accept the Response onto the console: %d\n%s", p.Status, p.Body)
	}
	if len(events) != 2 {
		t.Fatalf("want an ACS and a session event, got %+v", events)
	}
	if ev := events[0]; ev.Kind != mockiam.EventACS || !ev.Accepted || ev.XUserID != customer || ev.RequestID != requestID {
		t.Errorf("ACS event %+v", ev)
	}
	if ev := events[1]; ev.Kind != mockiam.EventSession || !ev.Accepted || ev.DomainID != r.acct.Domain.ID {
		t.Errorf("session event %+v", ev)
	}
	if c := e.get(r.base + mockiam.PathConsole); c.Status != http.StatusOK || !strings.Contains(c.Body, `<td id="xuserid">`+customer+`</td>`) {
		t.Errorf("no console session after an accepted Response: %d\n%s", c.Status, c.Body)
	}
}

func (r *mockRig) checkRefused(t *testing.T, e *env, p page, events []mockiam.Event, want mockiam.Reason, detail, requestID string, noRequest bool) {
	t.Helper()
	if p.Status < 400 || verdict(p) != "refused" || pageReason(p) != string(want) {
		t.Fatalf("the mock did not refuse with %s: status %d, verdict %q, reason %q\n%s", want, p.Status, verdict(p), pageReason(p), p.Body)
	}
	if len(events) != 1 {
		t.Fatalf("want exactly one event (the ACS refusal), got %+v", events)
	}
	ev := events[0]
	if ev.Kind != mockiam.EventACS || ev.Accepted || ev.Reason != want || ev.XUserID != "" {
		t.Errorf("refusal event %+v, want an ACS refusal with %s", ev, want)
	}
	if !strings.Contains(ev.Detail, detail) {
		t.Errorf("refusal detail %q does not mention %q", ev.Detail, detail)
	}
	if last, _ := r.iam.LastEvent(mockiam.EventACS); last != ev {
		t.Errorf("LastEvent(acs) %+v, want %+v", last, ev)
	}
	wantRequest := requestID
	if noRequest {
		wantRequest = ""
	}
	if ev.RequestID != wantRequest {
		t.Errorf("refusal event names request %q, want %q", ev.RequestID, wantRequest)
	}
	for _, c := range p.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "mockiam_session=") || strings.HasPrefix(c, "mockiam_bind=") {
			t.Errorf("the refusal set a cookie: %s", c)
		}
	}
	c := e.get(r.base + mockiam.PathConsole)
	if c.Status != http.StatusUnauthorized || pageReason(c) != string(mockiam.ReasonNoSession) || strings.Contains(c.Body, `id="account"`) {
		t.Errorf("a console session exists after a refused Response: %d\n%s", c.Status, c.Body)
	}
}

func verdict(p page) string {
	m := verdictRE.FindStringSubmatch(p.Body)
	if m == nil {
		return ""
	}
	return m[1]
}
