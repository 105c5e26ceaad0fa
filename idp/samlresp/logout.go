package samlresp

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"github.com/partneridp/partneridp/metadata"
)

// LogoutResponseRedirectURL returns the URL that sends the browser back to
// sp's HTTP-Redirect SingleLogoutService (its ResponseLocation when set) with
// a LogoutResponse: deflated, base64, URL-encoded, signed rsa-sha256 over
// "SAMLResponse=…&RelayState=…&SigAlg=…" (RelayState left out when empty).
// status "" means Success; otherwise a Status* constant as in BuildError.
func (b *Builder) LogoutResponseRedirectURL(sp *metadata.SP, inResponseTo, relayState, status string) (string, error) {
	s, err := b.settings()
	if err != nil {
		return "", err
	}
	defer s.release()
	if sp == nil || sp.EntityID == "" {
		return "", fmt.Errorf("%w: no SP (with an entityID) to answer", ErrInvalidRequest)
	}
	endpoint, ok := sp.SLOFor(metadata.SAMLBindingHTTPRedirect)
	if !ok {
		return "", fmt.Errorf("%w: SP %q", ErrNoSLOEndpoint, sp.EntityID)
	}
	destination := endpoint.ResponseLocation
	if destination == "" {
		destination = endpoint.Location
	}
	if _, err := endpointOrigin(destination); err != nil {
		return "", fmt.Errorf("%w (single logout endpoint of SP %q)", err, sp.EntityID)
	}
	if err := checkSAMLID(inResponseTo); err != nil {
		return "", fmt.Errorf("%w: InResponseTo %v", ErrInvalidRequest, err)
	}
	if status == "" {
		status = StatusSuccess
	}
	top, second, err := splitStatus(status)
	if err != nil {
		return "", err
	}
	id, err := s.newID()
	if err != nil {
		return "", err
	}

	lr := s.statusResponse("saml2p:LogoutResponse", id, destination, inResponseTo)
	s.addStatus(lr, top, second, "")
	doc := lr.document()

	var deflated bytes.Buffer
	fw, _ := flate.NewWriter(&deflated, flate.BestCompression) // only fails on a bad level
	if _, err := fw.Write(doc); err != nil {
		return "", fmt.Errorf("samlresp: deflating the LogoutResponse: %w", err)
	}
	if err := fw.Close(); err != nil {
		return "", fmt.Errorf("samlresp: deflating the LogoutResponse: %w", err)
	}

	signed := "SAMLResponse=" + url.QueryEscape(base64.StdEncoding.EncodeToString(deflated.Bytes()))
	if relayState != "" {
		signed += "&RelayState=" + url.QueryEscape(relayState)
	}
	signed += "&SigAlg=" + url.QueryEscape(metadata.SigAlgRSASHA256)
	signature, err := metadata.SignDetachedWith(s.signer, metadata.SigAlgRSASHA256, []byte(signed))
	if err != nil {
		return "", fmt.Errorf("samlresp: signing the LogoutResponse: %w", err)
	}
	sep := "?"
	if strings.Contains(destination, "?") {
		sep = "&"
	}
	return destination + sep + signed + "&Signature=" + url.QueryEscape(signature), nil
}
