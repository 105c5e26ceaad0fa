package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bolt"
	"github.com/partneridp/partneridp/binding/etcd"
	"github.com/partneridp/partneridp/binding/memory"
)

// The backend registry: store.type names one of these. Each entry opens its
// backend from the config and checks the config's store section; the rest
// of the binary sees only the binding contracts.
type storeBackend struct {
	summary string
	// open opens the store the config names; path, when set, replaces a
	// file backend's path (the CLI's --store).
	open func(ctx context.Context, cfg *Config, o storeOpen) (binding.Store, error)
	// check adds the config problems of this backend's settings.
	check func(cfg *Config, p *problems)
	// shared says several bridge instances may use the store at once, so
	// nothing a login needs may live only in one process.
	shared bool
}

// storeOpen is what differs between the callers of openStore.
type storeOpen struct {
	Clock func() time.Time
	Path  string // a file backend's path instead of the config's (--store)
}

// Backend names.
const (
	storeBolt   = "bolt"
	storeMemory = "memory"
	storeEtcd   = "etcd"
)

var storeBackends = map[string]storeBackend{
	storeBolt: {
		summary: "one bbolt file owned by one process (the default)",
		open: func(_ context.Context, cfg *Config, o storeOpen) (binding.Store, error) {
			path := o.Path
			if path == "" {
				path = cfg.Path(cfg.Store.Path)
			}
			return bolt.Open(path, bolt.Options{Timeout: cfg.Store.OpenTimeout.Duration, Clock: o.Clock})
		},
		check: func(*Config, *problems) {},
	},
	storeMemory: {
		summary: "in memory, lost when the process ends (tests and demos)",
		open: func(_ context.Context, _ *Config, o storeOpen) (binding.Store, error) {
			return memory.New(o.Clock), nil
		},
		check: func(*Config, *problems) {},
	},
	storeEtcd: {
		summary: "an etcd v3 cluster shared by several bridge instances",
		open:    openEtcd,
		check:   checkEtcdConfig,
		shared:  true,
	},
}

// openEtcd connects to the cluster in store.etcd: the password from its
// file or variable, the files relative to the config.
func openEtcd(ctx context.Context, cfg *Config, o storeOpen) (binding.Store, error) {
	e := cfg.Store.Etcd
	password, err := etcdPassword(cfg, os.Getenv)
	if err != nil {
		return nil, err
	}
	return etcd.Open(ctx, etcd.Options{
		Endpoints: e.Endpoints, Prefix: e.Prefix,
		CAFile: cfg.Path(e.CAFile), CertFile: cfg.Path(e.CertFile), KeyFile: cfg.Path(e.KeyFile),
		Username: e.Username, Password: password,
		DialTimeout: e.DialTimeout.Duration, RequestTimeout: e.RequestTimeout.Duration,
		Clock: o.Clock,
	})
}

