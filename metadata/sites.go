package metadata

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrUnknownSite is returned by SiteByName for a name not in Sites.
var ErrUnknownSite = errors.New("unknown Huawei Cloud site")

// Site is one Huawei Cloud site's fixed addresses. SPEntityID and ACSURL are
// defaults for display and for tests only: at run time they come from the
// site's SP metadata (Huawei says not to hard-code them).
type Site struct {
	Name          string
	AuthBaseURL   string // IAM login host (redirect target, not an API)
	LoginURL      string // SAML login link; takes xAccountType, isFirstLogin, service
	ConsoleURL    string // default `service` the user lands on
	SPMetadataURL string // signed SP metadata (no ?unsigned=true)
	SPEntityID    string
	ACSURL        string
}

// Sites are the presets from Huawei's Partner Center guide (protocol
// reference section 3). Values marked INFERRED follow the China site's
// pattern and are not confirmed by Huawei: check them against the live site.
var Sites = map[string]Site{
	"cn": {
		Name:          "cn",
		AuthBaseURL:   "https://auth.huaweicloud.com/",                                  // [DOC]
		LoginURL:      "https://auth.huaweicloud.com/authui/saml/login",                 // [DOC]
		ConsoleURL:    "https://console.huaweicloud.com/iam/",                           // [DOC]
		SPMetadataURL: "https://auth.huaweicloud.com/authui/saml/metadata.xml",          // [DOC]; without ?unsigned=true to get the signed copy
		SPEntityID:    "https://auth.huaweicloud.com/",                                  // [SAMPLE]
		ACSURL:        "https://auth.huaweicloud.com/authui/saml/SAMLAssertionConsumer", // [SAMPLE]
	},
	"intl": {
		Name:          "intl",
		AuthBaseURL:   "https://auth-intl.huaweicloud.com/",                                  // [DOC]
		LoginURL:      "https://auth-intl.huaweicloud.com/authui/saml/login",                 // [DOC]
		ConsoleURL:    "https://console-intl.huaweicloud.com/iam/",                           // [DOC]
		SPMetadataURL: "https://auth-intl.huaweicloud.com/authui/saml/metadata.xml",          // [3P] ADFS guide
		SPEntityID:    "https://auth-intl.huaweicloud.com/",                                  // INFERRED
		ACSURL:        "https://auth-intl.huaweicloud.com/authui/saml/SAMLAssertionConsumer", // INFERRED
	},
	"eu": {
		Name:          "eu",
		AuthBaseURL:   "https://auth.eu.huaweicloud.com/",                                  // [DOC]
		LoginURL:      "https://auth.eu.huaweicloud.com/authui/saml/login",                 // [DOC]
		ConsoleURL:    "https://console.eu.huaweicloud.com/iam/",                           // [DOC]
		SPMetadataURL: "https://auth.eu.huaweicloud.com/authui/saml/metadata.xml",          // INFERRED
		SPEntityID:    "https://auth.eu.huaweicloud.com/",                                  // INFERRED
		ACSURL:        "https://auth.eu.huaweicloud.com/authui/saml/SAMLAssertionConsumer", // INFERRED
	},
}

// SiteByName returns the preset for name ("cn", "intl" or "eu").
func SiteByName(name string) (Site, error) {
	if s, ok := Sites[strings.ToLower(strings.TrimSpace(name))]; ok {
		return s, nil
	}
	names := make([]string, 0, len(Sites))
	for n := range Sites {
		names = append(names, n)
	}
	sort.Strings(names)
	return Site{}, fmt.Errorf("%w: %.40q (choose one of %s)", ErrUnknownSite, name, strings.Join(names, ", "))
}
