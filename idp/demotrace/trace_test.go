package demotrace

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/idp/demoplatform"
	"github.com/partneridp/partneridp/idp/mockiam"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/demotrace")

var t0 = time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)

func fixture(t *testing.T, parts ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"..", "..", "testdata"}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "demotrace", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./idp/demotrace -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test ./idp/demotrace -update if the change is intended)\n--- got ---\n%s", name, got)
	}
}

// world is what the demo's components saw, fed to a Trace in order.
type world struct {
	t      *testing.T
	trace  *Trace
	events []mockiam.Event
	stored map[string]binding.Binding
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, stored: map[string]binding.Binding{}}
	w.trace = New(Config{
		MockEvents: func() []mockiam.Event { return w.events },
		Binding: func(_ context.Context, id string) (binding.Binding, bool, error) {
			if id == "broken" {
				return binding.Binding{}, false, errors.New("store unreachable")
			}
			b, ok := w.stored[id]
			return b, ok, nil
		},
	})
	return w
}

func (w *world) mint(id string) {
	w.trace.HandoffMinted(demoplatform.TokenMinted{XAccountID: id, Via: demoplatform.ViaConsoleButton,
		Header: map[string]any{"alg": "EdDSA", "typ": "JWT"},
		Claims: map[string]any{"iss": "http://127.0.0.1:9001", "sub": id, "aud": "http://127.0.0.1:9000",
			"iat": float64(t0.Unix()), "exp": float64(t0.Unix() + 60), "jti": "jti-" + id, "name": "Alice Wang"}})
}

func (w *world) audit(e idp.AuditEvent) { w.trace.Record(e) }
func (w *world) mock(e mockiam.Event)   { w.events = append(w.events, e) }

// login plays the handoff, the login link, the AuthnRequest and the
// Response of one console visit; bound says whether the customer was.
func (w *world) login(id, requestID string, bound bool) {
	reason, first := "first_login", "true"
	if bound {
		reason, first = "bound", "false"
	}
	w.mint(id)
	w.audit(idp.AuditEvent{Event: idp.EventHandoff, XAccountID: id, Verdict: idp.VerdictRedirected, Reason: reason})
	w.mock(mockiam.Event{Kind: mockiam.EventLogin, Accepted: true, XAccountType: "demo_IDP", RequestID: requestID,
		Link:    "/authui/saml/login?xAccountType=demo_IDP&isFirstLogin=" + first + "&service=http%3A%2F%2F127.0.0.1%3A9002%2Fconsole",
		Message: fixture(w.t, "mockiam", "authnrequest.golden.xml")})
	w.audit(idp.AuditEvent{Event: idp.EventSSO, RequestID: requestID, XAccountID: id, Verdict: idp.VerdictIssued, AssertionID: "_assert-" + requestID})
	w.mock(mockiam.Event{Kind: mockiam.EventACS, Accepted: true, XUserID: id, RequestID: requestID,
		Message: fixture(w.t, "samlresp", "response-signed.golden.xml")})
	s := mockiam.Event{Kind: mockiam.EventSession, Accepted: true, XUserID: id, RequestID: requestID, Detail: "unbound user sent to the bind page"}
	if bound {
		s.DomainID, s.Detail = "d0000000000000000000000000000001", "bound user logged in"
	}
	w.mock(s)
}

func (w *world) bind(id string) {
	w.mock(mockiam.Event{Kind: mockiam.EventBind, Accepted: true, XUserID: id, DomainID: "d0000000000000000000000000000001",
		Detail: "bound to alice_co", Message: `{"domainName":"alice_co","domainId":"d0000000000000000000000000000001","xUserId":"` + id + `","bindAction":0}`})
	w.audit(idp.AuditEvent{Event: idp.EventBindNotification, XAccountID: id, DomainID: "d0000000000000000000000000000001", Verdict: idp.VerdictStored})
	w.stored[id] = binding.Binding{Key: binding.Key{XAccountType: "demo_IDP", XAccountID: id}, DomainID: "d0000000000000000000000000000001",
		DomainName: "alice_co", Source: binding.SourceNotification, CreatedAt: t0, UpdatedAt: t0}
}

// TestTraceGolden: a first login through the bind page, then a bound one,
// as the page shows them.
func TestTraceGolden(t *testing.T) {
	w := newWorld(t)
	w.login("alice", "_req1", false)
	w.bind("alice")
	w.login("alice", "_req2", true)

	rec := httptest.NewRecorder()
	w.trace.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/trace", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "default-src 'none'") ||
		rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("status %d, headers %v", rec.Code, rec.Header())
	}
	golden(t, "first-then-bound.golden.html", rec.Body.Bytes())

	body := rec.Body.String()
	for _, w := range []string{"… 344 base64 characters …", `<span class="hl">      &lt;saml2:Attribute Name=&#34;xUserId&#34;`} {
		if !strings.Contains(body, w) {
			t.Errorf("the page lacks %q", w)
		}
	}
}

