// Package demoplatform is a small partner sales platform for the demo, the
// self-test and browser tests: a page of demo customers, the platform's own
// login (a session cookie), and an "Open Huawei Cloud console" button that
// mints a handoff token and sends the browser to the bridge. It also serves
// the platform login URL the bridge sends a user to when Huawei's
// AuthnRequest arrives without a bridge session, and sends the user back to
// the bridge (and only to the bridge) with a fresh token.
//
// It is what a real platform's backend does in a few lines; it knows nothing
// of SAML.
package demoplatform

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/partneridp/partneridp/idp/handoff"
)

// Paths the platform serves.
const (
	PathHome        = "/"
	PathLogin       = "/login"        // GET: customer picker (optional return_to); POST: log in
	PathLogout      = "/logout"       // POST
	PathOpenConsole = "/open-console" // POST: mint a token and go to the bridge
)

// HandoffPath is the bridge's handoff endpoint below BridgeURL.
const HandoffPath = "/sso/huawei"

// SessionLifetime is how long a platform login lasts.
const SessionLifetime = time.Hour

// ErrConfig is wrapped by New for an unusable configuration.
var ErrConfig = errors.New("demoplatform configuration is invalid")

// Customer is one of the platform's customers. XAccountID is the stable id
// the platform passes to Huawei as xaccount_id (the token's sub).
type Customer struct {
	XAccountID string
	Name       string // the token's name claim; keep equal to the Huawei account name
	Mobile     string // countrycode-number, e.g. 86-13800000001
	Email      string
}

// DefaultCustomers are the demo's customers.
func DefaultCustomers() []Customer {
	return []Customer{
		{XAccountID: "alice", Name: "Alice Wang", Mobile: "86-13800000001", Email: "alice@demo.example"},
		{XAccountID: "bob", Name: "Bob Li", Mobile: "86-13800000002", Email: "bob@demo.example"},
		{XAccountID: "carol", Name: "Carol Zhang", Mobile: "86-13800000003", Email: "carol@demo.example"},
	}
}

// Config configures the platform.
type Config struct {
	// BaseURL is the platform's own origin, e.g. http://127.0.0.1:9001.
	BaseURL string
	// BridgeURL is the bridge's public URL (its public_url). The console
	// button goes to BridgeURL + HandoffPath, and return_to must be on its
	// origin.
	BridgeURL string
	// Minter signs the handoff tokens (Issuer and Audience as agreed with the
	// bridge operator). It is copied; Clock is used when Minter has none.
	Minter    *handoff.Minter
	Customers []Customer
	// Service is the console page to open, sent as the handoff's service;
	// empty: none (the bridge uses its default).
	Service string
	Clock   func() time.Time // nil: time.Now
	Rand    io.Reader        // session ids and CSRF tokens; nil: crypto/rand
	Logger  *slog.Logger     // nil: slog.Default()

	// APIMinter (optional) signs the backend's tokens for the bridge's
	// platform API (aud <BridgeURL>/api/v1); set, the home page offers
	// "register a new customer" (PathRegister), which creates the
	// customer's Huawei account through the bridge.
	APIMinter *handoff.Minter
	// WebhookSecret (optional, "whsec_…") enables the receiver of the
	// bridge's binding-change webhooks at PathWebhooks; the home page lists
	// what arrived.
	WebhookSecret string
	HTTPClient    *http.Client // the backend's calls to the bridge; nil: a default client

	// Trace (optional, the demo's) is told of each minted handoff token and
	// serves PathTrace; the pages link to it.
	Trace Tracer
}

// Platform is the demo platform. Its methods are safe for concurrent use.
type Platform struct {
	baseURL      string
	baseOrigin   string
	bridgeURL    string
	bridgeOrigin string
	secure       bool
	minter       handoff.Minter
	customers    []Customer
	byID         map[string]Customer
	service      string
	clock        func() time.Time
	log          *slog.Logger
	sessions     *sessions
	apiMinter    *handoff.Minter
	webhookKey   []byte
	httpClient   *http.Client
	trace        Tracer

	mu         sync.Mutex // customers, byID, registered, events
	registered map[string]Registered
	events     []ReceivedEvent
}

