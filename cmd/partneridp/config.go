package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/partneridp/partneridp/idp/platformapi"
	"github.com/partneridp/partneridp/idp/samlresp"
	"github.com/partneridp/partneridp/idp/webhook"
	"github.com/partneridp/partneridp/metadata"
)

// maxConfigBytes caps the config file: a config is a few KiB; anything near
// this is a mistake (a wrong file), not a config.
const maxConfigBytes = 1 << 20

// Config is the YAML configuration file. Relative paths are relative to the
// file's own folder. Secrets are never written in it: it names files, and
// the PARTNERIDP_* environment variables listed in envOverrides can replace
// paths and secrets at start.
type Config struct {
	// PublicURL is the bridge's external base URL; endpoints hang below it.
	PublicURL string `yaml:"public_url"`
	// Development allows http:// URLs and plain cookies. Local use only.
	Development bool   `yaml:"development"`
	Listen      string `yaml:"listen"`
	DataDir     string `yaml:"data_dir"`

	IdP    IdPConfig    `yaml:"idp"`
	Huawei HuaweiConfig `yaml:"huawei"`
	// HuaweiSites lists several Huawei sites (each its own SP); the first
	// is the default. Set it or Huawei, not both. Once parsed, Huawei holds
	// the first site, for the commands that work on one site.
	HuaweiSites []HuaweiConfig   `yaml:"huawei_sites"`
	Platforms   []PlatformConfig `yaml:"platforms"`
	Session     SessionConfig    `yaml:"session"`
	Store       StoreConfig      `yaml:"store"`
	TLS         TLSConfig        `yaml:"tls"`
	Log         LogConfig        `yaml:"log"`
	Limits      LimitsConfig     `yaml:"limits"`
	Admin       AdminConfig      `yaml:"admin"`
	Pages       PagesConfig      `yaml:"pages"`

	// LandingURL is where the browser goes after a bind notification or a
	// logout when there is no better place: the platform's home page.
	LandingURL string `yaml:"landing_url"`

	dir string // the config file's folder, for relative paths
	// huaweiGiven records whether the file set huawei: (before defaults),
	// so that huawei with huawei_sites is refused.
	huaweiGiven bool
}

type IdPConfig struct {
	EntityID        string            `yaml:"entity_id"`
	Signing         SigningConfig     `yaml:"signing"`
	NameIDFormats   []string          `yaml:"name_id_formats"`
	SSOPost         bool              `yaml:"sso_post"`
	Logout          bool              `yaml:"logout"`
	Organization    *OrganizationYAML `yaml:"organization"`
	Contacts        []ContactYAML     `yaml:"contacts"`
	AssertionTTL    Duration          `yaml:"assertion_lifetime"`
	ClockSkew       Duration          `yaml:"clock_skew"`
	FlowTTL         Duration          `yaml:"flow_lifetime"`
	SignResponse    bool              `yaml:"sign_response"`
	AllowRSASHA1    bool              `yaml:"allow_rsa_sha1"`
	Attributes      AttributesConfig  `yaml:"attributes"`
	AuthnContextRef string            `yaml:"authn_context_class_ref"`
}

// SigningConfig names the signing key files. During a rollover the next
// key pair is staged beside the current one and published; after promotion
// the old certificate stays published as "previous" until it is retired.
type SigningConfig struct {
	KeyFile          string `yaml:"key_file"`
	CertFile         string `yaml:"cert_file"`
	NextKeyFile      string `yaml:"next_key_file"`
	NextCertFile     string `yaml:"next_cert_file"`
	PreviousCertFile string `yaml:"previous_cert_file"`
}

type OrganizationYAML struct {
	Name        string `yaml:"name"`
	DisplayName string `yaml:"display_name"`
	URL         string `yaml:"url"`
}

type ContactYAML struct {
	Type      string `yaml:"type"`
	Company   string `yaml:"company"`
	GivenName string `yaml:"given_name"`
	Email     string `yaml:"email"`
}

// AttributesConfig is idp.attributes: the profile every SP gets, and
// (BySP) the profiles of SPs that get another, by SP entityID.
type AttributesConfig struct {
	ProfileConfig `yaml:",inline"`
	BySP          map[string]ProfileConfig `yaml:"by_sp"`
}

// ProfileConfig names an attribute profile (samlresp.ProfileNames) and
// changes it.
type ProfileConfig struct {
	Profile string            `yaml:"profile"`
	Rename  map[string]string `yaml:"rename"`
	Drop    []string          `yaml:"drop"`
	Add     []AttributeAdd    `yaml:"add"`
}

type AttributeAdd struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"` // a constant
	Claim string `yaml:"claim"` // or a handoff-token claim
}

