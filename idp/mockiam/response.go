package mockiam

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// maxSAMLResponseBytes bounds the decoded Response; real ones are a few KB.
const maxSAMLResponseBytes = 256 << 10

// Attribute is one SAML attribute as the IdP sent it.
type Attribute struct {
	Name         string
	FriendlyName string
	NameFormat   string
	Values       []string
}

// verifiedLogin is what a Response that passed every check says.
type verifiedLogin struct {
	Pending      *pendingLogin
	ResponseID   string
	AssertionID  string
	NameID       string
	SessionIndex string
	XUserID      string
	Attributes   []Attribute
}

// Algorithms the mock accepts on the assertion signature: the ones the
// protocol reference recommends, and SHA-512. SHA-1 is refused.
var (
	allowedSignatureMethods = map[string]bool{
		dsig.RSASHA256SignatureMethod: true,
		dsig.RSASHA512SignatureMethod: true,
	}
	allowedDigests = map[string]bool{
		"http://www.w3.org/2001/04/xmlenc#sha256": true,
		"http://www.w3.org/2001/04/xmlenc#sha512": true,
	}
)

// checkResponse runs every check on a posted Response, in a fixed order so
// each bad input gets its own reason. It changes no state: consume does.
func (m *IAM) checkResponse(samlResponse, relayState string, hasRelayState bool) (*verifiedLogin, error) {
	now := m.now()
	l := &verifiedLogin{}
	resp, err := decodeResponse(samlResponse)
	if err != nil {
		return l, err
	}
	assertion, err := theOnlyAssertion(resp)
	if err != nil {
		return l, err
	}
	p, err := m.outstandingRequest(resp, now)
	if err != nil {
		return l, err
	}
	l.Pending = p
	if err := checkRelayState(p, relayState, hasRelayState); err != nil {
		return l, err
	}
	if err := m.checkDestination(resp); err != nil {
		return l, err
	}
	if err := checkIssuer(resp, "Response", p.IdP.EntityID); err != nil {
		return l, err
	}
	if err := checkStatus(resp); err != nil {
		return l, err
	}
	if err := m.checkIssueInstant(resp, "Response", p, now); err != nil {
		return l, err
	}
	if len(children(resp, nsDSig, "Signature")) > 0 {
		// A Response signature is optional; when present it must hold.
		if _, err := m.verifySignature(resp, "Response", p, now); err != nil {
			return l, err
		}
	}
	// From here on, read only the element the signature check returned.
	signed, err := m.verifySignature(assertion, "Assertion", p, now)
	if err != nil {
		return l, err
	}
	return l, m.checkAssertion(signed, resp, l, now)
}

// decodeResponse turns the posted field into the Response element.
func decodeResponse(samlResponse string) (*etree.Element, error) {
	if samlResponse == "" {
		return nil, bad(ReasonMalformed, "SAMLResponse is missing; POST it as a form field (HTTP-POST binding)")
	}
	if len(samlResponse) > base64.StdEncoding.EncodedLen(maxSAMLResponseBytes)+4096 {
		return nil, bad(ReasonMalformed, "SAMLResponse is larger than %d KB", maxSAMLResponseBytes>>10)
	}
	raw, err := base64.StdEncoding.DecodeString(stripSpace(samlResponse))
	if err != nil {
		return nil, bad(ReasonMalformed, "SAMLResponse is not base64; the HTTP-POST binding sends base64 of the XML, not deflated and not URL-safe base64")
	}
	if len(raw) > maxSAMLResponseBytes {
		return nil, bad(ReasonMalformed, "SAMLResponse is larger than %d KB", maxSAMLResponseBytes>>10)
	}
	doc, err := parseUntrustedXML(raw)
	if err != nil {
		return nil, bad(ReasonMalformed, "SAMLResponse: %v", err)
	}
	resp := doc.Root()
	if !is(resp, nsProtocol, "Response") {
		return nil, bad(ReasonMalformed, "the root element is <%.64s> in namespace %.100q; it must be samlp:Response (%s)", resp.Tag, resp.NamespaceURI(), nsProtocol)
	}
	if v := attrValue(resp, "Version"); v != "2.0" {
		return nil, bad(ReasonMalformed, "Response Version is %.20q; it must be 2.0", v)
	}
	if attrValue(resp, "ID") == "" {
		return nil, bad(ReasonMalformed, "the Response has no ID")
	}
	return resp, nil
}