// TestOutcomes: each way a login ends gets its own label, and the steps
// are attributed to the right login when customers interleave.
func TestOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		play    func(w *world)
		want    []Outcome // newest first
		summary string    // of the newest
	}{
		{"first login, bound on the bind page", func(w *world) { w.login("alice", "_r1", false); w.bind("alice") },
			[]Outcome{OutcomeFirstLogin}, "first login: bind page, notification, binding stored"},
		{"already bound", func(w *world) { w.login("alice", "_r1", true) },
			[]Outcome{OutcomeBound}, "already bound: straight to the console"},
		{"waiting on the bind page", func(w *world) { w.login("alice", "_r1", false) },
			[]Outcome{OutcomeBindPage}, "first login: waiting on the bind page"},
		{"only the token so far", func(w *world) { w.mint("alice") },
			[]Outcome{OutcomeUnderway}, "under way: the login has not reached Huawei's console yet"},
		{"the bridge refuses the handoff", func(w *world) {
			w.mint("alice")
			w.audit(idp.AuditEvent{Event: idp.EventHandoff, XAccountID: "alice", Verdict: idp.VerdictRefused, Reason: "token_expired"})
		}, []Outcome{OutcomeRefused}, "refused at the bridge's handoff: token_expired"},
		{"the bridge refuses the AuthnRequest's signature", func(w *world) {
			w.mint("alice")
			w.audit(idp.AuditEvent{Event: idp.EventHandoff, XAccountID: "alice", Verdict: idp.VerdictRedirected, Reason: "first_login"})
			w.mock(mockiam.Event{Kind: mockiam.EventLogin, Accepted: true, RequestID: "_r1", Link: "/authui/saml/login?xAccountType=demo_IDP&isFirstLogin=true"})
			w.audit(idp.AuditEvent{Event: idp.EventSSO, RequestID: "_r1", XAccountID: "alice", Verdict: idp.VerdictRefused, Reason: "bad_signature"})
		}, []Outcome{OutcomeRefused}, "refused at the bridge's AuthnRequest check: bad_signature"},
		{"Huawei refuses the Response", func(w *world) {
			w.login("alice", "_r1", true)
			w.events[1].Accepted, w.events[1].Reason = false, mockiam.ReasonWrongAudience
			w.events = w.events[:2]
		}, []Outcome{OutcomeRefused}, "refused at Huawei's Response check: wrong_audience"},
		{"the bridge has not stored the notification", func(w *world) {
			w.login("alice", "_r1", false)
			w.mock(mockiam.Event{Kind: mockiam.EventBind, Accepted: true, XUserID: "alice", Message: `{"bindAction":0}`})
		}, []Outcome{OutcomeBindPage}, "first login: bound on the bind page; the notification has not reached the bridge yet"},
		{"two customers interleaved", func(w *world) {
			w.login("alice", "_r1", false)
			w.login("bob", "_r2", true)
			w.bind("alice")
		}, []Outcome{OutcomeBound, OutcomeFirstLogin}, "already bound: straight to the console"},
		{"a later login does not take the earlier one's bind", func(w *world) {
			w.login("alice", "_r1", false)
			w.bind("alice")
			w.login("alice", "_r2", true)
		}, []Outcome{OutcomeBound, OutcomeFirstLogin}, "already bound: straight to the console"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tc.play(w)
			got := w.trace.Logins(context.Background())
			if len(got) != len(tc.want) {
				t.Fatalf("%d logins, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if got[i].Outcome != tc.want[i] {
					t.Errorf("login %d: outcome %s (%s), want %s", got[i].N, got[i].Outcome, got[i].Summary, tc.want[i])
				}
			}
			if got[0].Summary != tc.summary {
				t.Errorf("summary %q, want %q", got[0].Summary, tc.summary)
			}
			for _, l := range got {
				if l.Outcome == OutcomeBound && (l.Bind != nil || l.Notification != nil) {
					t.Errorf("login %d is bound but shows a bind step", l.N)
				}
			}
		})
	}
}

// TestDeferredFlow: Huawei's AuthnRequest arrives first, the bridge sends
// the user to the platform's login, and the token resumes the flow.
func TestDeferredFlow(t *testing.T) {
	w := newWorld(t)
	w.mock(mockiam.Event{Kind: mockiam.EventLogin, Accepted: true, RequestID: "_r1", Link: "/authui/saml/login?xAccountType=demo_IDP&isFirstLogin=false"})
	w.audit(idp.AuditEvent{Event: idp.EventSSO, RequestID: "_r1", Verdict: idp.VerdictDeferred})
	w.mint("alice")
	w.audit(idp.AuditEvent{Event: idp.EventResume, RequestID: "_r1", XAccountID: "alice", Verdict: idp.VerdictIssued})
	w.mock(mockiam.Event{Kind: mockiam.EventACS, Accepted: true, XUserID: "alice", RequestID: "_r1"})
	w.mock(mockiam.Event{Kind: mockiam.EventSession, Accepted: true, XUserID: "alice", RequestID: "_r1", DomainID: "d1"})
	got := w.trace.Logins(context.Background())
	if len(got) != 1 || got[0].Outcome != OutcomeBound || got[0].SSO == nil || got[0].SSO.Verdict != idp.VerdictDeferred ||
		got[0].LoginLink == nil || got[0].LoginLink.IsFirstLogin != "false" {
		t.Fatalf("%+v", got)
	}
}