// HuaweiConfig is one Huawei site: huawei, or an entry of huawei_sites.
type HuaweiConfig struct {
	// Name identifies the site: the handoff token's huawei_site claim, the
	// bind notification URL /huawei/bind/<name>, the metrics' site label.
	// Default: Site (cn, intl, eu, custom).
	Name         string   `yaml:"name"`
	Site         string   `yaml:"site"`
	XAccountType string   `yaml:"x_account_type"`
	LoginURL     string   `yaml:"login_url"`
	ConsoleURL   string   `yaml:"console_url"`
	SPMetadata   string   `yaml:"sp_metadata"`
	SPCertPin    string   `yaml:"sp_cert_pin_file"`
	SPPinSHA256  string   `yaml:"sp_fingerprint_sha256"`
	SPRefresh    Duration `yaml:"sp_metadata_refresh"`
	ServiceHosts []string `yaml:"service_hosts"`
	// PartnerAPI (optional): Huawei's partner API for create customer.
	PartnerAPI *PartnerAPIConfig `yaml:"partner_api"`
}

type PlatformConfig struct {
	Name          string   `yaml:"name"`
	Issuer        string   `yaml:"issuer"`
	Audience      string   `yaml:"audience"`
	Alg           string   `yaml:"alg"`
	KeyID         string   `yaml:"key_id"`
	PublicKeyFile string   `yaml:"public_key_file"`
	JWKSFile      string   `yaml:"jwks_file"`
	SecretFile    string   `yaml:"secret_file"`
	MaxLifetime   Duration `yaml:"max_token_lifetime"`
	LoginURL      string   `yaml:"login_url"`
	// XAccountTypes are the xAccountTypes (Huawei sites) whose customers
	// log in on this platform: a Huawei-initiated login without a session
	// goes to the login_url of the platform owning the site's
	// xAccountType. api.x_account_type is owned too. With one platform, or
	// one site, an xAccountType no platform lists belongs to platforms[0].
	XAccountTypes []string `yaml:"x_account_types"`
	// Origins are more origins (https://shop.example) the platform's pages
	// send handoffs from, besides login_url's origin (login-CSRF check).
	Origins []string `yaml:"origins"`
	// HandoffWithoutOrigin accepts this platform's handoffs when the browser
	// sends neither Origin nor Referer (a platform page with
	// Referrer-Policy: no-referrer). It weakens the login-CSRF check; serve
	// warns at start.
	HandoffWithoutOrigin bool `yaml:"handoff_without_origin"`
	// SigningKeyFile is a private key used only by `partneridp token` to mint
	// test tokens; production platforms keep theirs.
	SigningKeyFile string `yaml:"test_signing_key_file"`
	// API and Webhook (optional): the platform API and binding webhooks.
	API     *PlatformAPIConfig `yaml:"api"`
	Webhook *WebhookConfig     `yaml:"webhook"`
}

type SessionConfig struct {
	SecretFile string   `yaml:"secret_file"`
	Lifetime   Duration `yaml:"lifetime"`
}

type StoreConfig struct {
	// Type picks the backend (storage.go): bolt (default), memory, etcd.
	Type        string     `yaml:"type"`
	Path        string     `yaml:"path"` // bolt: the store file
	OpenTimeout Duration   `yaml:"open_timeout"`
	SweepEvery  Duration   `yaml:"sweep_interval"`
	Etcd        EtcdConfig `yaml:"etcd"`
}

// EtcdConfig is the store.etcd section (store.type: etcd).
type EtcdConfig struct {
	Endpoints []string `yaml:"endpoints"`
	// Prefix namespaces every key, so several deployments can share a
	// cluster.
	Prefix   string `yaml:"prefix"`
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	Username string `yaml:"username"`
	// The password comes from a file (mode 600) or an environment variable
	// named here, never from the config itself.
	PasswordFile   string   `yaml:"password_file"`
	PasswordEnv    string   `yaml:"password_env"`
	DialTimeout    Duration `yaml:"dial_timeout"`
	RequestTimeout Duration `yaml:"request_timeout"`
}

type TLSConfig struct {
	CertFile       string   `yaml:"cert_file"`
	KeyFile        string   `yaml:"key_file"`
	BehindProxy    bool     `yaml:"behind_proxy"`
	TrustedProxies []string `yaml:"trusted_proxies"`
}

type LogConfig struct {
	Format   string `yaml:"format"`
	Level    string `yaml:"level"`
	AuditLog string `yaml:"audit_log"`
}

