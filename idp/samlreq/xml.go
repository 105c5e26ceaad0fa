package samlreq

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"

	"github.com/beevik/etree"
)

// XML namespaces of the messages we read.
const (
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsDSig      = "http://www.w3.org/2000/09/xmldsig#"
)

// maxDepth bounds nesting; SAML requests are a few levels deep.
const maxDepth = 32

// header is what every SAML request carries, as text from the XML.
type header struct {
	ID           string
	Version      string
	IssueInstant string
	Destination  string
	Issuer       string // "" when the element is missing
}

// authnRequestXML is an AuthnRequest as read, before any check.
type authnRequestXML struct {
	header
	ACSURL          string
	ACSIndex        string
	ProtocolBinding string
	ForceAuthn      bool
	IsPassive       bool
	NameIDFormat    string
	SPNameQualifier string
	AllowCreate     bool
}

// logoutRequestXML is a LogoutRequest as read, before any check.
type logoutRequestXML struct {
	header
	NotOnOrAfter   string
	NameID         string
	NameIDFormat   string
	SessionIndexes []string
}

// parseAuthnRequestXML reads a decoded AuthnRequest. It only reads: every
// decision is made by the named checks in intake.go.
func parseAuthnRequestXML(doc []byte) (*authnRequestXML, error) {
	root, err := readMessage(doc)
	if err != nil {
		return nil, err
	}
	return authnRequestFromElement(root)
}

// parseLogoutRequestXML reads a decoded LogoutRequest.
func parseLogoutRequestXML(doc []byte) (*logoutRequestXML, error) {
	root, err := readMessage(doc)
	if err != nil {
		return nil, err
	}
	return logoutRequestFromElement(root)
}

// readMessage refuses DTDs, then builds the element tree. (The
// xml-roundtrip-validator pass is not used: on Go 1.26 encoding/xml already
// refuses, or round-trips stably, every input of its advisories.)
//
// The document is tokenised once, by etree: the verdicts are those of a
// refuseDirectives pass before the tree (which cost as much as the tree):
// when etree fails, refuseDirectives says why as before; when it succeeds, a
// directive anywhere in the tree is refused, and a declared encoding other
// than UTF-8 has already failed (utf8Only).
func readMessage(doc []byte) (*etree.Element, error) {
	d := etree.NewDocument()
	d.ReadSettings = etree.ReadSettings{PreserveDuplicateAttrs: true, MaxDepth: maxDepth, CharsetReader: utf8Only}
	if err := d.ReadFromBytes(doc); err != nil {
		if err := refuseDirectives(doc); err != nil {
			return nil, err
		}
		return nil, untrusted(ReasonMalformedXML, nil, "the SAML message is not well-formed XML: send a valid SAML message")
	}
	if hasDirective(d.Child) {
		return nil, untrusted(ReasonDTD, nil,
			"the SAML message contains a DTD or other <!...> declaration: SAML messages must not have one")
	}
	root := d.Root()
	if root == nil {
		return nil, untrusted(ReasonMalformedXML, nil, "the SAML message has no root element: send a valid SAML message")
	}
	return root, nil
}

// refuseDirectives walks the tokens once before any tree is built: a
// <!DOCTYPE> (and with it any entity declaration) is refused outright, as
// is a declared encoding other than UTF-8.
func refuseDirectives(doc []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return untrusted(ReasonMalformedXML, nil, "the SAML message is not well-formed UTF-8 XML: send a valid SAML message")
		}
		if _, ok := tok.(xml.Directive); ok {
			return untrusted(ReasonDTD, nil,
				"the SAML message contains a DTD or other <!...> declaration: SAML messages must not have one")
		}
	}
}

// utf8Only is the CharsetReader for documents that declare an encoding
// other than UTF-8: encoding/xml without one refuses them, and so do we.
func utf8Only(charset string, _ io.Reader) (io.Reader, error) {
	return nil, errors.New("only UTF-8 is accepted")
}

// hasDirective reports a <!...> token anywhere in the tree.
func hasDirective(tokens []etree.Token) bool {
	for _, t := range tokens {
		switch t := t.(type) {
		case *etree.Directive:
			return true
		case *etree.Element:
			if hasDirective(t.Child) {
				return true
			}
		}
	}
	return false
}

func authnRequestFromElement(root *etree.Element) (*authnRequestXML, error) {
	if err := expectRoot(root, "AuthnRequest"); err != nil {
		return nil, err
	}
	h, err := readHeader(root)
	if err != nil {
		return nil, err
	}
	m := &authnRequestXML{header: h}
	a, err := plainAttrs(root)
	if err != nil {
		return nil, err
	}
	m.ACSURL = a["AssertionConsumerServiceURL"]
	m.ACSIndex = a["AssertionConsumerServiceIndex"]
	m.ProtocolBinding = a["ProtocolBinding"]
	if m.ForceAuthn, err = xsBoolean(a, "ForceAuthn", &h); err != nil {
		return nil, err
	}
	if m.IsPassive, err = xsBoolean(a, "IsPassive", &h); err != nil {
		return nil, err
	}
	policy, err := onlyChild(root, nsProtocol, "NameIDPolicy", &h)
	if err != nil {
		return nil, err
	}
	if policy == nil {
		return m, nil
	}
	pa, err := plainAttrs(policy)
	if err != nil {
		return nil, err
	}
	m.NameIDFormat = strings.TrimSpace(pa["Format"])
	m.SPNameQualifier = pa["SPNameQualifier"]
	if m.AllowCreate, err = xsBoolean(pa, "AllowCreate", &h); err != nil {
		return nil, err
	}
	return m, nil
}

