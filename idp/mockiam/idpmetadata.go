package mockiam

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"

	"github.com/partneridp/partneridp/metadata"
)

// MaxIdPMetadataBytes is Partner Center's upload limit for IDP Metadata.xml.
const MaxIdPMetadataBytes = 2 << 20

// ErrIdPMetadata is wrapped by every IdP metadata load or parse failure.
var ErrIdPMetadata = errors.New("IdP metadata is not usable")

// IdPMetadata is what the mock takes from a partner's IDP Metadata.xml, as
// Huawei does from the Partner Center upload.
type IdPMetadata struct {
	EntityID      string
	SSO           []metadata.Endpoint // in document order; Huawei uses the first
	SLO           []metadata.Endpoint
	SigningCerts  []*x509.Certificate
	NameIDFormats []string
}

// ParseIdPMetadata reads an IDP Metadata.xml strictly: one EntityDescriptor
// with a SAML 2.0 IDPSSODescriptor, at least one signing certificate, and a
// first SingleSignOnService that uses HTTP-Redirect (Huawei sends its
// AuthnRequest there by redirect).
func ParseIdPMetadata(raw []byte) (*IdPMetadata, error) {
	if len(raw) > MaxIdPMetadataBytes {
		return nil, fmt.Errorf("%w: %d bytes is over Partner Center's 2 MB limit", ErrIdPMetadata, len(raw))
	}
	if !utf8.Valid(raw) {
		return nil, fmt.Errorf("%w: the file is not UTF-8 (Partner Center wants UTF-8)", ErrIdPMetadata)
	}
	doc, err := parseUntrustedXML(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdPMetadata, err)
	}
	root := doc.Root()
	if !is(root, nsMetadata, "EntityDescriptor") {
		return nil, fmt.Errorf("%w: the root element must be md:EntityDescriptor (found <%s>)", ErrIdPMetadata, root.Tag)
	}
	m := &IdPMetadata{EntityID: strings.TrimSpace(attrValue(root, "entityID"))}
	if m.EntityID == "" {
		return nil, fmt.Errorf("%w: EntityDescriptor has no entityID", ErrIdPMetadata)
	}
	if len(m.EntityID) > 1024 {
		return nil, fmt.Errorf("%w: entityID is longer than 1024 characters", ErrIdPMetadata)
	}
	idp, err := idpDescriptor(root)
	if err != nil {
		return nil, err
	}
	if m.SigningCerts, err = signingCerts(idp); err != nil {
		return nil, err
	}
	for _, el := range children(idp, nsMetadata, "SingleSignOnService") {
		e, err := endpoint(el, "SingleSignOnService")
		if err != nil {
			return nil, err
		}
		m.SSO = append(m.SSO, e)
	}
	if len(m.SSO) == 0 {
		return nil, fmt.Errorf("%w: IDPSSODescriptor has no SingleSignOnService", ErrIdPMetadata)
	}
	if m.SSO[0].SAMLBinding != metadata.SAMLBindingHTTPRedirect {
		return nil, fmt.Errorf("%w: the first SingleSignOnService uses binding %.100q; Huawei sends its AuthnRequest to the first one by HTTP-Redirect, so list an HTTP-Redirect endpoint first", ErrIdPMetadata, m.SSO[0].SAMLBinding)
	}
	for _, el := range children(idp, nsMetadata, "SingleLogoutService") {
		e, err := endpoint(el, "SingleLogoutService")
		if err != nil {
			return nil, err
		}
		m.SLO = append(m.SLO, e)
	}
	for _, el := range children(idp, nsMetadata, "NameIDFormat") {
		m.NameIDFormats = append(m.NameIDFormats, strings.TrimSpace(el.Text()))
	}
	return m, nil
}

