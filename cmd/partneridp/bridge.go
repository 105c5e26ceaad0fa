package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/samlreq"
	"github.com/partneridp/partneridp/idp/samlresp"
	"github.com/partneridp/partneridp/idp/webhook"
	"github.com/partneridp/partneridp/metadata"
)

// bridgeOptions are what differs between serve, demo, selftest and tests.
type bridgeOptions struct {
	Clock   func() time.Time
	Logger  *slog.Logger
	Auditor idp.Auditor
	Metrics *idp.Metrics
	// Sites, when set, replace what the config says of each site, in
	// config order (selftest puts a mock Huawei IAM in each site's place
	// this way).
	Sites []siteOverride
	// ClientIP extracts the client address (set behind a trusted proxy).
	ClientIP func(*http.Request) string
}

// bridge is a wired, running bridge and what it must close.
type bridge struct {
	cfg         *Config
	keyset      atomic.Pointer[metadata.Keyset] // the current one; reload swaps it
	signer      *metadata.SignerSlot            // what signs Responses; reload swaps it
	metadataXML []byte
	sites       []bridgeSite // huawei or huawei_sites, in config order
	store       binding.Store
	clock       func() time.Time
	server      *idp.Server
	stopBG      func() // stops and waits for the background work; nil before start

	webhooks       []*webhook.Deliverer // platforms[].webhook (webhooks.go)
	webhookMetrics *webhook.Metrics

	// rebuildAPI makes the platform API anew with reloaded platform keys.
	rebuildAPI func([]handoff.Platform) (http.Handler, error)
	reloadMu   sync.Mutex // one reload at a time
}

// siteOverride replaces a site's SP metadata, login link, console and
// console hosts; zero fields keep the config's.
type siteOverride struct {
	SP           *metadata.SP
	LoginURL     string
	ConsoleURL   string
	ServiceHosts []string
}

// bridgeSite is one configured Huawei site as wired.
type bridgeSite struct {
	field    string // huawei or huawei_sites[i], for messages
	cfg      HuaweiConfig
	urls     siteURLs
	sp       func() *metadata.SP
	spSource *metadata.SPSource // nil when the SP was given in options
}

// sp is the first site's SP metadata.
func (b *bridge) sp() *metadata.SP { return b.sites[0].sp() }

type siteURLs struct {
	LoginURL   string
	ConsoleURL string
	SPMetadata string
}

// resolveSite applies a site's overrides to its preset.
func resolveSite(cfg *Config, h HuaweiConfig) (siteURLs, error) {
	var s siteURLs
	if h.Site != "custom" {
		preset, err := metadata.SiteByName(h.Site)
		if err != nil {
			return s, err
		}
		s = siteURLs{LoginURL: preset.LoginURL, ConsoleURL: preset.ConsoleURL, SPMetadata: preset.SPMetadataURL}
	}
	if h.LoginURL != "" {
		s.LoginURL = h.LoginURL
	}
	if h.ConsoleURL != "" {
		s.ConsoleURL = h.ConsoleURL
	}
	if h.SPMetadata != "" {
		s.SPMetadata = h.SPMetadata
		if !isURL(s.SPMetadata) {
			s.SPMetadata = cfg.Path(s.SPMetadata)
		}
	}
	return s, nil
}

func isURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// spLoadOptions builds a site's SP metadata pin; field names the site's
// section in messages.
func spLoadOptions(cfg *Config, field string, h HuaweiConfig, now time.Time) (metadata.SPLoadOptions, error) {
	opts := metadata.SPLoadOptions{AllowHTTP: cfg.Development, PinnedFingerprint: h.SPPinSHA256, Now: now}
	if h.SPCertPin != "" {
		c, err := metadata.LoadCertificate(cfg.Path(h.SPCertPin), now)
		if err != nil {
			return opts, fmt.Errorf("%s.sp_cert_pin_file: %w", field, err)
		}
		opts.PinnedCert = c
	}
	return opts, nil
}

