// Package metadata holds who we are and whom we trust: the IdP signing keyset,
// the IDP Metadata.xml we publish, the SP metadata we load (Huawei IAM or a
// test SP), and the site presets. It knows nothing of HTTP handlers or storage.
package metadata

import (
	"crypto/x509"
	"strings"

	"github.com/crewjam/saml"
)

// SAML binding and format URIs used across the project, taken from
// crewjam/saml's vocabulary so that the whole project spells them one way.
const (
	SAMLBindingHTTPRedirect = saml.HTTPRedirectBinding
	SAMLBindingHTTPPost     = saml.HTTPPostBinding

	NameIDFormatTransient   = string(saml.TransientNameIDFormat)
	NameIDFormatPersistent  = string(saml.PersistentNameIDFormat)
	NameIDFormatUnspecified = string(saml.UnspecifiedNameIDFormat)
	NameIDFormatEmail       = string(saml.EmailAddressNameIDFormat)
)

// Endpoint is one service location from SAML metadata.
type Endpoint struct {
	SAMLBinding      string
	Location         string
	ResponseLocation string
	Index            int
	IsDefault        bool
}

// SP is what we trust about one service provider, taken from its metadata.
type SP struct {
	EntityID             string
	ACS                  []Endpoint // HTTP-POST assertion consumer services, the default first
	SLO                  []Endpoint // single logout services, every binding
	SigningCerts         []*x509.Certificate
	NameIDFormats        []string
	AuthnRequestsSigned  bool
	WantAssertionsSigned bool
	// SignatureStatus says whether the metadata's own signature was checked:
	// "verified", "unsigned" or "present, not checked" (no pin configured).
	SignatureStatus string
}

// DefaultACS is the ACS a Response goes to when the request names none:
// the one marked isDefault, else the lowest index, else the first.
func (sp *SP) DefaultACS() (Endpoint, bool) {
	if len(sp.ACS) == 0 {
		return Endpoint{}, false
	}
	best := sp.ACS[0]
	for _, e := range sp.ACS {
		if e.IsDefault {
			return e, true
		}
		if e.Index < best.Index {
			best = e
		}
	}
	return best, true
}

// FindACS returns the metadata ACS whose Location equals url exactly.
func (sp *SP) FindACS(url string) (Endpoint, bool) {
	for _, e := range sp.ACS {
		if e.Location == url {
			return e, true
		}
	}
	return Endpoint{}, false
}

// SLOFor returns the SP's single logout endpoint for a binding.
func (sp *SP) SLOFor(samlBinding string) (Endpoint, bool) {
	for _, e := range sp.SLO {
		if e.SAMLBinding == samlBinding {
			return e, true
		}
	}
	return Endpoint{}, false
}

// SupportsNameIDFormat reports whether format is one the SP lists (any format
// when the SP lists none).
func (sp *SP) SupportsNameIDFormat(format string) bool {
	if len(sp.NameIDFormats) == 0 {
		return true
	}
	for _, f := range sp.NameIDFormats {
		if strings.TrimSpace(f) == format {
			return true
		}
	}
	return false
}
