// Package idp is the bridge's HTTP server: it wires the AuthnRequest intake
// (samlreq), the Response builder (samlresp), the platform handoff and
// session (handoff) and the binding store (binding) into the endpoints
// Huawei IAM and the partner platform talk to. Errors from those packages
// are typed at their edges and mapped once, here, to a status code, a page
// and an audit event (see errors.go).
package idp

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/samlreq"
	"github.com/partneridp/partneridp/idp/samlresp"
	"github.com/partneridp/partneridp/metadata"
)

// Endpoint paths, relative to Config.PublicURL.
const (
	PathSSO      = "/saml/sso"      // SingleSignOnService: AuthnRequests (HTTP-Redirect GET, HTTP-POST)
	PathSLO      = "/saml/slo"      // SingleLogoutService: Huawei's logout redirect, LogoutRequests
	PathMetadata = "/saml/metadata" // our IDP Metadata.xml
	PathHandoff  = "/sso/huawei"    // the platform's handoff: ?token=JWT&service=URL[&flow=ID]
	PathBind     = "/huawei/bind"   // Huawei's bind notification
	PathHealthz  = "/healthz"       // liveness: always 200
	PathReadyz   = "/readyz"        // readiness: Health
)

// DefaultFlowTTL is how long a user has to log in to the platform and come
// back before the AuthnRequest's flow record expires.
const DefaultFlowTTL = 15 * time.Minute

const maxFlowTTL = 24 * time.Hour

// Config is what New needs. Every field is required unless marked optional.
type Config struct {
	PublicURL   string // external base URL, e.g. https://idp.partner.example; the endpoint paths hang below it
	IdPEntityID string
	MetadataXML []byte // the document served at PathMetadata (built with metadata.BuildIDPMetadata)

	SPs      samlreq.SPLookup  // trusted SPs by entityID; with Sites, the sites' SPs when nil
	Intake   *samlreq.Intake   // its Replay is set to a store-backed SAMLReplay when nil; its SPs to SPs when nil
	Builder  *samlresp.Builder // IssuerEntityID must equal IdPEntityID
	Verifier *handoff.Verifier // its Replay is set to a store-backed TokenReplay when nil
	Sessions *handoff.Sessions // the bridge's session cookie

	// Sites are the Huawei sites the partner sells on, the first the
	// default of a handoff that names none (see Site). When nil, the one
	// site is given by the single-site fields below; set one or the other.
	Sites []Site

	DefaultSP        func() *metadata.SP   // single site: its SP (bind-notification certs); a func so refreshed metadata is used
	LoginLink        handoff.LoginLink     // single site: Huawei's /authui/saml/login link
	Services         handoff.ServicePolicy // single site: allowed service URLs (also re-checked before the post-bind redirect)
	XAccountType     string                // single site: the platform id Huawei assigned; must equal LoginLink.XAccountType
	PlatformLoginURL string                // single site: where a user without a session logs in; gets ?return_to=<handoff URL with flow=ID>

	LandingURL string // where the browser goes after a bind notification or logout when there is no better place

	Bindings   binding.Store
	Ephemeral  binding.Ephemeral // flow records and replay marks; Bindings.Ephemeral() when nil
	BindPolicy metadata.SigAlgPolicy

	FlowTTL time.Duration // optional: DefaultFlowTTL when 0

	// HandoffOrigins (optional) are the origins (https://shop.example) a
	// handoff may come from, besides the origins of the sites'
	// PlatformLoginURL and PublicURL, which are always allowed (see
	// handoffguard.go).
	HandoffOrigins []string
	// HandoffWithoutOrigin (optional) lists platform issuers whose handoffs
	// are accepted when a browser sends neither Origin nor Referer. It
	// weakens the login-CSRF defence for those platforms: the caller warns.
	HandoffWithoutOrigin []string

	// PageLanguage (optional) is the language of the bridge's pages when
	// the browser's Accept-Language names neither en nor zh: LangEN (the
	// default) or LangZH. PageTexts (optional) overrides page texts.
	PageLanguage string
	PageTexts    PageTexts

	// FormActionAlso (optional) lists extra CSP form-action sources for the
	// POST form: the origins the SP's ACS redirects to after the POST. When
	// nil, the https origins of the sites' Services.AllowedHosts are used:
	// that is where Huawei sends the user after its ACS.
	FormActionAlso []string

	Audit    Auditor                      // optional: audit events go to Logger when nil
	Logger   *slog.Logger                 // optional: slog.Default()
	Clock    func() time.Time             // optional: time.Now
	Rand     io.Reader                    // optional: crypto/rand (flow IDs)
	Metrics  *Metrics                     // optional: no metrics when nil
	ClientIP func(r *http.Request) string // optional: the host of r.RemoteAddr (set it behind a trusted proxy)

	// API (optional) serves the platform API below /api/v1/ (idp/platformapi).
	API http.Handler
}