// theOnlyAssertion refuses anything but exactly one plain Assertion, a
// direct child of the Response, and any repeated ID: the shapes signature
// wrapping needs.
func theOnlyAssertion(resp *etree.Element) (*etree.Element, error) {
	if n := len(descendants(resp, nsAssertion, "EncryptedAssertion")); n > 0 {
		return nil, bad(ReasonMalformed, "the Response holds an EncryptedAssertion; the partner flow uses no encryption, so send a signed plain Assertion")
	}
	assertions := descendants(resp, nsAssertion, "Assertion")
	switch {
	case len(assertions) == 0:
		return nil, bad(ReasonMalformed, "the Response holds no Assertion")
	case len(assertions) > 1:
		return nil, forbid(ReasonWrapping, "the Response holds %d Assertion elements; exactly one is allowed (an extra unsigned Assertion is how signature wrapping works)", len(assertions))
	}
	a := assertions[0]
	if a.Parent() != resp {
		return nil, forbid(ReasonWrapping, "the Assertion is nested inside <%s>; it must be a direct child of the Response", a.Parent().Tag)
	}
	seen := map[string]bool{}
	var dup string
	walk(resp, func(el *etree.Element) {
		if id, ok := attr(el, "ID"); ok {
			if seen[id] && dup == "" {
				dup = id
			}
			seen[id] = true
		}
	})
	if dup != "" {
		return nil, forbid(ReasonWrapping, "two elements carry ID %.80q; IDs must be unique so a signature points at one element", dup)
	}
	return a, nil
}

func walk(el *etree.Element, fn func(*etree.Element)) {
	fn(el)
	for _, c := range el.ChildElements() {
		walk(c, fn)
	}
}

// outstandingRequest finds the AuthnRequest this Response answers: it must
// be one this mock sent, not yet answered and not expired.
func (m *IAM) outstandingRequest(resp *etree.Element, now time.Time) (*pendingLogin, error) {
	irt := attrValue(resp, "InResponseTo")
	if irt == "" {
		return nil, forbid(ReasonUnsolicited, "the Response has no InResponseTo; Huawei IAM starts every login with an AuthnRequest, so answer one (IdP-initiated login is not accepted)")
	}
	respID := attrValue(resp, "ID")
	m.mu.Lock()
	p := m.pendingByID[irt]
	_, answered := m.consumed["req:"+irt]
	_, expired := m.consumed["expired:"+irt]
	_, respUsed := m.consumed["resp:"+respID]
	m.mu.Unlock()
	switch {
	case respUsed:
		return nil, forbid(ReasonReplay, "Response %.80q was already consumed; every Response is accepted once", respID)
	case answered:
		return nil, forbid(ReasonReplay, "AuthnRequest %.80q was already answered; each request takes one Response", irt)
	case expired, p != nil && now.Sub(p.IssuedAt) > RequestLifetime+m.skew:
		return nil, forbid(ReasonRequestExpired, "AuthnRequest %.80q is older than %s; start again from the login link", irt, RequestLifetime)
	case p == nil:
		return nil, forbid(ReasonUnknownRequest, "InResponseTo %.80q does not match any AuthnRequest this mock sent", irt)
	}
	return p, nil
}

func checkRelayState(p *pendingLogin, relayState string, present bool) error {
	if !present {
		return forbid(ReasonRelayState, "RelayState is missing; the IdP must return the RelayState it received with the AuthnRequest, byte for byte")
	}
	if relayState != p.RelayState {
		return forbid(ReasonRelayState, "RelayState differs from the one sent with AuthnRequest %s; return it byte for byte", p.RequestID)
	}
	return nil
}

func (m *IAM) checkDestination(resp *etree.Element) error {
	dest, ok := attr(resp, "Destination")
	if !ok {
		return forbid(ReasonWrongDestination, "the Response has no Destination; set it to the ACS %s", m.acsURL)
	}
	if dest != m.acsURL {
		return forbid(ReasonWrongDestination, "Response Destination is %.200q; it must be the ACS %s", dest, m.acsURL)
	}
	return nil
}

// checkIssuer requires el's Issuer to be the registered IdP's entityID,
// exactly, with the entity format if a Format is given.
func checkIssuer(el *etree.Element, what, entityID string) error {
	iss, err := child(el, nsAssertion, "Issuer")
	if err != nil {
		return bad(ReasonMalformed, "%s: %v", what, err)
	}
	if iss == nil {
		return forbid(ReasonWrongIssuer, "the %s has no Issuer; set it to the IdP entityID %.200q from the registered metadata", what, entityID)
	}
	if f, ok := attr(iss, "Format"); ok && f != nameIDFormatEntity {
		return forbid(ReasonWrongIssuer, "the %s Issuer Format is %.100q; leave it out or use %s", what, f, nameIDFormatEntity)
	}
	if got := iss.Text(); got != entityID {
		return forbid(ReasonWrongIssuer, "the %s Issuer is %.200q; it must be the registered IdP entityID %.200q", what, got, entityID)
	}
	return nil
}

