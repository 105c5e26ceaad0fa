package idp

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp/samlresp"
	"github.com/partneridp/partneridp/metadata"
	"github.com/partneridp/partneridp/metadata/xmlsectest"
)

// checkAssertion checks a success Response end to end: the Assertion's
// signature by xmlsec1 (and its refusal with another certificate), and
// every field Huawei reads.
func checkAssertion(t *testing.T, e *env, f postForm, requestID string) samlDoc {
	t.Helper()
	if f.Action != acsURL {
		t.Errorf("form posts to %q, want the metadata ACS %q", f.Action, acsURL)
	}
	if xmlsectest.Have(t, "xmlsec1") {
		if out, ok := xmlsectest.Verify(t, f.SAMLResponse, e.idpKey.Cert, assertionIDAttr); !ok {
			t.Fatalf("xmlsec1 does not verify the Assertion with the IdP certificate:\n%s\n%s", out, f.SAMLResponse)
		}
	}
	if xmlsectest.Have(t, "xmlsec1") {
		if _, ok := xmlsectest.Verify(t, f.SAMLResponse, e.spKey.Cert, assertionIDAttr); ok {
			t.Errorf("xmlsec1 verifies the Assertion with an unrelated certificate")
		}
	}
	d := parseResponse(t, f.SAMLResponse)
	top, _ := d.statusCodes()
	checks := []struct{ what, got, want string }{
		{"Response Destination", d.root.SelectAttrValue("Destination", ""), acsURL},
		{"Response InResponseTo", d.root.SelectAttrValue("InResponseTo", ""), requestID},
		{"Response Issuer", d.text("./Issuer"), idpEntityID},
		{"status", top, samlresp.StatusSuccess},
		{"Assertion Issuer", d.text("./Assertion/Issuer"), idpEntityID},
		{"NameID Format", d.attr("./Assertion/Subject/NameID", "Format"), metadata.NameIDFormatTransient},
		{"NameID SPNameQualifier", d.attr("./Assertion/Subject/NameID", "SPNameQualifier"), spEntityID},
		{"SubjectConfirmation Method", d.attr("./Assertion/Subject/SubjectConfirmation", "Method"), "urn:oasis:names:tc:SAML:2.0:cm:bearer"},
		{"Recipient", d.attr("./Assertion/Subject/SubjectConfirmation/SubjectConfirmationData", "Recipient"), acsURL},
		{"SubjectConfirmationData InResponseTo", d.attr("./Assertion/Subject/SubjectConfirmation/SubjectConfirmationData", "InResponseTo"), requestID},
		{"Audience", d.text("./Assertion/Conditions/AudienceRestriction/Audience"), spEntityID},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	attrs := d.attributes()
	wantAttrs := map[string]string{"xUserId": customer, "xAccountId": customer, "name": "Zhang San",
		"mobile": "86-13800000000", "email": "zhang.san@example.com", "bpId": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}
	for k, v := range wantAttrs {
		if attrs[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, attrs[k], v)
		}
	}
	if len(attrs) != len(wantAttrs) {
		t.Errorf("attributes %v, want exactly %v", attrs, wantAttrs)
	}
	return d
}