// ErrConfig is matched (errors.Is) by the *ConfigError New returns.
var ErrConfig = errors.New("idp: invalid server configuration")

// ConfigError lists every problem New found.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("idp: %d configuration problem(s):\n  %s", len(e.Problems), strings.Join(e.Problems, "\n  "))
}

func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// Server serves the bridge's endpoints. It is safe for concurrent use.
type Server struct {
	cfg               Config
	publicURL         string
	handoffURL        string
	flowTTL           time.Duration
	formActionAlso    []string
	handoffOrigins    map[string]bool       // normalized origins a handoff may come from
	handoffHeaderless map[string]bool       // issuers accepted without origin evidence
	pageDefault       string                // page language when Accept-Language does not choose
	sites             []Site                // at least one; the first is the default
	services          handoff.ServicePolicy // every site's console hosts
	log               *slog.Logger
	audit             Auditor
	clock             func() time.Time
	metrics           *Metrics
	clientIP          func(*http.Request) string

	randMu sync.Mutex // an injected Rand need not be safe for concurrent use
	rand   io.Reader

	// What Reload swaps while requests are answered; each request reads
	// one value of each.
	metadataXML atomic.Pointer[[]byte]
	verifier    atomic.Pointer[handoff.Verifier]
	api         atomic.Pointer[apiHandler]
}

type apiHandler struct{ h http.Handler }

// Reloaded is what a running Server takes anew (SIGHUP after a key
// rotation or a platform key change). Zero fields keep what is there.
type Reloaded struct {
	MetadataXML []byte             // the IDP Metadata.xml served
	Platforms   []handoff.Platform // the platforms' handoff token keys
	API         http.Handler       // the platform API, rebuilt with the new keys
}

// CheckReload reports whether Reload would take r, and changes nothing:
// the platforms pass what New checks of them (Verifier.Validate, and a
// token lifetime the store keeps spent marks for).
func (s *Server) CheckReload(r Reloaded) error {
	_, err := s.nextVerifier(r)
	return err
}

func (s *Server) nextVerifier(r Reloaded) (*handoff.Verifier, error) {
	if r.Platforms == nil {
		return nil, nil
	}
	v := *s.verifier.Load()
	v.Platforms = r.Platforms
	if err := v.Validate(); err != nil {
		return nil, err
	}
	if d, keep := v.ReplayLifetime(), s.cfg.Bindings.Limits().MaxSpendLifetime; d > keep {
		return nil, fmt.Errorf("handoff tokens would stay acceptable for up to %s (max token lifetime + 2 × leeway), longer than the store keeps a mark (%s): lower platforms[].max_token_lifetime",
			d, keep)
	}
	return &v, nil
}

// Reload checks r (CheckReload) and swaps it in at once; on any problem
// nothing changes. The signing key itself is swapped by the Builder's
// Signer (metadata.SignerSlot).
func (s *Server) Reload(r Reloaded) error {
	next, err := s.nextVerifier(r)
	if err != nil {
		return err
	}
	if r.MetadataXML != nil {
		xml := bytes.Clone(r.MetadataXML)
		s.metadataXML.Store(&xml)
	}
	if next != nil {
		s.verifier.Store(next)
	}
	if r.API != nil {
		s.api.Store(&apiHandler{r.API})
	}
	return nil
}