func logoutRequestFromElement(root *etree.Element) (*logoutRequestXML, error) {
	if err := expectRoot(root, "LogoutRequest"); err != nil {
		return nil, err
	}
	h, err := readHeader(root)
	if err != nil {
		return nil, err
	}
	m := &logoutRequestXML{header: h}
	a, err := plainAttrs(root)
	if err != nil {
		return nil, err
	}
	m.NotOnOrAfter = a["NotOnOrAfter"]
	nameID, err := onlyChild(root, nsAssertion, "NameID", &h)
	if err != nil {
		return nil, err
	}
	if nameID != nil {
		if m.NameID, err = textOnly(nameID, &h); err != nil {
			return nil, err
		}
		na, err := plainAttrs(nameID)
		if err != nil {
			return nil, err
		}
		m.NameIDFormat = strings.TrimSpace(na["Format"])
	}
	for _, el := range root.ChildElements() {
		if el.Tag == "SessionIndex" && el.NamespaceURI() == nsProtocol {
			s, err := textOnly(el, &h)
			if err != nil {
				return nil, err
			}
			m.SessionIndexes = append(m.SessionIndexes, s)
		}
	}
	return m, nil
}

func expectRoot(root *etree.Element, name string) error {
	if root.Tag != name || root.NamespaceURI() != nsProtocol {
		return untrusted(ReasonWrongMessage, nil,
			"the message is a %.64q in namespace %.100q, not a samlp:%s: send it to the matching endpoint", root.Tag, root.NamespaceURI(), name)
	}
	return nil
}

// readHeader reads the attributes and Issuer every request has. A missing
// Issuer is left empty for the issuer check to refuse.
func readHeader(root *etree.Element) (header, error) {
	a, err := plainAttrs(root)
	if err != nil {
		return header{}, err
	}
	h := header{
		ID:           a["ID"],
		Version:      a["Version"],
		IssueInstant: a["IssueInstant"],
		Destination:  a["Destination"],
	}
	issuer, err := onlyChild(root, nsAssertion, "Issuer", &h)
	if err != nil {
		return header{}, err
	}
	if issuer == nil {
		return h, nil
	}
	text, err := textOnly(issuer, &h)
	if err != nil {
		return header{}, err
	}
	h.Issuer = strings.TrimSpace(text)
	return h, nil
}

// plainAttrs returns the element's unprefixed attributes. Two of the same
// name are refused: parsers differ on which one wins.
func plainAttrs(el *etree.Element) (map[string]string, error) {
	m := make(map[string]string, len(el.Attr))
	var seen map[[2]string]bool // for many attributes; a few are compared pairwise
	if len(el.Attr) > 16 {
		seen = make(map[[2]string]bool, len(el.Attr))
	}
	for i, a := range el.Attr {
		dup := false
		if seen != nil {
			k := [2]string{a.Space, a.Key}
			dup = seen[k]
			seen[k] = true
		} else {
			for _, b := range el.Attr[:i] {
				if b.Space == a.Space && b.Key == a.Key {
					dup = true
					break
				}
			}
		}
		if dup {
			return nil, untrusted(ReasonMalformedXML, nil,
				"element %.64q has attribute %.64q twice: send each attribute once", el.Tag, a.FullKey())
		}
		if a.Space == "" {
			m[a.Key] = a.Value
		}
	}
	return m, nil
}

// onlyChild returns the child element ns:tag, nil when there is none, and
// refuses more than one (which one would count is ambiguous).
func onlyChild(el *etree.Element, ns, tag string, h *header) (*etree.Element, error) {
	var found *etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag != tag || c.NamespaceURI() != ns {
			continue
		}
		if found != nil {
			return nil, untrusted(ReasonMalformedXML, h, "the message has more than one %s element: send exactly one", tag)
		}
		found = c
	}
	return found, nil
}

// textOnly returns the element's text, refusing comments, processing
// instructions and child elements inside it: "a<!---->b" reads as "a" to
// some libraries and "ab" to others.
func textOnly(el *etree.Element, h *header) (string, error) {
	var b strings.Builder
	for _, t := range el.Child {
		cd, ok := t.(*etree.CharData)
		if !ok {
			return "", untrusted(ReasonMalformedXML, h,
				"element %.64q must contain only text (no comments or elements): send plain text", el.Tag)
		}
		b.WriteString(cd.Data)
	}
	return b.String(), nil
}

// xsBoolean reads an optional xs:boolean attribute (false when absent).
func xsBoolean(attrs map[string]string, name string, h *header) (bool, error) {
	switch strings.TrimSpace(attrs[name]) {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, untrusted(ReasonMalformedXML, h, "attribute %s must be true or false, not %.32q", name, attrs[name])
}
