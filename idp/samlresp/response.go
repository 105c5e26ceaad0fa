// Package samlresp builds and signs what the IdP sends back to a service
// provider: the SAML Response carrying a signed Assertion, SAML error
// Responses, the HTTP-POST form that delivers them, and HTTP-Redirect
// LogoutResponses. It does not decide whether a request is trusted or who
// the user is: callers hand it a validated Request and an authenticated User.
//
// Encryption (EncryptedAssertion) is not supported: nothing is ever encrypted.
package samlresp

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/partneridp/partneridp/metadata"
)

const (
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsXS        = "http://www.w3.org/2001/XMLSchema"
	nsXSI       = "http://www.w3.org/2001/XMLSchema-instance"

	cmBearer = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

	// AuthnContextPasswordProtectedTransport is the default AuthnContextClassRef:
	// the user logged in to the platform over TLS.
	AuthnContextPasswordProtectedTransport = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"

	DefaultLifetime = 5 * time.Minute
	DefaultSkew     = 3 * time.Minute

	// TimeFormat is how every SAML instant is written: UTC, milliseconds.
	TimeFormat = "2006-01-02T15:04:05.000Z"

	maxValueLen = 1024
	minKeyBits  = 2048
)

// User is the platform's authenticated customer, from the handoff token.
type User struct {
	XAccountID                string            // required: the partner-side account ID Huawei binds to
	Name, Mobile, Email, BPID string            // optional; attributes are left out when empty
	Claims                    map[string]string // other handoff-token claims, for "claim:<name>" rules
	AuthnInstant              time.Time         // when the user authenticated on the platform
	SessionIndex              string            // our session's index; a fresh one is made when empty
}

// Request is the validated AuthnRequest being answered.
type Request struct {
	SP              *metadata.SP
	ACS             string // must be one of SP.ACS locations
	InResponseTo    string // the AuthnRequest ID; "" for an unsolicited response
	NameIDFormat    string // "" means transient
	SPNameQualifier string // echoed on the NameID; must be "" or the SP's entityID
}

// Builder makes signed Responses for one IdP. The zero values of the optional
// fields mean: Profile HuaweiProfile(), Lifetime DefaultLifetime, Skew
// DefaultSkew, AuthnContextClassRef PasswordProtectedTransport, Clock
// time.Now, Rand crypto/rand.Reader. A Builder is not changed by use: it is
// safe for concurrent use when its Rand is (crypto/rand is).
type Builder struct {
	IssuerEntityID       string
	Key                  metadata.SigningKey
	Profile              Profile
	Lifetime             time.Duration
	Skew                 time.Duration
	AuthnContextClassRef string
	SignResponse         bool // sign the Response too (after the Assertion)
	Clock                func() time.Time
	Rand                 io.Reader
}

// Response is a built, signed SAML Response and what the caller needs to
// audit it or to remember the session.
type Response struct {
	XML          []byte
	ResponseID   string
	AssertionID  string // "" in an error Response
	NameID       string
	SessionIndex string
	NotOnOrAfter time.Time
}

// settings is a Builder with its defaults filled in and its key checked.
type settings struct {
	*Builder
	profile      Profile
	lifetime     time.Duration
	skew         time.Duration
	authnContext string
	rand         io.Reader
	now          time.Time
}

func (b *Builder) settings() (*settings, error) {
	s := &settings{Builder: b, profile: b.Profile, lifetime: b.Lifetime, skew: b.Skew,
		authnContext: b.AuthnContextClassRef, rand: b.Rand}
	if strings.TrimSpace(b.IssuerEntityID) == "" || checkText(b.IssuerEntityID) != nil {
		return nil, fmt.Errorf("%w: IssuerEntityID must be our entityID as published in the IdP metadata", ErrInvalidConfig)
	}
	if err := checkSigningKey(b.Key); err != nil {
		return nil, err
	}
	if b.Lifetime < 0 || b.Skew < 0 {
		return nil, fmt.Errorf("%w: Lifetime and Skew must not be negative", ErrInvalidConfig)
	}
	if s.lifetime == 0 {
		s.lifetime = DefaultLifetime
	}
	if s.skew == 0 {
		s.skew = DefaultSkew
	}
	if s.profile.Name == "" && s.profile.Attributes == nil {
		s.profile = HuaweiProfile()
	}
	if err := s.profile.Validate(); err != nil {
		return nil, err
	}
	if s.authnContext == "" {
		s.authnContext = AuthnContextPasswordProtectedTransport
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	clock := b.Clock
	if clock == nil {
		clock = time.Now
	}
	s.now = clock().UTC().Truncate(time.Millisecond)
	return s, nil
}

func checkSigningKey(k metadata.SigningKey) error {
	if k.Key == nil || k.Cert == nil {
		return fmt.Errorf("%w: the signing key and its certificate are both required", ErrInvalidConfig)
	}
	pub, ok := k.Cert.PublicKey.(*rsa.PublicKey)
	if !ok || !k.Key.PublicKey.Equal(pub) {
		return fmt.Errorf("%w: the signing certificate does not belong to the signing key", ErrInvalidConfig)
	}
	if k.Key.N.BitLen() < minKeyBits {
		return fmt.Errorf("%w: the signing key has %d bits; use RSA-%d or larger", ErrInvalidConfig, k.Key.N.BitLen(), minKeyBits)
	}
	return nil
}

// newID returns "_" and 40 hex digits: an NCName, unguessable.
func (s *settings) newID() (string, error) {
	var b [20]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return "", fmt.Errorf("samlresp: reading randomness for an ID: %w", err)
	}
	return "_" + hex.EncodeToString(b[:]), nil
}

func samlTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// checkRequest returns the request's checks as errors, in order: an SP with
// an entityID, an ACS from its metadata, a well-formed InResponseTo.
func checkRequest(req Request) error {
	if req.SP == nil || req.SP.EntityID == "" {
		return fmt.Errorf("%w: no SP (with an entityID) to answer", ErrInvalidRequest)
	}
	if checkText(req.SP.EntityID) != nil {
		return fmt.Errorf("%w: the SP entityID has control characters or invalid UTF-8", ErrInvalidRequest)
	}
	if _, ok := req.SP.FindACS(req.ACS); !ok || req.ACS == "" {
		return fmt.Errorf("%w: the ACS is not an AssertionConsumerService of SP %q; take it from the SP metadata", ErrInvalidRequest, req.SP.EntityID)
	}
	if checkText(req.ACS) != nil {
		return fmt.Errorf("%w: the ACS has control characters or invalid UTF-8", ErrInvalidRequest)
	}
	if err := checkSAMLID(req.InResponseTo); err != nil {
		return fmt.Errorf("%w: InResponseTo %v", ErrInvalidRequest, err)
	}
	return nil
}

// checkSAMLID accepts "" (unsolicited) or a plausible request ID. IDs from
// other systems need not be NCNames, so only length and characters are checked.
func checkSAMLID(id string) error {
	if len(id) > 256 {
		return fmt.Errorf("is longer than 256 bytes")
	}
	if checkText(id) != nil || strings.ContainsRune(id, ' ') {
		return fmt.Errorf("has spaces, control characters or invalid UTF-8")
	}
	return nil
}

// checkUser validates u and returns a copy with mobile normalised.
func checkUser(u User, now, skewEnd time.Time, profile Profile) (User, error) {
	if u.XAccountID == "" {
		return User{}, fmt.Errorf("%w: XAccountID is empty; the platform must send the customer's xaccount_id", ErrInvalidUser)
	}
	fields := []struct{ name, value string }{
		{"XAccountID", u.XAccountID}, {"Name", u.Name}, {"Mobile", u.Mobile},
		{"Email", u.Email}, {"BPID", u.BPID}, {"SessionIndex", u.SessionIndex},
	}
	for _, rule := range profile.Attributes {
		if claim, ok := strings.CutPrefix(rule.From, FromClaimPrefix); ok {
			fields = append(fields, struct{ name, value string }{"claim " + claim, u.Claims[claim]})
		}
	}
	for _, f := range fields {
		if len(f.value) > maxValueLen {
			return User{}, fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalidUser, f.name, maxValueLen)
		}
		if checkText(f.value) != nil {
			return User{}, fmt.Errorf("%w: %s %v", ErrInvalidUser, f.name, errBadText)
		}
	}
	if u.Mobile != "" {
		m, err := normalizeMobile(u.Mobile)
		if err != nil {
			return User{}, err
		}
		u.Mobile = m
	}
	if u.Email != "" {
		if err := checkEmail(u.Email); err != nil {
			return User{}, err
		}
	}
	if u.AuthnInstant.IsZero() {
		return User{}, fmt.Errorf("%w: AuthnInstant is missing; pass when the user logged in to the platform", ErrInvalidUser)
	}
	if u.AuthnInstant.After(skewEnd) {
		return User{}, fmt.Errorf("%w: AuthnInstant is in the future (beyond the clock skew)", ErrInvalidUser)
	}
	return u, nil
}