// newBridge loads keys, metadata, SP metadata, platforms and the store named
// by cfg and wires the idp.Server. The caller closes it.
func newBridge(ctx context.Context, cfg *Config, opts bridgeOptions) (_ *bridge, err error) {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	now := opts.Clock()
	b := &bridge{cfg: cfg, clock: opts.Clock}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()

	var keyset *metadata.Keyset
	if b.metadataXML, keyset, err = buildIDPMetadata(cfg, now); err != nil {
		return nil, err
	}
	b.keyset.Store(keyset)
	signer, err := metadata.NewKeySigner(keyset.Current)
	if err != nil {
		return nil, fmt.Errorf("idp.signing: %w", err)
	}
	if b.signer, err = metadata.NewSignerSlot(signer); err != nil {
		return nil, fmt.Errorf("idp.signing: %w", err)
	}
	if b.sites, err = loadSites(cfg, opts, now); err != nil {
		return nil, err
	}

	platforms, err := loadPlatforms(cfg)
	if err != nil {
		return nil, err
	}
	sessionSecret, err := loadSessionSecret(cfg)
	if err != nil {
		return nil, err
	}
	profile, spProfiles, err := attributeProfiles(cfg)
	if err != nil {
		return nil, err
	}

	if err := os.MkdirAll(cfg.Path(cfg.DataDir), 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	if b.store, err = openStore(ctx, cfg, storeOpen{Clock: opts.Clock}); err != nil {
		return nil, err
	}

	sites, err := idpSites(cfg, b.sites, opts)
	if err != nil {
		return nil, err
	}
	intake := &samlreq.Intake{
		SSOURL:        cfg.endpoint(pathSSO),
		SLOURL:        cfg.endpoint(pathSLO),
		Policy:        metadata.SigAlgPolicy{AllowSHA1: cfg.IdP.AllowRSASHA1},
		Skew:          cfg.IdP.ClockSkew.Duration,
		NameIDFormats: cfg.IdP.NameIDFormats,
		Clock:         opts.Clock,
	}
	builder := &samlresp.Builder{
		IssuerEntityID:       cfg.IdP.EntityID,
		Signer:               b.signer,
		Profile:              profile,
		SPProfiles:           spProfiles,
		Lifetime:             cfg.IdP.AssertionTTL.Duration,
		Skew:                 cfg.IdP.ClockSkew.Duration,
		AuthnContextClassRef: cfg.IdP.AuthnContextRef,
		SignResponse:         cfg.IdP.SignResponse,
		Clock:                opts.Clock,
	}
	secure := !cfg.Development || httpsURL(cfg.PublicURL)
	var handoffOrigins, withoutOrigin []string
	for _, pc := range cfg.Platforms {
		if pc.LoginURL != "" {
			handoffOrigins = append(handoffOrigins, pc.LoginURL)
		}
		handoffOrigins = append(handoffOrigins, pc.Origins...)
		if pc.HandoffWithoutOrigin {
			withoutOrigin = append(withoutOrigin, pc.Issuer)
			opts.Logger.Warn("platform "+pc.Name+" has handoff_without_origin: true: its handoffs are accepted when the browser does not say which site sent them, which weakens the login-CSRF check; let the platform page send a Referer (Referrer-Policy: strict-origin-when-cross-origin) and remove the setting",
				"platform", pc.Name)
		}
	}
	if b.webhooks, b.webhookMetrics, err = buildWebhooks(cfg, b.store, opts.Auditor, opts.Logger); err != nil {
		return nil, err
	}
	partner, err := buildPartner(cfg, os.Getenv)
	if err != nil {
		return nil, err
	}
	b.rebuildAPI = func(ps []handoff.Platform) (http.Handler, error) {
		return buildPlatformAPI(cfg, ps, b.store, partner, opts.Auditor, opts.Logger, opts.Clock)
	}
	api, err := b.rebuildAPI(platforms)
	if err != nil {
		return nil, err
	}
	b.server, err = idp.New(idp.Config{
		API:                  api,
		PublicURL:            cfg.PublicURL,
		IdPEntityID:          cfg.IdP.EntityID,
		MetadataXML:          b.metadataXML,
		Sites:                sites, // and SPs, Intake.SPs: the sites' SPs
		Intake:               intake,
		Builder:              builder,
		Verifier:             &handoff.Verifier{Platforms: platforms, Clock: opts.Clock},
		Sessions:             &handoff.Sessions{Secret: sessionSecret, Lifetime: cfg.Session.Lifetime.Duration, Secure: secure, Clock: opts.Clock},
		LandingURL:           cfg.LandingURL,
		Bindings:             b.store,
		BindPolicy:           metadata.SigAlgPolicy{AllowSHA1: cfg.IdP.AllowRSASHA1},
		FlowTTL:              cfg.IdP.FlowTTL.Duration,
		HandoffOrigins:       handoffOrigins,
		HandoffWithoutOrigin: withoutOrigin,
		PageLanguage:         cfg.Pages.DefaultLanguage,
		PageTexts:            idp.PageTexts(cfg.Pages.Texts),
		Audit:                opts.Auditor, // nil: audit events go to the process log
		Logger:               opts.Logger,
		Clock:                opts.Clock,
		Metrics:              opts.Metrics,
		ClientIP:             opts.ClientIP,
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// loadSites resolves every configured site and loads its SP metadata.
func loadSites(cfg *Config, opts bridgeOptions, now time.Time) ([]bridgeSite, error) {
	var out []bridgeSite
	for i, h := range cfg.Sites() {
		site := bridgeSite{field: cfg.siteField(i), cfg: h}
		var err error
		if site.urls, err = resolveSite(cfg, h); err != nil {
			return nil, fmt.Errorf("%s: %w", site.field, err)
		}
		var over siteOverride
		if i < len(opts.Sites) {
			over = opts.Sites[i]
		}
		if over.LoginURL != "" {
			site.urls.LoginURL = over.LoginURL
		}
		if over.ConsoleURL != "" {
			site.urls.ConsoleURL = over.ConsoleURL
		}
		if over.SP != nil {
			sp := over.SP
			site.sp = func() *metadata.SP { return sp }
			out = append(out, site)
			continue
		}
		spOpts, err := spLoadOptions(cfg, site.field, h, now)
		if err != nil {
			return nil, err
		}
		src, err := metadata.NewSPSource(site.urls.SPMetadata, spOpts, h.SPRefresh.Duration, opts.Logger.With("site", h.Name), metadata.WithSPClock(opts.Clock))
		if err != nil {
			return nil, fmt.Errorf("%s.sp_metadata: %w", site.field, err)
		}
		site.spSource, site.sp = src, src.Current
		out = append(out, site)
	}
	seen := map[string]string{}
	for _, site := range out {
		id := site.sp().EntityID
		if other, dup := seen[id]; dup {
			return nil, fmt.Errorf("%s: its SP metadata names entityID %s, as %s does: each site is its own SP", site.field, id, other)
		}
		seen[id] = site.field
	}
	return out, nil
}

// idpSites turns the loaded sites into idp.Sites: login link, console
// hosts, the login URL of the platform owning each site's xAccountType.
// (A site's attribute profile is its SP's: idp.attributes.by_sp.)
func idpSites(cfg *Config, loaded []bridgeSite, opts bridgeOptions) ([]idp.Site, error) {
	var out []idp.Site
	for i, site := range loaded {
		h := site.cfg
		serviceHosts := h.ServiceHosts
		if i < len(opts.Sites) && len(opts.Sites[i].ServiceHosts) > 0 {
			serviceHosts = opts.Sites[i].ServiceHosts
		}
		if len(serviceHosts) == 0 {
			if u, err := url.Parse(site.urls.ConsoleURL); err == nil && u.Host != "" {
				serviceHosts = []string{u.Host}
			}
		}
		owner, ok := siteOwner(cfg, h.XAccountType)
		if !ok {
			return nil, fmt.Errorf("%s.x_account_type: no platform owns %q", site.field, h.XAccountType)
		}
		out = append(out, idp.Site{
			Name:             h.Name,
			SP:               site.sp,
			LoginLink:        handoff.LoginLink{LoginURL: site.urls.LoginURL, XAccountType: h.XAccountType},
			Services:         handoff.ServicePolicy{AllowedHosts: serviceHosts, Default: site.urls.ConsoleURL, AllowHTTP: cfg.Development},
			PlatformLoginURL: owner.LoginURL,
		})
	}
	return out, nil
}

func httpsURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https"
}

// startBackground runs the bridge's upkeep until Close: the sweeper of
// expired flow and replay records, the SP metadata refresh, and the
// certificate-expiry warnings.
func (b *bridge) startBackground(logger *slog.Logger) {
	var bg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	b.stopBG = func() { cancel(); bg.Wait() }
	for _, site := range b.sites {
		if src := site.spSource; src != nil {
			bg.Go(func() { src.Run(ctx) })
		}
	}
	eph, every, clock := b.store.Ephemeral(), b.cfg.Store.SweepEvery.Duration, b.clock
	bg.Go(func() { _ = binding.RunSweeper(ctx, eph, every, clock) })
	bg.Go(func() { warnExpiry(ctx, b, logger) })
	for _, d := range b.webhooks {
		bg.Go(func() { runLeading(ctx, b.store, webhook.CursorName(d.Name), d.Run, logger) })
	}
}

// runLeading runs task while this process leads name among the instances
// sharing the store (binding.Elector): one webhook deliverer per platform
// across every instance, so events go out once and in order. A store
// without an Elector belongs to this process alone: task just runs.
func runLeading(ctx context.Context, store binding.Store, name string, task func(context.Context) error, logger *slog.Logger) {
	el, ok := store.(binding.Elector)
	if !ok {
		_ = task(ctx)
		return
	}
	for ctx.Err() == nil {
		lctx, release, err := el.Lead(ctx, name)
		if err != nil {
			if ctx.Err() == nil {
				logger.Warn("cannot take part in the election; retrying", "task", name, "error", err)
				select {
				case <-ctx.Done():
				case <-time.After(5 * time.Second):
				}
			}
			continue
		}
		logger.Info("leading", "task", name)
		_ = task(lctx)
		release()
		if ctx.Err() == nil {
			logger.Warn("lost the lead; campaigning again", "task", name)
		}
	}
}

// Close stops the background work, then releases the store. It is safe on
// a partly built bridge.
func (b *bridge) Close() error {
	if b == nil {
		return nil
	}
	if b.stopBG != nil {
		b.stopBG()
		b.stopBG = nil
	}
	if b.store == nil {
		return nil
	}
	err := b.store.Close()
	b.store = nil
	return err
}

func loadPlatforms(cfg *Config) ([]handoff.Platform, error) {
	var out []handoff.Platform
	var errs []error
	for i, pc := range cfg.Platforms {
		keys, err := handoff.LoadPlatformKeys(handoff.KeySource{
			PEMFile:    cfg.Path(pc.PublicKeyFile),
			JWKSFile:   cfg.Path(pc.JWKSFile),
			SecretFile: cfg.Path(pc.SecretFile),
			Alg:        pc.Alg,
			KID:        pc.KeyID,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("platforms[%d] (%s): %w", i, pc.Name, err))
			continue
		}
		out = append(out, handoff.Platform{Name: pc.Name, Issuer: pc.Issuer, Audience: pc.Audience, Keys: keys, MaxLifetime: pc.MaxLifetime.Duration})
	}
	return out, errors.Join(errs...)
}

// loadSessionSecret reads the session-cookie secret, or makes a random one
// for this process when none is configured (sessions then end at restart).
func loadSessionSecret(cfg *Config) ([]byte, error) {
	if cfg.Session.SecretFile == "" {
		if storeIsShared(cfg) {
			return nil, fmt.Errorf("session.secret_file: required with store.type %s: several bridge instances share the store, and a session cookie set by one must be readable by every other; a per-process random key would log users out whenever the load balancer picks another instance (create one with: head -c 32 /dev/urandom > session.key; chmod 600 session.key; and give every instance the same file)", cfg.Store.Type)
		}
		secret := make([]byte, 32)
		_, err := rand.Read(secret)
		return secret, err
	}
	path := cfg.Path(cfg.Session.SecretFile)
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("session.secret_file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("session.secret_file: %s is readable by other users; run chmod 600 on it", cfg.Session.SecretFile)
	}
	secret, err := readCapped(path, 4096)
	if err != nil {
		return nil, fmt.Errorf("session.secret_file: %w", err)
	}
	if len(secret) < handoff.MinHS256SecretBytes {
		return nil, fmt.Errorf("session.secret_file: %d bytes; use at least %d random bytes (head -c 32 /dev/urandom > file)", len(secret), handoff.MinHS256SecretBytes)
	}
	return secret, nil
}

// attributeProfiles builds idp.attributes: the default profile and those
// of idp.attributes.by_sp.
func attributeProfiles(cfg *Config) (samlresp.Profile, map[string]samlresp.Profile, error) {
	def, err := attributeProfile(cfg.IdP.Attributes.ProfileConfig)
	if err != nil {
		return def, nil, fmt.Errorf("idp.attributes: %w", err)
	}
	var bySP map[string]samlresp.Profile
	var errs []error
	for _, entityID := range slices.Sorted(maps.Keys(cfg.IdP.Attributes.BySP)) {
		p, err := attributeProfile(cfg.IdP.Attributes.BySP[entityID])
		if err != nil {
			errs = append(errs, fmt.Errorf("idp.attributes.by_sp[%q]: %w", entityID, err))
			continue
		}
		if bySP == nil {
			bySP = map[string]samlresp.Profile{}
		}
		bySP[entityID] = p
	}
	return def, bySP, errors.Join(errs...)
}

func attributeProfile(pc ProfileConfig) (samlresp.Profile, error) {
	var adds []samlresp.AttributeRule
	for _, a := range pc.Add {
		r := samlresp.AttributeRule{Name: a.Name, Value: a.Value}
		if a.Claim != "" {
			r.From = samlresp.FromClaimPrefix + a.Claim
		}
		adds = append(adds, r)
	}
	base, err := samlresp.NamedProfile(pc.Profile)
	if err != nil {
		return base, err
	}
	return base.With(pc.Rename, pc.Drop, adds)
}
