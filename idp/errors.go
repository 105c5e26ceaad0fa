package idp

import (
	"context"
	"errors"
	"net/http"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/samlreq"
	"github.com/partneridp/partneridp/idp/samlresp"
	"github.com/partneridp/partneridp/metadata"
)

// Errors of this package's own edge.
var (
	// ErrFlowNotFound: the flow ID is unknown, was already completed, or
	// expired. The user starts again from the Huawei console link.
	ErrFlowNotFound = errors.New("idp: sign-in flow not found, already completed or expired")
	// ErrNoDefaultSP: no Huawei SP metadata is loaded (DefaultSP returned nil).
	ErrNoDefaultSP = errors.New("idp: no Huawei SP metadata loaded")
)

// Reasons this package gives (the sub-packages' reasons are passed through).
const (
	ReasonMethodNotAllowed = "method_not_allowed"
	ReasonBadForm          = "bad_form"
	ReasonDuplicateParam   = "duplicate_parameter"
	ReasonBadFlowID        = "bad_flow_id"
	ReasonFlowNotFound     = "flow_not_found"
	ReasonSPNotTrusted     = "sp_not_trusted"
	ReasonNotFound         = "not_found"
)

// RequestError is a request this package refuses before handing it to a
// sub-package: wrong method, unreadable form, bad flow ID.
type RequestError struct {
	Status int
	Reason string
	Msg    string
}

func (e *RequestError) Error() string { return "request refused (" + e.Reason + "): " + e.Msg }

func (e *RequestError) HTTPStatus() int       { return e.Status }
func (e *RequestError) RefusalReason() string { return e.Reason }
func (e *RequestError) PublicMessage() string { return e.Msg }

// answer is how the HTTP edge answers one error: status, page, audit
// verdict and reason.
type answer struct {
	status     int
	verdict    string
	reason     string
	msg        string // shown to the user and logged; never secret
	sigFailure bool   // counts as a signature failure in the metrics
	internal   bool   // our side failed: log the error, show a reference
}

// classify maps an error from any layer to its answer. It is the only place
// where status codes are chosen for errors:
//
//   - samlreq Untrusted (bad signature, unknown issuer, ACS mismatch, replay,
//     ...): 400. Unsatisfiable requests are answered with a signed SAML
//     error Response before they get here (one without its Request is
//     treated as untrusted). Internal: 500.
//   - handoff token refusals: 401 (the token does not authenticate anyone),
//     except a malformed or oversized token (400) and a replayed jti (409).
//     A service URL off the allow-list: 400. An unreadable handoff request:
//     the status handoff chose (400, 405, 413, 415).
//   - a flow that is unknown, used or expired: 400.
//   - bind notifications: bad signature, encoding or fields 400; an unbind
//     that names another domain than the bound one 409.
//   - a user the platform described in a way no assertion can carry
//     (mobile, email format): 400; a RelayState that cannot be echoed: 400.
//   - everything else: 500, with a reference to the log line.
func classify(err error) answer {
	if isStoreUnavailable(err) {
		// One outage, one answer, wherever the request met the store.
		return storeUnavailableAnswer()
	}
	var r Refusal
	if errors.As(err, &r) {
		return refusalAnswer(r)
	}
	for _, s := range sentinelAnswers {
		if errors.Is(err, s.target) {
			a := answer{status: s.status, verdict: VerdictRefused, reason: s.reason, msg: s.prefix + err.Error(), sigFailure: s.sigFailure}
			if s.msg != "" {
				a.msg = s.msg
			}
			if s.refine != nil {
				a.reason = s.refine(err)
			}
			return a
		}
	}
	switch {
	case errors.Is(err, ErrNoDefaultSP):
		return internalAnswer(ReasonNoDefaultSP)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return internalAnswer(ReasonCanceled)
	}
	return internalAnswer(ReasonInternal)
}

// Refusal is an error that carries its own answer (fosite's error carriers
// are the model): samlreq.Error, handoff's TokenError, ServiceError and
// RequestError, and this package's RequestError implement it, so each
// layer says its status and reason and classify only reads them.
type Refusal interface {
	error
	HTTPStatus() int       // 4xx: the client's mistake; 5xx: ours
	RefusalReason() string // a registered reason (reasons.go)
	PublicMessage() string // safe to show and log
}

var (
	_ Refusal = (*RequestError)(nil)
	_ Refusal = (*samlreq.Error)(nil)
	_ Refusal = (*handoff.TokenError)(nil)
	_ Refusal = (*handoff.ServiceError)(nil)
	_ Refusal = (*handoff.RequestError)(nil)
)

func refusalAnswer(r Refusal) answer {
	status, reason := r.HTTPStatus(), r.RefusalReason()
	if status >= http.StatusInternalServerError {
		return internalAnswer(reason)
	}
	return answer{status: status, verdict: VerdictRefused, reason: reason, msg: r.PublicMessage(), sigFailure: isSignatureReason(reason)}
}

