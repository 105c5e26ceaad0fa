package metadata

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// MaxIDPMetadataBytes is Huawei Partner Center's upload limit ("≤ 2 MB"),
// read as the stricter decimal megabytes.
const MaxIDPMetadataBytes = 2_000_000

// Problem codes of CheckIDPMetadata (and of BuildIDPMetadata's
// configuration check).
const (
	ProblemSize                    = "size"
	ProblemEncoding                = "encoding"
	ProblemDTD                     = "dtd"
	ProblemXML                     = "xml"
	ProblemPrivateKey              = "private-key"
	ProblemRoot                    = "root"
	ProblemEntityID                = "entity-id"
	ProblemIDPSSO                  = "idpsso-descriptor"
	ProblemProtocol                = "protocol-support"
	ProblemWantAuthnRequestsSigned = "want-authn-requests-signed"
	ProblemSigningKey              = "signing-key"
	ProblemOrder                   = "schema-order"
	ProblemSSO                     = "sso"
	ProblemURL                     = "url"
	ProblemCertParse               = "cert-parse"
	ProblemCertKey                 = "cert-key"
	ProblemCertExpired             = "cert-expired"
	ProblemCertNotYetValid         = "cert-not-yet-valid"
	ProblemNameIDFormat            = "nameid-format"
	ProblemOrganization            = "organization"
	ProblemContact                 = "contact"
)

// Problem is one broken rule in an IdP metadata document.
type Problem struct {
	Code    string
	Message string
}

func (p Problem) String() string { return p.Code + ": " + p.Message }

// CheckOptions tunes CheckIDPMetadata.
type CheckOptions struct {
	AllowHTTP bool      // accept http endpoints (local development only)
	Now       time.Time // certificate validity is judged at Now; zero: time.Now()
}

const namespaceAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"

// Schema order of the children we may meet, from saml-schema-metadata-2.0.xsd.
var (
	entityDescriptorOrder = map[string]int{
		NamespaceDSig + " Signature":                        0,
		NamespaceMetadata + " Extensions":                   1,
		NamespaceMetadata + " RoleDescriptor":               2,
		NamespaceMetadata + " IDPSSODescriptor":             2,
		NamespaceMetadata + " SPSSODescriptor":              2,
		NamespaceMetadata + " AuthnAuthorityDescriptor":     2,
		NamespaceMetadata + " AttributeAuthorityDescriptor": 2,
		NamespaceMetadata + " PDPDescriptor":                2,
		NamespaceMetadata + " AffiliationDescriptor":        2,
		NamespaceMetadata + " Organization":                 3,
		NamespaceMetadata + " ContactPerson":                4,
		NamespaceMetadata + " AdditionalMetadataLocation":   5,
	}
	idpSSODescriptorOrder = map[string]int{
		NamespaceDSig + " Signature":                     0,
		NamespaceMetadata + " Extensions":                1,
		NamespaceMetadata + " KeyDescriptor":             2,
		NamespaceMetadata + " Organization":              3,
		NamespaceMetadata + " ContactPerson":             4,
		NamespaceMetadata + " ArtifactResolutionService": 5,
		NamespaceMetadata + " SingleLogoutService":       6,
		NamespaceMetadata + " ManageNameIDService":       7,
		NamespaceMetadata + " NameIDFormat":              8,
		NamespaceMetadata + " SingleSignOnService":       9,
		NamespaceMetadata + " NameIDMappingService":      10,
		NamespaceMetadata + " AssertionIDRequestService": 11,
		NamespaceMetadata + " AttributeProfile":          12,
		namespaceAssertion + " Attribute":                13,
	}
	// Elements the schema allows at most once.
	singletons = map[string]bool{
		NamespaceDSig + " Signature":        true,
		NamespaceMetadata + " Extensions":   true,
		NamespaceMetadata + " Organization": true,
	}
)

var xmlDeclEncoding = regexp.MustCompile(`^\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']*)["']`)

// CheckIDPMetadata applies Huawei's upload rules and our own to an IdP
// metadata document and returns every problem found (nil when none).
func CheckIDPMetadata(doc []byte, opts CheckOptions) []Problem {
	c := &idpChecker{opts: opts}
	if c.opts.Now.IsZero() {
		c.opts.Now = time.Now()
	}
	c.checkBytes(doc)
	root := c.parse(doc)
	if root == nil {
		return c.problems
	}
	c.checkPrivateKeyElements(root)
	if !is(root, NamespaceMetadata, "EntityDescriptor") {
		c.add(ProblemRoot, "the root element is <%s>; want md:EntityDescriptor in namespace %s", root.FullTag(), NamespaceMetadata)
		return c.problems
	}
	if strings.TrimSpace(attrValue(root, "entityID")) == "" {
		c.add(ProblemEntityID, "EntityDescriptor has no entityID")
	}
	c.checkOrder(root, "EntityDescriptor", entityDescriptorOrder)
	c.checkIDPSSODescriptor(root)
	c.checkEndpoints(root)
	c.checkCertificates(root)
	return c.problems
}

