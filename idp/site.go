package idp

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/samlreq"
	"github.com/partneridp/partneridp/metadata"
)

// Site is one Huawei Cloud site the partner sells on (China, international,
// ...). Each is its own SP: Huawei IAM there has its own entityID, ACS and
// signing certificates, its own login link and the platform id
// (xAccountType) Huawei assigned on that site, under which its bindings are
// kept.
type Site struct {
	// Name identifies the site: the handoff token's huawei_site claim, the
	// bind notification path /huawei/bind/<name>, the audit events' site and
	// the metrics' site label. It may be "" only when it is the one site.
	Name string
	// SP is the site's SP metadata; a func so that refreshed metadata is used.
	SP func() *metadata.SP
	// LoginLink is the site's /authui/saml/login link; its XAccountType is
	// the site's.
	LoginLink handoff.LoginLink
	// Services are the site's console hosts and default console URL.
	Services handoff.ServicePolicy
	// PlatformLoginURL is where a user of this site without a session logs
	// in: the login page of the platform that owns the site's xAccountType.
	// It gets ?return_to=<handoff URL with flow=ID>.
	PlatformLoginURL string
}

// XAccountType is the platform id Huawei assigned on this site.
func (s *Site) XAccountType() string { return s.LoginLink.XAccountType }

// ClaimSite is the handoff-token claim that chooses the Huawei site by its
// Site.Name; without it the first configured site is used.
const ClaimSite = handoff.ClaimSite

// Reasons of the site choice.
const (
	ReasonUnknownSite       = "unknown_site"
	ReasonBindSiteAmbiguous = "bind_site_ambiguous"
)

// sitesOf returns cfg's sites: cfg.Sites, or the one site the single-site
// fields describe. Every problem is added to p.
func sitesOf(cfg *Config, p *problems) []Site {
	if len(cfg.Sites) == 0 {
		if cfg.DefaultSP == nil {
			p.add("DefaultSP is nil: the Huawei site's SP is needed to verify bind notifications")
		}
		p.err(cfg.LoginLink.Validate())
		p.err(cfg.Services.Validate())
		if cfg.XAccountType == "" {
			p.add("XAccountType is empty: set the platform id Huawei assigned")
		} else if cfg.XAccountType != cfg.LoginLink.XAccountType {
			p.add("XAccountType %q differs from LoginLink.XAccountType %q", cfg.XAccountType, cfg.LoginLink.XAccountType)
		}
		p.absoluteURL("PlatformLoginURL", cfg.PlatformLoginURL, true)
		return []Site{{SP: cfg.DefaultSP, LoginLink: cfg.LoginLink, Services: cfg.Services, PlatformLoginURL: cfg.PlatformLoginURL}}
	}
	if cfg.DefaultSP != nil || cfg.LoginLink != (handoff.LoginLink{}) || cfg.XAccountType != "" || cfg.PlatformLoginURL != "" ||
		cfg.Services.Default != "" || len(cfg.Services.AllowedHosts) > 0 {
		p.add("set Sites or the single-site fields (DefaultSP, LoginLink, Services, XAccountType, PlatformLoginURL), not both")
	}
	names, types := map[string]bool{}, map[string]bool{}
	for i, site := range cfg.Sites {
		at := fmt.Sprintf("Sites[%d] (%q)", i, site.Name)
		switch {
		case site.Name == "" && len(cfg.Sites) > 1:
			p.add("%s: Name is empty: with several sites each needs a name", at)
		case names[site.Name]:
			p.add("%s: Name is used by another site", at)
		}
		names[site.Name] = true
		if site.SP == nil {
			p.add("%s: SP is nil", at)
		}
		if err := site.LoginLink.Validate(); err != nil {
			p.add("%s: %v", at, err)
		}
		if err := site.Services.Validate(); err != nil {
			p.add("%s: %v", at, err)
		}
		switch x := site.XAccountType(); {
		case x == "":
			p.add("%s: LoginLink.XAccountType is empty: set the platform id Huawei assigned on this site", at)
		case types[x]:
			p.add("%s: xAccountType %q is used by another site: Huawei assigns one per site", at, x)
		}
		types[site.XAccountType()] = true
		p.absoluteURL(at+" PlatformLoginURL", site.PlatformLoginURL, true)
	}
	return slices.Clone(cfg.Sites)
}

// siteNamed returns the site called name; "" is the first site.
func (s *Server) siteNamed(name string) (*Site, error) {
	if name == "" {
		return &s.sites[0], nil
	}
	for i := range s.sites {
		if s.sites[i].Name == name {
			return &s.sites[i], nil
		}
	}
	return nil, &RequestError{Status: http.StatusBadRequest, Reason: ReasonUnknownSite,
		Msg: fmt.Sprintf("the Huawei site %.64q is not configured here (%s names one of the configured sites, or is left out for the first)", name, ClaimSite)}
}

// siteOfSP returns the site whose SP has entityID. With one site, that site
// answers every SP the intake trusts (as before sites existed).
func (s *Server) siteOfSP(entityID string) (*Site, bool) {
	if len(s.sites) == 1 {
		return &s.sites[0], true
	}
	for i := range s.sites {
		if sp := s.sites[i].SP(); sp != nil && sp.EntityID == entityID {
			return &s.sites[i], true
		}
	}
	return nil, false
}

// sitesLookup looks an SP up among the sites' SPs: Config.SPs and
// Intake.SPs when they are nil.
func sitesLookup(sites []Site) samlreq.SPLookup {
	return func(entityID string) (*metadata.SP, bool) {
		for i := range sites {
			if sp := sites[i].SP(); sp != nil && sp.EntityID == entityID {
				return sp, true
			}
		}
		return nil, false
	}
}

// servicePolicy is the policy a handoff's service URL is checked against:
// every site's console hosts (a platform may send any of its sites'
// consoles), with site's default console URL.
func (s *Server) servicePolicy(site *Site) handoff.ServicePolicy {
	p := s.services
	p.Default = site.Services.Default
	return p
}

// unionServices merges the sites' service policies.
func unionServices(sites []Site) handoff.ServicePolicy {
	var p handoff.ServicePolicy
	for _, site := range sites {
		for _, h := range site.Services.AllowedHosts {
			if !slices.Contains(p.AllowedHosts, h) {
				p.AllowedHosts = append(p.AllowedHosts, h)
			}
		}
		p.AllowHTTP = p.AllowHTTP || site.Services.AllowHTTP
	}
	p.Default = sites[0].Services.Default
	return p
}