// AdminConfig is the listener for endpoints that are not for browsers:
// /metrics (and any future debug endpoint), plus /healthz and /readyz. The
// public listener answers 404 on /metrics.
type AdminConfig struct {
	// Listen is the admin address; loopback by default. "off" serves no
	// admin listener (no metrics).
	Listen string `yaml:"listen"`
	// Pprof serves Go's profiler under /debug/pprof/ on the admin listener
	// only, for profiling in production; off by default, and refused on a
	// non-loopback admin address (a heap profile shows memory contents).
	Pprof bool `yaml:"pprof"`
}

// PagesConfig sets the language of the pages customers see from the
// bridge: en or zh-CN by Accept-Language, else DefaultLanguage; Texts
// overrides texts per language (keys: idp.PageTextKeys, e.g.
// "msg.foreign_origin", "label.back").
type PagesConfig struct {
	DefaultLanguage string                       `yaml:"default_language"`
	Texts           map[string]map[string]string `yaml:"texts"`
}

// defaultAdminListen keeps metrics off the network unless the operator
// chooses otherwise (9464 is the Prometheus exporter port convention).
const defaultAdminListen = "127.0.0.1:9464"

type LimitsConfig struct {
	PerIPPerMinute int `yaml:"per_ip_per_minute"`
	Burst          int `yaml:"burst"`
	MaxClients     int `yaml:"max_tracked_clients"`
}

// Duration reads "5m", "90s" and the like from YAML.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a duration like \"5m\"", n.Line)}}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		// A TypeError lets the decoder go on and report the other problems too.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration (use e.g. 90s, 5m, 8h)", n.Line, s)}}
	}
	d.Duration = v
	return nil
}

func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// envOverrides names the environment variables that replace config values,
// so that paths and secrets can differ per deployment without editing the file.
var envOverrides = []struct {
	name  string
	field func(*Config) *string
}{
	{"PARTNERIDP_PUBLIC_URL", func(c *Config) *string { return &c.PublicURL }},
	{"PARTNERIDP_LISTEN", func(c *Config) *string { return &c.Listen }},
	{"PARTNERIDP_ADMIN_LISTEN", func(c *Config) *string { return &c.Admin.Listen }},
	{"PARTNERIDP_DATA_DIR", func(c *Config) *string { return &c.DataDir }},
	{"PARTNERIDP_SIGNING_KEY_FILE", func(c *Config) *string { return &c.IdP.Signing.KeyFile }},
	{"PARTNERIDP_SIGNING_CERT_FILE", func(c *Config) *string { return &c.IdP.Signing.CertFile }},
	{"PARTNERIDP_NEXT_KEY_FILE", func(c *Config) *string { return &c.IdP.Signing.NextKeyFile }},
	{"PARTNERIDP_NEXT_CERT_FILE", func(c *Config) *string { return &c.IdP.Signing.NextCertFile }},
	{"PARTNERIDP_PREVIOUS_CERT_FILE", func(c *Config) *string { return &c.IdP.Signing.PreviousCertFile }},
	{"PARTNERIDP_SP_METADATA", func(c *Config) *string { return &c.primarySite().SPMetadata }},
	{"PARTNERIDP_SESSION_SECRET_FILE", func(c *Config) *string { return &c.Session.SecretFile }},
	{"PARTNERIDP_STORE_PATH", func(c *Config) *string { return &c.Store.Path }},
	{"PARTNERIDP_STORE_TYPE", func(c *Config) *string { return &c.Store.Type }},
	{"PARTNERIDP_TLS_CERT_FILE", func(c *Config) *string { return &c.TLS.CertFile }},
	{"PARTNERIDP_TLS_KEY_FILE", func(c *Config) *string { return &c.TLS.KeyFile }},
	{"PARTNERIDP_AUDIT_LOG", func(c *Config) *string { return &c.Log.AuditLog }},
	{"PARTNERIDP_LOG_LEVEL", func(c *Config) *string { return &c.Log.Level }},
	{"PARTNERIDP_LOG_FORMAT", func(c *Config) *string { return &c.Log.Format }},
}

// envBoolOverrides are the true/false switches the environment can set.
var envBoolOverrides = []struct {
	name  string
	field func(*Config) *bool
}{
	{"PARTNERIDP_BEHIND_PROXY", func(c *Config) *bool { return &c.TLS.BehindProxy }},
	{"PARTNERIDP_DEVELOPMENT", func(c *Config) *bool { return &c.Development }},
}

// ConfigError lists every problem found in a config, not just the first.
type ConfigError struct {
	File     string
	Problems []string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problem(s):", e.File, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p)
	}
	return b.String()
}

