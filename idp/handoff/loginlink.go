package handoff

import (
	"net/url"
	"strconv"
	"strings"
)

// LoginLink builds Huawei IAM's partner SAML login link for one site, e.g.
// https://auth.huaweicloud.com/authui/saml/login (huawei-webui-saml.md §2.1, §3).
type LoginLink struct {
	LoginURL     string // the site's /authui/saml/login URL
	XAccountType string // the platform id Huawei assigned, e.g. "example_IDP"
}

// URL returns <LoginURL>?xAccountType=…&isFirstLogin=…&service=… in the order Huawei's doc
// shows. firstLogin must be true when the customer has no binding yet. service must already
// have passed ServicePolicy.Resolve; it is omitted when empty.
func (l LoginLink) URL(firstLogin bool, service string) string {
	var b strings.Builder
	b.WriteString(l.LoginURL)
	if strings.Contains(l.LoginURL, "?") {
		b.WriteByte('&')
	} else {
		b.WriteByte('?')
	}
	b.WriteString("xAccountType=")
	b.WriteString(url.QueryEscape(l.XAccountType))
	b.WriteString("&isFirstLogin=")
	b.WriteString(strconv.FormatBool(firstLogin))
	if service != "" {
		// QueryEscape matches encodeURIComponent for every character a resolved service can hold
		// (no spaces); both decode to the same URL.
		b.WriteString("&service=")
		b.WriteString(url.QueryEscape(service))
	}
	return b.String()
}

// Validate checks the configured login URL (absolute https, or http for a local mock) and
// platform id.
func (l LoginLink) Validate() error {
	u, err := url.Parse(l.LoginURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return configErr("login link", "login URL %s must be an absolute https URL such as https://auth.huaweicloud.com/authui/saml/login", clip(l.LoginURL))
	}
	if l.XAccountType == "" {
		return configErr("login link", "xAccountType is required: the platform id Huawei assigned (e.g. example_IDP)")
	}
	return nil
}
