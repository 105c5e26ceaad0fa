package idp

import (
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"time"
)

// AuditEvent is one decision the bridge made. It never holds tokens,
// assertions or keys: only identifiers and the verdict.
type AuditEvent struct {
	Time        time.Time `json:"time"`
	Event       string    `json:"event"` // one of the Event* constants
	RequestID   string    `json:"request_id,omitempty"`
	SP          string    `json:"sp,omitempty"`
	Site        string    `json:"site,omitempty"` // the Huawei site's name, when known and not the only unnamed one
	XAccountID  string    `json:"xaccount_id,omitempty"`
	DomainID    string    `json:"domain_id,omitempty"`
	ClientIP    string    `json:"client_ip,omitempty"`
	Verdict     string    `json:"verdict"` // one of the Verdict* constants
	Reason      string    `json:"reason,omitempty"`
	AssertionID string    `json:"assertion_id,omitempty"`
}

// Auditor records audit events.
type Auditor interface {
	Record(AuditEvent)
}

// AuditLog writes audit events as JSON Lines, one event per line.
type AuditLog struct {
	mu  sync.Mutex
	w   io.Writer
	log *slog.Logger // where write failures are reported
}

// NewAuditLog writes events to w; failures to write are logged on logger.
func NewAuditLog(w io.Writer, logger *slog.Logger) *AuditLog {
	if logger == nil {
		logger = slog.Default()
	}
	return &AuditLog{w: w, log: logger}
}

func (a *AuditLog) Record(e AuditEvent) {
	line, err := json.Marshal(e)
	if err != nil {
		a.log.Error("audit event not encodable", "event", e.Event, "err", err)
		return
	}
	line = append(line, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.w.Write(line); err != nil {
		a.log.Error("audit log write failed", "err", err)
	}
}

// AuditFunc adapts a function to Auditor (tests, fan-out).
type AuditFunc func(AuditEvent)

func (f AuditFunc) Record(e AuditEvent) { f(e) }

// MultiAuditor sends each event to every auditor.
type MultiAuditor []Auditor

func (m MultiAuditor) Record(e AuditEvent) {
	for _, a := range m {
		a.Record(e)
	}
}

// Audit event names (AuditEvent.Event).
const (
	EventSSO              = "sso"               // an AuthnRequest at the SSO URL
	EventHandoff          = "handoff"           // a platform handoff without a flow: login link
	EventResume           = "resume"            // a platform handoff completing a deferred flow
	EventBindNotification = "bind_notification" // Huawei's bind notification
	EventLogout           = "logout"            // the SLO URL
	EventHTTP             = "http"              // any other path, and refusals before a handler (size caps, rate limit)
	EventAPI              = "api"               // a platform API call (/api/v1)
	EventWebhook          = "webhook"           // a webhook event given up (binding changes' deliveries)
)

// Verdicts (AuditEvent.Verdict).
const (
	VerdictIssued        = "issued"         // an assertion was sent
	VerdictErrorResponse = "error_response" // a signed SAML error Response was sent
	VerdictDeferred      = "deferred"       // the user was sent to the platform's login
	VerdictRedirected    = "redirected"     // the handoff sent the user to Huawei's login link
	VerdictStored        = "stored"         // a bind notification changed a binding
	VerdictRemoved       = "removed"        // an unbind notification removed a binding
	VerdictUnchanged     = "unchanged"      // a notification found its change already in place
	VerdictReplayed      = "replayed"       // an exact copy of an applied notification; nothing changed
	VerdictLoggedOut     = "logged_out"     // the bridge session ended
	VerdictConfirmAsked  = "confirm_asked"  // the handoff asked the user to confirm an account switch
	VerdictRefused       = "refused"        // the request was refused (4xx)
	VerdictError         = "error"          // our side failed (5xx)
	VerdictAnswered      = "answered"       // a platform API call was answered
	VerdictGivenUp       = "given_up"       // a webhook event was skipped after give_up_after
)

// slogAuditor is the auditor when none is configured: events go to the log.
type slogAuditor struct{ log *slog.Logger }

func (a slogAuditor) Record(e AuditEvent) {
	a.log.Info("audit", "event", e.Event, "request_id", e.RequestID, "sp", e.SP, "xaccount_id", e.XAccountID,
		"domain_id", e.DomainID, "client_ip", e.ClientIP, "verdict", e.Verdict, "reason", e.Reason, "assertion_id", e.AssertionID)
}
