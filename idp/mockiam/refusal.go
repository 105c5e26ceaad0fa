package mockiam

import (
	"errors"
	"fmt"
	"net/http"
)

// Reason names why the mock refused something. It is shown on the page
// (id="reason"), logged, and kept in Events, so tests can assert on it.
type Reason string

// Reasons a login link, a Response, a bind form or a logout is refused.
const (
	ReasonBadLoginLink        Reason = "bad_login_link"
	ReasonUnknownXAccountType Reason = "unknown_xaccounttype"
	ReasonIdPMetadata         Reason = "idp_metadata_unusable"
	ReasonBusy                Reason = "too_many_pending_logins"

	ReasonMalformed          Reason = "malformed_response"
	ReasonWrapping           Reason = "signature_wrapping"
	ReasonUnsolicited        Reason = "unsolicited_response"
	ReasonUnknownRequest     Reason = "unknown_in_response_to"
	ReasonRequestExpired     Reason = "request_expired"
	ReasonReplay             Reason = "replay"
	ReasonRelayState         Reason = "relaystate_mismatch"
	ReasonWrongDestination   Reason = "wrong_destination"
	ReasonWrongIssuer        Reason = "wrong_issuer"
	ReasonStatus             Reason = "status_not_success"
	ReasonUnsigned           Reason = "assertion_unsigned"
	ReasonUntrustedKey       Reason = "untrusted_signing_key"
	ReasonBadSignature       Reason = "bad_signature"
	ReasonWrongRecipient     Reason = "wrong_recipient"
	ReasonWrongInResponseTo  Reason = "wrong_subject_in_response_to"
	ReasonWrongAudience      Reason = "wrong_audience"
	ReasonExpired            Reason = "expired"
	ReasonNotYetValid        Reason = "not_yet_valid"
	ReasonNoBearer           Reason = "no_valid_bearer_confirmation"
	ReasonNoValidity         Reason = "no_validity_window"
	ReasonUserID             Reason = "bad_xuserid"
	ReasonNotBound           Reason = "account_not_bound"
	ReasonBadBindForm        Reason = "bad_bind_form"
	ReasonNoSession          Reason = "no_session"
	ReasonNotImplemented     Reason = "not_implemented"
	ReasonInternal           Reason = "internal_error"
	ReasonMethodNotAllowed   Reason = "method_not_allowed"
	ReasonNotFound           Reason = "not_found"
	ReasonNotificationFailed Reason = "notification_not_signed"
)

// ErrRefused matches every *Refusal with errors.Is.
var ErrRefused = errors.New("mockiam refused the request")

// Refusal is the error the mock returns (and shows) when it refuses an
// input. Detail says what was wrong and what to change; it never holds an
// assertion, a key or a token.
type Refusal struct {
	Reason Reason
	Status int // HTTP status shown to the browser
	Detail string
}

func (r *Refusal) Error() string { return fmt.Sprintf("mockiam: %s: %s", r.Reason, r.Detail) }

// Is makes errors.Is(err, ErrRefused) true for every refusal.
func (r *Refusal) Is(target error) bool { return target == ErrRefused }

func refuse(reason Reason, status int, format string, args ...any) *Refusal {
	return &Refusal{Reason: reason, Status: status, Detail: fmt.Sprintf(format, args...)}
}

// forbid is a 403 refusal: the input was well-formed but not trustworthy.
func forbid(reason Reason, format string, args ...any) *Refusal {
	return refuse(reason, http.StatusForbidden, format, args...)
}

// bad is a 400 refusal: the input could not be read.
func bad(reason Reason, format string, args ...any) *Refusal {
	return refuse(reason, http.StatusBadRequest, format, args...)
}

// asRefusal turns any error into a refusal, keeping a *Refusal as is.
func asRefusal(err error) *Refusal {
	var r *Refusal
	if errors.As(err, &r) {
		return r
	}
	return refuse(ReasonInternal, http.StatusInternalServerError, "the mock failed on this page; its log says why. Start again from the partner platform")
}