// LoadConfig reads, defaults and validates a config file. On any problem it
// returns a *ConfigError naming all of them.
func LoadConfig(path string, getenv func(string) string) (*Config, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &ConfigError{File: path, Problems: []string{"the config file does not exist: pass --config FILE or set PARTNERIDP_CONFIG=FILE (to start one: cp partneridp.example.yaml partneridp.yaml, then see the README's operator walk-through)"}}
	}
	if err != nil {
		return nil, &ConfigError{File: path, Problems: []string{fmt.Sprintf("cannot read the config file: %v", err)}}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("config: reading %s: %w", path, err)
	}
	if len(data) > maxConfigBytes {
		return nil, &ConfigError{File: path, Problems: []string{"file is larger than 1 MiB: is this the right file?"}}
	}
	cfg, err := ParseConfig(data, filepath.Dir(path), getenv)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.File = path
		}
		return nil, err
	}
	return cfg, nil
}

// ParseConfig is LoadConfig without the file: dir anchors relative paths.
func ParseConfig(data []byte, dir string, getenv func(string) string) (*Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // a misspelt key is an error, not a silent default
	var decodeProblems []string
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, &ConfigError{File: "config", Problems: []string{err.Error()}}
		}
		// Type errors leave the rest decoded: validate it too, so that
		// one run lists every problem.
		decodeProblems = te.Errors
	}
	cfg.dir = dir
	cfg.huaweiGiven = !reflect.ValueOf(cfg.Huawei).IsZero()
	if getenv != nil {
		for _, o := range envOverrides {
			if v := getenv(o.name); v != "" {
				*o.field(&cfg) = v
			}
		}
		for _, o := range envBoolOverrides {
			if v := getenv(o.name); v != "" {
				b, err := strconv.ParseBool(v)
				if err != nil {
					decodeProblems = append(decodeProblems, fmt.Sprintf("%s=%q: use true or false", o.name, v))
					continue
				}
				*o.field(&cfg) = b
			}
		}
	}
	cfg.applyDefaults()
	if problems := append(decodeProblems, cfg.Validate()...); len(problems) > 0 {
		return nil, &ConfigError{File: "config", Problems: problems}
	}
	return &cfg, nil
}

func (c *Config) applyDefaults() {
	setDefault(&c.Listen, ":8443")
	setDefault(&c.Admin.Listen, defaultAdminListen)
	setDefault(&c.DataDir, "partneridp-data")
	setDefault(&c.IdP.Attributes.Profile, samlresp.DefaultProfileName)
	for id, pc := range c.IdP.Attributes.BySP {
		setDefault(&pc.Profile, samlresp.DefaultProfileName)
		c.IdP.Attributes.BySP[id] = pc
	}
	setDefault(&c.Log.Format, "json")
	setDefault(&c.Log.Level, "info")
	if len(c.IdP.NameIDFormats) == 0 {
		c.IdP.NameIDFormats = []string{"urn:oasis:names:tc:SAML:2.0:nameid-format:transient"}
	}
	setDuration(&c.IdP.AssertionTTL, 5*time.Minute)
	setDuration(&c.IdP.ClockSkew, 3*time.Minute)
	setDuration(&c.IdP.FlowTTL, 15*time.Minute)
	setDuration(&c.Session.Lifetime, 8*time.Hour)
	setDefault(&c.Store.Type, storeBolt)
	setDuration(&c.Store.OpenTimeout, 2*time.Second)
	setDuration(&c.Store.SweepEvery, time.Minute)
	setDefault(&c.Store.Etcd.Prefix, "/partneridp/")
	setDuration(&c.Store.Etcd.DialTimeout, 5*time.Second)
	setDuration(&c.Store.Etcd.RequestTimeout, 5*time.Second)
	for i := range c.Platforms {
		setDuration(&c.Platforms[i].MaxLifetime, 5*time.Minute)
		if w := c.Platforms[i].Webhook; w != nil {
			setDuration(&w.MaxAge, webhook.DefaultGiveUpAfter)
		}
	}
	setSiteDefaults(&c.Huawei)
	for i := range c.HuaweiSites {
		setSiteDefaults(&c.HuaweiSites[i])
	}
	if len(c.HuaweiSites) > 0 && !c.huaweiGiven {
		c.Huawei = c.HuaweiSites[0]
	}
	if c.Limits.PerIPPerMinute == 0 {
		c.Limits.PerIPPerMinute = 120
	}
	if c.Limits.Burst == 0 {
		c.Limits.Burst = 30
	}
	if c.Limits.MaxClients == 0 {
		c.Limits.MaxClients = 100000
	}
	if c.IdP.EntityID == "" && c.PublicURL != "" {
		c.IdP.EntityID = strings.TrimRight(c.PublicURL, "/") + "/saml/metadata"
	}
	if c.Store.Path == "" {
		c.Store.Path = filepath.Join(c.DataDir, "partneridp.db")
	}
}

