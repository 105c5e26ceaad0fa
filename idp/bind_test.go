package idp

import (
	"context"
	"encoding/base64"
	"errors"
	"html"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/metadata"
)

// notification is a bind notification as Huawei IAM sends it, signed with key.
func notification(tb testing.TB, key metadata.SigningKey, fields map[string]any) url.Values {
	tb.Helper()
	bindRequest, signature, err := binding.SignNotification(key.Key, metadata.SigAlgRSASHA256, fields)
	if err != nil {
		tb.Fatal(err)
	}
	return url.Values{fieldBindRequest: {bindRequest}, fieldSigAlg: {metadata.SigAlgRSASHA256}, fieldSignature: {signature}}
}

func bindFields(xUserID, domainID string, action int) map[string]any {
	return map[string]any{"domainName": "zhangsan", "domainId": domainID, "xUserId": xUserID, "bindAction": action}
}

func (e *env) binding(xUserID string) (binding.Binding, bool) {
	e.t.Helper()
	b, err := e.db.Get(context.Background(), binding.Key{XAccountType: xAccountType, XAccountID: xUserID})
	if errors.Is(err, binding.ErrNotFound) {
		return b, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return b, true
}

// The first-login journey: handoff with isFirstLogin=true, then Huawei's
// notification binds the account and sends the user on to the service the
// handoff asked for. A repeat changes nothing; the next handoff says
// isFirstLogin=false.
func TestBindNotificationJourney(t *testing.T) {
	e := newEnv(t, envOptions{})
	p := e.login(customer)
	if !strings.Contains(p.Location, "isFirstLogin=true") {
		t.Fatalf("first handoff: %s", p.Location)
	}
	e.takeEvents()

	good := notification(t, e.spKey, bindFields(customer, "0a1b2c3d4e5f", 0))
	// The same content in other bytes (a member Huawei may add) is a new
	// notification whose change is already in place.
	sameContent := bindFields(customer, "0a1b2c3d4e5f", 0)
	sameContent["extraMember"] = "x"
	for _, tc := range []struct {
		name    string
		send    func() page
		verdict string
		reason  string
	}{
		{"POST form", func() page { return e.post(publicURL+PathBind, good) }, VerdictStored, "bind"},
		{"the same content in a new notification", func() page { return e.post(publicURL+PathBind, notification(t, e.spKey, sameContent)) }, VerdictUnchanged, "bind"},
		{"an exact replay, by GET", func() page { return e.get(publicURL + PathBind + "?" + good.Encode()) }, VerdictReplayed, ReasonNotificationReplay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.send()
			if tc.verdict == VerdictReplayed {
				if p.Status != http.StatusConflict || pageReason(p) != ReasonNotificationReplay || !strings.Contains(p.Body, `href="`+html.EscapeString(consoleURL)+`"`) {
					t.Fatalf("replay: got %d %q, want 409 notification_replay with a link on to %q: %s", p.Status, pageReason(p), consoleURL, p.Body)
				}
			} else if p.Status != http.StatusFound || p.Location != consoleURL {
				t.Fatalf("got %d to %q, want 302 to the remembered service %q: %s", p.Status, p.Location, consoleURL, p.Body)
			}
			b, ok := e.binding(customer)
			if !ok || b.DomainID != "0a1b2c3d4e5f" || b.DomainName != "zhangsan" || b.Source != binding.SourceNotification {
				t.Fatalf("binding %+v (found %t)", b, ok)
			}
			checkEvent(t, e.oneEvent(), AuditEvent{Event: EventBindNotification, SP: spEntityID, XAccountID: customer,
				DomainID: "0a1b2c3d4e5f", Verdict: tc.verdict, Reason: tc.reason})
		})
	}
	history, err := e.db.History(context.Background(), binding.Key{XAccountType: xAccountType, XAccountID: customer})
	if err != nil || len(history) != 1 || history[0].Actor != ActorHuaweiNotification {
		t.Fatalf("history %+v, %v: want one change by %s", history, err, ActorHuaweiNotification)
	}
	if got := counterValue(t, e.reg, "partneridp_bindings", nil); got != 1 {
		t.Errorf("bindings gauge %v, want 1", got)
	}
	if got := counterValue(t, e.reg, "partneridp_bind_notifications_total", map[string]string{"outcome": VerdictStored}); got != 1 {
		t.Errorf("bind notifications stored = %v, want 1", got)
	}
	if got := counterValue(t, e.reg, "partneridp_bind_notifications_total", map[string]string{"outcome": VerdictReplayed}); got != 1 {
		t.Errorf("bind notifications replayed = %v, want 1", got)
	}

	p = e.get(handoffURL(e.token(customer, nil), consoleURL))
	if !strings.Contains(p.Location, "isFirstLogin=false") {
		t.Errorf("handoff after binding: %s, want isFirstLogin=false", p.Location)
	}
	checkEvent(t, e.oneEvent(), AuditEvent{Event: EventHandoff, XAccountID: customer, DomainID: "0a1b2c3d4e5f", Verdict: VerdictRedirected, Reason: "bound"})
}

