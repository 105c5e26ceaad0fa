// Package samlreq is the intake of SAML requests from the SPs we trust
// (Huawei IAM and test SPs): signed AuthnRequests at the SSO URL by
// HTTP-Redirect (or HTTP-POST with an embedded signature), and signed
// LogoutRequests at the SLO URL. Each entry point is a straight sequence of
// named checks; a request that passes is verified, in date, single use and
// bound to an ACS taken from SP metadata. Refusals are *Error values whose
// Kind tells the caller whether to answer with a 400 page or a SAML error
// Response.
package samlreq

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/partneridp/partneridp/metadata"
)

// DefaultSkew is the IssueInstant tolerance when Intake.Skew is 0.
const DefaultSkew = 3 * time.Minute

// maxRelayState bounds the RelayState we echo. The bindings spec says 80
// bytes, but SPs put whole return URLs there.
const maxRelayState = 8 << 10

// maxRequestID bounds the request ID we store in the replay store.
const maxRequestID = 256

// DefaultNameIDFormats are the NameID formats we issue when
// Intake.NameIDFormats is empty. A request without a format, or with
// "unspecified", is always satisfiable.
var DefaultNameIDFormats = []string{metadata.NameIDFormatTransient, metadata.NameIDFormatPersistent}

// ReplayStore remembers request IDs so that each is accepted once. The idp
// layer backs it with binding.Ephemeral, so it is shared with the flow
// records and survives a restart.
type ReplayStore interface {
	// MarkUsed records the message id sent by issuer until expires. It
	// returns ErrReplay (or an error wrapping it) when the pair is already
	// recorded and unexpired; any other error means the store failed.
	MarkUsed(ctx context.Context, issuer, id string, expires time.Time) error
}

// SPLookup finds the trusted SP whose metadata entityID is entityID.
// Several SPs may be trusted at once (cn, intl, a test SP).
type SPLookup func(entityID string) (*metadata.SP, bool)

// Intake checks incoming SAML requests. The zero values of Policy, Skew,
// MaxInflated, NameIDFormats and Clock mean the defaults; SSOURL (or SLOURL
// for logout), SPs and Replay are required.
type Intake struct {
	SSOURL        string // our SingleSignOnService location; a Destination must equal it
	SLOURL        string // our SingleLogoutService location, for LogoutRequest Destination
	SPs           SPLookup
	Policy        metadata.SigAlgPolicy
	Skew          time.Duration // IssueInstant tolerance both ways; DefaultSkew when 0
	MaxInflated   int           // cap on a decoded message; DefaultMaxInflated when 0
	NameIDFormats []string      // formats we can issue; DefaultNameIDFormats when empty
	Replay        ReplayStore
	Clock         func() time.Time // time.Now when nil
}

// AuthnRequest is a verified, checked AuthnRequest.
type AuthnRequest struct {
	ID              string
	Issuer          string // equals SP.EntityID
	Destination     string // "" when the request named none
	IssueInstant    time.Time
	ACS             metadata.Endpoint // from SP metadata, never from the request alone
	ProtocolBinding string            // "" or HTTP-POST
	NameIDFormat    string            // "" when the request asked for none
	SPNameQualifier string
	AllowCreate     bool
	ForceAuthn      bool
	IsPassive       bool   // without a session, answer with status NoPassive
	RelayState      string // decoded; echo it byte for byte
	SP              *metadata.SP
	SigAlg          string // the query SigAlg, or the embedded SignatureMethod
	SHA1Warning     bool   // signed with SHA-1 (allowed by policy): log a warning
	SAMLBinding     string // metadata.BindingHTTPRedirect or metadata.BindingHTTPPost
}

// LogoutRequest is a verified, checked LogoutRequest.
type LogoutRequest struct {
	ID             string
	Issuer         string
	Destination    string
	IssueInstant   time.Time
	NotOnOrAfter   time.Time // zero when absent
	NameID         string
	NameIDFormat   string
	SessionIndexes []string
	RelayState     string
	SP             *metadata.SP
	SigAlg         string
	SHA1Warning    bool
	SAMLBinding    string
}

// delivery is how a message arrived: what the binding, not the XML, says.
type delivery struct {
	SAMLBinding string
	SigAlg      string
	SHA1Warning bool
	RelayState  string
}