func setSiteDefaults(h *HuaweiConfig) {
	setDefault(&h.Site, "cn")
	setDefault(&h.Name, h.Site)
	setDuration(&h.SPRefresh, 24*time.Hour)
	if pa := h.PartnerAPI; pa != nil {
		setDuration(&pa.Timeout, 15*time.Second)
	}
}

// primarySite is the site the single-site settings and commands use: the
// first of huawei_sites, or huawei.
func (c *Config) primarySite() *HuaweiConfig {
	if len(c.HuaweiSites) > 0 {
		return &c.HuaweiSites[0]
	}
	return &c.Huawei
}

// Sites are the configured Huawei sites, the default first.
func (c *Config) Sites() []HuaweiConfig {
	if len(c.HuaweiSites) > 0 {
		return c.HuaweiSites
	}
	return []HuaweiConfig{c.Huawei}
}

// siteField names a site's config section for messages: huawei, or
// huawei_sites[i].
func (c *Config) siteField(i int) string {
	if len(c.HuaweiSites) > 0 {
		return fmt.Sprintf("huawei_sites[%d]", i)
	}
	return "huawei"
}

func setDefault(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

func setDuration(d *Duration, v time.Duration) {
	if d.Duration == 0 {
		d.Duration = v
	}
}

// Validate checks every field it can without touching the network and
// returns every problem found.
func (c *Config) Validate() []string {
	var p problems
	p.url("public_url", c.PublicURL, true, c.Development)
	p.url("idp.entity_id", c.IdP.EntityID, true, true) // an entityID is a name; http is allowed
	p.url("landing_url", c.LandingURL, false, c.Development)
	if c.IdP.Signing.KeyFile == "" || c.IdP.Signing.CertFile == "" {
		p.add("idp.signing: key_file and cert_file are required (make them with `partneridp keygen`)")
	}
	for i, f := range c.IdP.NameIDFormats {
		if !strings.HasPrefix(f, "urn:oasis:names:tc:SAML:") {
			p.add("idp.name_id_formats[%d]: %q is not a SAML NameID format URI", i, f)
		}
	}
	p.positive("idp.assertion_lifetime", c.IdP.AssertionTTL.Duration, time.Hour)
	p.positive("idp.clock_skew", c.IdP.ClockSkew.Duration, 15*time.Minute)
	p.positive("idp.flow_lifetime", c.IdP.FlowTTL.Duration, 24*time.Hour)
	checkProfileConfig(&p, "idp.attributes", c.IdP.Attributes.ProfileConfig)
	for _, entityID := range slices.Sorted(maps.Keys(c.IdP.Attributes.BySP)) {
		at := fmt.Sprintf("idp.attributes.by_sp[%q]", entityID)
		if strings.TrimSpace(entityID) == "" {
			p.add("%s: the key must be an SP entityID", at)
		}
		checkProfileConfig(&p, at, c.IdP.Attributes.BySP[entityID])
	}
	checkSites(c, &p)
	if len(c.Platforms) == 0 {
		p.add("platforms: at least one partner platform is required (who may hand users over)")
	}
	names := map[string]bool{}
	for i, pl := range c.Platforms {
		at := fmt.Sprintf("platforms[%d]", i)
		if pl.Name == "" {
			p.add("%s.name: required", at)
		} else if names[pl.Name] {
			p.add("%s.name: %q is used twice", at, pl.Name)
		}
		names[pl.Name] = true
		if pl.Issuer == "" {
			p.add("%s.issuer: required (the token's iss)", at)
		}
		if pl.Audience == "" {
			p.add("%s.audience: required (the token's aud)", at)
		}
		switch pl.Alg {
		case "EdDSA", "ES256", "RS256":
			if (pl.PublicKeyFile == "") == (pl.JWKSFile == "") {
				p.add("%s: %s needs exactly one of public_key_file or jwks_file", at, pl.Alg)
			}
			if pl.SecretFile != "" {
				p.add("%s.secret_file: only for HS256", at)
			}
		case "HS256":
			if pl.SecretFile == "" {
				p.add("%s.secret_file: required for HS256", at)
			}
		default:
			p.add("%s.alg: %q is not allowed (use EdDSA, ES256, RS256 or HS256)", at, pl.Alg)
		}
		p.positive(at+".max_token_lifetime", pl.MaxLifetime.Duration, 15*time.Minute)
		p.url(at+".login_url", pl.LoginURL, false, c.Development)
		for j, o := range pl.Origins {
			if u, err := url.Parse(o); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
				p.add("%s.origins[%d]: %q must be an origin such as https://shop.example", at, j, o)
			}
		}
		if a := pl.API; a != nil && len(a.XAccountType) > 64 {
			p.add("%s.api.x_account_type: longer than 64 characters", at)
		}
		if w := pl.Webhook; w != nil {
			p.url(at+".webhook.url", w.URL, true, c.Development)
			if w.SecretFile == "" {
				p.add("%s.webhook.secret_file: required (a file holding whsec_<base64 of at least 24 random bytes>, chmod 600)", at)
			}
			if d := w.MaxAge.Duration; d < webhook.MinGiveUpAfter || d > maxGiveUpAfter {
				p.add("%s.webhook.give_up_after: %s is outside %s to %s", at, d, webhook.MinGiveUpAfter, maxGiveUpAfter)
			}
		}
	}
	p.positive("session.lifetime", c.Session.Lifetime.Duration, 7*24*time.Hour)
	p.positive("store.open_timeout", c.Store.OpenTimeout.Duration, time.Minute)
	checkStoreConfig(c, &p)
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		p.add("tls: set both cert_file and key_file, or neither")
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		p.add("log.format: %q is unknown (json or text)", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level: %q is unknown (debug, info, warn, error)", c.Log.Level)
	}
	switch c.Pages.DefaultLanguage {
	case "", "en", "zh-CN":
	default:
		p.add("pages.default_language: %q is not supported (en or zh-CN)", c.Pages.DefaultLanguage)
	}
	if c.Admin.Listen != "off" {
		if _, port, err := net.SplitHostPort(c.Admin.Listen); err != nil || port == "" {
			p.add("admin.listen: %q must be host:port (e.g. 127.0.0.1:9464) or off", c.Admin.Listen)
		} else if c.Admin.Listen == c.Listen && port != "0" {
			p.add("admin.listen: must differ from listen: metrics are not served on the public listener")
		} else if c.Admin.Pprof && !isLoopbackListen(c.Admin.Listen) {
			p.add("admin.pprof: needs a loopback admin.listen (127.0.0.1:PORT or [::1]:PORT), not %q: profiles show memory contents; reach it through an SSH tunnel", c.Admin.Listen)
		}
	} else if c.Admin.Pprof {
		p.add("admin.pprof: needs the admin listener; admin.listen is off")
	}
	if c.Limits.PerIPPerMinute < 0 || c.Limits.Burst < 0 || c.Limits.MaxClients < 0 {
		p.add("limits: values must not be negative")
	}
	return p.list
}

