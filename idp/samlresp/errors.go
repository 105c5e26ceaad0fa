package samlresp

import "errors"

// Errors at the package edge. Each is wrapped with a message saying what was
// wrong; callers test them with errors.Is and map them to an HTTP status or to
// a SAML error Response.
var (
	// ErrInvalidConfig: the Builder itself is misconfigured (issuer, key, times).
	ErrInvalidConfig = errors.New("samlresp: invalid builder configuration")
	// ErrInvalidRequest: the Request cannot be answered (no SP, ACS not in the
	// SP metadata, malformed InResponseTo). Answer with a Requester error.
	ErrInvalidRequest = errors.New("samlresp: invalid request")
	// ErrInvalidNameIDPolicy: the requested NameID format or SPNameQualifier
	// cannot be honoured. Answer with StatusInvalidNameIDPolicy.
	ErrInvalidNameIDPolicy = errors.New("samlresp: NameID policy cannot be satisfied")
	// ErrInvalidUser: a user field (from the handoff token) is missing or malformed.
	ErrInvalidUser = errors.New("samlresp: invalid user data")
	// ErrInvalidProfile: an attribute profile or its customisation is invalid.
	ErrInvalidProfile = errors.New("samlresp: invalid attribute profile")
	// ErrUnknownStatus: a status code this package does not know how to send.
	ErrUnknownStatus = errors.New("samlresp: unknown SAML status code")
	// ErrInvalidACS: the POST target is not an absolute https URL (http only on loopback).
	ErrInvalidACS = errors.New("samlresp: invalid assertion consumer service URL")
	// ErrInvalidRelayState: RelayState cannot be echoed byte for byte through an HTML form.
	ErrInvalidRelayState = errors.New("samlresp: RelayState cannot be echoed")
	// ErrNoSLOEndpoint: the SP metadata has no HTTP-Redirect SingleLogoutService.
	ErrNoSLOEndpoint = errors.New("samlresp: SP has no HTTP-Redirect single logout endpoint")
)
