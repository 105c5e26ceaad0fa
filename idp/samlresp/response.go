// Package samlresp builds and signs what the IdP sends back to a service
// provider: the SAML Response carrying a signed Assertion, SAML error
// Responses, the HTTP-POST form that delivers them, and HTTP-Redirect
// LogoutResponses. It does not decide whether a request is trusted or who
// the user is: callers hand it a validated Request and an authenticated User.
//
// Encryption (EncryptedAssertion) is not supported: nothing is ever encrypted.
//
// Signing goes through metadata.Signer (a crypto.Signer and the certificate
// published for it), asked once per document from Builder.Signer, so keys may
// live in files, an HSM or a KMS and be swapped at run time; samlresp never
// knows where. Documents are built as a small node tree and written twice:
// as the bytes sent and in exclusive canonical form for the digest
// (xmlnode.go), with no etree or goxmldsig round trip.
package samlresp

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/partneridp/partneridp/idp/user"
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

// Request is the validated AuthnRequest being answered.
type Request struct {
	SP              *metadata.SP
	ACS             string // must be one of SP.ACS locations
	InResponseTo    string // the AuthnRequest ID; "" for an unsolicited response
	NameIDFormat    string // "" means transient
	SPNameQualifier string // echoed on the NameID; must be "" or the SP's entityID
	SessionIndex    string // our session's index; a fresh one is made when empty
}

// Builder makes signed Responses for one IdP. The zero values of the optional
// fields mean: Profile HuaweiProfile(), Lifetime DefaultLifetime, Skew
// DefaultSkew, AuthnContextClassRef PasswordProtectedTransport, Clock
// time.Now, Rand crypto/rand.Reader. A Builder is not changed by use: it is
// safe for concurrent use when its Rand is (crypto/rand is).
type Builder struct {
	IssuerEntityID string
	// Signer, when set, signs every document: a metadata.SignerSlot (whose
	// Swap rotates or reloads the key while requests are answered) or any
	// other source of a crypto.Signer and its certificate (an HSM, a KMS).
	// Each document asks it once. When nil, Key signs.
	Signer  metadata.SignerSource
	Key     metadata.SigningKey // the key pair that signs when Signer is nil
	Profile Profile
	// SPProfiles (optional) are the profiles of SPs that do not take
	// Profile, by SP entityID.
	SPProfiles map[string]Profile
	// Fields (optional) are the registered user fields profiles read;
	// nil means user.Fields.
	Fields               user.Registry
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
	fields       user.Registry
	lifetime     time.Duration
	skew         time.Duration
	authnContext string
	rand         io.Reader
	now          time.Time
	signer       metadata.Signer // this document's
	tree         *tree           // this document's nodes
}

// release returns the document tree for reuse; nothing built from it may be
// used afterwards (the output bytes are copies).
func (s *settings) release() {
	s.tree.release()
	s.tree = nil
}