// checkProfileConfig checks what it can of a profile without building it
// (rename and drop are checked against the profile when the bridge starts).
func checkProfileConfig(p *problems, at string, pc ProfileConfig) {
	if _, err := samlresp.NamedProfile(pc.Profile); err != nil {
		p.add("%s.profile: %q is unknown (known: %s)", at, pc.Profile, strings.Join(samlresp.ProfileNames(), ", "))
	}
	for i, a := range pc.Add {
		if a.Name == "" {
			p.add("%s.add[%d]: name is required", at, i)
		}
		if (a.Value == "") == (a.Claim == "") {
			p.add("%s.add[%d]: set exactly one of value or claim", at, i)
		}
	}
}

// checkSites checks huawei or huawei_sites: each site as huawei was always
// checked, then what must differ between sites, and that a platform owns
// each site's xAccountType.
func checkSites(c *Config, p *problems) {
	if c.huaweiGiven && len(c.HuaweiSites) > 0 {
		p.add("huawei and huawei_sites are both set: list every site under huawei_sites (huawei alone means one site)")
	}
	names, types, spSources := map[string]int{}, map[string]int{}, map[string]int{}
	for i, h := range c.Sites() {
		at := c.siteField(i)
		checkSite(c, p, at, h)
		if j, dup := names[h.Name]; dup {
			p.add("%s.name: %q is also the name of %s: give each site its own name", at, h.Name, c.siteField(j))
		}
		names[h.Name] = i
		if j, dup := types[h.XAccountType]; dup && h.XAccountType != "" {
			p.add("%s.x_account_type: %q is also the x_account_type of %s: Huawei assigns one per site", at, h.XAccountType, c.siteField(j))
		}
		types[h.XAccountType] = i
		if src := siteSPSource(h); src != "" {
			if j, dup := spSources[src]; dup {
				p.add("%s: its SP metadata is also that of %s (%s): each site is its own SP", at, c.siteField(j), src)
			}
			spSources[src] = i
		}
	}
	for i, h := range c.Sites() {
		if h.XAccountType == "" {
			continue
		}
		if owners := siteOwners(c, h.XAccountType); len(owners) > 1 {
			p.add("%s.x_account_type: %q is owned by several platforms (%s): list it under one platform's x_account_types", c.siteField(i), h.XAccountType, strings.Join(owners, ", "))
		} else if _, ok := siteOwner(c, h.XAccountType); !ok {
			p.add("%s.x_account_type: no platform owns %q: add it to the x_account_types of the platform whose customers log in for this site", c.siteField(i), h.XAccountType)
		}
	}
	for i, pl := range c.Platforms {
		for j, t := range pl.XAccountTypes {
			if _, ok := types[t]; !ok {
				p.add("platforms[%d].x_account_types[%d]: %q is no configured site's x_account_type", i, j, t)
			}
		}
	}
}

