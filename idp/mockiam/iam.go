// Package mockiam is a mock Huawei Cloud IAM: the SAML Service Provider side
// of Huawei Partner Center's "Web UI" SSO. Partner platforms and our tests
// use it instead of Huawei. It serves signed SP metadata, turns the login
// link into a signed HTTP-Redirect AuthnRequest to the partner IdP, checks
// the Response at its ACS strictly (saying exactly why when it refuses),
// keeps Huawei accounts bound to partner users in memory, runs the
// first-login bind page and sends the signed bind notification through the
// browser, and redirects to the IdP's SingleLogoutService on logout.
//
// It is the independent other side of the bridge: it imports none of the
// bridge's idp packages, only metadata for key types and detached signing.
package mockiam

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"

	"github.com/partneridp/partneridp/metadata"
)

// Paths of the mock, the same as Huawei IAM's under /authui/saml/, plus the
// mock's own bind, unbind, notify and console pages.
const (
	PathMetadata    = "/authui/saml/metadata.xml"
	PathLogin       = "/authui/saml/login"
	PathACS         = "/authui/saml/SAMLAssertionConsumer"
	PathLogout      = "/authui/saml/logout"
	PathSLORedirect = "/authui/saml/LogoutServiceHTTPRedirect"
	PathSLOPost     = "/authui/saml/LogoutServiceHTTPPost"
	PathBind        = "/authui/saml/bind"
	PathUnbind      = "/authui/saml/unbind"
	PathNotify      = "/authui/saml/notify" // the page that auto-posts a bind notification, shown once
	PathConsole     = "/console"
)

// Time limits.
const (
	DefaultSkew     = time.Minute      // allowed clock difference with the IdP
	RequestLifetime = 10 * time.Minute // how long an AuthnRequest stays answerable
	SessionLifetime = time.Hour        // mock console session
)

const (
	maxPendingLogins  = 10000         // unanswered AuthnRequests kept at once
	consumedRetention = 2 * time.Hour // how long used IDs are remembered for replay checks
)

// ErrConfig is wrapped by New and Register for an unusable configuration.
var ErrConfig = errors.New("mockiam configuration is invalid")

// IdPRegistration is what a partner sets in Partner Center's 接入配置: the
// IDP Metadata.xml (a file, or a URL standing in for the upload) and the
// bind-notification URL.
type IdPRegistration struct {
	MetadataFile    string
	MetadataURL     string
	NotificationURL string // optional; no notification is sent when empty
}

// Config configures the mock.
type Config struct {
	// BaseURL is the mock's origin, e.g. http://127.0.0.1:9443. The entityID
	// is BaseURL + "/", with Huawei's trailing slash.
	BaseURL string
	Key     metadata.SigningKey // signs the SP metadata, AuthnRequests and bind notifications
	IdPs    map[string]IdPRegistration
	Clock   func() time.Time // nil: time.Now
	Logger  *slog.Logger     // nil: slog.Default()
	Skew    time.Duration    // allowed clock skew; 0: DefaultSkew
	// Rand supplies request IDs, RelayState tokens, domain IDs and session
	// IDs; nil: crypto/rand. Tests inject a seeded reader for golden files.
	Rand io.Reader
	// HTTPClient fetches IdP metadata registered by URL; nil: a client with
	// a 10 s timeout.
	HTTPClient *http.Client
	// PartnerAK and PartnerSK (optional) are the partner's access key the
	// mock's partner API (create customer, check registration) accepts.
	PartnerAK, PartnerSK string
	// KeepMessages keeps each step's decoded message in its Event
	// (Event.Message): the demo's trace shows them. Off, events hold
	// identifiers and verdicts only.
	KeepMessages bool
}