// An AuthnRequest from a browser with a bridge session is answered at once:
// a signed Response in the POST form, RelayState echoed byte for byte.
func TestSSOWithSession(t *testing.T) {
	cases := []struct {
		name       string
		relayState string
		noRelay    bool
	}{
		{name: "Huawei's service URL as RelayState", relayState: consoleURL},
		{name: "RelayState with markup and quotes and spaces and non-ASCII", relayState: `https://console.huaweicloud.com/?a=1&b="x"<y>'z' #/home 中文 %41`},
		{name: "RelayState with leading and trailing spaces", relayState: "  opaque state  "},
		{name: "no RelayState", noRelay: true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			if _, err := binding.Put(context.Background(), e.db, binding.Binding{Key: binding.Key{XAccountType: xAccountType, XAccountID: customer},
				DomainID: "0a1b2c3d4e5f", Source: binding.SourceImport}, "test", nil); err != nil {
				t.Fatal(err)
			}
			e.login(customer)
			e.takeEvents()
			e.clock.Advance(10 * time.Second)

			req := e.newRequest("_session-" + string(rune('a'+i)) + "-0123456789abcdef")
			req.RelayState, req.NoRelayState = tc.relayState, tc.noRelay
			p := e.get(ssoURL + "?" + req.Query(t))
			f := readSAMLForm(t, p)
			d := checkAssertion(t, e, f, req.ID)
			if f.HasRelay == tc.noRelay || f.RelayState != tc.relayState {
				t.Errorf("RelayState %q (present %t), want %q byte for byte (present %t)", f.RelayState, f.HasRelay, tc.relayState, !tc.noRelay)
			}
			if got := d.attr("./Assertion/AuthnStatement", "AuthnInstant"); got != testNow.Format(samlresp.TimeFormat) {
				t.Errorf("AuthnInstant %s, want the platform's authentication time %s", got, testNow.Format(samlresp.TimeFormat))
			}
			if p.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", p.Header.Get("Cache-Control"))
			}
			csp := p.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "form-action https://auth.huaweicloud.com https://console.huaweicloud.com") {
				t.Errorf("CSP %q does not allow the ACS and the console it redirects to", csp)
			}
			checkEvent(t, e.oneEvent(), AuditEvent{Event: EventSSO, RequestID: req.ID, SP: spEntityID, XAccountID: customer,
				DomainID: "0a1b2c3d4e5f", Verdict: VerdictIssued, AssertionID: d.attr("./Assertion", "ID")})
			if n := counterValue(t, e.reg, "partneridp_sso_duration_seconds", map[string]string{"path": pathDirect}); n != 1 {
				t.Errorf("%v direct latencies observed, want 1", n)
			}
		})
	}
}