// nameID picks the NameID format and value the request asks for.
func (s *settings) nameID(req Request, u User) (format, value string, err error) {
	format = req.NameIDFormat
	if format != "" && !req.SP.SupportsNameIDFormat(format) {
		return "", "", fmt.Errorf("%w: format %.200q is not listed in the SP metadata", ErrInvalidNameIDPolicy, format)
	}
	if req.SPNameQualifier != "" && req.SPNameQualifier != req.SP.EntityID {
		return "", "", fmt.Errorf("%w: SPNameQualifier names another entity than the requesting SP; affiliations are not supported", ErrInvalidNameIDPolicy)
	}
	switch format {
	case "", metadata.NameIDFormatTransient:
		format = metadata.NameIDFormatTransient
	case metadata.NameIDFormatUnspecified:
	case metadata.NameIDFormatEmail:
		if u.Email == "" {
			return "", "", fmt.Errorf("%w: emailAddress NameID requested but the user has no email", ErrInvalidNameIDPolicy)
		}
		return format, u.Email, nil
	default:
		return "", "", fmt.Errorf("%w: format %.200q is not supported (transient, unspecified, emailAddress are)", ErrInvalidNameIDPolicy, format)
	}
	// A fresh opaque value per login: the SP cannot correlate logins by it.
	value, err = s.newID()
	return format, value, err
}

// Build makes the signed Response answering req for the authenticated user u.
// Errors wrap ErrInvalidConfig, ErrInvalidRequest, ErrInvalidNameIDPolicy or
// ErrInvalidUser; on ErrInvalidNameIDPolicy answer with BuildError(req,
// StatusInvalidNameIDPolicy, ...).
func (b *Builder) Build(req Request, u User) (*Response, error) {
	s, err := b.settings()
	if err != nil {
		return nil, err
	}
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	u, err = checkUser(u, s.now, s.now.Add(s.skew), s.profile)
	if err != nil {
		return nil, err
	}
	nameIDFormat, nameID, err := s.nameID(req, u)
	if err != nil {
		return nil, err
	}
	out := &Response{NameID: nameID, SessionIndex: u.SessionIndex, NotOnOrAfter: s.now.Add(s.lifetime)}
	if out.ResponseID, err = s.newID(); err != nil {
		return nil, err
	}
	if out.AssertionID, err = s.newID(); err != nil {
		return nil, err
	}
	if out.SessionIndex == "" {
		if out.SessionIndex, err = s.newID(); err != nil {
			return nil, err
		}
	}

	resp := s.statusResponse("saml2p:Response", out.ResponseID, req.ACS, req.InResponseTo)
	status := resp.CreateElement("saml2p:Status")
	status.CreateElement("saml2p:StatusCode").CreateAttr("Value", StatusSuccess)

	assertion := s.assertion(out, req, u, nameIDFormat)
	if err := s.signEnveloped(assertion); err != nil {
		return nil, err
	}
	resp.AddChild(assertion)
	if b.SignResponse {
		if err := s.signEnveloped(resp); err != nil {
			return nil, err
		}
	}
	if out.XML, err = serialize(resp); err != nil {
		return nil, err
	}
	return out, nil
}

// statusResponse is a StatusResponseType element (saml2p:Response or
// saml2p:LogoutResponse) up to its Issuer; the caller adds the Status.
func (s *settings) statusResponse(tag, id, destination, inResponseTo string) *etree.Element {
	resp := etree.NewElement(tag)
	resp.CreateAttr("xmlns:saml2p", nsProtocol)
	resp.CreateAttr("xmlns:saml2", nsAssertion)
	resp.CreateAttr("ID", id)
	resp.CreateAttr("Version", "2.0")
	resp.CreateAttr("IssueInstant", samlTime(s.now))
	resp.CreateAttr("Destination", destination)
	if inResponseTo != "" {
		resp.CreateAttr("InResponseTo", inResponseTo)
	}
	resp.CreateElement("saml2:Issuer").SetText(s.IssuerEntityID)
	return resp
}