// FromRedirect takes the raw query string of a GET to the SSO URL
// (r.URL.RawQuery, not r.URL.Query(): the signature is checked over the
// bytes as they arrived).
func (in *Intake) FromRedirect(ctx context.Context, rawQuery string) (*AuthnRequest, error) {
	if err := in.ready(in.SSOURL, "SSOURL"); err != nil {
		return nil, err
	}
	q, err := in.readRedirectQuery(rawQuery)
	if err != nil {
		return nil, err
	}
	doc, err := DecodeRedirectMessage(q.SAMLRequest.value, in.maxInflated())
	if err != nil {
		return nil, err
	}
	m, err := parseAuthnRequestXML(doc)
	if err != nil {
		return nil, err
	}
	// The Issuer is read before the signature is checked because it says
	// whose certificates to check it with; nothing else is used until then.
	sp, err := in.lookupSP(&m.header)
	if err != nil {
		return nil, err
	}
	sha1, err := in.verifyQuerySignature(q, sp, &m.header)
	if err != nil {
		return nil, err
	}
	return in.acceptAuthnRequest(ctx, m, sp, delivery{
		SAMLBinding: metadata.SAMLBindingHTTPRedirect,
		SigAlg:      q.SigAlg.value,
		SHA1Warning: sha1,
		RelayState:  q.RelayState.value,
	})
}

// FromPost takes the form of a POST to the SSO URL (HTTP-POST binding). The
// AuthnRequest must carry an enveloped XML signature by a certificate in the
// SP metadata; only the signed element is read.
func (in *Intake) FromPost(ctx context.Context, form url.Values) (*AuthnRequest, error) {
	if err := in.ready(in.SSOURL, "SSOURL"); err != nil {
		return nil, err
	}
	v, err := singleFormValue(form, "SAMLRequest")
	if err != nil {
		return nil, err
	}
	if v == "" {
		return nil, untrusted(ReasonNoMessage, nil,
			"the form has no SAMLRequest field: this URL only accepts SAML requests")
	}
	relayState, err := singleFormValue(form, "RelayState")
	if err != nil {
		return nil, err
	}
	if err := checkRelayStateSize(relayState); err != nil {
		return nil, err
	}
	doc, err := decodePostMessage(v, in.maxInflated())
	if err != nil {
		return nil, err
	}
	root, err := readMessage(doc)
	if err != nil {
		return nil, err
	}
	claimed, err := authnRequestFromElement(root)
	if err != nil {
		return nil, err
	}
	sp, err := in.lookupSP(&claimed.header)
	if err != nil {
		return nil, err
	}
	sig, err := checkEmbeddedSignatureShape(root, &claimed.header, in.Policy)
	if err != nil {
		return nil, err
	}
	signed, err := verifyEmbeddedSignature(root, &claimed.header, sp.SigningCerts)
	if err != nil {
		return nil, err
	}
	m, err := authnRequestFromElement(signed)
	if err != nil {
		return nil, err
	}
	return in.acceptAuthnRequest(ctx, m, sp, delivery{
		SAMLBinding: metadata.SAMLBindingHTTPPost,
		SigAlg:      sig.SignatureMethod,
		SHA1Warning: sig.SHA1,
		RelayState:  relayState,
	})
}

// LogoutFromRedirect takes the raw query string of a GET to the SLO URL
// carrying a LogoutRequest. A GET without SAMLRequest is refused with
// ReasonNoMessage: the caller may treat it as a plain "user logged out"
// redirect.
func (in *Intake) LogoutFromRedirect(ctx context.Context, rawQuery string) (*LogoutRequest, error) {
	if err := in.ready(in.SLOURL, "SLOURL"); err != nil {
		return nil, err
	}
	q, err := in.readRedirectQuery(rawQuery)
	if err != nil {
		return nil, err
	}
	doc, err := DecodeRedirectMessage(q.SAMLRequest.value, in.maxInflated())
	if err != nil {
		return nil, err
	}
	m, err := parseLogoutRequestXML(doc)
	if err != nil {
		return nil, err
	}
	sp, err := in.lookupSP(&m.header)
	if err != nil {
		return nil, err
	}
	sha1, err := in.verifyQuerySignature(q, sp, &m.header)
	if err != nil {
		return nil, err
	}
	return in.acceptLogoutRequest(ctx, m, sp, delivery{
		SAMLBinding: metadata.SAMLBindingHTTPRedirect,
		SigAlg:      q.SigAlg.value,
		SHA1Warning: sha1,
		RelayState:  q.RelayState.value,
	})
}