func checkStatus(resp *etree.Element) error {
	status, err := child(resp, nsProtocol, "Status")
	if err != nil || status == nil {
		return bad(ReasonMalformed, "the Response needs exactly one Status")
	}
	code, err := child(status, nsProtocol, "StatusCode")
	if err != nil || code == nil {
		return bad(ReasonMalformed, "Status needs exactly one StatusCode")
	}
	if v := attrValue(code, "Value"); v != statusSuccess {
		detail := v
		if sub, _ := child(code, nsProtocol, "StatusCode"); sub != nil {
			detail += " / " + attrValue(sub, "Value")
		}
		if msg, _ := child(status, nsProtocol, "StatusMessage"); msg != nil {
			detail += ": " + msg.Text()
		}
		return forbid(ReasonStatus, "the IdP answered with status %.300q, not Success", oneLine(detail))
	}
	return nil
}

// checkIssueInstant requires an IssueInstant after the request was sent and
// not in the future, both within the skew.
func (m *IAM) checkIssueInstant(el *etree.Element, what string, p *pendingLogin, now time.Time) error {
	t, err := samlTime(attrValue(el, "IssueInstant"))
	if err != nil {
		return bad(ReasonMalformed, "%s IssueInstant: %v", what, err)
	}
	if t.After(now.Add(m.skew)) {
		return forbid(ReasonNotYetValid, "%s IssueInstant %s is in the future (now %s, skew %s); check the IdP's clock", what, samlInstant(t), samlInstant(now), m.skew)
	}
	if t.Before(p.IssuedAt.Add(-m.skew)) {
		return forbid(ReasonExpired, "%s IssueInstant %s is before the AuthnRequest was sent (%s); it cannot answer it", what, samlInstant(t), samlInstant(p.IssuedAt))
	}
	return nil
}

// verifySignature checks the enveloped signature of el against the
// registered IdP's certificates and returns the element goxmldsig
// verified: the caller must read only that element. The Reference must
// point at el itself.
func (m *IAM) verifySignature(el *etree.Element, what string, p *pendingLogin, now time.Time) (*etree.Element, error) {
	sigs := children(el, nsDSig, "Signature")
	if len(sigs) == 0 {
		return nil, forbid(ReasonUnsigned, "the %s carries no ds:Signature; Huawei requires a signed Assertion (断言中要携带签名)", what)
	}
	if len(sigs) > 1 {
		return nil, forbid(ReasonBadSignature, "the %s carries %d Signatures; one is expected", what, len(sigs))
	}
	id := attrValue(el, "ID")
	if id == "" {
		return nil, bad(ReasonMalformed, "the %s has no ID for its signature to reference", what)
	}
	if err := checkSignedInfo(sigs[0], what, id); err != nil {
		return nil, err
	}
	if err := checkKeyInfo(sigs[0], what, p); err != nil {
		return nil, err
	}
	nsctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, bad(ReasonMalformed, "%s namespaces: %v", what, err)
	}
	detached, err := etreeutils.NSDetatch(nsctx, el)
	if err != nil {
		return nil, bad(ReasonMalformed, "%s namespaces: %v", what, err)
	}
	lastErr := fmt.Errorf("the metadata lists no signing certificate")
	for _, cert := range p.IdP.SigningCerts {
		vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
		vc.Clock = dsig.NewFakeClockAt(now)
		verified, err := vc.Validate(detached)
		if err != nil {
			lastErr = err
			continue
		}
		if attrValue(verified, "ID") != id || verified.Tag != el.Tag {
			return nil, forbid(ReasonWrapping, "the signature verified a different element than the %s", what)
		}
		return verified, nil
	}
	return nil, forbid(ReasonBadSignature, "the %s signature does not verify with the certificate(s) in the IdP metadata registered for %s (%s): the %s was changed after signing, or signed with another key",
		what, p.XAccountType, oneLine(lastErr.Error()), what)
}

