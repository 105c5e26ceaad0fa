package idp

import (
	"bytes"
	"compress/flate"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/metadata"
)

// logoutRequestXML is the LogoutRequest fixture re-addressed to our SLO URL
// and issued now.
func (e *env) logoutRequestXML(id string) string {
	doc := string(readFile(e.t, filepath.Join(samlreqDir, "logoutrequest.xml")))
	now := e.clock.Now().UTC()
	r := strings.NewReplacer(
		"http://hwtest.51web.com/user/product/cloud/century/logout.action", sloURL,
		"_lr4q2m9x7c1v8b3n6k0j5h2g7f4d1s9a8p3o6i", id,
		"2018-11-26T09:11:58.446Z", now.Format("2006-01-02T15:04:05.000Z"),
		"2018-11-26T09:16:58.446Z", now.Add(5*time.Minute).Format("2006-01-02T15:04:05.000Z"),
	)
	return r.Replace(doc)
}

func sessionCleared(p page) bool {
	for _, c := range p.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, handoff.SessionCookieSecure+"=;") && strings.Contains(c, "Max-Age=0") {
			return true
		}
	}
	return false
}

func TestLogout(t *testing.T) {
	t.Run("Huawei's plain redirect", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.login(customer)
		e.takeEvents()
		p := e.get(sloURL)
		if p.Status != http.StatusFound || p.Location != landingURL || !sessionCleared(p) {
			t.Fatalf("got %d %q, session cleared %t", p.Status, p.Location, sessionCleared(p))
		}
		checkEvent(t, e.oneEvent(), AuditEvent{Event: EventLogout, XAccountID: customer, Verdict: VerdictLoggedOut, Reason: "no_logout_request"})
		// The session is gone: the next AuthnRequest goes to the platform.
		p = e.get(ssoURL + "?" + e.newRequest("_after-logout").Query(t))
		if p.Status != http.StatusFound || !strings.HasPrefix(p.Location, platformLogin) {
			t.Errorf("after logout the AuthnRequest got %d %q", p.Status, p.Location)
		}
	})

	t.Run("signed LogoutRequest", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.login(customer)
		e.takeEvents()
		const id = "_logout-0001"
		query := signRedirect(t, "SAMLRequest", deflateValue(t, e.logoutRequestXML(id)), "back-to-console", false, "", e.spKey.Key, false)
		p := e.get(sloURL + "?" + query)
		if p.Status != http.StatusFound || !sessionCleared(p) {
			t.Fatalf("got %d, session cleared %t: %s", p.Status, sessionCleared(p), p.Body)
		}
		target, rawQuery, _ := strings.Cut(p.Location, "?")
		if target != spSLOURL {
			t.Fatalf("LogoutResponse sent to %q, want the SP's SLO %q", target, spSLOURL)
		}
		// The query signature, checked over the octets as sent.
		octets, sig, ok := strings.Cut(rawQuery, "&Signature=")
		if !ok {
			t.Fatalf("no Signature in %q", rawQuery)
		}
		sigValue, _ := url.QueryUnescape(sig)
		if _, err := (metadata.SigAlgPolicy{}).VerifyDetached(metadata.SigAlgRSASHA256, []byte(octets), sigValue, []*x509.Certificate{e.idpKey.Cert}); err != nil {
			t.Errorf("LogoutResponse signature: %v", err)
		}
		if _, err := (metadata.SigAlgPolicy{}).VerifyDetached(metadata.SigAlgRSASHA256, []byte(octets), sigValue, []*x509.Certificate{e.spKey.Cert}); err == nil {
			t.Errorf("LogoutResponse signature verifies with an unrelated certificate")
		}
		q, _ := url.ParseQuery(rawQuery)
		if q.Get("RelayState") != "back-to-console" {
			t.Errorf("RelayState %q", q.Get("RelayState"))
		}
		lr := inflate(t, q.Get("SAMLResponse"))
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(lr); err != nil {
			t.Fatal(err)
		}
		root := doc.Root()
		if root.Tag != "LogoutResponse" || root.SelectAttrValue("InResponseTo", "") != id || root.SelectAttrValue("Destination", "") != spSLOURL {
			t.Errorf("LogoutResponse %s", lr)
		}
		checkEvent(t, e.oneEvent(), AuditEvent{Event: EventLogout, RequestID: id, SP: spEntityID, XAccountID: customer,
			Verdict: VerdictLoggedOut, Reason: "logout_response"})
	})

	t.Run("LogoutRequest signed by another key", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.login(customer)
		e.takeEvents()
		query := signRedirect(t, "SAMLRequest", deflateValue(t, e.logoutRequestXML("_logout-bad")), "", true, "", loadKey(t, "sp-other").Key, false)
		p := e.get(sloURL + "?" + query)
		if p.Status != http.StatusBadRequest || pageReason(p) != "bad_signature" {
			t.Fatalf("got %d %q", p.Status, pageReason(p))
		}
		noResponse(t, p)
		if !sessionCleared(p) {
			t.Errorf("logout must fail safe: the session is ended even for a refused LogoutRequest")
		}
		checkEvent(t, e.oneEvent(), AuditEvent{Event: EventLogout, RequestID: "_logout-bad", SP: spEntityID, XAccountID: customer,
			Verdict: VerdictRefused, Reason: "bad_signature"})
	})

	t.Run("POST", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		p := e.post(sloURL, url.Values{"SAMLRequest": {"x"}})
		if p.Status != http.StatusMethodNotAllowed || p.Header.Get("Allow") != "GET" {
			t.Fatalf("got %d Allow=%q", p.Status, p.Header.Get("Allow"))
		}
		checkEvent(t, e.oneEvent(), AuditEvent{Event: EventLogout, Verdict: VerdictRefused, Reason: ReasonMethodNotAllowed})
	})
}

func inflate(tb testing.TB, b64 string) []byte {
	tb.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestMetadataEndpoint(t *testing.T) {
	e := newEnv(t, envOptions{})
	cases := []struct {
		name        string
		url         string
		disposition string
	}{
		{"view", publicURL + PathMetadata, ""},
		{"download", publicURL + PathMetadata + "?download=1", `attachment; filename="IDP-Metadata.xml"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := e.get(tc.url)
			if p.Status != http.StatusOK || p.Body != string(e.cfg.MetadataXML) {
				t.Fatalf("got %d, body equal %t", p.Status, p.Body == string(e.cfg.MetadataXML))
			}
			if ct := p.Header.Get("Content-Type"); ct != "application/samlmetadata+xml" {
				t.Errorf("Content-Type %q", ct)
			}
			if cd := p.Header.Get("Content-Disposition"); cd != tc.disposition {
				t.Errorf("Content-Disposition %q, want %q", cd, tc.disposition)
			}
		})
	}
	if evs := e.takeEvents(); len(evs) != 0 {
		t.Errorf("metadata reads are not audit events: %+v", evs)
	}
	// Refusals are (issue 11 item 7).
	p := e.post(publicURL+PathMetadata, url.Values{})
	if p.Status != http.StatusMethodNotAllowed {
		t.Errorf("POST metadata: %d", p.Status)
	}
	checkEvent(t, e.oneEvent(), AuditEvent{Event: EventHTTP, Verdict: VerdictRefused, Reason: ReasonMethodNotAllowed})
	if p := e.get(publicURL + "/nope"); p.Status != http.StatusNotFound || pageReason(p) != ReasonNotFound {
		t.Errorf("unknown path: %d %q", p.Status, pageReason(p))
	}
	checkEvent(t, e.oneEvent(), AuditEvent{Event: EventHTTP, Verdict: VerdictRefused, Reason: ReasonNotFound})
}
