package demotrace

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/idp/mockiam"
)

// Outcome is how a login ended, as the trace page labels it.
type Outcome string

// Outcomes.
const (
	OutcomeFirstLogin Outcome = "first-login" // bind page, notification, binding stored
	OutcomeBindPage   Outcome = "bind-page"   // first login, waiting on the bind page
	OutcomeBound      Outcome = "bound"       // already bound: straight to the console
	OutcomeRefused    Outcome = "refused"     // a step was refused
	OutcomeUnderway   Outcome = "underway"    // not finished (yet)
)

// Label is the outcome's badge on the page.
func (o Outcome) Label() string {
	switch o {
	case OutcomeFirstLogin, OutcomeBindPage:
		return "first login"
	case OutcomeBound:
		return "already bound"
	case OutcomeUnderway:
		return "under way"
	}
	return string(o)
}

// Login is one console visit, assembled from what each component saw.
type Login struct {
	N          int
	XAccountID string
	Via        string
	Outcome    Outcome
	Summary    string // one line a developer reads at a glance

	// Hops is the login at a glance: one chip a step, in order.
	Hops []Hop

	Token Token

	Handoff      *idp.AuditEvent // the bridge's handoff (or resume) decision
	LoginLink    *Link           // the bridge's redirect to Huawei's login link, as the mock received it
	MockLogin    *mockiam.Event  // the mock's login-link event: the AuthnRequest it sent
	AuthnRequest *Document
	SSO          *idp.AuditEvent // the bridge's AuthnRequest decision (signature verified or not)
	ACS          *mockiam.Event  // the mock's check of the Response
	Response     *Document
	Session      *mockiam.Event // what the mock did with the user next
	Bind         *mockiam.Event // the bind page's result
	Notification *Document      // the bind notification's JSON
	Stored       *idp.AuditEvent
	Binding      *binding.Binding // the binding in the bridge's store now
	BindingError string
}

// Hop is one step of the glance line. State is "ok", "no" (refused) or
// "wait" (not reached yet).
type Hop struct {
	Label, State string
}

// Token is the handoff token's header and claims; never its signature.
type Token struct {
	Header []Claim
	Claims []Claim
}

// Claim is one header field or claim, with a readable time for iat, exp
// and nbf.
type Claim struct {
	Name, Value, Note string
}

// Link is Huawei's login link as the bridge sent the browser to it.
type Link struct {
	URL          string
	IsFirstLogin string
	Service      string
}

// assemble builds one login from the token minted, the bridge's audit
// events after it (up to the same customer's next login, seq until) and the
// mock's events for the AuthnRequests the bridge answered for it.
func assemble(m *minted, until uint64, audits []audit, events []mockiam.Event) Login {
	l := Login{N: m.n, XAccountID: m.XAccountID, Via: m.Via, Token: token(m.Header, m.Claims)}

	requests := map[string]bool{}
	for _, a := range audits {
		if a.seq < m.seq || a.seq >= until || a.XAccountID != m.XAccountID {
			continue
		}
		a := a.AuditEvent
		switch a.Event {
		case idp.EventHandoff, idp.EventResume:
			if l.Handoff == nil {
				l.Handoff = &a
			}
			if a.RequestID != "" {
				requests[a.RequestID] = true
			}
		case idp.EventSSO:
			if l.SSO == nil {
				l.SSO = &a
			}
			requests[a.RequestID] = a.RequestID != ""
		case idp.EventBindNotification:
			if l.Stored == nil {
				l.Stored = &a
			}
		}
	}
	// A deferred flow: the AuthnRequest reached the bridge before the token.
	if l.SSO == nil {
		for _, a := range audits {
			if a.Event == idp.EventSSO && requests[a.RequestID] {
				e := a.AuditEvent
				l.SSO = &e
				break
			}
		}
	}

	last := -1
	for i, e := range events {
		if e.RequestID == "" || !requests[e.RequestID] {
			continue
		}
		e := e
		switch e.Kind {
		case mockiam.EventLogin:
			if l.MockLogin == nil {
				l.MockLogin = &e
				l.LoginLink = loginLink(e.Link)
				l.AuthnRequest = xmlDocument(e.Message)
			}
		case mockiam.EventACS:
			l.ACS = &e
			l.Response = xmlDocument(e.Message)
		case mockiam.EventSession:
			l.Session = &e
		}
		last = i
	}
	// The bind page's result comes after the session event, before the
	// customer's next Response.
	if l.Session != nil && l.Session.Accepted && l.Session.DomainID == "" {
		for _, e := range events[last+1:] {
			if e.XUserID != m.XAccountID {
				continue
			}
			if e.Kind == mockiam.EventACS || e.Kind == mockiam.EventSession {
				break
			}
			if e.Kind == mockiam.EventBind {
				e := e
				l.Bind = &e
				if e.Accepted {
					l.Notification = jsonDocument(e.Message)
					break
				}
			}
		}
	}
	l.Outcome, l.Summary = outcome(&l)
	l.Hops = hops(&l)
	return l
}