// checkSignedInfo requires one Reference to #id and the algorithms the
// protocol reference names: exc-c14n, enveloped-signature, RSA-SHA256/512
// with a SHA-256/512 digest.
func checkSignedInfo(sig *etree.Element, what, id string) error {
	si, err := child(sig, nsDSig, "SignedInfo")
	if err != nil || si == nil {
		return forbid(ReasonBadSignature, "the %s Signature needs exactly one SignedInfo", what)
	}
	refs := children(si, nsDSig, "Reference")
	if len(refs) != 1 {
		return forbid(ReasonBadSignature, "the %s SignedInfo has %d References; exactly one, to the %s itself, is expected", what, len(refs), what)
	}
	if uri := attrValue(refs[0], "URI"); uri != "#"+id {
		return forbid(ReasonBadSignature, "the %s signature's Reference URI is %.100q; it must point at the %s itself (#%.80s)", what, uri, what, id)
	}
	if c14n, _ := child(si, nsDSig, "CanonicalizationMethod"); c14n == nil || attrValue(c14n, "Algorithm") != string(dsig.CanonicalXML10ExclusiveAlgorithmId) {
		return forbid(ReasonBadSignature, "the %s SignedInfo must use exclusive canonicalization (%s)", what, dsig.CanonicalXML10ExclusiveAlgorithmId)
	}
	sm, _ := child(si, nsDSig, "SignatureMethod")
	if sm == nil || !allowedSignatureMethods[attrValue(sm, "Algorithm")] {
		return forbid(ReasonBadSignature, "the %s SignatureMethod must be rsa-sha256 (or rsa-sha512); %.100q is refused", what, attrValue(sm, "Algorithm"))
	}
	dm, _ := child(refs[0], nsDSig, "DigestMethod")
	if dm == nil || !allowedDigests[attrValue(dm, "Algorithm")] {
		return forbid(ReasonBadSignature, "the %s DigestMethod must be sha256 (or sha512); %.100q is refused", what, attrValue(dm, "Algorithm"))
	}
	var algs []string
	if ts, _ := child(refs[0], nsDSig, "Transforms"); ts != nil {
		for _, t := range children(ts, nsDSig, "Transform") {
			algs = append(algs, attrValue(t, "Algorithm"))
		}
	}
	want := []string{string(dsig.EnvelopedSignatureAltorithmId), string(dsig.CanonicalXML10ExclusiveAlgorithmId)}
	if strings.Join(algs, " ") != strings.Join(want, " ") {
		return forbid(ReasonBadSignature, "the %s signature's Transforms are %.300q; they must be enveloped-signature then exc-c14n", what, strings.Join(algs, ", "))
	}
	return nil
}

// checkKeyInfo names an untrusted signing certificate before the signature
// check, so the page can say which key was wrong.
func checkKeyInfo(sig *etree.Element, what string, p *pendingLogin) error {
	certs := descendants(sig, nsDSig, "X509Certificate")
	if len(certs) == 0 {
		return nil
	}
	der, err := base64.StdEncoding.DecodeString(stripSpace(certs[0].Text()))
	if err != nil {
		return bad(ReasonMalformed, "the %s KeyInfo certificate is not base64", what)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return bad(ReasonMalformed, "the %s KeyInfo certificate does not parse", what)
	}
	for _, c := range p.IdP.SigningCerts {
		if c.Equal(cert) {
			return nil
		}
	}
	sum := sha256.Sum256(cert.Raw)
	return forbid(ReasonUntrustedKey, "the %s is signed with certificate %q (SHA-256 %s), which is not a signing certificate in the IdP metadata registered for %s; upload metadata with this certificate or sign with the registered key",
		what, cert.Subject.String(), hex.EncodeToString(sum[:]), p.XAccountType)
}

// checkAssertion checks the verified Assertion and reads the login from it.
func (m *IAM) checkAssertion(a, resp *etree.Element, l *verifiedLogin, now time.Time) error {
	p := l.Pending
	l.ResponseID, l.AssertionID = attrValue(resp, "ID"), attrValue(a, "ID")
	if v := attrValue(a, "Version"); v != "2.0" {
		return bad(ReasonMalformed, "Assertion Version is %.20q; it must be 2.0", v)
	}
	m.mu.Lock()
	_, used := m.consumed["assert:"+l.AssertionID]
	m.mu.Unlock()
	if used {
		return forbid(ReasonReplay, "Assertion %.80q was already consumed; every assertion is accepted once", l.AssertionID)
	}
	if err := checkIssuer(a, "Assertion", p.IdP.EntityID); err != nil {
		return err
	}
	if err := m.checkIssueInstant(a, "Assertion", p, now); err != nil {
		return err
	}
	if err := m.checkSubject(a, l, p, now); err != nil {
		return err
	}
	if err := m.checkConditions(a, now); err != nil {
		return err
	}
	authn := children(a, nsAssertion, "AuthnStatement")
	if len(authn) == 0 {
		return bad(ReasonMalformed, "the Assertion has no AuthnStatement; the Web Browser SSO profile requires one")
	}
	l.SessionIndex = attrValue(authn[0], "SessionIndex")
	l.Attributes = readAttributes(a)
	var err error
	if l.XUserID, err = partnerUserID(l.Attributes); err != nil {
		return err
	}
	return nil
}