// Without a session the request waits as a flow record while the user logs
// in to the platform; the platform's handoff with the flow ID completes it
// with InResponseTo of the original request. A flow is single use and
// expires.
func TestSSODeferredThenResumed(t *testing.T) {
	// Each subtest has its own environment (clock, store, audit events,
	// metrics): a subtest that stops early leaves nothing behind for the
	// next one. envs keeps them for the totals at the end.
	var envs []*env
	newSubEnv := func(t *testing.T) *env {
		e := newEnv(t, envOptions{})
		envs = append(envs, e)
		return e
	}
	deferRequest := func(t *testing.T, e *env, req authnRequest, reason string) string {
		t.Helper()
		p := e.get(ssoURL + "?" + req.Query(t))
		if p.Status != http.StatusFound {
			t.Fatalf("status %d: %s", p.Status, p.Body)
		}
		noResponse(t, p)
		prefix := platformLogin + "&return_to="
		if !strings.HasPrefix(p.Location, prefix) {
			t.Fatalf("redirect to %q, want the platform login with return_to", p.Location)
		}
		returnTo, err := url.QueryUnescape(strings.TrimPrefix(p.Location, prefix))
		if err != nil {
			t.Fatal(err)
		}
		flowPrefix := publicURL + PathHandoff + "?flow="
		if !strings.HasPrefix(returnTo, flowPrefix) || !validFlowID(strings.TrimPrefix(returnTo, flowPrefix)) {
			t.Fatalf("return_to %q is not our handoff URL with a flow ID", returnTo)
		}
		checkEvent(t, e.oneEvent(), AuditEvent{Event: EventSSO, RequestID: req.ID, SP: spEntityID, Verdict: VerdictDeferred, Reason: reason})
		return returnTo
	}
	// back is the platform sending the logged-in user to return_to with a
	// fresh token.
	back := func(e *env, returnTo string) page {
		return e.get(returnTo + "&" + url.Values{"token": {e.token(customer, customerClaims())}, "service": {consoleURL}}.Encode())
	}

	t.Run("resumed once", func(t *testing.T) {
		e := newSubEnv(t)
		req := e.newRequest("_deferred-0001")
		returnTo := deferRequest(t, e, req, "no_session")
		e.clock.Advance(2 * time.Minute) // the user types a password
		f := readSAMLForm(t, back(e, returnTo))
		d := checkAssertion(t, e, f, req.ID)
		if f.RelayState != consoleURL {
			t.Errorf("RelayState %q, want %q", f.RelayState, consoleURL)
		}
		checkEvent(t, e.oneEvent(), AuditEvent{Event: EventResume, RequestID: req.ID, SP: spEntityID, XAccountID: customer,
			Verdict: VerdictIssued, AssertionID: d.attr("./Assertion", "ID")})

		p := back(e, returnTo)
		if p.Status != http.StatusBadRequest || pageReason(p) != ReasonFlowNotFound {
			t.Fatalf("the same flow twice: %d %q", p.Status, pageReason(p))
		}
		noResponse(t, p)
		checkEvent(t, e.oneEvent(), AuditEvent{Event: EventResume, XAccountID: customer, Verdict: VerdictRefused, Reason: ReasonFlowNotFound})
	})

	t.Run("expired flow", func(t *testing.T) {
		e := newSubEnv(t)
		req := e.newRequest("_deferred-0002")
		returnTo := deferRequest(t, e, req, "no_session")
		e.clock.Advance(DefaultFlowTTL + time.Second)
		p := back(e, returnTo)
		if p.Status != http.StatusBadRequest || pageReason(p) != ReasonFlowNotFound {
			t.Fatalf("expired flow: %d %q", p.Status, pageReason(p))
		}
		noResponse(t, p)
		checkEvent(t, e.oneEvent(), AuditEvent{Event: EventResume, XAccountID: customer, Verdict: VerdictRefused, Reason: ReasonFlowNotFound})
	})

	t.Run("unknown flow", func(t *testing.T) {
		e := newSubEnv(t)
		p := back(e, publicURL+PathHandoff+"?flow=00112233445566778899aabbccddeeff")
		if p.Status != http.StatusBadRequest || pageReason(p) != ReasonFlowNotFound {
			t.Fatalf("unknown flow: %d %q", p.Status, pageReason(p))
		}
		checkEvent(t, e.oneEvent(), AuditEvent{Event: EventResume, XAccountID: customer, Verdict: VerdictRefused, Reason: ReasonFlowNotFound})
	})

	t.Run("ForceAuthn with a session goes to the platform", func(t *testing.T) {
		e := newSubEnv(t)
		e.login(customer)
		e.takeEvents()
		req := e.newRequest("_force-0001")
		req.ForceAuthn = true
		returnTo := deferRequest(t, e, req, "force_authn")
		e.clock.Advance(30 * time.Second)
		f := readSAMLForm(t, back(e, returnTo))
		checkAssertion(t, e, f, req.ID)
		if ev := e.oneEvent(); ev.Verdict != VerdictIssued || ev.RequestID != req.ID {
			t.Errorf("audit %+v", ev)
		}
	})

	t.Run("ForceAuthn answered with an old platform login", func(t *testing.T) {
		e := newSubEnv(t)
		req := e.newRequest("_force-stale-0001")
		req.ForceAuthn = true
		returnTo := deferRequest(t, e, req, "no_session")
		claims := customerClaims()
		claims["auth_time"] = e.clock.Now().Add(-time.Hour).Unix()
		p := e.get(returnTo + "&" + url.Values{"token": {e.token(customer, claims)}}.Encode())
		f := readSAMLForm(t, p)
		d := parseResponse(t, f.SAMLResponse)
		if top, second := d.statusCodes(); top != samlresp.StatusResponder || second != samlresp.StatusAuthnFailed {
			t.Errorf("status %s / %s, want Responder / AuthnFailed", top, second)
		}
		if d.root.FindElement("./Assertion") != nil {
			t.Errorf("an assertion for a stale login under ForceAuthn")
		}
		checkEvent(t, e.oneEvent(), AuditEvent{Event: EventResume, RequestID: req.ID, SP: spEntityID, XAccountID: customer,
			Verdict: VerdictErrorResponse, Reason: "force_authn_stale"})
	})

	t.Run("the platform POSTs the token to return_to", func(t *testing.T) {
		e := newSubEnv(t)
		req := e.newRequest("_deferred-post-0001")
		returnTo := deferRequest(t, e, req, "no_session")
		p := e.post(returnTo, url.Values{"token": {e.token(customer, customerClaims())}, "service": {consoleURL}})
		checkAssertion(t, e, readSAMLForm(t, p), req.ID)
		if ev := e.oneEvent(); ev.Event != EventResume || ev.Verdict != VerdictIssued {
			t.Errorf("audit %+v", ev)
		}
	})

	total := func(name string, labels map[string]string) float64 {
		var n float64
		for _, e := range envs {
			n += counterValue(t, e.reg, name, labels)
		}
		return n
	}
	if n := total("partneridp_sso_duration_seconds", map[string]string{"path": pathResumed}); n != 3 {
		t.Errorf("%v resumed latencies observed, want 3 (one per assertion issued)", n)
	}
	if n := total("partneridp_requests_total", map[string]string{"endpoint": EventSSO, "outcome": VerdictDeferred}); n != 5 {
		t.Errorf("requests_total{sso,deferred} = %v, want 5", n)
	}
}

