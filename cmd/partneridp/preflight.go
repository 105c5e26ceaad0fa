package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/partneridp/partneridp/idp/ratelimit"
	"github.com/partneridp/partneridp/metadata"
)

// Preflight: every check `serve` makes before it listens, in one place, so
// that `config check` refuses exactly what `serve` would refuse
// (TestConfigCheckAgreesWithServe runs both over the same broken configs).

// listenRule is serve's rule on how TLS ends: HTTPS here, or a
// TLS-terminating proxy in front, or development mode.
func listenRule(cfg *Config) error {
	if cfg.TLS.CertFile == "" && !cfg.TLS.BehindProxy && !cfg.Development {
		return errors.New("tls: set tls.cert_file and tls.key_file, or tls.behind_proxy: true (PARTNERIDP_BEHIND_PROXY=true) when a TLS-terminating proxy is in front; plain HTTP is allowed only with development: true")
	}
	if cfg.TLS.BehindProxy {
		if _, err := ratelimit.ParseTrustedProxies(cfg.TLS.TrustedProxies); err != nil {
			return fmt.Errorf("tls.trusted_proxies: %w", err)
		}
	}
	return nil
}

// loadTLSCertificate loads tls.cert_file and tls.key_file, refusing a key
// file other users can read and a certificate outside its validity.
func loadTLSCertificate(cfg *Config, now time.Time) (tls.Certificate, error) {
	keyPath := cfg.Path(cfg.TLS.KeyFile)
	if err := privateFileMode("tls.key_file", keyPath); err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.LoadX509KeyPair(cfg.Path(cfg.TLS.CertFile), keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls.cert_file/tls.key_file: %w", err)
	}
	leaf := cert.Leaf
	if leaf == nil && len(cert.Certificate) > 0 {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("tls.cert_file: %w", err)
		}
	}
	switch {
	case leaf == nil:
		return tls.Certificate{}, errors.New("tls.cert_file: no certificate")
	case now.After(leaf.NotAfter):
		return tls.Certificate{}, fmt.Errorf("tls.cert_file: the certificate expired on %s; renew it", leaf.NotAfter.UTC().Format(time.DateOnly))
	case now.Before(leaf.NotBefore):
		return tls.Certificate{}, fmt.Errorf("tls.cert_file: the certificate is valid only from %s; check the clock or the certificate", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return cert, nil
}

// privateFileMode refuses a key file that other users can read.
func privateFileMode(field, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s: %s has mode %04o, readable by other users; run: chmod 600 %s", field, filepath.Base(path), st.Mode().Perm(), path)
	}
	return nil
}

// preflight returns every reason serve would refuse to start with cfg,
// without listening and without opening the store (a running serve holds
// its lock). offline skips fetching SP metadata from a URL; a file is
// always read.
func preflight(cfg *Config, offline bool) []string {
	now := time.Now()
	var problems []string
	add := func(err error) {
		if err == nil {
			return
		}
		for _, e := range splitJoined(err) {
			problems = append(problems, e.Error())
		}
	}
	problems = append(problems, cfg.CheckFiles()...)
	if len(problems) > 0 {
		// The loaders below would repeat "no such file" for each of them.
		return problems
	}
	add(listenRule(cfg))
	// What the bridge's HTTP edge (idp.New) requires beyond Validate.
	if cfg.LandingURL == "" {
		problems = append(problems, "landing_url: required by serve (where the browser goes after a bind notification or a logout: the platform's home page)")
	}
	if len(cfg.Platforms) > 0 && cfg.Platforms[0].LoginURL == "" {
		problems = append(problems, "platforms[0].login_url: required by serve (where a user without a bridge session logs in first)")
	}
	if cfg.TLS.CertFile != "" {
		_, err := loadTLSCertificate(cfg, now)
		add(err)
	}
	_, _, err := buildIDPMetadata(cfg, now)
	add(err)
	for i, h := range cfg.Sites() {
		field := cfg.siteField(i)
		site, err := resolveSite(cfg, h)
		add(err)
		spOpts, err := spLoadOptions(cfg, field, h, now)
		add(err)
		if err == nil && site.SPMetadata != "" {
			if offline && strings.Contains(site.SPMetadata, "://") {
				// skipped: --offline
			} else if _, err := metadata.NewSPSource(site.SPMetadata, spOpts, h.SPRefresh.Duration, nil); err != nil {
				add(fmt.Errorf("%s.sp_metadata: %w (serve needs it at start; --offline skips this check)", field, err))
			}
		}
	}
	_, err = loadPlatforms(cfg)
	add(err)
	_, err = loadSessionSecret(cfg)
	add(err)
	if cfg.Store.Type == storeEtcd {
		_, err = etcdPassword(cfg, os.Getenv)
		add(err)
	}
	for i, pc := range cfg.Platforms {
		if pc.Webhook != nil {
			_, err = loadWebhookSecret(cfg, i)
			add(err)
		}
	}
	_, err = buildPartner(cfg, os.Getenv)
	add(err)
	_, _, err = attributeProfiles(cfg)
	add(err)
	add(writableDir("data_dir", cfg.Path(cfg.DataDir)))
	if cfg.Log.AuditLog != "" {
		add(writableDir("log.audit_log", filepath.Dir(cfg.Path(cfg.Log.AuditLog))))
	}
	_, err = ratelimit.New(ratelimit.Config{PerMinute: cfg.Limits.PerIPPerMinute, Burst: cfg.Limits.Burst, MaxClients: cfg.Limits.MaxClients})
	if err != nil {
		add(fmt.Errorf("limits: %w", err))
	}
	return problems
}

// writableDir checks that serve can create or use dir: it exists and is a
// writable folder, or the nearest existing parent is.
func writableDir(field, dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if errors.Is(err, os.ErrNotExist) {
			if filepath.Dir(d) == d {
				return fmt.Errorf("%s: no folder of %s exists", field, dir)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
		if !st.IsDir() {
			return fmt.Errorf("%s: %s is not a folder", field, d)
		}
		f, err := os.CreateTemp(d, ".partneridp-check-*")
		if err != nil {
			return fmt.Errorf("%s: cannot write in %s (%v); fix its owner or mode", field, d, errors.Unwrap(err))
		}
		f.Close()
		os.Remove(f.Name())
		return nil
	}
}

// splitJoined undoes errors.Join so that each problem gets its own line.
func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitJoined(e)...)
		}
		return out
	}
	return []error{err}
}