// IAM is the mock. Its methods are safe for concurrent use.
type IAM struct {
	entityID   string
	baseURL    string
	acsURL     string
	secure     bool
	key        metadata.SigningKey
	clock      func() time.Time
	log        *slog.Logger
	skew       time.Duration
	rand       io.Reader
	httpClient *http.Client
	partnerAK  string
	partnerSK  string
	keepMsgs   bool
	spSigned   []byte
	spUnsigned []byte

	randMu sync.Mutex

	mu            sync.Mutex
	registrations map[string]*registration
	pendingByID   map[string]*pendingLogin
	consumed      map[string]time.Time // "req:", "resp:", "assert:" + ID
	accounts      map[accountKey]Account
	domains       map[string]Domain // by lower-case name
	sessions      map[string]*session
	binds         map[string]*pendingBind
	notifies      map[string]*pendingNotify
	events        []Event
}

type registration struct {
	reg  IdPRegistration
	meta *IdPMetadata // nil until a URL registration has been fetched
}

// pendingLogin is an AuthnRequest this mock sent and has not seen answered.
type pendingLogin struct {
	RequestID    string
	RelayState   string
	XAccountType string
	IsFirstLogin bool
	Service      string
	IssuedAt     time.Time
	IdP          *IdPMetadata // as it was when the request was sent
	RequestXML   []byte       // the AuthnRequest as sent, for Event.Message (KeepMessages only)
}

// session is a logged-in mock console session.
type session struct {
	ID           string
	XAccountType string
	XUserID      string
	NameID       string
	Attributes   []Attribute
	Service      string
	CSRF         string
	Expires      time.Time
}

// pendingBind is an accepted login waiting on the bind page.
type pendingBind struct {
	Token        string
	XAccountType string
	XUserID      string
	NameID       string
	Attributes   []Attribute
	Service      string
	Expires      time.Time
	Error        string // the last bind form's error, shown on the bind page
}

// pendingNotify is a page that sends a bind or unbind notification, kept
// for the one GET of PathNotify that follows the form post.
type pendingNotify struct {
	Page    page
	Expires time.Time
}

