package samlreq

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/crewjam/saml"
)

// Kind says how the caller must answer a refused request.
type Kind int

const (
	// Untrusted: the request cannot be trusted (bad or missing signature,
	// unknown Issuer, ACS not in metadata, replay, ...). Answer with a 400
	// page, never with a SAML Response: there is nobody safe to send it to.
	Untrusted Kind = iota + 1
	// Unsatisfiable: the request is signed, from a known SP, to a metadata
	// ACS, but asks for something we cannot do. Answer with a signed SAML
	// error Response (status Requester, sub-status Error.Status) to
	// Error.Request.ACS.
	Unsatisfiable
	// Internal: our side failed (replay store down, Intake misconfigured).
	// Answer with a 500; the request may be retried.
	Internal
)

func (k Kind) String() string {
	switch k {
	case Untrusted:
		return "untrusted"
	case Unsatisfiable:
		return "unsatisfiable"
	case Internal:
		return "internal"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Reasons: short machine codes for audit events and metrics labels.
const (
	ReasonMisconfigured    = "misconfigured"
	ReasonNoMessage        = "no_message" // no SAMLRequest at all (a plain browser redirect)
	ReasonMalformedQuery   = "malformed_query"
	ReasonDuplicateParam   = "duplicate_parameter"
	ReasonSignatureMissing = "signature_missing"
	ReasonSigAlgNotAllowed = "sigalg_not_allowed"
	ReasonBadSignature     = "bad_signature"
	// ReasonSignatureWrapping: a signature-wrapping shape (more than one
	// ds:Signature, one below the root, or a Reference to anything but the
	// root's ID); refused before any signature is checked.
	ReasonSignatureWrapping = "signature_wrapping"
	ReasonUndecodable       = "undecodable"
	ReasonTooLarge          = "too_large"
	ReasonDTD               = "dtd"
	ReasonMalformedXML      = "malformed_xml"
	ReasonWrongMessage      = "wrong_message" // root is not the expected request element
	ReasonMissingIssuer     = "missing_issuer"
	ReasonUnknownIssuer     = "unknown_issuer"
	ReasonBadVersion        = "bad_version"
	ReasonMissingID         = "missing_id"
	ReasonBadIssueInstant   = "bad_issue_instant"
	ReasonExpired           = "expired"
	ReasonIssuedInFuture    = "issued_in_future"
	ReasonWrongDestination  = "wrong_destination"
	ReasonACSMismatch       = "acs_mismatch"
	ReasonNoACS             = "no_acs"
	ReasonMissingNameID     = "missing_nameid"
	ReasonReplay            = "replay"
	ReasonReplayStore       = "replay_store"

	ReasonUnsupportedBinding      = "unsupported_binding"
	ReasonUnsupportedNameIDFormat = "unsupported_nameid_format"
)

// SAML second-level status codes for Unsatisfiable errors (the top-level
// code is urn:oasis:names:tc:SAML:2.0:status:Requester).
const (
	StatusRequester           = saml.StatusRequester
	StatusInvalidNameIDPolicy = saml.StatusInvalidNameIDPolicy
	StatusUnsupportedBinding  = saml.StatusUnsupportedBinding
	StatusNoPassive           = saml.StatusNoPassive
)

// ErrReplay is what a ReplayStore returns for a message ID it already holds.
var ErrReplay = errors.New("request ID already used")

// Error is every refusal of this package. Match it with errors.As.
type Error struct {
	Kind   Kind
	Reason string // one of the Reason constants
	Msg    string // what was wrong and what to do; safe to show and log
	// RequestID and Issuer as the message claims them, when it got that far
	// (not proof of origin when Reason is a signature or issuer failure).
	RequestID string
	Issuer    string
	// Status is the SAML sub-status to answer an Unsatisfiable error with.
	Status string
	// Request is the verified AuthnRequest, its ACS resolved from metadata,
	// for an Unsatisfiable error; nil otherwise.
	Request *AuthnRequest
	Err     error // underlying cause, if any
}

func (e *Error) Error() string {
	return fmt.Sprintf("SAML request refused (%s, %s): %s", e.Kind, e.Reason, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// maxClaimed bounds the claimed values copied into errors and logs.
const maxClaimed = 256

func newError(kind Kind, reason string, h *header, cause error, format string, args ...any) *Error {
	e := &Error{Kind: kind, Reason: reason, Msg: fmt.Sprintf(format, args...), Err: cause}
	if h != nil {
		e.RequestID = clip(h.ID)
		e.Issuer = clip(h.Issuer)
	}
	return e
}

func untrusted(reason string, h *header, format string, args ...any) *Error {
	return newError(Untrusted, reason, h, nil, format, args...)
}

func clip(s string) string {
	if len(s) > maxClaimed {
		return s[:maxClaimed]
	}
	return s
}

// HTTPStatus, RefusalReason and PublicMessage carry the HTTP edge's answer
// (idp.Refusal): a request the SP or the browser got wrong is 400, our own
// failure 500.
func (e *Error) HTTPStatus() int {
	if e.Kind == Internal {
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

func (e *Error) RefusalReason() string { return e.Reason }
func (e *Error) PublicMessage() string { return e.Msg }