// checkSubject requires a NameID and exactly one bearer confirmation for
// this ACS and request, still within its NotOnOrAfter.
func (m *IAM) checkSubject(a *etree.Element, l *verifiedLogin, p *pendingLogin, now time.Time) error {
	subject, err := child(a, nsAssertion, "Subject")
	if err != nil || subject == nil {
		return bad(ReasonMalformed, "the Assertion needs exactly one Subject")
	}
	nameID, err := child(subject, nsAssertion, "NameID")
	if err != nil || nameID == nil || nameID.Text() == "" {
		return bad(ReasonMalformed, "the Subject needs one non-empty NameID (Huawei asks for a transient one)")
	}
	l.NameID = nameID.Text()
	confirmations := children(subject, nsAssertion, "SubjectConfirmation")
	if len(confirmations) != 1 {
		return forbid(ReasonNoBearer, "the Subject has %d SubjectConfirmation elements; exactly one, bearer, is expected", len(confirmations))
	}
	sc := confirmations[0]
	if method := attrValue(sc, "Method"); method != cmBearer {
		return forbid(ReasonNoBearer, "SubjectConfirmation Method is %.100q; it must be %s", method, cmBearer)
	}
	scd, err := child(sc, nsAssertion, "SubjectConfirmationData")
	if err != nil || scd == nil {
		return forbid(ReasonNoBearer, "the bearer SubjectConfirmation needs one SubjectConfirmationData with Recipient, InResponseTo and NotOnOrAfter")
	}
	if r, ok := attr(scd, "Recipient"); !ok || r != m.acsURL {
		return forbid(ReasonWrongRecipient, "SubjectConfirmationData Recipient is %.200q; it must be the ACS %s", r, m.acsURL)
	}
	if irt := attrValue(scd, "InResponseTo"); irt != p.RequestID {
		return forbid(ReasonWrongInResponseTo, "SubjectConfirmationData InResponseTo is %.80q; it must be the AuthnRequest ID %s, like the Response's", irt, p.RequestID)
	}
	if _, ok := attr(scd, "NotBefore"); ok {
		return forbid(ReasonNoBearer, "the bearer SubjectConfirmationData carries NotBefore, which the SAML Web Browser SSO profile forbids; leave it out")
	}
	raw, ok := attr(scd, "NotOnOrAfter")
	if !ok {
		return forbid(ReasonNoValidity, "SubjectConfirmationData has no NotOnOrAfter; a bearer assertion must say when it can no longer be delivered")
	}
	t, err := samlTime(raw)
	if err != nil {
		return bad(ReasonMalformed, "SubjectConfirmationData NotOnOrAfter: %v", err)
	}
	if !now.Add(-m.skew).Before(t) {
		return forbid(ReasonExpired, "SubjectConfirmationData NotOnOrAfter %s has passed (now %s, skew %s)", samlInstant(t), samlInstant(now), m.skew)
	}
	return nil
}