// New checks cfg, reporting every problem at once, and returns the server.
// It fills cfg.Intake.Replay and cfg.Verifier.Replay with store-backed
// replay adapters when they are nil.
func New(cfg Config) (*Server, error) {
	var p problems
	publicURL := strings.TrimSuffix(cfg.PublicURL, "/")
	p.absoluteURL("PublicURL", publicURL, false)
	if u, err := url.Parse(publicURL); err == nil && (u.RawQuery != "" || u.Fragment != "") {
		p.add("PublicURL %q must not have a query or fragment", cfg.PublicURL)
	}
	if strings.TrimSpace(cfg.IdPEntityID) == "" {
		p.add("IdPEntityID is empty: set our entityID as published in the IdP metadata")
	}
	if len(cfg.MetadataXML) == 0 {
		p.add("MetadataXML is empty: build it with metadata.BuildIDPMetadata")
	}
	sites := sitesOf(&cfg, &p)
	if cfg.SPs == nil && len(cfg.Sites) > 0 {
		cfg.SPs = sitesLookup(sites)
	}
	if cfg.SPs == nil {
		p.add("SPs is nil: no SP would be trusted")
	}
	if cfg.Bindings == nil {
		p.add("Bindings is nil: open the binding store")
	} else if cfg.Ephemeral == nil {
		cfg.Ephemeral = cfg.Bindings.Ephemeral()
	}
	if cfg.Ephemeral == nil {
		p.add("Ephemeral is nil: flow records and replay entries need the store's Ephemeral view")
	}
	if cfg.Intake == nil {
		p.add("Intake is nil")
	} else {
		if cfg.Intake.Replay == nil && cfg.Ephemeral != nil {
			cfg.Intake.Replay = SAMLReplay{Store: cfg.Ephemeral}
		}
		if cfg.Intake.SSOURL == "" {
			p.add("Intake.SSOURL is empty: set it to %s", publicURL+PathSSO)
		}
		if cfg.Intake.SPs == nil && len(cfg.Sites) > 0 {
			cfg.Intake.SPs = cfg.SPs
		}
		if cfg.Intake.SPs == nil {
			p.add("Intake.SPs is nil: set it to the same lookup as SPs")
		}
	}
	if cfg.Builder == nil {
		p.add("Builder is nil")
	} else {
		if cfg.Builder.IssuerEntityID != cfg.IdPEntityID {
			p.add("Builder.IssuerEntityID %q differs from IdPEntityID %q: responses would name another issuer than the metadata", cfg.Builder.IssuerEntityID, cfg.IdPEntityID)
		}
		switch {
		case cfg.Builder.Signer != nil:
			if err := metadata.CheckSigner(cfg.Builder.Signer.Current()); err != nil {
				p.add("Builder.Signer cannot sign: %v", err)
			}
		case cfg.Builder.Key.Key == nil || cfg.Builder.Key.Cert == nil:
			p.add("Builder needs a Signer, or a Key with the signing key and its certificate")
		default:
			if _, err := metadata.NewKeySigner(cfg.Builder.Key); err != nil {
				p.add("Builder.Key cannot sign: %v", err)
			}
		}
	}
	if cfg.Verifier == nil {
		p.add("Verifier is nil")
	} else {
		if cfg.Verifier.Replay == nil && cfg.Ephemeral != nil {
			cfg.Verifier.Replay = TokenReplay{Store: cfg.Ephemeral}
		}
		p.err(cfg.Verifier.Validate())
	}
	if cfg.Sessions == nil {
		p.add("Sessions is nil")
	} else {
		p.err(cfg.Sessions.Validate())
	}
	p.absoluteURL("LandingURL", cfg.LandingURL, true)
	if cfg.FlowTTL < 0 || cfg.FlowTTL > maxFlowTTL {
		p.add("FlowTTL %s must be between 0 (default %s) and %s", cfg.FlowTTL, DefaultFlowTTL, maxFlowTTL)
	}
	cfg.checkLifetimes(&p)
	services := unionServices(sites)
	formAction := cfg.FormActionAlso
	if formAction == nil {
		formAction = originsOf(services.AllowedHosts)
	}
	for _, src := range formAction {
		if src != "https:" && !cspOrigin.MatchString(src) {
			p.add("FormActionAlso %q must be \"https:\" or an origin such as https://console.huaweicloud.com", src)
		}
	}
	handoffOrigins := map[string]bool{originOf(publicURL): true}
	for _, site := range sites {
		handoffOrigins[originOf(site.PlatformLoginURL)] = true
	}
	for _, o := range cfg.HandoffOrigins {
		if norm := originOf(o); norm == "" {
			p.add("HandoffOrigins %q must be an origin such as https://shop.example", o)
		} else {
			handoffOrigins[norm] = true
		}
	}
	delete(handoffOrigins, "")
	headerless := map[string]bool{}
	for _, iss := range cfg.HandoffWithoutOrigin {
		headerless[iss] = true
	}
	checkPageConfig(cfg.PageLanguage, cfg.PageTexts, &p)
	if len(p) > 0 {
		return nil, &ConfigError{Problems: p}
	}

	s := &Server{
		cfg:               cfg,
		publicURL:         publicURL,
		handoffURL:        publicURL + PathHandoff,
		flowTTL:           cfg.FlowTTL,
		formActionAlso:    formAction,
		handoffOrigins:    handoffOrigins,
		handoffHeaderless: headerless,
		pageDefault:       cfg.PageLanguage,
		sites:             sites,
		services:          services,
		log:               cfg.Logger,
		audit:             cfg.Audit,
		clock:             cfg.Clock,
		metrics:           cfg.Metrics,
		clientIP:          cfg.ClientIP,
		rand:              cfg.Rand,
	}
	xml := bytes.Clone(cfg.MetadataXML)
	s.metadataXML.Store(&xml)
	s.verifier.Store(cfg.Verifier)
	if cfg.API != nil {
		s.api.Store(&apiHandler{cfg.API})
	}
	if s.pageDefault == "" {
		s.pageDefault = LangEN
	}
	if s.flowTTL == 0 {
		s.flowTTL = DefaultFlowTTL
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.audit == nil {
		s.audit = slogAuditor{s.log}
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.clientIP == nil {
		s.clientIP = remoteHost
	}
	if want := publicURL + PathSSO; cfg.Intake.SSOURL != want {
		s.log.Warn("the intake's SSO URL is not PublicURL + "+PathSSO+": AuthnRequests must name it as Destination",
			"sso_url", cfg.Intake.SSOURL, "expected", want)
	}
	s.metrics.setBindingsCounter(cfg.Bindings)
	return s, nil
}

// problems collects configuration problems.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// err adds each error joined in err (the sub-packages' Validate methods
// report several at once).
func (p *problems) err(err error) {
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			p.err(e)
		}
		return
	}
	*p = append(*p, err.Error())
}