// Where the browser goes after a notification depends on whose session it
// carries; an unbind removes the binding.
func TestBindNotificationRedirectAndUnbind(t *testing.T) {
	e := newEnv(t, envOptions{})

	// No session: the landing page.
	p := e.post(publicURL+PathBind, notification(t, e.spKey, bindFields("cust-0002", "d2", 0)))
	if p.Status != http.StatusFound || p.Location != landingURL {
		t.Fatalf("no session: %d %q", p.Status, p.Location)
	}
	e.takeEvents()

	// Another customer's session: the landing page, not their service.
	e.login(customer)
	e.takeEvents()
	p = e.post(publicURL+PathBind, notification(t, e.spKey, bindFields("cust-0003", "d3", 0)))
	if p.Location != landingURL {
		t.Errorf("another customer's session: %q, want %q", p.Location, landingURL)
	}
	e.takeEvents()

	// Unbind of cust-0002: removed, then (another notification) unchanged.
	for i, verdict := range []string{VerdictRemoved, VerdictUnchanged} {
		fields := bindFields("cust-0002", "d2", 1)
		fields["n"] = i
		p = e.post(publicURL+PathBind, notification(t, e.spKey, fields))
		if p.Status != http.StatusFound {
			t.Fatalf("unbind: %d %s", p.Status, p.Body)
		}
		if _, ok := e.binding("cust-0002"); ok {
			t.Errorf("binding still there after unbind")
		}
		checkEvent(t, e.oneEvent(), AuditEvent{Event: EventBindNotification, SP: spEntityID, XAccountID: "cust-0002",
			DomainID: "d2", Verdict: verdict, Reason: "unbind"})
	}

	// Huawei's own documentation example (an unbind of yongzhix from
	// yongzhiid, signed by the test SP) as the form body it is.
	if _, err := binding.Put(context.Background(), e.db, binding.Binding{Key: binding.Key{XAccountType: xAccountType, XAccountID: "yongzhix"},
		DomainID: "yongzhiid", DomainName: "yongzhi", Source: binding.SourceImport}, "test", nil); err != nil {
		t.Fatal(err)
	}
	body := strings.TrimSpace(string(readFile(t, filepath.Join(bindingDir, "notification-doc-example.form"))))
	p = e.postBody(publicURL+PathBind, body)
	if p.Status != http.StatusFound {
		t.Fatalf("doc example: %d %s", p.Status, p.Body)
	}
	if _, ok := e.binding("yongzhix"); ok {
		t.Errorf("the doc example's unbind did not remove the binding")
	}
	checkEvent(t, e.oneEvent(), AuditEvent{Event: EventBindNotification, SP: spEntityID, XAccountID: "yongzhix",
		DomainID: "yongzhiid", Verdict: VerdictRemoved, Reason: "unbind"})
}