// checkConditions requires a validity window around now and an audience
// restriction naming this SP.
func (m *IAM) checkConditions(a *etree.Element, now time.Time) error {
	cond, err := child(a, nsAssertion, "Conditions")
	if err != nil {
		return bad(ReasonMalformed, "Assertion: %v", err)
	}
	if cond == nil {
		return forbid(ReasonNoValidity, "the Assertion has no Conditions; give NotBefore/NotOnOrAfter and an AudienceRestriction to %s", m.entityID)
	}
	if raw, ok := attr(cond, "NotBefore"); ok {
		t, err := samlTime(raw)
		if err != nil {
			return bad(ReasonMalformed, "Conditions NotBefore: %v", err)
		}
		if now.Add(m.skew).Before(t) {
			return forbid(ReasonNotYetValid, "the Assertion is not valid before %s (now %s, skew %s); check the IdP's clock", samlInstant(t), samlInstant(now), m.skew)
		}
	}
	raw, ok := attr(cond, "NotOnOrAfter")
	if !ok {
		return forbid(ReasonNoValidity, "Conditions has no NotOnOrAfter; the mock requires a bounded validity window")
	}
	t, err := samlTime(raw)
	if err != nil {
		return bad(ReasonMalformed, "Conditions NotOnOrAfter: %v", err)
	}
	if !now.Add(-m.skew).Before(t) {
		return forbid(ReasonExpired, "the Assertion expired at %s (now %s, skew %s)", samlInstant(t), samlInstant(now), m.skew)
	}
	restrictions := children(cond, nsAssertion, "AudienceRestriction")
	if len(restrictions) == 0 {
		return forbid(ReasonWrongAudience, "the Assertion has no AudienceRestriction; restrict it to the SP entityID %s", m.entityID)
	}
	// Every restriction must hold, so each must name this SP.
	for _, ar := range restrictions {
		var got []string
		found := false
		for _, aud := range children(ar, nsAssertion, "Audience") {
			got = append(got, aud.Text())
			found = found || aud.Text() == m.entityID
		}
		if !found {
			return forbid(ReasonWrongAudience, "AudienceRestriction lists %.300q; it must include the SP entityID %s (with its trailing slash)", strings.Join(got, ", "), m.entityID)
		}
	}
	return nil
}

func readAttributes(a *etree.Element) []Attribute {
	var out []Attribute
	for _, st := range children(a, nsAssertion, "AttributeStatement") {
		for _, el := range children(st, nsAssertion, "Attribute") {
			at := Attribute{
				Name:         attrValue(el, "Name"),
				FriendlyName: attrValue(el, "FriendlyName"),
				NameFormat:   attrValue(el, "NameFormat"),
			}
			for _, v := range children(el, nsAssertion, "AttributeValue") {
				at.Values = append(at.Values, v.Text())
			}
			out = append(out, at)
		}
	}
	return out
}

// partnerUserID reads xUserId, falling back to xAccountId: one non-empty
// value of at most 128 characters, and the same in both when both are sent.
func partnerUserID(attrs []Attribute) (string, error) {
	get := func(name string) (string, bool, error) {
		var found *Attribute
		for i := range attrs {
			if attrs[i].Name == name {
				if found != nil {
					return "", true, forbid(ReasonUserID, "the attribute %s appears twice; send it once", name)
				}
				found = &attrs[i]
			}
		}
		if found == nil {
			return "", false, nil
		}
		if len(found.Values) != 1 || found.Values[0] == "" || len(found.Values[0]) > 128 {
			return "", true, forbid(ReasonUserID, "the attribute %s must have exactly one non-empty value of at most 128 characters (create-customer's xaccount_id)", name)
		}
		return found.Values[0], true, nil
	}
	userID, hasUser, err := get("xUserId")
	if err != nil {
		return "", err
	}
	accountID, hasAccount, err := get("xAccountId")
	if err != nil {
		return "", err
	}
	switch {
	case hasUser && hasAccount && userID != accountID:
		return "", forbid(ReasonUserID, "xUserId and xAccountId differ; both carry the partner user's xaccount_id")
	case hasUser:
		return userID, nil
	case hasAccount:
		return accountID, nil
	}
	return "", forbid(ReasonUserID, "the Assertion has no xUserId (or xAccountId) attribute; Huawei finds the bound account by it")
}

// consume marks the request, Response and Assertion used. It re-checks under
// the lock so two concurrent POSTs of one Response cannot both pass.
func (m *IAM) consume(l *verifiedLogin) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	id := l.Pending.RequestID
	if m.pendingByID[id] != l.Pending {
		return forbid(ReasonReplay, "AuthnRequest %s was answered by another Response at the same time", id)
	}
	if _, used := m.consumed["resp:"+l.ResponseID]; used {
		return forbid(ReasonReplay, "Response %.80q was already consumed", l.ResponseID)
	}
	if _, used := m.consumed["assert:"+l.AssertionID]; used {
		return forbid(ReasonReplay, "Assertion %.80q was already consumed", l.AssertionID)
	}
	delete(m.pendingByID, id)
	until := now.Add(consumedRetention)
	m.consumed["req:"+id] = until
	m.consumed["resp:"+l.ResponseID] = until
	m.consumed["assert:"+l.AssertionID] = until
	return nil
}