// TestBounded: the trace keeps MaxLogins logins, numbered on.
func TestBounded(t *testing.T) {
	w := newWorld(t)
	for i := 0; i < MaxLogins+5; i++ {
		w.mint("alice")
	}
	got := w.trace.Logins(context.Background())
	if len(got) != MaxLogins || got[0].N != MaxLogins+5 || got[len(got)-1].N != 6 {
		t.Fatalf("%d logins, newest %d, oldest %d", len(got), got[0].N, got[len(got)-1].N)
	}
}

// TestStoreError: a store that cannot be read says so on the page.
func TestStoreError(t *testing.T) {
	w := newWorld(t)
	w.login("broken", "_r1", true)
	got := w.trace.Logins(context.Background())
	if got[0].BindingError == "" {
		t.Fatal("no store error shown")
	}
}

// TestXMLDocument: indented, attributes marked, signature values
// shortened; anything that is not XML is shown as it came.
func TestXMLDocument(t *testing.T) {
	d := xmlDocument(fixture(t, "samlresp", "response-signed.golden.xml"))
	if len(d.Attributes) == 0 || d.Assertion == "" {
		t.Fatalf("attributes %v, assertion %q", d.Attributes, d.Assertion)
	}
	var marked []string
	for _, l := range d.Lines {
		if l.Highlight {
			marked = append(marked, strings.TrimSpace(l.Text))
		}
		if strings.Contains(l.Text, "SignatureValue>") && !strings.Contains(l.Text, "base64 characters") {
			t.Errorf("signature value not shortened: %s", l.Text)
		}
	}
	if len(marked) < 3 || !strings.HasPrefix(marked[0], "<saml2:AttributeStatement") || !strings.HasPrefix(marked[len(marked)-1], "</saml2:AttributeStatement") {
		t.Errorf("highlighted lines %q", marked)
	}
	if d := xmlDocument("not <xml"); len(d.Lines) != 1 || d.Lines[0].Text != "not <xml" {
		t.Errorf("not XML: %+v", d)
	}
	if xmlDocument("") != nil || jsonDocument("") != nil {
		t.Error("an empty message makes a document")
	}
}

// FuzzXMLDocument: a Response posted by any browser reaches the trace.
func FuzzXMLDocument(f *testing.F) {
	f.Add(`<a><b:AttributeStatement><c>x</c></b:AttributeStatement></a>`)
	f.Add(`<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>`)
	f.Fuzz(func(t *testing.T, s string) {
		if d := xmlDocument(s); s != "" && (d == nil || len(d.Lines) == 0) {
			t.Fatal("no lines")
		}
		_ = jsonDocument(s)
	})
}

// TestHops: the glance line ends with the console for a bound login, with
// the bind steps for a first one, and marks the refused step.
func TestHops(t *testing.T) {
	line := func(l Login) string {
		var parts []string
		for _, h := range l.Hops {
			parts = append(parts, h.Label+":"+h.State)
		}
		return strings.Join(parts, " ")
	}
	for _, tc := range []struct {
		name string
		play func(w *world)
		want string
	}{
		{"first", func(w *world) { w.login("alice", "_r1", false); w.bind("alice") },
			"token minted:ok login link isFirstLogin=true:ok AuthnRequest verified:ok Response accepted:ok bind page:ok notification:ok binding stored:ok"},
		{"waiting", func(w *world) { w.login("alice", "_r1", false) },
			"token minted:ok login link isFirstLogin=true:ok AuthnRequest verified:ok Response accepted:ok bind page:wait notification:wait binding stored:wait"},
		{"bound", func(w *world) { w.login("alice", "_r1", true) },
			"token minted:ok login link isFirstLogin=false:ok AuthnRequest verified:ok Response accepted:ok console:ok"},
		{"signature refused", func(w *world) {
			w.mint("alice")
			w.audit(idp.AuditEvent{Event: idp.EventHandoff, XAccountID: "alice", Verdict: idp.VerdictRedirected})
			w.mock(mockiam.Event{Kind: mockiam.EventLogin, Accepted: true, RequestID: "_r1", Link: "/authui/saml/login?xAccountType=demo_IDP&isFirstLogin=true"})
			w.audit(idp.AuditEvent{Event: idp.EventSSO, RequestID: "_r1", XAccountID: "alice", Verdict: idp.VerdictRefused, Reason: "bad_signature"})
		}, "token minted:ok login link isFirstLogin=true:ok AuthnRequest verified:no Response accepted:wait bind page:wait notification:wait binding stored:wait"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tc.play(w)
			if got := line(w.trace.Logins(context.Background())[0]); got != tc.want {
				t.Errorf("hops\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}