// A bad notification is a 400 page with the reason; nothing is stored.
func TestBindNotificationRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.login(customer)
	e.takeEvents()
	other := loadKey(t, "sp-other")

	signedRaw := func(raw []byte) url.Values {
		bindRequest := base64.StdEncoding.EncodeToString(raw)
		sig, err := metadata.SignDetached(e.spKey.Key, metadata.SigAlgRSASHA256, []byte(bindRequest))
		if err != nil {
			t.Fatal(err)
		}
		return url.Values{fieldBindRequest: {bindRequest}, fieldSigAlg: {metadata.SigAlgRSASHA256}, fieldSignature: {sig}}
	}
	good := notification(t, e.spKey, bindFields(customer, "d1", 0))
	with := func(name, value string) url.Values {
		v := url.Values{}
		for k, vs := range good {
			v[k] = append([]string(nil), vs...)
		}
		v.Set(name, value)
		return v
	}
	cases := []struct {
		name   string
		send   func() page
		status int
		reason string
		sig    bool
	}{
		{"signed by another key", func() page {
			return e.post(publicURL+PathBind, notification(t, other, bindFields(customer, "d1", 0)))
		}, http.StatusBadRequest, "bad_signature", true},
		{"bindRequest changed after signing", func() page {
			return e.post(publicURL+PathBind, with(fieldBindRequest, base64.StdEncoding.EncodeToString([]byte(`{"domainName":"x","domainId":"evil","xUserId":"cust-0001","bindAction":0}`))))
		}, http.StatusBadRequest, "bad_signature", true},
		{"no signature", func() page { return e.post(publicURL+PathBind, with(fieldSignature, "")) }, http.StatusBadRequest, ReasonSignatureMissing, true},
		{"no signature and no SigAlg", func() page {
			v := with(fieldSignature, "")
			v.Del(fieldSigAlg)
			return e.post(publicURL+PathBind, v)
		}, http.StatusBadRequest, ReasonSignatureMissing, true},
		{"rsa-sha1", func() page { return e.post(publicURL+PathBind, with(fieldSigAlg, metadata.SigAlgRSASHA1)) }, http.StatusBadRequest, ReasonSigAlgNotAllowed, true},
		{"signed, but not JSON", func() page { return e.post(publicURL+PathBind, signedRaw([]byte("not json"))) }, http.StatusBadRequest, "bad_encoding", false},
		{"signed, no xUserId", func() page {
			return e.post(publicURL+PathBind, signedRaw([]byte(`{"domainName":"x","domainId":"d1","bindAction":0}`)))
		}, http.StatusBadRequest, "bad_fields", false},
		{"signed, bindAction 7", func() page {
			return e.post(publicURL+PathBind, signedRaw([]byte(`{"domainName":"x","domainId":"d1","xUserId":"cust-0001","bindAction":7}`)))
		}, http.StatusBadRequest, "bad_fields", false},
		{"no bindRequest", func() page { return e.post(publicURL+PathBind, url.Values{}) }, http.StatusBadRequest, "bad_encoding", false},
		{"bindRequest twice", func() page {
			v := with(fieldSigAlg, metadata.SigAlgRSASHA256)
			v.Add(fieldBindRequest, "x")
			return e.post(publicURL+PathBind, v)
		}, http.StatusBadRequest, ReasonDuplicateParam, false},
		{"body over the cap", func() page {
			return e.postBody(publicURL+PathBind, "bindRequest="+strings.Repeat("A", maxBindBody))
		}, http.StatusRequestEntityTooLarge, ReasonBadForm, false},
		{"DELETE", func() page {
			r, _ := http.NewRequest(http.MethodDelete, publicURL+PathBind, nil)
			return e.do(r)
		}, http.StatusMethodNotAllowed, ReasonMethodNotAllowed, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sigLabels := map[string]string{"endpoint": EventBindNotification, "reason": tc.reason}
			before := counterValue(t, e.reg, "partneridp_signature_failures_total", sigLabels)
			p := tc.send()
			if p.Status != tc.status || pageReason(p) != tc.reason {
				t.Fatalf("got %d %q, want %d %q:\n%s", p.Status, pageReason(p), tc.status, tc.reason, p.Body)
			}
			if n, err := e.db.Count(context.Background()); err != nil || n != 0 {
				t.Fatalf("%d bindings stored (%v), want none", n, err)
			}
			checkEvent(t, e.oneEvent(), AuditEvent{Event: EventBindNotification, Verdict: VerdictRefused, Reason: tc.reason})
			after := counterValue(t, e.reg, "partneridp_signature_failures_total", sigLabels)
			if (after-before == 1) != tc.sig {
				t.Errorf("signature-failure counter moved by %v; want a move: %t", after-before, tc.sig)
			}
		})
	}

	t.Run("unbind naming another domain", func(t *testing.T) {
		if _, err := binding.Put(context.Background(), e.db, binding.Binding{Key: binding.Key{XAccountType: xAccountType, XAccountID: customer},
			DomainID: "d1", Source: binding.SourceImport}, "test", nil); err != nil {
			t.Fatal(err)
		}
		p := e.post(publicURL+PathBind, notification(t, e.spKey, bindFields(customer, "d-other", 1)))
		if p.Status != http.StatusConflict || pageReason(p) != "unbind_mismatch" {
			t.Fatalf("got %d %q", p.Status, pageReason(p))
		}
		if b, ok := e.binding(customer); !ok || b.DomainID != "d1" {
			t.Errorf("binding changed: %+v %t", b, ok)
		}
		checkEvent(t, e.oneEvent(), AuditEvent{Event: EventBindNotification, SP: spEntityID, XAccountID: customer, DomainID: "d-other",
			Verdict: VerdictRefused, Reason: "unbind_mismatch"})
	})
}