// New checks cfg and builds the platform. Every problem is reported at once.
func New(cfg Config) (*Platform, error) {
	var problems []error
	add := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	base, baseOrigin, err := originURL(cfg.BaseURL)
	if err != nil {
		add("BaseURL: %v", err)
	}
	bridge, bridgeOrigin, err := originURL(cfg.BridgeURL)
	if err != nil {
		add("BridgeURL: %v", err)
	}
	if err == nil && bridgeOrigin == baseOrigin {
		add("BridgeURL %q is on the platform's own origin; the bridge must run on its own origin", cfg.BridgeURL)
	}
	if cfg.Minter == nil {
		add("Minter is required: it signs the handoff tokens")
	} else if cfg.Minter.Issuer == "" || cfg.Minter.Audience == "" {
		add("Minter needs Issuer and Audience (the iss and aud agreed with the bridge operator)")
	}
	if len(cfg.Customers) == 0 {
		add("Customers is empty; give at least one (DefaultCustomers has three)")
	}
	byID := map[string]Customer{}
	for i, c := range cfg.Customers {
		if err := handoff.ValidXAccountID(c.XAccountID); err != nil {
			add("Customers[%d]: %v", i, err)
			continue
		}
		if _, dup := byID[c.XAccountID]; dup {
			add("Customers[%d]: xaccount_id %q is used twice", i, c.XAccountID)
		}
		byID[c.XAccountID] = c
	}
	if cfg.Service != "" {
		if u, err := url.Parse(cfg.Service); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add("Service %.200q is not an absolute http(s) URL", cfg.Service)
		}
	}
	if m := cfg.APIMinter; m != nil && (m.Issuer == "" || m.Audience == "" || m.Audience == cfg.Minter.Audience) {
		add("APIMinter needs Issuer and an Audience of its own (the bridge's <public_url>/api/v1)")
	}
	var webhookKey []byte
	if cfg.WebhookSecret != "" {
		if webhookKey, err = parseWebhookSecret(cfg.WebhookSecret); err != nil {
			add("%v", err)
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrConfig, errors.Join(problems...))
	}

	p := &Platform{
		baseURL:      base,
		baseOrigin:   baseOrigin,
		bridgeURL:    bridge,
		bridgeOrigin: bridgeOrigin,
		secure:       strings.HasPrefix(base, "https://"),
		minter:       *cfg.Minter,
		customers:    append([]Customer(nil), cfg.Customers...),
		byID:         byID,
		service:      cfg.Service,
		clock:        cfg.Clock,
		log:          cfg.Logger,
		webhookKey:   webhookKey,
		httpClient:   cfg.HTTPClient,
		trace:        cfg.Trace,
		registered:   map[string]Registered{},
	}
	if cfg.APIMinter != nil {
		m := *cfg.APIMinter
		p.apiMinter = &m
		if p.apiMinter.Clock == nil {
			p.apiMinter.Clock = cfg.Clock
		}
	}
	if p.httpClient == nil {
		p.httpClient = &http.Client{Timeout: apiTimeout}
	}
	if p.clock == nil {
		p.clock = time.Now
	}
	if p.minter.Clock == nil {
		p.minter.Clock = p.clock
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	rnd := cfg.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	p.sessions = newSessions(rnd, p.clock)
	// Fail now, not at the first click, when the key does not fit the alg.
	if _, err := p.minter.Mint(p.customers[0].XAccountID, nil); err != nil {
		return nil, fmt.Errorf("%w: Minter cannot sign: %w", ErrConfig, err)
	}
	return p, nil
}

// originURL checks an absolute http(s) URL and returns it without a
// trailing slash, and its origin (scheme://host[:port], lower-cased).
func originURL(raw string) (trimmed, origin string, err error) {
	if raw == "" {
		return "", "", errors.New("required")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return "", "", fmt.Errorf("%.200q is not an absolute http(s) URL", raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Contains(raw, "#"):
		return "", "", fmt.Errorf("%.200q must be scheme://host[:port][/path] without user info, query or fragment", raw)
	}
	return strings.TrimRight(raw, "/"), strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// HandoffURL is the bridge URL the console button sends the browser to, for
// the token given.
func (p *Platform) HandoffURL(token string) string {
	q := url.Values{handoff.FieldToken: {token}}
	if p.service != "" {
		q.Set(handoff.FieldService, p.service)
	}
	return p.bridgeURL + HandoffPath + "?" + q.Encode()
}

// Customers returns the customers, the registered ones included.
func (p *Platform) Customers() []Customer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Customer(nil), p.customers...)
}

// customer looks a customer up by xaccount_id.
func (p *Platform) customer(id string) (Customer, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.byID[id]
	return c, ok
}

// mint makes a handoff token for c, with the profile claims the bridge maps
// to Huawei's attributes.
func (p *Platform) mint(c Customer) (string, error) {
	extra := map[string]any{}
	for k, v := range map[string]string{handoff.ClaimName: c.Name, handoff.ClaimMobile: c.Mobile, handoff.ClaimEmail: c.Email} {
		if v != "" {
			extra[k] = v
		}
	}
	return p.minter.Mint(c.XAccountID, extra)
}