func (p *problems) absoluteURL(field, raw string, queryOK bool) {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		p.add("%s is empty", field)
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil:
		p.add("%s %q must be an absolute http(s) URL without user information", field, raw)
	case u.Fragment != "":
		p.add("%s %q must not have a fragment", field, raw)
	case !queryOK && u.RawQuery != "":
		p.add("%s %q must not have a query", field, raw)
	}
}

// cspOrigin is what WritePostForm accepts as a form-action origin.
var cspOrigin = regexp.MustCompile(`^https?://[a-z0-9.-]+(:[0-9]{1,5})?$`)

// originsOf turns allowed service hosts into https origins for form-action,
// leaving out any that cannot be written as one.
func originsOf(hosts []string) []string {
	out := []string{}
	for _, h := range hosts {
		o := "https://" + strings.ToLower(h)
		if cspOrigin.MatchString(o) {
			out = append(out, o)
		}
	}
	return out
}

// Handler returns every route of the bridge, with body caps, panic recovery
// per request and no-store on the SSO pages.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(PathSSO, s.ssoRoute(maxSSOBody, s.handleSSO))
	mux.Handle(PathHandoff, s.ssoRoute(maxHandoffBody, s.handleHandoff))
	mux.Handle(PathBind, s.ssoRoute(maxBindBody, s.handleBind))
	mux.Handle(PathBind+"/", s.ssoRoute(maxBindBody, s.handleBind)) // /huawei/bind/<site name>
	mux.Handle(PathSLO, s.ssoRoute(maxOtherBody, s.handleSLO))
	mux.Handle(PathMetadata, limitBody(maxOtherBody, http.HandlerFunc(s.handleMetadata)))
	mux.Handle(PathHealthz, limitBody(maxOtherBody, http.HandlerFunc(s.handleHealthz)))
	mux.Handle(PathReadyz, limitBody(maxOtherBody, http.HandlerFunc(s.handleReadyz)))
	if s.cfg.API != nil {
		mux.Handle("/api/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.api.Load().h.ServeHTTP(w, r)
		}))
	}
	mux.Handle("/", limitBody(maxOtherBody, http.HandlerFunc(s.handleNotFound)))
	return s.recoverPanics(s.capRequest(mux))
}

func (s *Server) now() time.Time { return s.clock() }

// readRand fills b from the configured randomness.
func (s *Server) readRand(b []byte) error {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	_, err := io.ReadFull(s.rand, b)
	return err
}

// newEvent starts the audit event of one request.
func (s *Server) newEvent(r *http.Request, event string) *AuditEvent {
	return &AuditEvent{Event: event, ClientIP: s.clientIP(r)}
}

// finish records the outcome of one request: the audit event and the
// request counter. Every request to an SSO endpoint ends here exactly once.
func (s *Server) finish(ev AuditEvent) {
	ev.Time = s.now().UTC()
	s.audit.Record(ev)
	s.metrics.request(ev.Event, ev.Verdict, ev.Site)
	if ev.Event == EventBindNotification {
		s.metrics.bindNotification(ev.Verdict, ev.Site)
	}
}
