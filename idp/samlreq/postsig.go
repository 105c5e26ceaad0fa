package samlreq

import (
	"crypto/x509"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/partneridp/partneridp/metadata"
)

// Digest algorithms allowed in an embedded signature's Reference.
const (
	digestSHA1   = "http://www.w3.org/2000/09/xmldsig#sha1"
	digestSHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
	digestSHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"
)

// embeddedSignature is the one ds:Signature of a POSTed request.
type embeddedSignature struct {
	SignatureMethod string
	DigestMethod    string
	SHA1            bool // rsa-sha1 or a sha1 digest, allowed by policy
}

// checkEmbeddedSignatureShape insists on the SAML profile shape (SAML core
// §5.4): exactly one ds:Signature in the whole message, a child of the
// root, with one Reference to the root's ID, and algorithms from our
// allow-list. With one signature there is only one thing the validator can
// have checked, which closes the door on signature-wrapping documents.
func checkEmbeddedSignatureShape(root *etree.Element, h *header, policy metadata.SigAlgPolicy) (*embeddedSignature, error) {
	var sigs []*etree.Element
	collect(root, func(el *etree.Element) {
		if el.Tag == "Signature" && el.NamespaceURI() == nsDSig {
			sigs = append(sigs, el)
		}
	})
	if len(sigs) == 0 {
		return nil, untrusted(ReasonSignatureMissing, h,
			"the POSTed AuthnRequest has no embedded ds:Signature: this IdP requires every request to be signed; turn on request signing at the SP")
	}
	if len(sigs) > 1 || sigs[0].Parent() != root {
		return nil, untrusted(ReasonSignatureWrapping, h,
			"the POSTed request must carry exactly one ds:Signature, as a child of the root element")
	}
	signedInfo := sigs[0].FindElement("./SignedInfo")
	if signedInfo == nil {
		return nil, untrusted(ReasonBadSignature, h, "the ds:Signature has no SignedInfo")
	}
	refs := signedInfo.SelectElements("Reference")
	if h.ID == "" || len(refs) != 1 || refs[0].SelectAttrValue("URI", "") != "#"+h.ID {
		return nil, untrusted(ReasonSignatureWrapping, h,
			"the ds:Signature must have exactly one Reference, to #<ID of the request>")
	}
	s := &embeddedSignature{
		SignatureMethod: elementAttr(signedInfo, "SignatureMethod", "Algorithm"),
		DigestMethod:    elementAttr(refs[0], "DigestMethod", "Algorithm"),
	}
	if _, err := policy.Hash(s.SignatureMethod); err != nil {
		return nil, newError(Untrusted, ReasonSigAlgNotAllowed, h, err,
			"the embedded SignatureMethod %.100q is not allowed (use rsa-sha256 or rsa-sha512)", s.SignatureMethod)
	}
	switch s.DigestMethod {
	case digestSHA256, digestSHA512:
	case digestSHA1:
		if !policy.AllowSHA1 {
			return nil, untrusted(ReasonSigAlgNotAllowed, h,
				"the embedded DigestMethod is sha1, refused unless allow_rsa_sha1 is enabled: sign with a sha256 digest")
		}
		s.SHA1 = true
	default:
		return nil, untrusted(ReasonSigAlgNotAllowed, h,
			"the embedded DigestMethod %.100q is not allowed (use sha256 or sha512)", s.DigestMethod)
	}
	s.SHA1 = s.SHA1 || s.SignatureMethod == metadata.SigAlgRSASHA1
	return s, nil
}

// verifyEmbeddedSignature checks the enveloped signature against each SP
// signing certificate in turn and returns the signed element as the
// validator canonicalised it: only that element is read afterwards.
func verifyEmbeddedSignature(root *etree.Element, h *header, certs []*x509.Certificate) (*etree.Element, error) {
	for _, cert := range certs {
		v := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
		// A metadata certificate is a key container: its dates are not
		// checked (SAML metadata interoperability profile), as on the
		// redirect binding. Rotation happens by changing the metadata.
		v.Clock = dsig.NewFakeClockAt(cert.NotBefore)
		signed, err := v.Validate(root)
		if err == nil {
			return signed, nil
		}
	}
	return nil, untrusted(ReasonBadSignature, h,
		"the embedded signature does not verify with any signing certificate in the SP metadata for %.200q: reload the SP metadata if the SP rotated its key", h.Issuer)
}

func collect(el *etree.Element, visit func(*etree.Element)) {
	visit(el)
	for _, c := range el.ChildElements() {
		collect(c, visit)
	}
}

func elementAttr(parent *etree.Element, child, attr string) string {
	el := parent.SelectElement(child)
	if el == nil {
		return ""
	}
	return el.SelectAttrValue(attr, "")
}