func (b *Builder) settings() (*settings, error) {
	s := &settings{Builder: b, profile: b.Profile, fields: b.Fields.OrDefault(), lifetime: b.Lifetime, skew: b.Skew,
		authnContext: b.AuthnContextClassRef, rand: b.Rand, tree: newTree()}
	if strings.TrimSpace(b.IssuerEntityID) == "" || checkText(b.IssuerEntityID) != nil {
		return nil, fmt.Errorf("%w: IssuerEntityID must be our entityID as published in the IdP metadata", ErrInvalidConfig)
	}
	if b.Signer != nil {
		s.signer = b.Signer.Current()
		if err := metadata.CheckSigner(s.signer); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	} else {
		if err := checkSigningKey(b.Key); err != nil {
			return nil, err
		}
		s.signer = keyPairSigner{b.Key}
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
	if err := s.profile.validate(s.fields); err != nil {
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

// checkUser validates u and returns a copy with its registered fields
// normalised (user.Registry.Normalize).
func checkUser(u user.User, sessionIndex string, now, skewEnd time.Time, profile Profile, fields user.Registry) (user.User, error) {
	if u.XAccountID == "" {
		return user.User{}, fmt.Errorf("%w: XAccountID is empty; the platform must send the customer's xaccount_id", ErrInvalidUser)
	}
	values := []struct{ name, value string }{{"XAccountID", u.XAccountID}}
	for _, f := range fields {
		values = append(values, struct{ name, value string }{f.Name, u.Get(f.Name)})
	}
	values = append(values, struct{ name, value string }{"SessionIndex", sessionIndex})
	for _, rule := range profile.Attributes {
		if claim, ok := strings.CutPrefix(rule.From, FromClaimPrefix); ok {
			values = append(values, struct{ name, value string }{"claim " + claim, u.Extra[claim]})
		}
	}
	for _, f := range values {
		if len(f.value) > maxValueLen {
			return user.User{}, fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalidUser, f.name, maxValueLen)
		}
		if checkText(f.value) != nil {
			return user.User{}, fmt.Errorf("%w: %s %v", ErrInvalidUser, f.name, errBadText)
		}
	}
	u, err := fields.Normalize(u)
	if err != nil {
		return user.User{}, fmt.Errorf("%w: %w", ErrInvalidUser, err)
	}
	if u.AuthTime.IsZero() {
		return user.User{}, fmt.Errorf("%w: AuthnInstant is missing; pass when the user logged in to the platform", ErrInvalidUser)
	}
	if u.AuthTime.After(skewEnd) {
		return user.User{}, fmt.Errorf("%w: AuthnInstant is in the future (beyond the clock skew)", ErrInvalidUser)
	}
	return u, nil
}

// profileFor is the profile for req's SP: its own, else the Builder's.
func (s *settings) profileFor(req Request) (Profile, error) {
	p, ok := s.SPProfiles[req.SP.EntityID]
	if !ok {
		return s.profile, nil
	}
	return p, p.validate(s.fields)
}

// nameID picks the NameID format and value the request asks for.
func (s *settings) nameID(req Request, u user.User) (format, value string, err error) {
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
		email := u.Get(user.Email)
		if email == "" {
			return "", "", fmt.Errorf("%w: emailAddress NameID requested but the user has no email", ErrInvalidNameIDPolicy)
		}
		return format, email, nil
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
func (b *Builder) Build(req Request, u user.User) (*Response, error) {
	s, err := b.settings()
	if err != nil {
		return nil, err
	}
	defer s.release()
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	if s.profile, err = s.profileFor(req); err != nil {
		return nil, err
	}
	u, err = checkUser(u, req.SessionIndex, s.now, s.now.Add(s.skew), s.profile, s.fields)
	if err != nil {
		return nil, err
	}
	nameIDFormat, nameID, err := s.nameID(req, u)
	if err != nil {
		return nil, err
	}
	out := &Response{NameID: nameID, SessionIndex: req.SessionIndex, NotOnOrAfter: s.now.Add(s.lifetime)}
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
	resp.add(s.tree.el("saml2p:Status").add(s.tree.el("saml2p:StatusCode", xattr{"Value", StatusSuccess})))

	assertion := s.assertion(out, req, u, nameIDFormat)
	if err := s.signEnveloped(assertion, out.AssertionID); err != nil {
		return nil, err
	}
	resp.add(assertion)
	if b.SignResponse {
		if err := s.signEnveloped(resp, out.ResponseID); err != nil {
			return nil, err
		}
	}
	out.XML = resp.document()
	return out, nil
}

// statusResponse is a StatusResponseType element (saml2p:Response or
// saml2p:LogoutResponse) up to its Issuer; the caller adds the Status.
func (s *settings) statusResponse(tag, id, destination, inResponseTo string) *node {
	attrs := [7]xattr{
		{"xmlns:saml2p", nsProtocol},
		{"xmlns:saml2", nsAssertion},
		{"ID", id},
		{"Version", "2.0"},
		{"IssueInstant", samlTime(s.now)},
		{"Destination", destination},
		{"InResponseTo", inResponseTo},
	}
	n := len(attrs)
	if inResponseTo == "" {
		n--
	}
	t := s.tree
	return t.el(tag, attrs[:n]...).add(t.el("saml2:Issuer").withText(s.IssuerEntityID))
}

// assertion builds the unsigned saml:Assertion in schema order. It declares
// every namespace it uses so that it canonicalises the same alone or inside
// the Response.
func (s *settings) assertion(out *Response, req Request, u user.User, nameIDFormat string) *node {
	t := s.tree
	now := samlTime(s.now)
	notOnOrAfter := samlTime(out.NotOnOrAfter)
	a := t.el("saml2:Assertion",
		xattr{"xmlns:saml2", nsAssertion},
		xattr{"xmlns:xs", nsXS},
		xattr{"xmlns:xsi", nsXSI},
		xattr{"ID", out.AssertionID},
		xattr{"Version", "2.0"},
		xattr{"IssueInstant", now},
	)
	a.add(t.el("saml2:Issuer").withText(s.IssuerEntityID))

	nameIDAttrs := [2]xattr{{"Format", nameIDFormat}, {"SPNameQualifier", req.SPNameQualifier}}
	n := 2
	if req.SPNameQualifier == "" {
		n = 1
	}
	nameID := t.el("saml2:NameID", nameIDAttrs[:n]...).withText(out.NameID)
	dataAttrs := [3]xattr{{"InResponseTo", req.InResponseTo}, {"NotOnOrAfter", notOnOrAfter}, {"Recipient", req.ACS}}
	first := 0
	if req.InResponseTo == "" {
		first = 1
	}
	a.add(t.el("saml2:Subject").add(
		nameID,
		t.el("saml2:SubjectConfirmation", xattr{"Method", cmBearer}).add(
			t.el("saml2:SubjectConfirmationData", dataAttrs[first:]...)),
	))

	// Validity runs from issuance, not from the request's arrival: a slow
	// login must not produce an assertion that is already expiring.
	a.add(t.el("saml2:Conditions",
		xattr{"NotBefore", samlTime(s.now.Add(-s.skew))},
		xattr{"NotOnOrAfter", notOnOrAfter},
	).add(t.el("saml2:AudienceRestriction").add(t.el("saml2:Audience").withText(req.SP.EntityID))))

	a.add(t.el("saml2:AuthnStatement",
		xattr{"AuthnInstant", samlTime(u.AuthTime)},
		xattr{"SessionIndex", out.SessionIndex},
	).add(t.el("saml2:AuthnContext").add(t.el("saml2:AuthnContextClassRef").withText(s.authnContext))))

	var statement *node
	for _, rule := range s.profile.Attributes {
		value := rule.attributeValue(s.fields, u)
		if value == "" {
			continue
		}
		if statement == nil {
			statement = t.el("saml2:AttributeStatement")
			a.add(statement)
		}
		statement.add(t.el("saml2:Attribute",
			xattr{"Name", rule.Name},
			xattr{"NameFormat", AttrNameFormatURI},
			xattr{"FriendlyName", rule.Name}, // as the Yunion evidence has it (§6.2); informational only
		).add(t.el("saml2:AttributeValue", xattr{"xsi:type", "xs:string"}).withText(value)))
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
	defer s.release()
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
	s.addStatus(resp, top, second, msg)
	if err := s.signEnveloped(resp, out.ResponseID); err != nil {
		return nil, err
	}
	out.XML = resp.document()
	return out, nil
}

func (s *settings) addStatus(parent *node, top, second, msg string) {
	t := s.tree
	code := t.el("saml2p:StatusCode", xattr{"Value", top})
	if second != "" {
		code.add(t.el("saml2p:StatusCode", xattr{"Value", second}))
	}
	status := t.el("saml2p:Status").add(code)
	if msg != "" {
		status.add(t.el("saml2p:StatusMessage").withText(msg))
	}
	parent.add(status)
}