// The platform described the user in a way no assertion can carry (a
// mobile without country code): a 400 page naming the field, no Response.
func TestSSOUnusableUserData(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.get(handoffURL(e.token(customer, map[string]any{"mobile": "13800000000"}), consoleURL))
	e.takeEvents()
	req := e.newRequest("_bad-user-0001")
	p := e.get(ssoURL + "?" + req.Query(t))
	if p.Status != http.StatusBadRequest || pageReason(p) != "invalid_user" || !strings.Contains(p.Body, "mobile") {
		t.Fatalf("got %d %q:\n%s", p.Status, pageReason(p), p.Body)
	}
	noResponse(t, p)
	checkEvent(t, e.oneEvent(), AuditEvent{Event: EventSSO, RequestID: req.ID, SP: spEntityID, XAccountID: customer,
		Verdict: VerdictRefused, Reason: "invalid_user"})
}

// A trusted request we cannot satisfy gets a signed SAML error Response at
// its metadata ACS, never an assertion.
func TestSSOErrorResponses(t *testing.T) {
	cases := []struct {
		name    string
		session bool
		tweak   func(*authnRequest)
		top     string
		second  string
		reason  string
	}{
		{name: "IsPassive without a session", tweak: func(r *authnRequest) { r.IsPassive = true },
			top: samlresp.StatusResponder, second: samlresp.StatusNoPassive, reason: "no_passive"},
		{name: "NameID format we never issue", tweak: func(r *authnRequest) {
			r.NameIDFormat = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
		}, top: samlresp.StatusRequester, second: samlresp.StatusInvalidNameIDPolicy, reason: "unsupported_nameid_format"},
		{name: "NameID format the SP metadata does not list", session: true, tweak: func(r *authnRequest) {
			r.NameIDFormat = metadata.NameIDFormatPersistent
		}, top: samlresp.StatusRequester, second: samlresp.StatusInvalidNameIDPolicy, reason: "unsupported_nameid_format"},
		{name: "ProtocolBinding HTTP-Artifact", tweak: func(r *authnRequest) {
			r.ProtocolBinding = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"
		}, top: samlresp.StatusRequester, second: samlresp.StatusUnsupportedBinding, reason: "unsupported_binding"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			sub := ""
			if tc.session {
				e.login(customer)
				e.takeEvents()
				sub = customer
			}
			req := e.newRequest("_error-" + string(rune('a'+i)) + "-0001")
			tc.tweak(&req)
			f := readSAMLForm(t, e.get(ssoURL+"?"+req.Query(t)))
			if f.Action != acsURL || f.RelayState != consoleURL {
				t.Errorf("form to %q with RelayState %q", f.Action, f.RelayState)
			}
			if xmlsectest.Have(t, "xmlsec1") {
				if out, ok := xmlsectest.Verify(t, f.SAMLResponse, e.idpKey.Cert, responseIDAttr); !ok {
					t.Fatalf("xmlsec1 does not verify the error Response:\n%s\n%s", out, f.SAMLResponse)
				}
			}
			d := parseResponse(t, f.SAMLResponse)
			top, second := d.statusCodes()
			if top != tc.top || second != tc.second {
				t.Errorf("status %s / %s, want %s / %s", top, second, tc.top, tc.second)
			}
			if d.root.FindElement("./Assertion") != nil {
				t.Errorf("an error Response carries an Assertion")
			}
			if got := d.root.SelectAttrValue("InResponseTo", ""); got != req.ID {
				t.Errorf("InResponseTo %q, want %q", got, req.ID)
			}
			checkEvent(t, e.oneEvent(), AuditEvent{Event: EventSSO, RequestID: req.ID, SP: spEntityID, XAccountID: sub,
				Verdict: VerdictErrorResponse, Reason: tc.reason})
		})
	}
}

