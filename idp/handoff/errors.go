package handoff

import (
	"errors"
	"fmt"
	"net/http"
)

// Reasons carried by *TokenError. They are stable strings: the HTTP layer maps them to
// responses and the audit log records them.
const (
	ReasonMalformed       = "malformed"         // not a compact JWS, bad base64/JSON, unsupported header
	ReasonTooLarge        = "too_large"         // longer than MaxTokenBytes
	ReasonAlgNotAllowed   = "alg_not_allowed"   // alg is not the one pinned for the key (incl. "none")
	ReasonUnknownKey      = "unknown_key"       // kid unknown, or missing where the platform has several keys
	ReasonBadSignature    = "bad_signature"     // signature does not verify
	ReasonBadIssuer       = "bad_issuer"        // iss is not a configured platform
	ReasonBadAudience     = "bad_audience"      // aud does not name this bridge
	ReasonExpired         = "expired"           // exp is in the past (beyond leeway)
	ReasonIssuedInFuture  = "issued_in_future"  // iat is in the future (beyond leeway)
	ReasonNotYetValid     = "not_yet_valid"     // nbf is in the future (beyond leeway)
	ReasonLifetimeTooLong = "lifetime_too_long" // exp-iat exceeds the platform's cap
	ReasonMissingClaim    = "missing_claim"     // iss, aud, sub, iat, exp or jti absent
	ReasonBadSubject      = "bad_subject"       // sub is not a valid xaccount_id
	ReasonBadClaim        = "bad_claim"         // an optional claim has the wrong type or bad characters
	ReasonReplay          = "replay"            // jti already used
)

var (
	// ErrInvalidToken matches every *TokenError (errors.Is).
	ErrInvalidToken = errors.New("handoff: invalid handoff token")
	// ErrReplay is returned by a ReplayStore when the id was already used.
	ErrReplay = errors.New("handoff: token id already used")
	// ErrNoSession is returned by Sessions.Read when there is no usable session cookie.
	ErrNoSession = errors.New("handoff: no valid bridge session")
	// ErrServiceNotAllowed matches every *ServiceError (errors.Is).
	ErrServiceNotAllowed = errors.New("handoff: service URL not allowed")
	// ErrConfig matches every *ConfigError (errors.Is).
	ErrConfig = errors.New("handoff: bad configuration")
	// ErrBadRequest is returned by ReadRequest when the handoff request itself is unusable.
	ErrBadRequest = errors.New("handoff: bad handoff request")
)

// TokenError says why a platform handoff token was refused. Msg never contains the token.
type TokenError struct {
	Reason   string // one of the Reason* constants
	Platform string // configured platform name, when known
	Msg      string
	Err      error // underlying cause, e.g. ErrReplay; never carries the token
}

func (e *TokenError) Error() string {
	s := "handoff token refused (" + e.Reason + ")"
	if e.Platform != "" {
		s += " for platform " + e.Platform
	}
	return s + ": " + e.Msg
}

func (e *TokenError) Is(target error) bool { return target == ErrInvalidToken }
func (e *TokenError) Unwrap() error        { return e.Err }

func tokenErr(reason, platform, format string, args ...any) *TokenError {
	return &TokenError{Reason: reason, Platform: platform, Msg: fmt.Sprintf(format, args...)}
}

// ServiceError says why a `service` URL was refused.
type ServiceError struct {
	Reason string // "too_long", "bad_characters", "not_absolute", "scheme_not_allowed", "host_not_allowed", "userinfo", "no_default"
	Msg    string
}

func (e *ServiceError) Error() string {
	return "service URL refused (" + e.Reason + "): " + e.Msg
}

func (e *ServiceError) Is(target error) bool { return target == ErrServiceNotAllowed }

// ConfigError reports an unusable key, platform, session or policy setting.
type ConfigError struct {
	Field string // what was being configured, e.g. a file name or "platform acme"
	Msg   string
}

func (e *ConfigError) Error() string {
	return "handoff config " + e.Field + ": " + e.Msg
}

func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

func configErr(field, format string, args ...any) *ConfigError {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// clip shortens attacker-supplied text before it goes into an error message.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// HTTPStatus, RefusalReason and PublicMessage carry the HTTP edge's answer
// (idp.Refusal): a token that authenticates nobody is 401, except an
// unreadable one (400) and a replayed one (409).
func (e *TokenError) HTTPStatus() int {
	switch e.Reason {
	case ReasonReplay:
		return http.StatusConflict
	case ReasonMalformed, ReasonTooLarge:
		return http.StatusBadRequest
	}
	return http.StatusUnauthorized
}

func (e *TokenError) RefusalReason() string { return "token_" + e.Reason }
func (e *TokenError) PublicMessage() string { return e.Msg }

// A service URL off the allow-list is the platform's mistake: 400.
func (e *ServiceError) HTTPStatus() int       { return http.StatusBadRequest }
func (e *ServiceError) RefusalReason() string { return "service_" + e.Reason }
func (e *ServiceError) PublicMessage() string { return e.Msg }

// An unreadable handoff request answers with the status ReadRequest chose.
func (e *RequestError) HTTPStatus() int       { return e.Status }
func (e *RequestError) RefusalReason() string { return "bad_handoff_request" }
func (e *RequestError) PublicMessage() string { return e.Msg }