type idpChecker struct {
	opts     CheckOptions
	problems []Problem
}

func (c *idpChecker) add(code, format string, a ...any) {
	c.problems = append(c.problems, Problem{Code: code, Message: fmt.Sprintf(format, a...)})
}

// checkBytes runs the checks that need no parse, so they are reported even
// for a document that does not parse.
func (c *idpChecker) checkBytes(doc []byte) {
	if len(doc) > MaxIDPMetadataBytes {
		c.add(ProblemSize, "the document is %d bytes; Huawei accepts at most 2 MB", len(doc))
	}
	if !utf8.Valid(doc) {
		c.add(ProblemEncoding, "the document is not valid UTF-8; save it as UTF-8")
	}
	if m := xmlDeclEncoding.FindSubmatch(doc); m != nil && !strings.EqualFold(string(m[1]), "UTF-8") {
		c.add(ProblemEncoding, "the XML declaration says encoding=%.40q; Huawei requires UTF-8", m[1])
	}
	if hasDTD(doc) {
		c.add(ProblemDTD, "the document has a <!DOCTYPE> or <!ENTITY> declaration; remove it")
	}
	if bytes.Contains(doc, []byte("PRIVATE KEY")) {
		c.add(ProblemPrivateKey, "the document contains a PEM \"PRIVATE KEY\" block; metadata must carry only the public certificate")
	}
}

func (c *idpChecker) parse(doc []byte) *etree.Element {
	d, err := parseStrict(doc)
	if err != nil {
		c.add(ProblemXML, "the document is not well-formed XML: %v", err)
		return nil
	}
	if hasDirective(d) && !hasDTD(doc) {
		c.add(ProblemDTD, "the document has a <!...> declaration; remove it")
	}
	if d.Root() == nil {
		c.add(ProblemXML, "the document has no root element")
		return nil
	}
	return d.Root()
}

// checkPrivateKeyElements looks for private key material carried as XML:
// an RSAKeyValue with private parts, any *PrivateKey element, or a "certificate"
// that is really a private key.
func (c *idpChecker) checkPrivateKeyElements(root *etree.Element) {
	var walk func(*etree.Element)
	walk = func(el *etree.Element) {
		switch {
		case strings.Contains(strings.ToLower(el.Tag), "privatekey"):
			c.add(ProblemPrivateKey, "element <%s> holds private key material; remove it", el.FullTag())
		case el.Tag == "RSAKeyValue":
			for _, part := range el.ChildElements() {
				if part.Tag != "Modulus" && part.Tag != "Exponent" {
					c.add(ProblemPrivateKey, "<%s> has a private part <%s>; publish only Modulus and Exponent, or better only the certificate", el.FullTag(), part.Tag)
					break
				}
			}
		case is(el, NamespaceDSig, "X509Certificate"):
			if der, err := base64.StdEncoding.DecodeString(stripSpace(el.Text())); err == nil && isPrivateKeyDER(der) {
				c.add(ProblemPrivateKey, "an X509Certificate element holds a private key, not a certificate; publish the certificate")
			}
		}
		for _, ch := range el.ChildElements() {
			walk(ch)
		}
	}
	walk(root)
}

func isPrivateKeyDER(der []byte) bool {
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return true
	}
	_, err := x509.ParseECPrivateKey(der)
	return err == nil
}

// checkOrder reports children out of schema order, unknown children and
// repeated singletons.
func (c *idpChecker) checkOrder(parent *etree.Element, name string, order map[string]int) {
	highest := -1
	highestName := ""
	seen := map[string]bool{}
	for _, ch := range parent.ChildElements() {
		key := ch.NamespaceURI() + " " + ch.Tag
		rank, known := order[key]
		if !known {
			c.add(ProblemOrder, "<%s> is not allowed inside %s", ch.FullTag(), name)
			continue
		}
		if singletons[key] && seen[key] {
			c.add(ProblemOrder, "%s has more than one <%s>", name, ch.FullTag())
		}
		seen[key] = true
		if rank < highest {
			c.add(ProblemOrder, "inside %s, <%s> must come before <%s> (schema order)", name, ch.FullTag(), highestName)
			continue
		}
		highest, highestName = rank, ch.FullTag()
	}
}