// An untrusted request is a 400 page saying why, never a SAML Response,
// even for a browser with a session.
func TestSSOUntrusted(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.login(customer)
	e.takeEvents()
	other := loadKey(t, "sp-other")

	replayed := e.newRequest("_replayed-0001").Query(t)
	if p := e.get(ssoURL + "?" + replayed); p.Status != http.StatusOK {
		t.Fatalf("first use: %d %s", p.Status, p.Body)
	}
	e.takeEvents()

	signed := func(id string, tweak func(*authnRequest)) func() string {
		return func() string {
			r := e.newRequest(id)
			tweak(&r)
			return r.Query(t)
		}
	}
	cases := []struct {
		name      string
		query     func() string
		reason    string
		requestID string
		sp        string
		sigFail   bool
	}{
		{"signed by a key not in the SP metadata", signed("_u-other-key", func(r *authnRequest) { r.Key = other.Key }),
			"bad_signature", "_u-other-key", spEntityID, true},
		{"RelayState changed after signing", func() string {
			q := e.newRequest("_u-tampered").Query(t)
			return strings.Replace(q, "RelayState="+url.QueryEscape(consoleURL), "RelayState="+url.QueryEscape("https://console.huaweicloud.com/evil"), 1)
		}, "bad_signature", "_u-tampered", spEntityID, true},
		{"unsigned", signed("_u-unsigned", func(r *authnRequest) { r.Unsigned = true }), "signature_missing", "", "", true},
		{"rsa-sha1 not allowed", signed("_u-sha1", func(r *authnRequest) { r.SigAlg = metadata.SigAlgRSASHA1 }),
			"sigalg_not_allowed", "_u-sha1", spEntityID, true},
		{"unknown issuer", signed("_u-issuer", func(r *authnRequest) { r.Issuer = "https://auth.example.org/" }),
			"unknown_issuer", "_u-issuer", "https://auth.example.org/", false},
		{"no issuer", signed("_u-no-issuer", func(r *authnRequest) { r.Issuer = "" }), "missing_issuer", "_u-no-issuer", "", false},
		{"ACS not in the SP metadata", signed("_u-acs", func(r *authnRequest) { r.ACS = "https://evil.example/acs" }),
			"acs_mismatch", "_u-acs", spEntityID, false},
		{"Destination is another IdP", signed("_u-dest", func(r *authnRequest) { r.Destination = "https://other-idp.example/sso" }),
			"wrong_destination", "_u-dest", spEntityID, false},
		{"issued 10 minutes ago", signed("_u-old", func(r *authnRequest) { r.IssueInstant = r.IssueInstant.Add(-10 * time.Minute) }),
			"expired", "_u-old", spEntityID, false},
		{"request ID replayed", func() string { return replayed }, "replay", "_replayed-0001", spEntityID, false},
		{"no SAMLRequest", func() string { return "" }, "no_message", "", "", false},
		{"malformed query", func() string { return "SAMLRequest=%zz&SigAlg=x&Signature=y" }, "malformed_query", "", "", false},
		{"not deflate", func() string {
			return signRedirect(t, "SAMLRequest", url.QueryEscape(base64.StdEncoding.EncodeToString([]byte("<AuthnRequest/>"))), consoleURL, false, "", e.spKey.Key, false)
		}, "undecodable", "", "", false},
		{"DTD in the request", func() string {
			doc := strings.Replace(e.newRequest("_u-dtd").XML(), "?>", "?><!DOCTYPE x [<!ENTITY a \"b\">]>", 1)
			return signRedirect(t, "SAMLRequest", deflateValue(t, doc), consoleURL, false, "", e.spKey.Key, false)
		}, "dtd", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := counterValue(t, e.reg, "partneridp_signature_failures_total", map[string]string{"endpoint": EventSSO, "reason": tc.reason})
			p := e.get(ssoURL + "?" + tc.query())
			if p.Status != http.StatusBadRequest || pageReason(p) != tc.reason {
				t.Fatalf("got %d %q, want 400 %q:\n%s", p.Status, pageReason(p), tc.reason, p.Body)
			}
			noResponse(t, p)
			if !strings.Contains(p.Body, `id="message"`) || p.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("the page has no message or may be cached: %v\n%s", p.Header, p.Body)
			}
			checkEvent(t, e.oneEvent(), AuditEvent{Event: EventSSO, RequestID: tc.requestID, SP: tc.sp, Verdict: VerdictRefused, Reason: tc.reason})
			after := counterValue(t, e.reg, "partneridp_signature_failures_total", map[string]string{"endpoint": EventSSO, "reason": tc.reason})
			if got := after - before; (got == 1) != tc.sigFail {
				t.Errorf("signature-failure counter moved by %v; want a move: %t", got, tc.sigFail)
			}
		})
	}
}