// The black-box corpus's replay attack: a copy of an old signed bind must
// not restore it after an unbind or a rebind, and an old unbind must not
// remove a later binding. Before the applied-once marks, each of these
// replays changed the store.
func TestNotificationReplayNeverChangesStore(t *testing.T) {
	e := newEnv(t, envOptions{})
	bindA := notification(t, e.spKey, bindFields("victim", "domain-A", 0))
	unbindA := notification(t, e.spKey, bindFields("victim", "domain-A", 1))
	bindB := notification(t, e.spKey, bindFields("victim", "domain-B", 0))
	for _, n := range []url.Values{bindA, unbindA, bindB} {
		if p := e.post(publicURL+PathBind, n); p.Status != http.StatusFound {
			t.Fatalf("genuine notification: %d %s", p.Status, p.Body)
		}
	}
	e.takeEvents()
	for _, tc := range []struct {
		name, domain string
		n            url.Values
	}{{"old bind after a rebind", "domain-A", bindA}, {"old unbind", "domain-A", unbindA}, {"current bind again", "domain-B", bindB}} {
		name := tc.name
		p := e.post(publicURL+PathBind, tc.n)
		if p.Status != http.StatusConflict || pageReason(p) != ReasonNotificationReplay {
			t.Errorf("%s: %d %q, want 409 notification_replay", name, p.Status, pageReason(p))
		}
		checkEvent(t, e.oneEvent(), AuditEvent{Event: EventBindNotification, SP: spEntityID, XAccountID: "victim", DomainID: tc.domain,
			Verdict: VerdictReplayed, Reason: ReasonNotificationReplay})
		if b, ok := e.binding("victim"); !ok || b.DomainID != "domain-B" {
			t.Fatalf("%s: binding is %+v (found %t), want domain-B", name, b, ok)
		}
	}
	if h, _ := e.db.History(context.Background(), binding.Key{XAccountType: xAccountType, XAccountID: "victim"}); len(h) != 3 {
		t.Errorf("history has %d entries, want 3", len(h))
	}
}
