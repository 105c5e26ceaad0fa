package samlresp

import (
	"fmt"

	"github.com/crewjam/saml"
)

// SAML 2.0 status codes (SAML core §3.2.2.2), from crewjam/saml's
// vocabulary. Success is spelled here: crewjam declares it a variable.
const (
	StatusSuccess   = "urn:oasis:names:tc:SAML:2.0:status:Success"
	StatusRequester = saml.StatusRequester
	StatusResponder = saml.StatusResponder

	StatusAuthnFailed         = saml.StatusAuthnFailed
	StatusInvalidNameIDPolicy = saml.StatusInvalidNameIDPolicy
	StatusNoAuthnContext      = saml.StatusNoAuthnContext
	StatusNoPassive           = saml.StatusNoPassive
	StatusPartialLogout       = saml.StatusPartialLogout
	StatusRequestDenied       = saml.StatusRequestDenied
	StatusRequestUnsupported  = saml.StatusRequestUnsupported
	StatusUnsupportedBinding  = saml.StatusUnsupportedBinding
)

// topLevelFor says under which top-level code each second-level code goes.
// The spec leaves this to the responder: what the requester asked for wrongly
// is Requester; what we cannot do for this principal now is Responder.
var topLevelFor = map[string]string{
	StatusInvalidNameIDPolicy: StatusRequester,
	StatusRequestUnsupported:  StatusRequester,
	StatusUnsupportedBinding:  StatusRequester,
	StatusNoPassive:           StatusResponder,
	StatusAuthnFailed:         StatusResponder,
	StatusNoAuthnContext:      StatusResponder,
	StatusRequestDenied:       StatusResponder,
	StatusPartialLogout:       StatusSuccess,
}

// splitStatus turns the status a caller names into the top-level code and the
// optional second-level code to nest under it.
func splitStatus(status string) (top, second string, err error) {
	switch status {
	case StatusSuccess, StatusRequester, StatusResponder:
		return status, "", nil
	}
	top, ok := topLevelFor[status]
	if !ok {
		return "", "", fmt.Errorf("%w: %.120q; use one of the Status* constants", ErrUnknownStatus, status)
	}
	return top, status, nil
}