// Huawei's real 2018 AuthnRequest, re-signed by the test SP over the
// octets as they appear in the query, is answered with InResponseTo of its
// ID; the same request by the HTTP-POST binding, signed by xmlsec1, too.
func TestHuaweiSample(t *testing.T) {
	const (
		sampleDestination = "http://hwtest.51web.com/user/product/cloud/century/ecs!loginHw.action"
		sampleID          = "_th2kld6nqqaq6lbvbw1cqqkbld2m7shj5i7x"
	)
	sampleNow := time.Date(2018, 11, 26, 9, 12, 0, 0, time.UTC)
	raw := strings.TrimSpace(string(readFile(t, filepath.Join(huaweiDir, "authnrequest-sample.urlenc"))))

	t.Run("HTTP-Redirect", func(t *testing.T) {
		e := newEnv(t, envOptions{now: sampleNow, ssoURL: sampleDestination})
		e.login(customer)
		e.takeEvents()
		query := signRedirect(t, "SAMLRequest", raw, consoleURL, false, "", e.spKey.Key, false)
		f := readSAMLForm(t, e.get(ssoURL+"?"+query))
		d := checkAssertion(t, e, f, sampleID)
		checkEvent(t, e.oneEvent(), AuditEvent{Event: EventSSO, RequestID: sampleID, SP: spEntityID, XAccountID: customer,
			Verdict: VerdictIssued, AssertionID: d.attr("./Assertion", "ID")})
		// Huawei's own retry of the same request is a replay.
		p := e.get(ssoURL + "?" + query)
		if p.Status != http.StatusBadRequest || pageReason(p) != "replay" {
			t.Fatalf("replayed sample: %d %q", p.Status, pageReason(p))
		}
		noResponse(t, p)
	})

	t.Run("HTTP-POST signed by xmlsec1", func(t *testing.T) {
		e := newEnv(t, envOptions{now: sampleNow, ssoURL: sampleDestination})
		e.login(customer)
		e.takeEvents()
		doc := readFile(t, filepath.Join(samlreqDir, "post-authnrequest-xmlsec1-sha256.xml"))
		form := url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(doc)}, "RelayState": {consoleURL}}
		f := readSAMLForm(t, e.post(ssoURL, form))
		checkAssertion(t, e, f, sampleID)
		if ev := e.oneEvent(); ev.Verdict != VerdictIssued || ev.RequestID != sampleID {
			t.Errorf("audit %+v", ev)
		}
	})

	t.Run("HTTP-POST tampered after signing", func(t *testing.T) {
		e := newEnv(t, envOptions{now: sampleNow, ssoURL: sampleDestination})
		e.login(customer)
		e.takeEvents()
		doc := strings.Replace(string(readFile(t, filepath.Join(samlreqDir, "post-authnrequest-xmlsec1-sha256.xml"))),
			`IsPassive="false"`, `IsPassive="true"`, 1)
		p := e.post(ssoURL, url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString([]byte(doc))}})
		if p.Status != http.StatusBadRequest || pageReason(p) != "bad_signature" {
			t.Fatalf("tampered POST: %d %q", p.Status, pageReason(p))
		}
		noResponse(t, p)
		if ev := e.oneEvent(); ev.Verdict != VerdictRefused || ev.Reason != "bad_signature" {
			t.Errorf("audit %+v", ev)
		}
	})
}

// Wrong methods and bodies at the SSO URL.
func TestSSOMethodsAndBodies(t *testing.T) {
	e := newEnv(t, envOptions{})
	cases := []struct {
		name   string
		req    func() *http.Request
		status int
		reason string
	}{
		{"PUT", func() *http.Request { r, _ := http.NewRequest(http.MethodPut, ssoURL, nil); return r }, http.StatusMethodNotAllowed, ReasonMethodNotAllowed},
		{"POST as JSON", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, ssoURL, strings.NewReader(`{"SAMLRequest":"x"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, http.StatusUnsupportedMediaType, ReasonBadForm},
		{"POST body over the cap", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, ssoURL, strings.NewReader("SAMLRequest="+strings.Repeat("A", maxSSOBody)))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, http.StatusRequestEntityTooLarge, ReasonBadForm},
		{"POST without SAMLRequest", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, ssoURL, strings.NewReader("RelayState=x"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, http.StatusBadRequest, "no_message"},
		{"POST with SAMLRequest twice", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, ssoURL, strings.NewReader("SAMLRequest=a&SAMLRequest=b"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, http.StatusBadRequest, "duplicate_parameter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := e.do(tc.req())
			if p.Status != tc.status || pageReason(p) != tc.reason {
				t.Fatalf("got %d %q, want %d %q", p.Status, pageReason(p), tc.status, tc.reason)
			}
			noResponse(t, p)
			checkEvent(t, e.oneEvent(), AuditEvent{Event: EventSSO, Verdict: VerdictRefused, Reason: tc.reason})
		})
	}
}