// assertion builds the unsigned saml:Assertion in schema order. It declares
// every namespace it uses so that it canonicalises the same alone or inside
// the Response.
func (s *settings) assertion(out *Response, req Request, u User, nameIDFormat string) *etree.Element {
	a := etree.NewElement("saml2:Assertion")
	a.CreateAttr("xmlns:saml2", nsAssertion)
	a.CreateAttr("xmlns:xs", nsXS)
	a.CreateAttr("xmlns:xsi", nsXSI)
	a.CreateAttr("ID", out.AssertionID)
	a.CreateAttr("Version", "2.0")
	a.CreateAttr("IssueInstant", samlTime(s.now))
	a.CreateElement("saml2:Issuer").SetText(s.IssuerEntityID)

	subject := a.CreateElement("saml2:Subject")
	nameID := subject.CreateElement("saml2:NameID")
	nameID.CreateAttr("Format", nameIDFormat)
	if req.SPNameQualifier != "" {
		nameID.CreateAttr("SPNameQualifier", req.SPNameQualifier)
	}
	nameID.SetText(out.NameID)
	confirmation := subject.CreateElement("saml2:SubjectConfirmation")
	confirmation.CreateAttr("Method", cmBearer)
	data := confirmation.CreateElement("saml2:SubjectConfirmationData")
	if req.InResponseTo != "" {
		data.CreateAttr("InResponseTo", req.InResponseTo)
	}
	data.CreateAttr("NotOnOrAfter", samlTime(out.NotOnOrAfter))
	data.CreateAttr("Recipient", req.ACS)

	// Validity runs from issuance, not from the request's arrival: a slow
	// login must not produce an assertion that is already expiring.
	conditions := a.CreateElement("saml2:Conditions")
	conditions.CreateAttr("NotBefore", samlTime(s.now.Add(-s.skew)))
	conditions.CreateAttr("NotOnOrAfter", samlTime(out.NotOnOrAfter))
	conditions.CreateElement("saml2:AudienceRestriction").CreateElement("saml2:Audience").SetText(req.SP.EntityID)

	authn := a.CreateElement("saml2:AuthnStatement")
	authn.CreateAttr("AuthnInstant", samlTime(u.AuthnInstant))
	authn.CreateAttr("SessionIndex", out.SessionIndex)
	authn.CreateElement("saml2:AuthnContext").CreateElement("saml2:AuthnContextClassRef").SetText(s.authnContext)

	var statement *etree.Element
	for _, rule := range s.profile.Attributes {
		value := rule.attributeValue(&u)
		if value == "" {
			continue
		}
		if statement == nil {
			statement = a.CreateElement("saml2:AttributeStatement")
		}
		attr := statement.CreateElement("saml2:Attribute")
		attr.CreateAttr("Name", rule.Name)
		attr.CreateAttr("NameFormat", AttrNameFormatURI)
		attr.CreateAttr("FriendlyName", rule.Name) // as the Yunion evidence has it (§6.2); informational only
		v := attr.CreateElement("saml2:AttributeValue")
		v.CreateAttr("xsi:type", "xs:string")
		v.SetText(value)
	}
	return a
}

// BuildError makes a signed error Response (no Assertion) for a trusted
// request that cannot be satisfied. status is a second-level code such as
// StatusNoPassive or StatusInvalidNameIDPolicy (placed under the right
// top-level code), or StatusRequester/StatusResponder alone. msg becomes the
// StatusMessage: keep it free of secrets.
func (b *Builder) BuildError(req Request, status, msg string) (*Response, error) {
	s, err := b.settings()
	if err != nil {
		return nil, err
	}
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	top, second, err := splitStatus(status)
	if err != nil {
		return nil, err
	}
	if top == StatusSuccess {
		return nil, fmt.Errorf("%w: BuildError needs an error status, not %q", ErrUnknownStatus, status)
	}
	if len(msg) > maxValueLen || checkText(msg) != nil {
		return nil, fmt.Errorf("%w: status message is too long or %v", ErrInvalidRequest, errBadText)
	}
	out := &Response{}
	if out.ResponseID, err = s.newID(); err != nil {
		return nil, err
	}
	resp := s.statusResponse("saml2p:Response", out.ResponseID, req.ACS, req.InResponseTo)
	addStatus(resp, top, second, msg)
	if err := s.signEnveloped(resp); err != nil {
		return nil, err
	}
	if out.XML, err = serialize(resp); err != nil {
		return nil, err
	}
	return out, nil
}

func addStatus(parent *etree.Element, top, second, msg string) {
	status := parent.CreateElement("saml2p:Status")
	code := status.CreateElement("saml2p:StatusCode")
	code.CreateAttr("Value", top)
	if second != "" {
		code.CreateElement("saml2p:StatusCode").CreateAttr("Value", second)
	}
	if msg != "" {
		status.CreateElement("saml2p:StatusMessage").SetText(msg)
	}
}

func serialize(root *etree.Element) ([]byte, error) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	doc.SetRoot(root)
	b, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("samlresp: writing the response: %w", err)
	}
	return b, nil
}
