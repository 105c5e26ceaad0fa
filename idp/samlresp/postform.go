package samlresp

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

// postScript is the only script the POST page runs. The CSP allows it by its
// hash, so it must stay in a <script> element, byte for byte as here.
const postScript = `document.getElementById("saml-post").submit();`

// postScriptSource is the CSP source expression for postScript.
var postScriptSource = func() string {
	sum := sha256.Sum256([]byte(postScript))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// WritePostForm writes the HTTP-POST binding page: a form that auto-submits
// SAMLResponse (base64 of samlResponse, not deflated) and RelayState (echoed
// byte for byte, left out when empty) to acs, with a visible Continue button
// when script is off. The headers forbid caching, framing, referrers and
// every script but the form's own.
//
// The CSP form-action allows the ACS origin and formActionAlso ("https:" or
// https origins). Chromium applies form-action to the redirects that follow
// the POST too: if the SP's ACS answers with a redirect to another origin
// (say auth.huaweicloud.com to console.huaweicloud.com), that origin must be
// listed here or the browser stops on our page.
func WritePostForm(w http.ResponseWriter, acs string, samlResponse []byte, relayState string, formActionAlso ...string) error {
	origin, err := endpointOrigin(acs)
	if err != nil {
		return err
	}
	formAction := origin
	for _, src := range formActionAlso {
		if err := checkFormActionSource(src); err != nil {
			return err
		}
		formAction += " " + src
	}
	if len(samlResponse) == 0 {
		return fmt.Errorf("%w: the SAML response to post is empty", ErrInvalidRequest)
	}
	if err := CheckRelayState(relayState); err != nil {
		return err
	}

	// The page goes out in pieces: the SAMLResponse is base64-encoded
	// straight into w (net/http buffers the connection), so the ~7 KB of
	// base64 is never held in memory.
	head := make([]byte, 0, 256+len(acs)*6)
	head = append(head, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Signing in</title></head>\n<body>\n"...)
	head = append(head, `<form id="saml-post" method="post" action="`...)
	head = append(head, html.EscapeString(acs)...)
	head = append(head, "\">\n"...)
	head = append(head, `<input type="hidden" name="SAMLResponse" value="`...)
	tail := make([]byte, 0, 320+len(relayState)*6)
	tail = append(tail, "\">\n"...)
	if relayState != "" {
		tail = append(tail, `<input type="hidden" name="RelayState" value="`...)
		tail = append(tail, html.EscapeString(relayState)...)
		tail = append(tail, "\">\n"...)
	}
	tail = append(tail, "<noscript><p>JavaScript is turned off. Press Continue to finish signing in.</p><button type=\"submit\">Continue</button></noscript>\n"...)
	tail = append(tail, "</form>\n<script>"+postScript+"</script>\n</body></html>\n"...)

	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src "+postScriptSource+"; form-action "+formAction+"; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(head); err != nil {
		return err
	}
	enc := base64.NewEncoder(base64.StdEncoding, w)
	if _, err := enc.Write(samlResponse); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err = w.Write(tail)
	return err
}

// CheckRelayState reports whether relayState can be echoed byte for byte
// through an HTML form: browsers rewrite invalid UTF-8, NUL and line breaks,
// so values with control characters are refused. Intake should call it
// before starting a login, so that no assertion is made for a value that
// could not be returned.
func CheckRelayState(relayState string) error {
	if !utf8.ValidString(relayState) {
		return fmt.Errorf("%w: RelayState is not valid UTF-8", ErrInvalidRelayState)
	}
	for _, r := range relayState {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return fmt.Errorf("%w: RelayState has control characters", ErrInvalidRelayState)
		}
	}
	return nil
}

// cspOrigin is what may stand in a CSP form-action: scheme, host, port.
var cspOrigin = regexp.MustCompile(`^https?://[a-z0-9.-]+(:[0-9]{1,5})?$`)

// endpointOrigin checks that a response target is absolute https (http only
// on loopback, for tests) and returns its origin.
func endpointOrigin(target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil || u.Fragment != "" || checkText(target) != nil {
		return "", fmt.Errorf("%w: %.200q is not an absolute URL without credentials or fragment", ErrInvalidACS, target)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return "", fmt.Errorf("%w: %.200q must use https (http only on loopback)", ErrInvalidACS, target)
	}
	origin := u.Scheme + "://" + strings.ToLower(u.Host)
	if !cspOrigin.MatchString(origin) {
		return "", fmt.Errorf("%w: host of %.200q is not a DNS name or IPv4 address", ErrInvalidACS, target)
	}
	return origin, nil
}

// checkFormActionSource accepts the CSP sources an operator may add to
// form-action: the scheme "https:" or an origin as endpointOrigin returns it.
func checkFormActionSource(src string) error {
	if src == "https:" {
		return nil
	}
	origin, err := endpointOrigin(src)
	if err != nil || origin != src {
		return fmt.Errorf("%w: form-action source %.200q must be \"https:\" or an origin such as https://console.example.com", ErrInvalidACS, src)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
