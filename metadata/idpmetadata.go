package metadata

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// ErrIDPMetadataInvalid is wrapped by the error BuildIDPMetadata returns when
// the configuration or the document breaks a rule; see IDPMetadataError.
var ErrIDPMetadataInvalid = errors.New("IdP metadata is invalid")

// Organization is the optional md:Organization of our metadata.
type Organization struct {
	Name, DisplayName, URL string
	Lang                   string // xml:lang, default "en"
}

// Contact is one optional md:ContactPerson.
type Contact struct {
	Type      string // technical, support, administrative, billing or other
	Company   string
	GivenName string
	Email     string // "mailto:" is added when missing
}

// IDPConfig is what the IDP Metadata.xml we publish says about us.
type IDPConfig struct {
	EntityID       string
	SSORedirectURL string
	SSOPostURL     string   // optional
	SLOURL         string   // optional, HTTP-Redirect
	NameIDFormats  []string // default: transient
	Organization   *Organization
	Contacts       []Contact
	AllowHTTP      bool // local development only
}

// IDPMetadataError lists every problem found, by configuration check or by
// CheckIDPMetadata.
type IDPMetadataError struct {
	Problems []Problem
}

func (e *IDPMetadataError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.String()
	}
	return fmt.Sprintf("%v: %d problem(s):\n  %s", ErrIDPMetadataInvalid, len(e.Problems), strings.Join(msgs, "\n  "))
}

func (e *IDPMetadataError) Unwrap() error { return ErrIDPMetadataInvalid }

var contactTypes = map[string]bool{"technical": true, "support": true, "administrative": true, "billing": true, "other": true}

// BuildIDPMetadata makes the IDP Metadata.xml the partner uploads to Huawei
// Partner Center: one signing KeyDescriptor per certificate (current first,
// then a staged next one), SSO with HTTP-Redirect first. The same inputs give
// the same bytes. The document must pass CheckIDPMetadata at now, otherwise
// nothing is returned.
func BuildIDPMetadata(cfg IDPConfig, certs []*x509.Certificate, now time.Time) ([]byte, error) {
	if problems := cfg.validate(certs); len(problems) > 0 {
		return nil, &IDPMetadataError{Problems: problems}
	}

	ed := etree.NewElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", NamespaceMetadata)
	ed.CreateAttr("xmlns:ds", NamespaceDSig)
	ed.CreateAttr("entityID", cfg.EntityID)

	idp := ed.CreateElement("md:IDPSSODescriptor")
	idp.CreateAttr("WantAuthnRequestsSigned", "true")
	idp.CreateAttr("protocolSupportEnumeration", NamespaceProtocol)
	for _, c := range certs {
		kd := idp.CreateElement("md:KeyDescriptor")
		kd.CreateAttr("use", "signing")
		kd.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").
			SetText(base64.StdEncoding.EncodeToString(c.Raw))
	}
	if cfg.SLOURL != "" {
		addEndpoint(idp, "md:SingleLogoutService", SAMLBindingHTTPRedirect, cfg.SLOURL)
	}
	addNameIDFormats(idp, cfg.NameIDFormats)
	// Huawei uses the first SingleSignOnService and sends HTTP-Redirect.
	addEndpoint(idp, "md:SingleSignOnService", SAMLBindingHTTPRedirect, cfg.SSORedirectURL)
	if cfg.SSOPostURL != "" {
		addEndpoint(idp, "md:SingleSignOnService", SAMLBindingHTTPPost, cfg.SSOPostURL)
	}

	if o := cfg.Organization; o != nil {
		lang := o.Lang
		if lang == "" {
			lang = "en"
		}
		org := ed.CreateElement("md:Organization")
		for _, part := range []struct{ tag, text string }{
			{"md:OrganizationName", o.Name},
			{"md:OrganizationDisplayName", o.DisplayName},
			{"md:OrganizationURL", o.URL},
		} {
			el := org.CreateElement(part.tag)
			el.CreateAttr("xml:lang", lang)
			el.SetText(part.text)
		}
	}
	for _, c := range cfg.Contacts {
		cp := ed.CreateElement("md:ContactPerson")
		cp.CreateAttr("contactType", c.Type)
		if c.Company != "" {
			cp.CreateElement("md:Company").SetText(c.Company)
		}
		if c.GivenName != "" {
			cp.CreateElement("md:GivenName").SetText(c.GivenName)
		}
		if c.Email != "" {
			email := c.Email
			if !strings.HasPrefix(email, "mailto:") {
				email = "mailto:" + email
			}
			cp.CreateElement("md:EmailAddress").SetText(email)
		}
	}

	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	doc.SetRoot(ed)
	doc.Indent(2)
	out, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("serialise IdP metadata: %w", err)
	}
	if problems := CheckIDPMetadata(out, CheckOptions{AllowHTTP: cfg.AllowHTTP, Now: now}); len(problems) > 0 {
		return nil, &IDPMetadataError{Problems: problems}
	}
	return out, nil
}

// validate reports configuration mistakes in terms of the configuration,
// before a document exists.
func (cfg IDPConfig) validate(certs []*x509.Certificate) []Problem {
	var ps []Problem
	add := func(code, format string, a ...any) {
		ps = append(ps, Problem{Code: code, Message: fmt.Sprintf(format, a...)})
	}
	if strings.TrimSpace(cfg.EntityID) == "" {
		add(ProblemEntityID, "entity_id is empty: set it to the IdP's stable identifier, usually its base https URL")
	} else if len(cfg.EntityID) > 1024 {
		add(ProblemEntityID, "entity_id is longer than 1024 characters (SAML limit)")
	}
	if cfg.SSORedirectURL == "" {
		add(ProblemSSO, "the SSO URL (HTTP-Redirect) is empty: Huawei sends AuthnRequests there")
	}
	for _, u := range []struct{ name, v string }{
		{"SSO redirect URL", cfg.SSORedirectURL}, {"SSO POST URL", cfg.SSOPostURL}, {"SLO URL", cfg.SLOURL},
	} {
		if u.v == "" {
			continue
		}
		if err := checkEndpointURL(u.v, cfg.AllowHTTP); err != nil {
			add(ProblemURL, "%s: %v", u.name, err)
		}
	}
	for _, f := range cfg.NameIDFormats {
		if strings.TrimSpace(f) == "" {
			add(ProblemNameIDFormat, "an empty NameID format is configured")
		}
	}
	if len(certs) == 0 {
		add(ProblemSigningKey, "no certificate to publish: load the signing keyset first")
	}
	for i, c := range certs {
		if c == nil {
			add(ProblemCertParse, "certificate #%d is missing", i+1)
		}
	}
	if o := cfg.Organization; o != nil {
		if o.Name == "" || o.DisplayName == "" || o.URL == "" {
			add(ProblemOrganization, "organization needs name, display name and URL (the schema requires all three)")
		}
	}
	for i, c := range cfg.Contacts {
		if !contactTypes[c.Type] {
			add(ProblemContact, "contact #%d: type %.40q must be technical, support, administrative, billing or other", i+1, c.Type)
		}
		if c.Company == "" && c.GivenName == "" && c.Email == "" {
			add(ProblemContact, "contact #%d is empty: give a company, name or email", i+1)
		}
	}
	return ps
}
