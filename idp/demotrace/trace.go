// Package demotrace is the demo's login trace: for each "Open Huawei Cloud
// console" it shows a developer what happened, step by step, from what the
// demo's components already see: the handoff token's header and claims as
// the demo platform minted them (demoplatform.Tracer), the bridge's audit
// events (idp.Auditor), the mock Huawei IAM's events with the messages it
// sent and received (mockiam.IAM.Events), and the binding in the bridge's
// store.
//
// It is wired by the demo only. It adds nothing to the bridge's SAML path,
// and it holds no secret: no token (only its claims), no key, no session
// or bind cookie.
package demotrace

import (
	"context"
	"net/http"
	"sync"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/idp/demoplatform"
	"github.com/partneridp/partneridp/idp/mockiam"
)

// Limits of what the trace keeps.
const (
	MaxLogins = 50  // logins kept; the oldest is dropped first
	maxAudits = 512 // bridge audit events kept
)

// Config says where the trace reads from.
type Config struct {
	// MockEvents returns the mock Huawei IAM's recent events, oldest first
	// (mockiam.IAM.Events). Required.
	MockEvents func() []mockiam.Event
	// Binding looks the customer's binding up in the bridge's store;
	// found is false when there is none. Optional.
	Binding func(ctx context.Context, xAccountID string) (b binding.Binding, found bool, err error)
}

// Trace collects the logins and serves the trace page. It implements
// demoplatform.Tracer and idp.Auditor; its methods are safe for concurrent
// use.
type Trace struct {
	cfg Config

	mu     sync.Mutex
	seq    uint64
	logins []*minted
	audits []audit
}

// minted is a handoff token the platform minted: the start of a login.
type minted struct {
	seq uint64
	n   int
	demoplatform.TokenMinted
}

type audit struct {
	seq uint64
	idp.AuditEvent
}

var (
	_ demoplatform.Tracer = (*Trace)(nil)
	_ idp.Auditor         = (*Trace)(nil)
)

// New returns an empty trace.
func New(cfg Config) *Trace {
	if cfg.MockEvents == nil {
		cfg.MockEvents = func() []mockiam.Event { return nil }
	}
	return &Trace{cfg: cfg}
}

// HandoffMinted starts a login (demoplatform.Tracer).
func (t *Trace) HandoffMinted(m demoplatform.TokenMinted) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	n := 1
	if len(t.logins) > 0 {
		n = t.logins[len(t.logins)-1].n + 1
	}
	t.logins = append(t.logins, &minted{seq: t.seq, n: n, TokenMinted: m})
	if len(t.logins) > MaxLogins {
		t.logins = append([]*minted(nil), t.logins[len(t.logins)-MaxLogins:]...)
	}
}

// Record keeps one of the bridge's audit events (idp.Auditor).
func (t *Trace) Record(e idp.AuditEvent) {
	switch e.Event {
	case idp.EventHandoff, idp.EventResume, idp.EventSSO, idp.EventBindNotification:
	default:
		return // logout, API, webhook and HTTP events are not part of a login
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	t.audits = append(t.audits, audit{seq: t.seq, AuditEvent: e})
	if len(t.audits) > maxAudits {
		t.audits = append([]audit(nil), t.audits[len(t.audits)-maxAudits:]...)
	}
}

// Logins assembles the trace of every kept login, newest first.
func (t *Trace) Logins(ctx context.Context) []Login {
	t.mu.Lock()
	logins := append([]*minted(nil), t.logins...)
	audits := append([]audit(nil), t.audits...)
	t.mu.Unlock()
	events := t.cfg.MockEvents()

	out := make([]Login, 0, len(logins))
	for i := len(logins) - 1; i >= 0; i-- {
		until := ^uint64(0)
		for _, later := range logins[i+1:] {
			if later.XAccountID == logins[i].XAccountID {
				until = later.seq
				break
			}
		}
		l := assemble(logins[i], until, audits, events)
		if t.cfg.Binding != nil && l.Outcome != OutcomeRefused {
			if b, found, err := t.cfg.Binding(ctx, l.XAccountID); err != nil {
				l.BindingError = "the store could not be read: " + err.Error()
			} else if found {
				l.Binding = &b
			}
			l.Hops = hops(&l)
		}
		out = append(out, l)
	}
	return out
}

// ServeHTTP serves the trace page (demoplatform.Tracer).
func (t *Trace) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	render(w, t.Logins(r.Context()))
}