func (c *idpChecker) checkIDPSSODescriptor(root *etree.Element) {
	roles := children(root, NamespaceMetadata, "IDPSSODescriptor")
	if len(roles) != 1 {
		c.add(ProblemIDPSSO, "want exactly one md:IDPSSODescriptor, found %d", len(roles))
		if len(roles) == 0 {
			return
		}
	}
	idp := roles[0]
	if !strings.Contains(" "+attrValue(idp, "protocolSupportEnumeration")+" ", " "+NamespaceProtocol+" ") {
		c.add(ProblemProtocol, "IDPSSODescriptor protocolSupportEnumeration must list %s", NamespaceProtocol)
	}
	if v, ok := xsBoolean(attrValue(idp, "WantAuthnRequestsSigned")); !ok || !v {
		c.add(ProblemWantAuthnRequestsSigned, `IDPSSODescriptor must say WantAuthnRequestsSigned="true": we only accept signed AuthnRequests`)
	}
	signing := 0
	for _, kd := range signingKeyDescriptors(idp) {
		if len(descendants(kd, NamespaceDSig, "X509Certificate")) > 0 {
			signing++
		}
	}
	if signing == 0 {
		c.add(ProblemSigningKey, `IDPSSODescriptor has no KeyDescriptor use="signing" with an X509Certificate; Huawei cannot verify our assertions without it`)
	}
	c.checkOrder(idp, "IDPSSODescriptor", idpSSODescriptorOrder)

	ssos := children(idp, NamespaceMetadata, "SingleSignOnService")
	switch {
	case len(ssos) == 0:
		c.add(ProblemSSO, "IDPSSODescriptor has no SingleSignOnService; Huawei sends AuthnRequests to it")
	case attrValue(ssos[0], "Binding") != SAMLBindingHTTPRedirect:
		c.add(ProblemSSO, "the first SingleSignOnService has binding %.100q; Huawei uses the first one and sends HTTP-Redirect, so list %s first",
			attrValue(ssos[0], "Binding"), SAMLBindingHTTPRedirect)
	}
}

// checkEndpoints requires every Location and ResponseLocation to be an
// absolute https URL.
func (c *idpChecker) checkEndpoints(root *etree.Element) {
	var walk func(*etree.Element)
	walk = func(el *etree.Element) {
		for _, name := range []string{"Location", "ResponseLocation"} {
			v, ok := attr(el, name)
			if !ok {
				continue
			}
			if err := checkEndpointURL(v, c.opts.AllowHTTP); err != nil {
				c.add(ProblemURL, "<%s %s>: %v", el.FullTag(), name, err)
			}
		}
		for _, ch := range el.ChildElements() {
			walk(ch)
		}
	}
	walk(root)
}

// checkCertificates applies our certificate rule to every certificate in the
// document, signing or not.
func (c *idpChecker) checkCertificates(root *etree.Element) {
	for i, el := range descendants(root, NamespaceDSig, "X509Certificate") {
		where := fmt.Sprintf("certificate #%d%s", i+1, keyDescriptorUse(el))
		der, err := base64.StdEncoding.DecodeString(stripSpace(el.Text()))
		if err != nil {
			c.add(ProblemCertParse, "%s is not base64", where)
			continue
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			c.add(ProblemCertParse, "%s does not parse as X.509: %v", where, err)
			continue
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		switch {
		case !ok:
			c.add(ProblemCertKey, "%s has a %s key; use RSA of 2048 bits or more", where, cert.PublicKeyAlgorithm)
		case pub.N.BitLen() < MinRSABits:
			c.add(ProblemCertKey, "%s has a %d-bit RSA key; use 2048 bits or more (partneridp keygen)", where, pub.N.BitLen())
		}
		if c.opts.Now.After(cert.NotAfter) {
			c.add(ProblemCertExpired, "%s expired %s", where, cert.NotAfter.UTC().Format(time.RFC3339))
		}
		if c.opts.Now.Before(cert.NotBefore) {
			c.add(ProblemCertNotYetValid, "%s is valid only from %s", where, cert.NotBefore.UTC().Format(time.RFC3339))
		}
	}
}

// keyDescriptorUse names the KeyDescriptor a certificate sits in, for messages.
func keyDescriptorUse(el *etree.Element) string {
	for p := el.Parent(); p != nil; p = p.Parent() {
		if is(p, NamespaceMetadata, "KeyDescriptor") {
			if use, ok := attr(p, "use"); ok {
				return fmt.Sprintf(" (KeyDescriptor use=%.20q)", use)
			}
			return " (KeyDescriptor)"
		}
	}
	return ""
}
