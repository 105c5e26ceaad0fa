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
	var (
		reqErr     *samlreq.Error
		tokenErr   *handoff.TokenError
		serviceErr *handoff.ServiceError
		handoffReq *handoff.RequestError
		ours       *RequestError
	)
	switch {
	case errors.As(err, &ours):
		return answer{status: ours.Status, verdict: VerdictRefused, reason: ours.Reason, msg: ours.Msg,
			sigFailure: isSAMLSignatureReason(ours.Reason)}
	case errors.As(err, &reqErr):
		switch reqErr.Kind {
		case samlreq.Untrusted, samlreq.Unsatisfiable:
			return answer{status: http.StatusBadRequest, verdict: VerdictRefused, reason: reqErr.Reason, msg: reqErr.Msg,
				sigFailure: isSAMLSignatureReason(reqErr.Reason)}
		}
		if isStoreUnavailable(err) {
			// The replay store is the binding store: the same outage, the
			// same answer wherever the request met it.
			return storeUnavailableAnswer()
		}
		return internalAnswer(reqErr.Reason)
	case errors.As(err, &tokenErr):
		a := answer{status: http.StatusUnauthorized, verdict: VerdictRefused, reason: reasonTokenPrefix + tokenErr.Reason, msg: tokenErr.Msg}
		switch tokenErr.Reason {
		case handoff.ReasonReplay:
			a.status = http.StatusConflict
		case handoff.ReasonMalformed, handoff.ReasonTooLarge:
			a.status = http.StatusBadRequest
		case handoff.ReasonBadSignature, handoff.ReasonAlgNotAllowed, handoff.ReasonUnknownKey:
			a.sigFailure = true
		}
		return a
	case errors.As(err, &serviceErr):
		return answer{status: http.StatusBadRequest, verdict: VerdictRefused, reason: reasonServicePrefix + serviceErr.Reason, msg: serviceErr.Msg}
	case errors.As(err, &handoffReq):
		return answer{status: handoffReq.Status, verdict: VerdictRefused, reason: ReasonBadHandoffRequest, msg: handoffReq.Msg}
	case errors.Is(err, handoff.ErrSessionTooLarge):
		return answer{status: http.StatusBadRequest, verdict: VerdictRefused, reason: ReasonSessionTooLarge, msg: err.Error()}
	case errors.Is(err, ErrFlowNotFound):
		return answer{status: http.StatusBadRequest, verdict: VerdictRefused, reason: ReasonFlowNotFound,
			msg: "This sign-in has already been completed or has expired. Open the Huawei Cloud console link on the partner platform again."}
	case errors.Is(err, binding.ErrNotificationSignature):
		reason := ReasonBadSignature
		switch {
		case errors.Is(err, metadata.ErrSignatureMissing):
			reason = ReasonSignatureMissing
		case errors.Is(err, metadata.ErrSigAlgNotAllowed):
			reason = ReasonSigAlgNotAllowed
		}
		return answer{status: http.StatusBadRequest, verdict: VerdictRefused, reason: reason, msg: err.Error(), sigFailure: true}
	case errors.Is(err, binding.ErrNotificationEncoding):
		return answer{status: http.StatusBadRequest, verdict: VerdictRefused, reason: ReasonBadEncoding, msg: err.Error()}
	case errors.Is(err, binding.ErrNotificationFields):
		return answer{status: http.StatusBadRequest, verdict: VerdictRefused, reason: ReasonBadFields, msg: err.Error()}
	case errors.Is(err, binding.ErrNotificationMismatch):
		return answer{status: http.StatusConflict, verdict: VerdictRefused, reason: ReasonUnbindMismatch, msg: err.Error()}
	case errors.Is(err, binding.ErrInvalid):
		return answer{status: http.StatusBadRequest, verdict: VerdictRefused, reason: ReasonInvalidBinding, msg: err.Error()}
	case errors.Is(err, samlresp.ErrInvalidUser):
		return answer{status: http.StatusBadRequest, verdict: VerdictRefused, reason: ReasonInvalidUser,
			msg: "The partner platform sent account data that cannot be put into a SAML assertion: " + err.Error()}
	case errors.Is(err, samlresp.ErrInvalidRelayState):
		return answer{status: http.StatusBadRequest, verdict: VerdictRefused, reason: ReasonBadRelayState, msg: err.Error()}
	case isStoreUnavailable(err):
		return storeUnavailableAnswer()
	case errors.Is(err, ErrNoDefaultSP):
		return internalAnswer(ReasonNoDefaultSP)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return internalAnswer(ReasonCanceled)
	}
	return internalAnswer(ReasonInternal)
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

func isSAMLSignatureReason(reason string) bool {
	switch reason {
	case samlreq.ReasonBadSignature, samlreq.ReasonSignatureMissing, samlreq.ReasonSigAlgNotAllowed, samlreq.ReasonSignatureWrapping:
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
