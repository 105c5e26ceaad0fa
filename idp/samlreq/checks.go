package samlreq

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/partneridp/partneridp/metadata"
)

// The named checks, in the order the entry points in intake.go run them.
// Each one looks at one thing and says what was wrong and what to do.

// readRedirectQuery splits the query and requires a SAMLRequest with its
// signature parameters.
func (in *Intake) readRedirectQuery(rawQuery string) (*redirectQuery, error) {
	q, err := splitRedirectQuery(rawQuery, in.maxQuery())
	if err != nil {
		return nil, err
	}
	if err := q.requireMessageAndSignature(); err != nil {
		return nil, err
	}
	if err := checkRelayStateSize(q.RelayState.value); err != nil {
		return nil, err
	}
	return q, nil
}

func checkRelayStateSize(relayState string) error {
	if len(relayState) > maxRelayState {
		return untrusted(ReasonMalformedQuery, nil,
			"RelayState is %d bytes, more than the %d allowed: the SP must send a shorter RelayState", len(relayState), maxRelayState)
	}
	return nil
}

func singleFormValue(form url.Values, name string) (string, error) {
	switch vs := form[name]; len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	}
	return "", untrusted(ReasonDuplicateParam, nil, "the form has %s more than once: send each SAML field once", name)
}

// lookupSP finds the SP the message claims to come from. A missing Issuer
// is refused here: without it there is no certificate to verify with.
func (in *Intake) lookupSP(h *header) (*metadata.SP, error) {
	if h.Issuer == "" {
		return nil, untrusted(ReasonMissingIssuer, h,
			"the request has no saml:Issuer: the SP must name its entityID in the Issuer element")
	}
	sp, ok := in.SPs(h.Issuer)
	if !ok || sp == nil {
		return nil, untrusted(ReasonUnknownIssuer, h,
			"no trusted SP has entityID %.200q: load that SP's metadata, or fix the Issuer the SP sends", h.Issuer)
	}
	return sp, nil
}

// verifyQuerySignature checks the detached signature over the octets as
// received, against every signing certificate of the SP. It says whether
// the (allowed) algorithm was rsa-sha1.
func (in *Intake) verifyQuerySignature(q *redirectQuery, sp *metadata.SP, h *header) (bool, error) {
	_, err := in.Policy.VerifyDetached(q.SigAlg.value, q.signedOctets(), q.Signature.value, sp.SigningCerts)
	switch {
	case errors.Is(err, metadata.ErrSigAlgNotAllowed):
		return false, newError(Untrusted, ReasonSigAlgNotAllowed, h, err, "%v", err)
	case errors.Is(err, metadata.ErrSignatureMissing):
		return false, newError(Untrusted, ReasonSignatureMissing, h, err,
			"the Signature parameter is empty: this IdP requires every request to be signed")
	case err != nil:
		return false, newError(Untrusted, ReasonBadSignature, h, err,
			"the query signature does not verify with any signing certificate in the SP metadata for %.200q "+
				"(it must cover SAMLRequest, RelayState and SigAlg exactly as sent): reload the SP metadata if the SP rotated its key", sp.EntityID)
	}
	return q.SigAlg.value == metadata.SigAlgRSASHA1, nil
}

// checkIssuerIsSP insists the Issuer is the entityID of the SP whose key
// verified the message, exactly.
func checkIssuerIsSP(h *header, sp *metadata.SP) error {
	if h.Issuer != sp.EntityID {
		return untrusted(ReasonUnknownIssuer, h,
			"the Issuer %.200q is not the entityID %.200q of the SP metadata found for it", h.Issuer, sp.EntityID)
	}
	return nil
}

func checkVersion(h *header) error {
	if h.Version != "2.0" {
		return untrusted(ReasonBadVersion, h, "the request has Version %.16q: only SAML 2.0 is supported", h.Version)
	}
	return nil
}

func checkID(h *header) error {
	switch {
	case h.ID == "":
		return untrusted(ReasonMissingID, h, "the request has no ID attribute: the SP must give each request a unique ID")
	case len(h.ID) > maxRequestID:
		return untrusted(ReasonMissingID, h, "the request ID is %d bytes, more than the %d allowed", len(h.ID), maxRequestID)
	}
	return nil
}

// checkIssueInstant accepts an IssueInstant within the skew of our clock,
// both ways.
func (in *Intake) checkIssueInstant(h *header) (time.Time, error) {
	issued, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(h.IssueInstant))
	if err != nil {
		return time.Time{}, untrusted(ReasonBadIssueInstant, h,
			"IssueInstant %.64q is not an xs:dateTime with a time zone (e.g. 2018-11-26T09:11:58.446Z)", h.IssueInstant)
	}
	now, skew := in.now(), in.skew()
	switch {
	case issued.Before(now.Add(-skew)):
		return time.Time{}, untrusted(ReasonExpired, h,
			"the request was issued at %s, more than %s before now (%s): start the login again; if this repeats, check the SP's and our clocks",
			issued.UTC().Format(time.RFC3339), skew, now.UTC().Format(time.RFC3339))
	case issued.After(now.Add(skew)):
		return time.Time{}, untrusted(ReasonIssuedInFuture, h,
			"the request was issued at %s, more than %s after now (%s): check the SP's and our clocks",
			issued.UTC().Format(time.RFC3339), skew, now.UTC().Format(time.RFC3339))
	}
	return issued, nil
}