func storeTypes() []string {
	names := make([]string, 0, len(storeBackends))
	for n := range storeBackends {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// checkStoreConfig reports an unknown store.type with the choices, and the
// chosen backend's own problems.
func checkStoreConfig(c *Config, p *problems) {
	be, ok := storeBackends[c.Store.Type]
	if !ok {
		p.add("store.type: %q is unknown (choose one of %s)", c.Store.Type, strings.Join(storeTypes(), ", "))
		return
	}
	be.check(c, p)
	if be.shared && c.Session.SecretFile == "" {
		p.add("session.secret_file: required with store.type %s, so that every instance reads the session cookies of the others", c.Store.Type)
	}
}

// checkEtcdConfig checks the store.etcd section.
func checkEtcdConfig(c *Config, p *problems) {
	e := c.Store.Etcd
	if len(e.Endpoints) == 0 {
		p.add("store.etcd.endpoints: list the cluster's client URLs (for example https://etcd-1:2379)")
	}
	for i, ep := range e.Endpoints {
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" && u.Path != "/" {
			p.add("store.etcd.endpoints[%d]: %q is not a client URL such as https://etcd-1:2379", i, ep)
		}
	}
	if !strings.HasPrefix(e.Prefix, "/") || strings.ContainsAny(e.Prefix, "\x00\n") || len(e.Prefix) > 128 {
		p.add("store.etcd.prefix: %q must start with / and be at most 128 characters (for example /partneridp/)", e.Prefix)
	}
	if (e.CertFile == "") != (e.KeyFile == "") {
		p.add("store.etcd: set both cert_file and key_file (client certificate), or neither")
	}
	p.file("store.etcd.ca_file", c.Path(e.CAFile), false)
	p.file("store.etcd.cert_file", c.Path(e.CertFile), false)
	p.file("store.etcd.key_file", c.Path(e.KeyFile), false)
	p.file("store.etcd.password_file", c.Path(e.PasswordFile), false)
	if e.PasswordFile != "" && e.PasswordEnv != "" {
		p.add("store.etcd: set password_file or password_env, not both")
	}
	if e.Username == "" && (e.PasswordFile != "" || e.PasswordEnv != "") {
		p.add("store.etcd.username: required when a password is given")
	}
	if e.Username != "" && e.PasswordFile == "" && e.PasswordEnv == "" {
		p.add("store.etcd: username %q needs password_file or password_env", e.Username)
	}
	p.positive("store.etcd.dial_timeout", e.DialTimeout.Duration, time.Minute)
	p.positive("store.etcd.request_timeout", e.RequestTimeout.Duration, time.Minute)
}

// etcdPassword reads the password from its file (not readable by others)
// or its environment variable.
func etcdPassword(c *Config, getenv func(string) string) (string, error) {
	e := c.Store.Etcd
	switch {
	case e.PasswordFile != "":
		path := c.Path(e.PasswordFile)
		st, err := os.Stat(path)
		if err != nil {
			return "", fmt.Errorf("store.etcd.password_file: %w", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("store.etcd.password_file: %s is readable by other users; run chmod 600 on it", e.PasswordFile)
		}
		b, err := readCapped(path, 4096)
		if err != nil {
			return "", fmt.Errorf("store.etcd.password_file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case e.PasswordEnv != "":
		v := getenv(e.PasswordEnv)
		if v == "" {
			return "", fmt.Errorf("store.etcd.password_env: the environment variable %s is empty or unset", e.PasswordEnv)
		}
		return v, nil
	}
	return "", nil
}

// openStore opens the store the config names.
func openStore(ctx context.Context, cfg *Config, o storeOpen) (binding.Store, error) {
	be, ok := storeBackends[cfg.Store.Type]
	if !ok {
		return nil, fmt.Errorf("store.type %q is unknown (choose one of %s)", cfg.Store.Type, strings.Join(storeTypes(), ", "))
	}
	s, err := be.open(ctx, cfg, o)
	if err != nil {
		return nil, err // never a typed nil inside the interface
	}
	return s, nil
}

// storeIsShared says whether the configured store serves several instances.
func storeIsShared(cfg *Config) bool { return storeBackends[cfg.Store.Type].shared }

// checkLifetimes checks, once at start, that the lifetimes that must agree
// do: a spent AuthnRequest ID or token ID must stay spent for as long as
// the request or token could still be accepted, and the store must keep a
// mark that long.
func checkLifetimes(cfg *Config, l binding.Limits, tokenReplay time.Duration, samlReplay time.Duration) error {
	var bad []string
	if samlReplay > l.MaxSpendLifetime {
		bad = append(bad, fmt.Sprintf("idp.clock_skew %s keeps AuthnRequest IDs spent for %s, longer than the %s store keeps a mark (%s): lower idp.clock_skew",
			cfg.IdP.ClockSkew.Duration, samlReplay, cfg.Store.Type, l.MaxSpendLifetime))
	}
	if tokenReplay > l.MaxSpendLifetime {
		bad = append(bad, fmt.Sprintf("platforms[].max_token_lifetime keeps token IDs spent for %s, longer than the %s store keeps a mark (%s): lower max_token_lifetime",
			tokenReplay, cfg.Store.Type, l.MaxSpendLifetime))
	}
	if cfg.IdP.FlowTTL.Duration > l.MaxSpendLifetime {
		bad = append(bad, fmt.Sprintf("idp.flow_ttl %s is longer than the store's longest record lifetime %s: lower idp.flow_ttl", cfg.IdP.FlowTTL.Duration, l.MaxSpendLifetime))
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	return fmt.Errorf("lifetimes do not agree: %s", strings.Join(bad, "; "))
}

// connectStore opens the configured store, pings it and counts its
// bindings: config check --connect. A bolt file in use by serve is
// reported as locked, which proves nothing is wrong with the config.
func connectStore(ctx context.Context, cfg *Config) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Store.Etcd.DialTimeout.Duration+cfg.Store.Etcd.RequestTimeout.Duration)
	defer cancel()
	s, err := openStore(ctx, cfg, storeOpen{})
	if err != nil {
		return 0, fmt.Errorf("store (%s): %w", cfg.Store.Type, err)
	}
	defer s.Close()
	if p, ok := s.(binding.Pinger); ok {
		if err := p.Ping(ctx); err != nil {
			return 0, fmt.Errorf("store (%s): %w", cfg.Store.Type, err)
		}
	}
	n, err := s.Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("store (%s): %w", cfg.Store.Type, err)
	}
	return n, nil
}