// checkSite checks one site's section, at is its name in messages.
func checkSite(c *Config, p *problems, at string, h HuaweiConfig) {
	switch h.Site {
	case "cn", "intl", "eu", "custom":
	default:
		p.add("%s.site: %q is unknown (use cn, intl, eu or custom)", at, h.Site)
	}
	if h.Site == "custom" {
		if h.SPMetadata == "" {
			p.add("%s.sp_metadata: required when %s.site is custom", at, at)
		}
		if h.LoginURL == "" {
			p.add("%s.login_url: required when %s.site is custom", at, at)
		}
		if h.ConsoleURL == "" {
			p.add("%s.console_url: required when %s.site is custom (the default service URL)", at, at)
		}
	}
	if !siteName.MatchString(h.Name) {
		p.add("%s.name: %q must be 1 to 64 of a-z, 0-9, - and _ (it appears in URLs, tokens and metrics)", at, h.Name)
	}
	if h.XAccountType == "" {
		p.add("%s.x_account_type: required (the Partner Platform ID shown in Partner Center after the IDP Metadata upload)", at)
	} else if len(h.XAccountType) > 64 {
		p.add("%s.x_account_type: longer than 64 characters", at)
	}
	p.url(at+".login_url", h.LoginURL, false, c.Development)
	p.url(at+".console_url", h.ConsoleURL, false, c.Development)
	if m := h.SPMetadata; strings.Contains(m, "://") {
		p.url(at+".sp_metadata", m, false, c.Development)
	}
	for i, host := range h.ServiceHosts {
		if host == "" || strings.ContainsAny(host, "/@\\ ") || strings.Contains(host, "://") {
			p.add("%s.service_hosts[%d]: %q must be a host name like console.huaweicloud.com (a port is allowed)", at, i, host)
		}
	}
	if pa := h.PartnerAPI; pa != nil {
		for _, f := range []struct{ name, file, env string }{{"ak", pa.AKFile, pa.AKEnv}, {"sk", pa.SKFile, pa.SKEnv}} {
			switch {
			case f.file != "" && f.env != "":
				p.add("%s.partner_api: set %s_file or %s_env, not both", at, f.name, f.name)
			case f.file == "" && f.env == "":
				p.add("%s.partner_api: set %s_file (chmod 600) or %s_env", at, f.name, f.name)
			case f.env != "" && !envName.MatchString(f.env):
				p.add("%s.partner_api.%s_env: %q is not an environment variable name (A-Z, 0-9, _)", at, f.name, f.env)
			}
		}
		if pa.DomainID == "" {
			p.add("%s.partner_api.domain_id: required (the partner's own Huawei account ID)", at)
		}
		p.url(at+".partner_api.endpoint", pa.Endpoint, false, c.Development)
		if d := pa.Timeout.Duration; d < time.Second || d > maxPartnerTimeout {
			p.add("%s.partner_api.timeout: %s is outside 1s to %s (a create-customer call with its retries must end within %s)", at, d, maxPartnerTimeout, platformapi.CreateDeadline)
		}
	}
}

// siteName is what a site name may be: it goes into URL paths, token
// claims and metric labels.
var siteName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// siteSPSource is where a site's SP metadata comes from: sp_metadata, else
// the preset's URL ("" for a custom site without one).
func siteSPSource(h HuaweiConfig) string {
	if h.SPMetadata != "" {
		return h.SPMetadata
	}
	if preset, err := metadata.SiteByName(h.Site); err == nil {
		return preset.SPMetadataURL
	}
	return ""
}

// siteOwners names the platforms that declare xAccountType theirs:
// x_account_types or api.x_account_type.
func siteOwners(c *Config, xAccountType string) []string {
	var out []string
	for _, pl := range c.Platforms {
		if slices.Contains(pl.XAccountTypes, xAccountType) || (pl.API != nil && pl.API.XAccountType == xAccountType) {
			out = append(out, pl.Name)
		}
	}
	return out
}