func checkDestination(h *header, ours string) error {
	if h.Destination != "" && h.Destination != ours {
		return untrusted(ReasonWrongDestination, h,
			"the request's Destination %.200q is not this endpoint (%s): the SP has another IdP's metadata, or ours is out of date there", h.Destination, ours)
	}
	return nil
}

// resolveACS picks the ACS from SP metadata. A request may name one (by
// URL or index) but only choose among those the metadata lists.
func resolveACS(m *authnRequestXML, sp *metadata.SP) (metadata.Endpoint, error) {
	h := &m.header
	var acs metadata.Endpoint
	var ok bool
	switch {
	case m.ACSURL != "" && m.ACSIndex != "":
		return acs, untrusted(ReasonACSMismatch, h,
			"the request has both AssertionConsumerServiceURL and AssertionConsumerServiceIndex: send at most one")
	case m.ACSURL != "":
		if acs, ok = sp.FindACS(m.ACSURL); !ok {
			return acs, untrusted(ReasonACSMismatch, h,
				"AssertionConsumerServiceURL %.200q is not an ACS in the metadata of %.200q: update the SP metadata we hold", m.ACSURL, sp.EntityID)
		}
	case m.ACSIndex != "":
		if acs, ok = findACSIndex(sp, m.ACSIndex); !ok {
			return acs, untrusted(ReasonACSMismatch, h,
				"AssertionConsumerServiceIndex %.16q is not an ACS index in the metadata of %.200q", m.ACSIndex, sp.EntityID)
		}
	default:
		if acs, ok = sp.DefaultACS(); !ok {
			return acs, untrusted(ReasonNoACS, h,
				"the metadata of %.200q lists no AssertionConsumerService: load complete SP metadata", sp.EntityID)
		}
	}
	if acs.SAMLBinding != metadata.SAMLBindingHTTPPost {
		return metadata.Endpoint{}, untrusted(ReasonACSMismatch, h,
			"the ACS %.200q has binding %.100q in the metadata; responses are only sent by HTTP-POST", acs.Location, acs.SAMLBinding)
	}
	return acs, nil
}

func findACSIndex(sp *metadata.SP, index string) (metadata.Endpoint, bool) {
	i, err := strconv.Atoi(strings.TrimSpace(index))
	if err != nil {
		return metadata.Endpoint{}, false
	}
	for _, e := range sp.ACS {
		if e.Index == i {
			return e, true
		}
	}
	return metadata.Endpoint{}, false
}

// checkNotOnOrAfter refuses a LogoutRequest past its own deadline.
func (in *Intake) checkNotOnOrAfter(m *logoutRequestXML) (time.Time, error) {
	h := &m.header
	if m.NotOnOrAfter == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(m.NotOnOrAfter))
	if err != nil {
		return time.Time{}, untrusted(ReasonBadIssueInstant, h, "NotOnOrAfter %.64q is not an xs:dateTime with a time zone", m.NotOnOrAfter)
	}
	if !in.now().Before(t.Add(in.skew())) {
		return time.Time{}, untrusted(ReasonExpired, h, "the LogoutRequest expired at %s", t.UTC().Format(time.RFC3339))
	}
	return t, nil
}

func checkNameID(m *logoutRequestXML) error {
	if strings.TrimSpace(m.NameID) == "" {
		return untrusted(ReasonMissingNameID, &m.header,
			"the LogoutRequest has no saml:NameID: the SP must name the subject to log out")
	}
	return nil
}

// ReplayMargin is how long a spent request ID is kept beyond the moment
// checkIssueInstant starts refusing the request (IssueInstant + skew): room
// for the store's clock to step a little, without keeping minutes of logins
// the checks would refuse anyway.
const ReplayMargin = time.Minute

// markUsed spends the request ID until IssueInstant + skew + ReplayMargin.
func (in *Intake) markUsed(ctx context.Context, h *header, issued time.Time) error {
	err := in.Replay.MarkUsed(ctx, h.Issuer, h.ID, issued.Add(in.skew()+ReplayMargin))
	switch {
	case errors.Is(err, ErrReplay):
		return newError(Untrusted, ReasonReplay, h, err,
			"request ID %.200q was already used: each request is accepted once; start the login again at the SP", h.ID)
	case err != nil:
		return newError(Internal, ReasonReplayStore, h, err, "the replay store failed: %v", err)
	}
	return nil
}

// checkProtocolBinding: we only answer by HTTP-POST.
func checkProtocolBinding(req *AuthnRequest) error {
	if req.ProtocolBinding == "" || req.ProtocolBinding == metadata.SAMLBindingHTTPPost {
		return nil
	}
	return unsatisfiable(req, ReasonUnsupportedBinding, StatusUnsupportedBinding,
		"ProtocolBinding %.100q is not supported: this IdP answers by HTTP-POST only", req.ProtocolBinding)
}

func (in *Intake) checkNameIDPolicy(req *AuthnRequest) error {
	f := req.NameIDFormat
	if f == "" || f == metadata.NameIDFormatUnspecified {
		return nil
	}
	for _, ok := range in.nameIDFormats() {
		if f == ok {
			return nil
		}
	}
	return unsatisfiable(req, ReasonUnsupportedNameIDFormat, StatusInvalidNameIDPolicy,
		"NameIDPolicy Format %.200q is not one this IdP issues (%s)", f, strings.Join(in.nameIDFormats(), ", "))
}

func unsatisfiable(req *AuthnRequest, reason, status, format string, args ...any) *Error {
	e := newError(Unsatisfiable, reason, &header{ID: req.ID, Issuer: req.Issuer}, nil, format, args...)
	e.Status = status
	e.Request = req
	return e
}