// sentinelAnswers map the errors other packages mark with sentinels (no
// carrier of their own): bind notifications, bindings, the Response
// builder's refusals of what the platform sent, the flow store.
var sentinelAnswers = []struct {
	target     error
	status     int
	reason     string
	msg        string // "": the error's own text
	prefix     string // put before the error's own text
	sigFailure bool
	refine     func(error) string // a finer reason, when the cause tells
}{
	{target: handoff.ErrSessionTooLarge, status: http.StatusBadRequest, reason: ReasonSessionTooLarge},
	{target: ErrFlowNotFound, status: http.StatusBadRequest, reason: ReasonFlowNotFound,
		msg: "This sign-in has already been completed or has expired. Open the Huawei Cloud console link on the partner platform again."},
	{target: binding.ErrNotificationSignature, status: http.StatusBadRequest, reason: ReasonBadSignature, sigFailure: true,
		refine: func(err error) string {
			switch {
			case errors.Is(err, metadata.ErrSignatureMissing):
				return ReasonSignatureMissing
			case errors.Is(err, metadata.ErrSigAlgNotAllowed):
				return ReasonSigAlgNotAllowed
			}
			return ReasonBadSignature
		}},
	{target: binding.ErrNotificationEncoding, status: http.StatusBadRequest, reason: ReasonBadEncoding},
	{target: binding.ErrNotificationFields, status: http.StatusBadRequest, reason: ReasonBadFields},
	{target: binding.ErrNotificationMismatch, status: http.StatusConflict, reason: ReasonUnbindMismatch},
	{target: binding.ErrInvalid, status: http.StatusBadRequest, reason: ReasonInvalidBinding},
	{target: samlresp.ErrInvalidUser, status: http.StatusBadRequest, reason: ReasonInvalidUser,
		prefix: "The partner platform sent account data that cannot be put into a SAML assertion: "},
	{target: samlresp.ErrInvalidRelayState, status: http.StatusBadRequest, reason: ReasonBadRelayState},
}

func isStoreUnavailable(err error) bool {
	return errors.Is(err, binding.ErrUnavailable) || errors.Is(err, binding.ErrConflict)
}

func storeUnavailableAnswer() answer {
	a := internalAnswer(ReasonStoreUnavailable)
	a.status = http.StatusServiceUnavailable
	a.msg = "The bridge cannot reach its store right now. Nothing was changed; try again in a minute."
	return a
}

func internalAnswer(reason string) answer {
	return answer{status: http.StatusInternalServerError, verdict: VerdictError, reason: reason, internal: true,
		msg: "The bridge could not finish this request. Try again; if it repeats, give the operator the reference below."}
}

// isSignatureReason: the refusals counted as signature failures in the
// metrics (SAML messages and handoff tokens alike).
func isSignatureReason(reason string) bool {
	switch reason {
	case samlreq.ReasonBadSignature, samlreq.ReasonSignatureMissing, samlreq.ReasonSigAlgNotAllowed, samlreq.ReasonSignatureWrapping,
		reasonTokenPrefix + handoff.ReasonBadSignature, reasonTokenPrefix + handoff.ReasonAlgNotAllowed, reasonTokenPrefix + handoff.ReasonUnknownKey:
		return true
	}
	return false
}

// fail answers err: one audit event, metrics, a log line and the page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, ev *AuditEvent, err error) {
	a := classify(err)
	if _, ok := LookupReason(a.reason); !ok {
		s.log.Error("refusal reason missing from the registry (idp/reasons.go): add it", "reason", a.reason)
	}
	ev.Verdict, ev.Reason = a.verdict, a.reason
	view := errorView{Title: titleFor(a.status), Message: a.msg, Reason: a.reason}
	switch a.reason {
	case ReasonForeignOrigin, ReasonOriginUnknown, ReasonSwitchExpired, ReasonSwitchNotOurs:
		view.BackURL = s.cfg.LandingURL
	}
	s.localize(r, &view, a.status, a.internal)
	if a.internal {
		view.Reference = newReference()
		s.log.Error("request failed", "event", ev.Event, "reason", a.reason, "reference", view.Reference,
			"request_id", ev.RequestID, "sp", ev.SP, "err", err)
	} else {
		s.log.Warn("request refused", "event", ev.Event, "reason", a.reason, "status", a.status,
			"request_id", ev.RequestID, "sp", ev.SP, "detail", a.msg)
	}
	if a.sigFailure {
		s.metrics.signatureFailure(ev.Event, a.reason)
	}
	s.finish(*ev)
	writeErrorPage(w, a.status, view)
}

func titleFor(status int) string { return builtinTexts[LangEN][titleKey(status)] }