// hops draws the login as a line of steps: a first login ends with the
// bind page, the notification and the stored binding; a later one with
// the console.
func hops(l *Login) []Hop {
	state := func(reached, ok bool) string {
		switch {
		case !reached:
			return "wait"
		case ok:
			return "ok"
		}
		return "no"
	}
	out := []Hop{{"token minted", "ok"}}
	link := "login link"
	if l.LoginLink != nil {
		link = "login link isFirstLogin=" + l.LoginLink.IsFirstLogin
	}
	out = append(out,
		Hop{link, state(l.Handoff != nil, l.Handoff != nil && l.Handoff.Verdict != idp.VerdictRefused && l.Handoff.Verdict != idp.VerdictError)},
		Hop{"AuthnRequest verified", state(l.SSO != nil, l.SSO != nil && (l.SSO.Verdict == idp.VerdictIssued || l.SSO.Verdict == idp.VerdictDeferred))},
		Hop{"Response accepted", state(l.ACS != nil, l.ACS != nil && l.ACS.Accepted)})
	if l.Session != nil && l.Session.Accepted && l.Session.DomainID != "" {
		return append(out, Hop{"console", "ok"})
	}
	if l.Session != nil && !l.Session.Accepted {
		return append(out, Hop{"console", "no"})
	}
	return append(out,
		Hop{"bind page", state(l.Bind != nil, l.Bind != nil && l.Bind.Accepted)},
		Hop{"notification", state(l.Stored != nil, l.Stored != nil && l.Stored.Verdict == idp.VerdictStored)},
		Hop{"binding stored", state(l.Stored != nil && l.Binding != nil, l.Binding != nil)})
}

// outcome labels the login: first and later logins must read differently.
func outcome(l *Login) (Outcome, string) {
	refused := func(step, reason string) (Outcome, string) {
		return OutcomeRefused, "refused at " + step + ": " + reason
	}
	switch {
	case l.Handoff != nil && l.Handoff.Verdict == idp.VerdictRefused || l.Handoff != nil && l.Handoff.Verdict == idp.VerdictError:
		return refused("the bridge's handoff", l.Handoff.Reason)
	case l.MockLogin != nil && !l.MockLogin.Accepted:
		return refused("Huawei's login link", string(l.MockLogin.Reason))
	case l.SSO != nil && (l.SSO.Verdict == idp.VerdictRefused || l.SSO.Verdict == idp.VerdictError || l.SSO.Verdict == idp.VerdictErrorResponse):
		return refused("the bridge's AuthnRequest check", l.SSO.Reason)
	case l.ACS != nil && !l.ACS.Accepted:
		return refused("Huawei's Response check", string(l.ACS.Reason))
	case l.Session != nil && !l.Session.Accepted:
		return refused("Huawei's login", string(l.Session.Reason))
	case l.Bind != nil && l.Bind.Accepted && l.Stored != nil && l.Stored.Verdict == idp.VerdictStored:
		return OutcomeFirstLogin, "first login: bind page, notification, binding stored"
	case l.Bind != nil && l.Bind.Accepted && l.Stored != nil:
		return refused("the bridge's bind notification", l.Stored.Verdict+" "+l.Stored.Reason)
	case l.Bind != nil && l.Bind.Accepted:
		return OutcomeBindPage, "first login: bound on the bind page; the notification has not reached the bridge yet"
	case l.Session != nil && l.Session.DomainID != "":
		return OutcomeBound, "already bound: straight to the console"
	case l.Session != nil:
		return OutcomeBindPage, "first login: waiting on the bind page"
	}
	return OutcomeUnderway, "under way: the login has not reached Huawei's console yet"
}

func loginLink(requestURI string) *Link {
	if requestURI == "" {
		return nil
	}
	u, err := url.Parse(requestURI)
	if err != nil {
		return &Link{URL: requestURI}
	}
	q := u.Query()
	first := q.Get("isFirstLogin")
	if first == "" {
		first = "(absent: false)"
	}
	return &Link{URL: requestURI, IsFirstLogin: first, Service: q.Get("service")}
}

// token lists the header and the claims in a fixed order: the registered
// claims first, then the profile claims by name.
func token(header, claims map[string]any) Token {
	return Token{Header: claimList(header, []string{"alg", "typ", "kid"}), Claims: claimList(claims, []string{"iss", "sub", "aud", "iat", "nbf", "exp", "jti"})}
}

func claimList(m map[string]any, first []string) []Claim {
	rank := map[string]int{}
	for i, k := range first {
		rank[k] = i + 1
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		ri, rj := rank[names[i]], rank[names[j]]
		switch {
		case ri != 0 && rj != 0:
			return ri < rj
		case ri != 0 || rj != 0:
			return ri != 0
		}
		return names[i] < names[j]
	})
	out := make([]Claim, 0, len(names))
	for _, k := range names {
		c := Claim{Name: k}
		switch v := m[k].(type) {
		case string:
			c.Value = v
		case float64:
			c.Value = fmt.Sprintf("%.0f", v)
			if k == "iat" || k == "exp" || k == "nbf" {
				c.Note = time.Unix(int64(v), 0).UTC().Format("2006-01-02 15:04:05 UTC")
			}
		default:
			b, _ := json.Marshal(v)
			c.Value = string(b)
		}
		out = append(out, c)
	}
	return out
}

// jsonDocument indents a JSON message for reading.
func jsonDocument(msg string) *Document {
	if msg == "" {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(msg), "", "  "); err != nil {
		return &Document{Lines: plainLines(msg)}
	}
	return &Document{Lines: plainLines(buf.String())}
}

func plainLines(s string) []Line {
	var out []Line
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		out = append(out, Line{Text: l})
	}
	return out
}