// acceptAuthnRequest runs the checks on a request whose signature is
// verified. Every check that makes the request untrusted comes before the
// ACS is trusted and the ID is spent; the ones after only decide whether
// we can satisfy it.
func (in *Intake) acceptAuthnRequest(ctx context.Context, m *authnRequestXML, sp *metadata.SP, d delivery) (*AuthnRequest, error) {
	h := &m.header
	if err := checkIssuerIsSP(h, sp); err != nil {
		return nil, err
	}
	if err := checkVersion(h); err != nil {
		return nil, err
	}
	if err := checkID(h); err != nil {
		return nil, err
	}
	issued, err := in.checkIssueInstant(h)
	if err != nil {
		return nil, err
	}
	if err := checkDestination(h, in.SSOURL); err != nil {
		return nil, err
	}
	acs, err := resolveACS(m, sp)
	if err != nil {
		return nil, err
	}
	if err := in.markUsed(ctx, h, issued); err != nil {
		return nil, err
	}
	req := &AuthnRequest{
		ID:              h.ID,
		Issuer:          h.Issuer,
		Destination:     h.Destination,
		IssueInstant:    issued,
		ACS:             acs,
		ProtocolBinding: m.ProtocolBinding,
		NameIDFormat:    m.NameIDFormat,
		SPNameQualifier: m.SPNameQualifier,
		AllowCreate:     m.AllowCreate,
		ForceAuthn:      m.ForceAuthn,
		IsPassive:       m.IsPassive,
		RelayState:      d.RelayState,
		SP:              sp,
		SigAlg:          d.SigAlg,
		SHA1Warning:     d.SHA1Warning,
		SAMLBinding:     d.SAMLBinding,
	}
	if err := checkProtocolBinding(req); err != nil {
		return nil, err
	}
	if err := in.checkNameIDPolicy(req); err != nil {
		return nil, err
	}
	return req, nil
}

// acceptLogoutRequest runs the checks on a LogoutRequest whose signature
// is verified.
func (in *Intake) acceptLogoutRequest(ctx context.Context, m *logoutRequestXML, sp *metadata.SP, d delivery) (*LogoutRequest, error) {
	h := &m.header
	if err := checkIssuerIsSP(h, sp); err != nil {
		return nil, err
	}
	if err := checkVersion(h); err != nil {
		return nil, err
	}
	if err := checkID(h); err != nil {
		return nil, err
	}
	issued, err := in.checkIssueInstant(h)
	if err != nil {
		return nil, err
	}
	if err := checkDestination(h, in.SLOURL); err != nil {
		return nil, err
	}
	notOnOrAfter, err := in.checkNotOnOrAfter(m)
	if err != nil {
		return nil, err
	}
	if err := checkNameID(m); err != nil {
		return nil, err
	}
	if err := in.markUsed(ctx, h, issued); err != nil {
		return nil, err
	}
	return &LogoutRequest{
		ID:             h.ID,
		Issuer:         h.Issuer,
		Destination:    h.Destination,
		IssueInstant:   issued,
		NotOnOrAfter:   notOnOrAfter,
		NameID:         m.NameID,
		NameIDFormat:   m.NameIDFormat,
		SessionIndexes: m.SessionIndexes,
		RelayState:     d.RelayState,
		SP:             sp,
		SigAlg:         d.SigAlg,
		SHA1Warning:    d.SHA1Warning,
		SAMLBinding:    d.SAMLBinding,
	}, nil
}

// ---- settings ----

func (in *Intake) ready(ours, field string) error {
	var missing []string
	if ours == "" {
		missing = append(missing, field)
	}
	if in.SPs == nil {
		missing = append(missing, "SPs")
	}
	if in.Replay == nil {
		missing = append(missing, "Replay")
	}
	if in.Skew < 0 || in.MaxInflated < 0 {
		missing = append(missing, "a non-negative Skew and MaxInflated")
	}
	if len(missing) > 0 {
		return newError(Internal, ReasonMisconfigured, nil, nil,
			"the SAML intake is missing %s: set it when wiring the IdP", strings.Join(missing, ", "))
	}
	return nil
}

func (in *Intake) now() time.Time {
	if in.Clock != nil {
		return in.Clock()
	}
	return time.Now()
}

func (in *Intake) skew() time.Duration {
	if in.Skew > 0 {
		return in.Skew
	}
	return DefaultSkew
}

func (in *Intake) maxInflated() int {
	if in.MaxInflated > 0 {
		return in.MaxInflated
	}
	return DefaultMaxInflated
}

// maxQuery bounds the whole query string: the SAMLRequest at its largest
// (base64 of the deflated cap, every character percent-encoded) plus room
// for RelayState, SigAlg and an RSA-4096 Signature.
func (in *Intake) maxQuery() int {
	return 3*4*(maxDeflated(in.maxInflated())+2)/3 + 3*maxRelayState + 4096
}

func (in *Intake) nameIDFormats() []string {
	if len(in.NameIDFormats) > 0 {
		return in.NameIDFormats
	}
	return DefaultNameIDFormats
}