// New checks cfg, builds and signs the SP metadata, and loads every
// registered IdP metadata file. Metadata registered by URL is fetched at
// the first login for that xAccountType (the IdP may start after the mock).
func New(cfg Config) (*IAM, error) {
	var problems []error
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	u, err := url.Parse(base)
	switch {
	case cfg.BaseURL == "":
		problems = append(problems, errors.New("BaseURL is empty"))
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		problems = append(problems, fmt.Errorf("BaseURL %.200q is not an absolute http(s) URL", cfg.BaseURL))
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		problems = append(problems, fmt.Errorf("BaseURL %.200q must be scheme://host[:port] only: the mock serves Huawei's paths at the root", cfg.BaseURL))
	}
	if err := checkKey(cfg.Key); err != nil {
		problems = append(problems, err)
	}
	if cfg.Skew < 0 {
		problems = append(problems, errors.New("Skew must not be negative"))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrConfig, errors.Join(problems...))
	}

	m := &IAM{
		entityID:      base + "/",
		baseURL:       base,
		acsURL:        base + PathACS,
		secure:        u.Scheme == "https",
		key:           cfg.Key,
		clock:         cfg.Clock,
		log:           cfg.Logger,
		skew:          cfg.Skew,
		rand:          cfg.Rand,
		httpClient:    cfg.HTTPClient,
		partnerAK:     cfg.PartnerAK,
		partnerSK:     cfg.PartnerSK,
		keepMsgs:      cfg.KeepMessages,
		registrations: map[string]*registration{},
		pendingByID:   map[string]*pendingLogin{},
		consumed:      map[string]time.Time{},
		accounts:      map[accountKey]Account{},
		domains:       map[string]Domain{},
		sessions:      map[string]*session{},
		binds:         map[string]*pendingBind{},
		notifies:      map[string]*pendingNotify{},
	}
	if m.clock == nil {
		m.clock = time.Now
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.skew == 0 {
		m.skew = DefaultSkew
	}
	if m.rand == nil {
		m.rand = rand.Reader
	}
	if m.httpClient == nil {
		m.httpClient = &http.Client{Timeout: 10 * time.Second}
	}
	if m.spSigned, m.spUnsigned, err = m.buildSPMetadata(); err != nil {
		return nil, err
	}
	for t, reg := range cfg.IdPs {
		if err := m.Register(t, reg); err != nil {
			problems = append(problems, err)
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return m, nil
}

func checkKey(k metadata.SigningKey) error {
	if k.Key == nil || k.Cert == nil {
		return errors.New("Key needs both the private key and its certificate")
	}
	pub, ok := k.Cert.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.Cmp(k.Key.N) != 0 || pub.E != k.Key.E {
		return errors.New("Key's certificate does not match its private key")
	}
	return nil
}

// EntityID is the mock's SP entityID: BaseURL + "/".
func (m *IAM) EntityID() string { return m.entityID }

// ACSURL is the mock's Assertion Consumer Service URL.
func (m *IAM) ACSURL() string { return m.acsURL }

// LoginURL builds the login link a partner page sends the browser to.
func (m *IAM) LoginURL(xAccountType string, isFirstLogin bool, service string) string {
	q := url.Values{}
	q.Set("xAccountType", xAccountType)
	q.Set("isFirstLogin", fmt.Sprint(isFirstLogin))
	if service != "" {
		q.Set("service", service)
	}
	return m.baseURL + PathLogin + "?" + q.Encode()
}

// SPMetadata returns the signed SP metadata the mock serves.
func (m *IAM) SPMetadata() []byte { return bytes.Clone(m.spSigned) }

// buildSPMetadata signs metadata shaped like Huawei's and keeps an unsigned
// copy for ?unsigned=true.
func (m *IAM) buildSPMetadata() (signed, unsigned []byte, err error) {
	signed, err = metadata.BuildSPMetadata(metadata.SPConfig{
		EntityID:       m.entityID,
		ACSURL:         m.acsURL,
		SLORedirectURL: m.baseURL + PathSLORedirect,
		SLOPostURL:     m.baseURL + PathSLOPost,
		NameIDFormats:  []string{metadata.NameIDFormatTransient},
	}, m.key)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: SP metadata: %w", ErrConfig, err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(signed); err != nil {
		return nil, nil, fmt.Errorf("%w: SP metadata: %w", ErrConfig, err)
	}
	for _, sig := range children(doc.Root(), nsDSig, "Signature") {
		doc.Root().RemoveChild(sig)
	}
	if unsigned, err = doc.WriteToBytes(); err != nil {
		return nil, nil, fmt.Errorf("%w: SP metadata: %w", ErrConfig, err)
	}
	return signed, unsigned, nil
}

// Register adds or replaces the IdP registered for xAccountType, as a
// partner does in Partner Center. A metadata file is read and checked now;
// a URL is checked now and fetched at the first login.
func (m *IAM) Register(xAccountType string, reg IdPRegistration) error {
	if err := checkXAccountType(xAccountType); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	r := &registration{reg: reg}
	switch {
	case reg.MetadataFile != "" && reg.MetadataURL != "":
		return fmt.Errorf("%w: %s: set MetadataFile or MetadataURL, not both", ErrConfig, xAccountType)
	case reg.MetadataFile != "":
		meta, err := loadIdPMetadataFile(reg.MetadataFile)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrConfig, xAccountType, err)
		}
		r.meta = meta
	case reg.MetadataURL != "":
		if err := checkAbsoluteURL(reg.MetadataURL); err != nil {
			return fmt.Errorf("%w: %s: MetadataURL: %w", ErrConfig, xAccountType, err)
		}
	default:
		return fmt.Errorf("%w: %s: MetadataFile or MetadataURL is required", ErrConfig, xAccountType)
	}
	if reg.NotificationURL != "" {
		if err := checkAbsoluteURL(reg.NotificationURL); err != nil {
			return fmt.Errorf("%w: %s: NotificationURL: %w", ErrConfig, xAccountType, err)
		}
	}
	m.mu.Lock()
	m.registrations[xAccountType] = r
	m.mu.Unlock()
	return nil
}

