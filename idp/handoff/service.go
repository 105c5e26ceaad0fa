package handoff

import (
	"net/url"
	"strings"
)

// maxServiceLen bounds a service URL; Huawei console deep links are far shorter.
const maxServiceLen = 2048

// ServicePolicy decides which `service` URLs the bridge passes on to Huawei, so the bridge is
// never an open redirect.
type ServicePolicy struct {
	AllowedHosts []string // exact hosts (host or host:port), e.g. console.huaweicloud.com
	Default      string   // used when service is absent, e.g. https://console.huaweicloud.com/
	AllowHTTP    bool     // accept http:// too (local development only)
}

// Resolve returns the service URL to send to Huawei: Default for "", else service itself when
// it is an absolute https (or allowed http) URL whose host is exactly on the allow-list. The
// host is compared on the raw text, so no parser difference between Go and a browser can
// smuggle another host in (userinfo, backslashes, percent-encoding, suffixes).
func (p ServicePolicy) Resolve(service string) (string, error) {
	if service == "" {
		if p.Default == "" {
			return "", &ServiceError{Reason: "no_default", Msg: "no service given and no default console URL configured"}
		}
		return p.Default, nil
	}
	if len(service) > maxServiceLen {
		return "", &ServiceError{Reason: "too_long", Msg: "service URL is longer than 2048 bytes"}
	}
	for i := 0; i < len(service); i++ {
		c := service[i]
		if c <= ' ' || c >= 0x7f || c == '\\' {
			return "", &ServiceError{Reason: "bad_characters", Msg: "service URL may not contain spaces, control characters, backslashes or raw non-ASCII; percent-encode them"}
		}
	}
	scheme, rest, ok := strings.Cut(service, "://")
	if !ok || scheme == "" {
		return "", &ServiceError{Reason: "not_absolute", Msg: "service must be an absolute URL such as https://console.huaweicloud.com/"}
	}
	switch strings.ToLower(scheme) {
	case "https":
	case "http":
		if !p.AllowHTTP {
			return "", &ServiceError{Reason: "scheme_not_allowed", Msg: "service must use https"}
		}
	default:
		return "", &ServiceError{Reason: "scheme_not_allowed", Msg: "service must use https"}
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	if strings.Contains(authority, "@") {
		return "", &ServiceError{Reason: "userinfo", Msg: "service URL may not contain user information (user@host)"}
	}
	if !p.hostAllowed(authority) {
		return "", &ServiceError{Reason: "host_not_allowed", Msg: "service host " + clip(authority) + " is not on the allow-list of console hosts"}
	}
	// The raw checks decide; the parse only rejects what Go itself finds malformed.
	u, err := url.Parse(service)
	if err != nil || u.Opaque != "" || u.User != nil || !strings.EqualFold(u.Host, authority) {
		return "", &ServiceError{Reason: "not_absolute", Msg: "service is not a well-formed absolute URL"}
	}
	return service, nil
}

func (p ServicePolicy) hostAllowed(authority string) bool {
	if authority == "" {
		return false
	}
	for _, h := range p.AllowedHosts {
		if h != "" && strings.EqualFold(h, authority) {
			return true
		}
	}
	return false
}

// Validate checks the policy itself: a non-empty allow-list whose entries are bare hosts, and a
// Default that the policy accepts.
func (p ServicePolicy) Validate() error {
	if len(p.AllowedHosts) == 0 {
		return configErr("service policy", "allowed_hosts is empty; list the console hosts, e.g. console.huaweicloud.com")
	}
	for _, h := range p.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/@\\?# *") || strings.Contains(h, "://") {
			return configErr("service policy", "allowed host %s must be a bare host name (optionally host:port), without scheme, path or wildcard", clip(h))
		}
	}
	if p.Default == "" {
		return configErr("service policy", "a default service URL is required, e.g. https://console.huaweicloud.com/")
	}
	if _, err := (ServicePolicy{AllowedHosts: p.AllowedHosts, AllowHTTP: p.AllowHTTP}).Resolve(p.Default); err != nil {
		return configErr("service policy", "default service is not allowed by the policy: %v", err)
	}
	return nil
}
