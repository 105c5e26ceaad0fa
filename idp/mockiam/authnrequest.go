package mockiam

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/partneridp/partneridp/metadata"
)

// LoginLink is a parsed /authui/saml/login query.
type LoginLink struct {
	XAccountType string
	IsFirstLogin bool
	Service      string // empty when the link has none
}

// ParseLoginLink reads the login link's query strictly: xAccountType once
// and valid, isFirstLogin "true", "false" or absent, service an absolute
// http(s) URL when present.
func ParseLoginLink(q url.Values) (LoginLink, error) {
	var l LoginLink
	for name, vs := range q {
		switch name {
		case "xAccountType", "isFirstLogin", "service":
			if len(vs) != 1 {
				return l, bad(ReasonBadLoginLink, "the login link repeats %q; give it once", name)
			}
		}
	}
	l.XAccountType = q.Get("xAccountType")
	if l.XAccountType == "" {
		return l, bad(ReasonBadLoginLink, "the login link has no xAccountType; use /authui/saml/login?xAccountType=<platform id>&isFirstLogin=<true|false>&service=<url>")
	}
	if err := checkXAccountType(l.XAccountType); err != nil {
		return l, bad(ReasonBadLoginLink, "%v", err)
	}
	switch v := q.Get("isFirstLogin"); v {
	case "true":
		l.IsFirstLogin = true
	case "false", "":
	default:
		return l, bad(ReasonBadLoginLink, "isFirstLogin is %.20q; it must be true or false", v)
	}
	if s := q.Get("service"); s != "" {
		if len(s) > 2048 {
			return l, bad(ReasonBadLoginLink, "service is longer than 2048 characters")
		}
		if err := checkAbsoluteURL(s); err != nil {
			return l, bad(ReasonBadLoginLink, "service: %v", err)
		}
		l.Service = s
	}
	return l, nil
}

// startLogin does what Huawei does with a login link: it finds the IdP
// registered for xAccountType, records an AuthnRequest and returns the
// signed HTTP-Redirect URL of the IdP's first SingleSignOnService.
func (m *IAM) startLogin(ctx context.Context, l LoginLink) (string, *pendingLogin, error) {
	_, meta, err := m.idp(ctx, l.XAccountType)
	if err != nil {
		return "", nil, err
	}
	sso := meta.SSO[0]
	id, err := m.requestID()
	if err != nil {
		return "", nil, err
	}
	relayState, err := m.randomHex(16)
	if err != nil {
		return "", nil, err
	}
	now := m.now()
	xml, err := m.authnRequestXML(id, now, sso.Location)
	if err != nil {
		return "", nil, err
	}
	location, err := redirectURL(sso.Location, xml, relayState, m.key)
	if err != nil {
		return "", nil, err
	}
	p := &pendingLogin{
		RequestID: id, RelayState: relayState, XAccountType: l.XAccountType,
		IsFirstLogin: l.IsFirstLogin, Service: l.Service, IssuedAt: now, IdP: meta,
	}
	if m.keepMsgs {
		p.RequestXML = xml
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pruneLocked(now)
	if len(m.pendingByID) >= maxPendingLogins {
		return "", nil, refuse(ReasonBusy, http.StatusServiceUnavailable, "%d logins are waiting for an answer; try again later", len(m.pendingByID))
	}
	m.pendingByID[id] = p
	return location, p, nil
}

// authnRequestXML builds an AuthnRequest shaped like Huawei's real one
// (protocol reference 5.2): saml2p/saml2 prefixes, attributes in the same
// order, no embedded signature.
func (m *IAM) authnRequestXML(id string, now time.Time, destination string) ([]byte, error) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	req := doc.CreateElement("saml2p:AuthnRequest")
	req.CreateAttr("xmlns:saml2p", nsProtocol)
	req.CreateAttr("AssertionConsumerServiceURL", m.acsURL)
	req.CreateAttr("Destination", destination)
	req.CreateAttr("ForceAuthn", "false")
	req.CreateAttr("ID", id)
	req.CreateAttr("IsPassive", "false")
	req.CreateAttr("IssueInstant", samlInstant(now))
	req.CreateAttr("ProtocolBinding", metadata.SAMLBindingHTTPPost)
	req.CreateAttr("Version", "2.0")
	issuer := req.CreateElement("saml2:Issuer")
	issuer.CreateAttr("xmlns:saml2", nsAssertion)
	issuer.SetText(m.entityID)
	policy := req.CreateElement("saml2p:NameIDPolicy")
	policy.CreateAttr("AllowCreate", "true")
	policy.CreateAttr("Format", metadata.NameIDFormatTransient)
	policy.CreateAttr("SPNameQualifier", m.entityID)
	out, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("serialise AuthnRequest: %w", err)
	}
	return out, nil
}

// redirectURL encodes a request for the HTTP-Redirect binding (SAML
// bindings 3.4.4.1): raw DEFLATE, base64, URL-encode; the signature covers
// the octets "SAMLRequest=…&RelayState=…&SigAlg=…" exactly as sent.
func redirectURL(destination string, xml []byte, relayState string, key metadata.SigningKey) (string, error) {
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := fw.Write(xml); err != nil {
		return "", err
	}
	if err := fw.Close(); err != nil {
		return "", err
	}
	signed := "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes())) +
		"&RelayState=" + url.QueryEscape(relayState) +
		"&SigAlg=" + url.QueryEscape(metadata.SigAlgRSASHA256)
	sig, err := metadata.SignDetached(key.Key, metadata.SigAlgRSASHA256, []byte(signed))
	if err != nil {
		return "", fmt.Errorf("sign AuthnRequest: %w", err)
	}
	sep := "?"
	if strings.Contains(destination, "?") {
		sep = "&"
	}
	return destination + sep + signed + "&Signature=" + url.QueryEscape(sig), nil
}