// checkXAccountType applies create-customer's xaccount_type limit (64) and
// keeps to the characters seen in real values (csdndev_IDP, hwportal).
func checkXAccountType(t string) error {
	if t == "" || len(t) > 64 {
		return errors.New("xAccountType must be 1-64 characters")
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return fmt.Errorf("xAccountType %.64q may hold only letters, digits, '_', '-' and '.'", t)
		}
	}
	return nil
}

// idp returns the registration and metadata for xAccountType, fetching
// URL-registered metadata on first use.
func (m *IAM) idp(ctx context.Context, xAccountType string) (IdPRegistration, *IdPMetadata, error) {
	m.mu.Lock()
	r, ok := m.registrations[xAccountType]
	m.mu.Unlock()
	if !ok {
		return IdPRegistration{}, nil, bad(ReasonUnknownXAccountType,
			"no partner platform is registered with xAccountType %.64q at this (mock) Huawei IAM: check the xAccountType in the login link, or register the platform's IDP Metadata.xml with the mock (Huawei: Partner Center, 接入配置)", xAccountType)
	}
	if meta := r.cached(m); meta != nil {
		return r.reg, meta, nil
	}
	meta, err := fetchIdPMetadata(ctx, m.httpClient, r.reg.MetadataURL)
	if err != nil {
		return r.reg, nil, refuse(ReasonIdPMetadata, http.StatusBadGateway, "%s", oneLine(err.Error()))
	}
	m.mu.Lock()
	if cur := m.registrations[xAccountType]; cur == r {
		r.meta = meta
	}
	m.mu.Unlock()
	return r.reg, meta, nil
}

func (r *registration) cached(m *IAM) *IdPMetadata {
	m.mu.Lock()
	defer m.mu.Unlock()
	return r.meta
}

func (m *IAM) now() time.Time { return m.clock() }

// randomHex returns 2n lower-case hex digits from the configured reader.
func (m *IAM) randomHex(n int) (string, error) {
	b, err := m.randomBytes(n)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func (m *IAM) randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	m.randMu.Lock()
	defer m.randMu.Unlock()
	if _, err := io.ReadFull(m.rand, b); err != nil {
		return nil, fmt.Errorf("random source: %w", err)
	}
	return b, nil
}

// requestID makes an ID like OpenSAML's: "_" and 36 characters of [0-9a-z].
func (m *IAM) requestID() (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, 0, 37)
	out = append(out, '_')
	for len(out) < 37 {
		b, err := m.randomBytes(16)
		if err != nil {
			return "", err
		}
		for _, c := range b {
			// 252 = 7*36: drop the tail so every character is equally likely.
			if c < 252 && len(out) < 37 {
				out = append(out, alphabet[c%36])
			}
		}
	}
	return string(out), nil
}

// prune drops expired pending logins, sessions, binds and replay records.
// The caller holds m.mu.
func (m *IAM) pruneLocked(now time.Time) {
	for id, p := range m.pendingByID {
		if now.Sub(p.IssuedAt) > RequestLifetime+m.skew {
			delete(m.pendingByID, id)
			// Keep the ID so a late answer is told "expired", not "unknown".
			m.consumed["expired:"+id] = now.Add(consumedRetention)
		}
	}
	for k, until := range m.consumed {
		if now.After(until) {
			delete(m.consumed, k)
		}
	}
	for id, s := range m.sessions {
		if now.After(s.Expires) {
			delete(m.sessions, id)
		}
	}
	for t, b := range m.binds {
		if now.After(b.Expires) {
			delete(m.binds, t)
		}
	}
	for t, n := range m.notifies {
		if now.After(n.Expires) {
			delete(m.notifies, t)
		}
	}
}