func idpDescriptor(root *etree.Element) (*etree.Element, error) {
	var found *etree.Element
	for _, d := range children(root, nsMetadata, "IDPSSODescriptor") {
		if !hasSAML2(attrValue(d, "protocolSupportEnumeration")) {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w: more than one SAML 2.0 IDPSSODescriptor", ErrIdPMetadata)
		}
		found = d
	}
	if found == nil {
		return nil, fmt.Errorf("%w: no IDPSSODescriptor with protocolSupportEnumeration %q", ErrIdPMetadata, nsProtocol)
	}
	return found, nil
}

func hasSAML2(enumeration string) bool {
	for _, p := range strings.Fields(enumeration) {
		if p == nsProtocol {
			return true
		}
	}
	return false
}

// signingCerts returns the certificates of KeyDescriptors with use="signing"
// or no use, which SAML metadata says serve both purposes.
func signingCerts(idp *etree.Element) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for _, kd := range children(idp, nsMetadata, "KeyDescriptor") {
		use := attrValue(kd, "use")
		if use != "" && use != "signing" {
			continue
		}
		for _, c := range descendants(kd, nsDSig, "X509Certificate") {
			der, err := base64.StdEncoding.DecodeString(stripSpace(c.Text()))
			if err != nil {
				return nil, fmt.Errorf("%w: a signing X509Certificate is not base64", ErrIdPMetadata)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("%w: a signing X509Certificate does not parse: %v", ErrIdPMetadata, err)
			}
			certs = append(certs, cert)
		}
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: no signing certificate (KeyDescriptor use=\"signing\" with ds:X509Certificate); Huawei verifies the assertion signature with it", ErrIdPMetadata)
	}
	return certs, nil
}

func endpoint(el *etree.Element, what string) (metadata.Endpoint, error) {
	e := metadata.Endpoint{
		SAMLBinding:      attrValue(el, "Binding"),
		Location:         attrValue(el, "Location"),
		ResponseLocation: attrValue(el, "ResponseLocation"),
	}
	if e.SAMLBinding == "" {
		return e, fmt.Errorf("%w: a %s has no Binding", ErrIdPMetadata, what)
	}
	if err := checkAbsoluteURL(e.Location); err != nil {
		return e, fmt.Errorf("%w: %s Location: %v", ErrIdPMetadata, what, err)
	}
	return e, nil
}

// checkAbsoluteURL accepts an absolute http(s) URL without a fragment.
func checkAbsoluteURL(raw string) error {
	if raw == "" {
		return errors.New("empty URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%.200q is not a URL", raw)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%.200q is not an absolute http(s) URL", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%.200q has a fragment", raw)
	}
	return nil
}

// loadIdPMetadataFile reads an uploaded file under Partner Center's rules:
// a .xml file of at most 2 MB.
func loadIdPMetadataFile(path string) (*IdPMetadata, error) {
	if !strings.EqualFold(filepath.Ext(path), ".xml") {
		return nil, fmt.Errorf("%w: %s: Partner Center only takes .xml files", ErrIdPMetadata, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdPMetadata, err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, MaxIdPMetadataBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %v", ErrIdPMetadata, path, err)
	}
	m, err := ParseIdPMetadata(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// fetchIdPMetadata downloads metadata from the partner's URL, bounded in
// size; the client's timeout bounds the time.
func fetchIdPMetadata(ctx context.Context, client *http.Client, rawURL string) (*IdPMetadata, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdPMetadata, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: fetch %s: %v", ErrIdPMetadata, rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: fetch %s: HTTP %d; the URL must serve the IDP Metadata.xml", ErrIdPMetadata, rawURL, resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxIdPMetadataBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: fetch %s: %v", ErrIdPMetadata, rawURL, err)
	}
	m, err := ParseIdPMetadata(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rawURL, err)
	}
	return m, nil
}

// SLOLocation is where Huawei sends the browser after logout: the first
// SingleLogoutService, HTTP-Redirect preferred.
func (m *IdPMetadata) SLOLocation() (string, bool) {
	for _, e := range m.SLO {
		if e.SAMLBinding == metadata.SAMLBindingHTTPRedirect {
			return e.Location, true
		}
	}
	if len(m.SLO) > 0 {
		return m.SLO[0].Location, true
	}
	return "", false
}