// siteOwner is the platform whose customers log in for the site of
// xAccountType: the one that declares it, else platforms[0] when there is
// one platform or one site (as before sites could be several).
func siteOwner(c *Config, xAccountType string) (PlatformConfig, bool) {
	for _, pl := range c.Platforms {
		if slices.Contains(pl.XAccountTypes, xAccountType) || (pl.API != nil && pl.API.XAccountType == xAccountType) {
			return pl, true
		}
	}
	if len(c.Platforms) > 0 && (len(c.Platforms) == 1 || len(c.Sites()) == 1) {
		return c.Platforms[0], true
	}
	return PlatformConfig{}, false
}

// Bounds of the platform API and webhook settings.
const (
	maxGiveUpAfter    = 30 * 24 * time.Hour
	maxPartnerTimeout = 20 * time.Second
)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// CheckFiles reports every file the config names that is missing. Commands
// that read a file report its own problems when they open it; `config check`
// runs this to list them all up front.
func (c *Config) CheckFiles() []string {
	var p problems
	p.file("idp.signing.key_file", c.Path(c.IdP.Signing.KeyFile), true)
	p.file("idp.signing.cert_file", c.Path(c.IdP.Signing.CertFile), true)
	// next_* and previous_cert_file may be absent: which of them exist is
	// the rollover stage (see `partneridp keys status`).
	for i, h := range c.Sites() {
		at := c.siteField(i)
		if m := h.SPMetadata; m != "" && !strings.Contains(m, "://") {
			p.file(at+".sp_metadata", c.Path(m), true)
		}
		p.file(at+".sp_cert_pin_file", c.Path(h.SPCertPin), false)
	}
	p.file("session.secret_file", c.Path(c.Session.SecretFile), false)
	p.file("tls.cert_file", c.Path(c.TLS.CertFile), false)
	p.file("tls.key_file", c.Path(c.TLS.KeyFile), false)
	for i, pl := range c.Platforms {
		at := fmt.Sprintf("platforms[%d]", i)
		p.file(at+".public_key_file", c.Path(pl.PublicKeyFile), false)
		p.file(at+".jwks_file", c.Path(pl.JWKSFile), false)
		p.file(at+".secret_file", c.Path(pl.SecretFile), false)
		p.file(at+".test_signing_key_file", c.Path(pl.SigningKeyFile), false)
		if pl.Webhook != nil {
			p.file(at+".webhook.secret_file", c.Path(pl.Webhook.SecretFile), false)
		}
	}
	for i, h := range c.Sites() {
		if pa := h.PartnerAPI; pa != nil {
			p.file(c.siteField(i)+".partner_api.ak_file", c.Path(pa.AKFile), false)
			p.file(c.siteField(i)+".partner_api.sk_file", c.Path(pa.SKFile), false)
		}
	}
	return p.list
}

// Path resolves a config path against the config file's folder.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// Endpoint paths below PublicURL.
const (
	pathSSO      = "/saml/sso"
	pathSLO      = "/saml/slo"
	pathMetadata = "/saml/metadata"
	pathHandoff  = "/sso/huawei"
	pathBind     = "/huawei/bind"
	pathResume   = "/sso/resume"
)

func (c *Config) endpoint(path string) string {
	return strings.TrimRight(c.PublicURL, "/") + path
}

type problems struct{ list []string }

func (p *problems) add(format string, args ...any) {
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

func (p *problems) url(field, v string, required, allowHTTP bool) {
	if v == "" {
		if required {
			p.add("%s: required", field)
		}
		return
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		p.add("%s: %q is not an absolute http(s) URL", field, v)
	case u.Scheme == "http" && !allowHTTP:
		p.add("%s: %q must use https (http is allowed only with development: true)", field, v)
	case u.User != nil:
		p.add("%s: must not contain user information", field)
	}
}

func (p *problems) file(field, path string, required bool) {
	if path == "" {
		if required {
			p.add("%s: required", field)
		}
		return
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		p.add("%s: %s does not exist", field, filepath.Base(path))
	case err != nil:
		p.add("%s: %v", field, err)
	case st.IsDir():
		p.add("%s: %s is a folder, not a file", field, filepath.Base(path))
	}
}

func (p *problems) positive(field string, d, max time.Duration) {
	if d <= 0 {
		p.add("%s: must be positive", field)
	} else if d > max {
		p.add("%s: %s is more than the maximum %s", field, d, max)
	}
}

// isLoopbackListen says whether a host:port listens on loopback only.
func isLoopbackListen(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
