package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/partneridp/partneridp/binding/etcd"
	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/idp/demoplatform"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/mockiam"
	"github.com/partneridp/partneridp/internal/journey"
	"github.com/partneridp/partneridp/internal/selftest"
	"github.com/partneridp/partneridp/metadata"
)

// selftestTimeout bounds a whole run; a healthy one takes about a second.
const selftestTimeout = 2 * time.Minute

type selftestOptions struct {
	ConfigPath  string // "": everything in-process, like demo
	Platform    string // --config: which platform hands the user over; "": the first
	PlatformKey string // --config: the platform's private key; "": its test_signing_key_file
	Customer    string // xaccount_id to log in as; "": alice in-process, a random one with --config
	Logger      *slog.Logger
}

func newSelftestCmd() *cobra.Command {
	var o selftestOptions
	var verbose bool
	cmd := &cobra.Command{
		Use:   "selftest",
		Short: "Run the whole SSO flow headless against the mock Huawei IAM and report each step",
		Long: `Run the SSO flow through an HTTP client with a cookie jar, the way a browser
would, and print each step with its result:

  1. first login: isFirstLogin=true, the mock's bind page creates a Huawei account,
     the bind notification reaches the bridge and the binding is in its store;
  2. second login: isFirstLogin=false, straight to the mock console, which shows
     the account and the attributes the bridge asserted;
  3. a login that starts at Huawei without a bridge session: the bridge defers to
     the platform's login page, which sends the user back with a token;
  4. a tampered Response (the xUserId in the signed Assertion changed in transit)
     that the mock refuses.

The exit status is 0 only when every step behaved.

Without --config, the bridge, the mock and the demo platform run in-process
on loopback with development keys in a temporary folder that is removed at
the end.

With --config, the bridge is built from that config (its signing keys,
metadata, platform keys and session settings) and the mock stands in for
Huawei: the bridge's IDP Metadata.xml is registered with the mock as if
uploaded, and the mock's SP metadata replaces Huawei's. With huawei_sites a
mock stands in for every site and the four steps run on each. The handoff tokens
are minted with the platform's private key (test_signing_key_file, or
--platform-key). The store file is COPIED to a temporary folder and the copy
is used, so production bindings are read but never written; without a store
file an empty temporary store is used. Nothing is sent anywhere but to the
in-process servers: requests for the bridge's public_url are routed to the
in-process bridge (over TLS with a throw-away certificate when it is https).`,
		Example: `  partneridp selftest
  partneridp selftest --config partneridp.yaml --platform-key platform-shop.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if verbose {
				o.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), selftestTimeout)
			defer cancel()
			return runSelftest(ctx, o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ConfigPath, "config", "", "bridge config to check (default: everything in-process with development keys)")
	f.StringVar(&o.Platform, "platform", "", "with --config: the platform (name) whose token starts the login (default: the first)")
	f.StringVar(&o.PlatformKey, "platform-key", "", "with --config: the platform's private signing key (default: its test_signing_key_file)")
	f.StringVar(&o.Customer, "customer", "", "xaccount_id to log in as (default: alice in-process, a fresh random id with --config)")
	f.BoolVar(&verbose, "verbose", false, "log what the bridge and the mock do on stderr")
	return cmd
}

// runSelftest builds the environment the flags ask for and runs the
// self-test in it: the demo stack in-process, or the bridge of --config.
func runSelftest(ctx context.Context, o selftestOptions, out io.Writer) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	opts := selftest.Options{
		Intro: "partneridp selftest: bridge, mock Huawei IAM and demo platform in-process on loopback (temporary data folder)",
		Setup: func(ctx context.Context, r *selftest.Runner) (*selftest.Env, error) {
			var env *selftest.Env
			r.Step("start the bridge, the mock Huawei IAM and the demo platform", func() (string, error) {
				var err error
				if env, err = inProcessEnv(ctx, o); err != nil {
					return "", err
				}
				return fmt.Sprintf("bridge %s, mock %s", env.BridgeURL, env.MockURL), nil
			})
			return env, nil
		},
	}
	if o.ConfigPath != "" {
		return runConfigSelftest(ctx, o, out)
	}
	_, err := selftest.Run(ctx, opts, out)
	return err
}

// runConfigSelftest tests the bridge of --config with a mock Huawei IAM in
// the place of each configured site: the setup checks once, then the
// flows on every site, in config order. After a site fails, the others are
// not tried: they run on the same bridge.
func runConfigSelftest(ctx context.Context, o selftestOptions, out io.Writer) error {
	cfg, err := LoadConfig(o.ConfigPath, os.Getenv)
	if err != nil {
		return err // an unusable config is returned as its *ConfigError
	}
	sites := cfg.Sites()
	var stack *configStack
	defer func() {
		if stack != nil {
			stack.owner.Close()
		}
	}()
	var total selftest.Report
	for i, h := range sites {
		opts := selftest.Options{
			Intro: fmt.Sprintf("partneridp selftest: the bridge of %s against the mock Huawei IAM (store copied to a temporary folder)", o.ConfigPath),
			Setup: func(ctx context.Context, r *selftest.Runner) (*selftest.Env, error) {
				if stack == nil {
					var err error
					if stack, err = configEnv(ctx, o, cfg, r); err != nil {
						return nil, err
					}
				}
				return stack.sites[i], nil
			},
		}
		if len(sites) > 1 {
			opts.Intro = fmt.Sprintf("partneridp selftest: the bridge of %s, site %s (%d of %d), with a mock Huawei IAM in its place (store copied to a temporary folder)",
				o.ConfigPath, h.Name, i+1, len(sites))
		}
		rep, err := selftest.Run(ctx, opts, out)
		total.Passed, total.Failed, total.Skipped = total.Passed+rep.Passed, total.Failed+rep.Failed, total.Skipped+rep.Skipped
		if err != nil && !errors.Is(err, selftest.ErrFailed) {
			return err
		}
		if err != nil || i+1 == len(sites) {
			if len(sites) > 1 {
				fmt.Fprintf(out, "selftest, %d of %d site(s) run: %d passed, %d failed, %d skipped\n", i+1, len(sites), total.Passed, total.Failed, total.Skipped)
			}
			return err
		}
	}
	return nil
}

// inProcessEnv is the demo stack in a temporary folder; the platform side
// is the demo platform's real pages.
func inProcessEnv(ctx context.Context, o selftestOptions) (*selftest.Env, error) {
	s, err := startDemoStack(ctx, demoOptions{DataDir: "", Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	customer := demoplatform.DefaultCustomers()[0]
	if o.Customer != "" {
		found := false
		for _, c := range demoplatform.DefaultCustomers() {
			if c.XAccountID == o.Customer {
				customer, found = c, true
			}
		}
		if !found {
			s.Close()
			return nil, fmt.Errorf("--customer %q is not a demo customer (alice, bob, carol)", o.Customer)
		}
	}
	env := &selftest.Env{
		Store: s.bridge.store, BridgeURL: s.bridgeURL, Mock: s.mock, MockURL: s.mockURL,
		XAccountType: s.xAccountType, Customer: customer,
		NewBrowser: func() *journey.Browser {
			return journey.NewBrowser(nil, journey.HostOf(s.bridgeURL), journey.HostOf(s.mockURL), journey.HostOf(s.platformURL))
		},
	}
	env.OnClose(s.Close)
	env.UseDemoPlatform(s.platformURL)
	return env, nil
}

func randomHexString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// configStack is the bridge of --config with a mock Huawei IAM in each
// site's place: owner holds what Close undoes; sites are the environments
// the flows run in, one per configured site (all sharing the bridge).
type configStack struct {
	owner *selftest.Env
	sites []*selftest.Env
}

// configEnv builds the bridge from the operator's config with the mocks in
// Huawei's place. Setup checks run as steps on r; after a failed one the
// stack is closed, and its site environments only make the flows report
// themselves skipped.
func configEnv(ctx context.Context, o selftestOptions, cfg *Config, r *selftest.Runner) (*configStack, error) {
	stack := &configStack{owner: &selftest.Env{}}
	for _, h := range cfg.Sites() {
		stack.sites = append(stack.sites, &selftest.Env{XAccountType: h.XAccountType})
	}
	var ok bool
	defer func() {
		if !ok {
			stack.owner.Close()
		}
	}()
	tmp, err := os.MkdirTemp("", "partneridp-selftest-*")
	if err != nil {
		return nil, err
	}
	stack.owner.OnClose(func() error { return os.RemoveAll(tmp) })

	var platform *PlatformConfig
	var minter *handoff.Minter
	r.Step("platform key: the private key matches the key the bridge verifies with", func() (string, error) {
		var err error
		platform, minter, err = selftestMinter(cfg, o)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("platform %s (%s, iss %s, aud %s)", platform.Name, platform.Alg, platform.Issuer, platform.Audience), nil
	})

	var keyset *metadata.Keyset
	var metadataXML []byte
	r.Step("IdP signing key and IDP Metadata.xml", func() (string, error) {
		var err error
		now := time.Now()
		if metadataXML, keyset, err = buildIDPMetadata(cfg, now); err != nil {
			return "", err
		}
		return selftest.CheckIDPMetadata(metadataXML, keyset.Current.Cert, cfg.IdP.EntityID, cfg.Development, now)
	})

	storeCopy := filepath.Join(tmp, "partneridp.db")
	run := *cfg
	switch cfg.Store.Type {
	case storeBolt:
		r.Step("binding store (a temporary copy)", func() (string, error) {
			return selftest.CopyStore(cfg.Path(cfg.Store.Path), storeCopy)
		})
	case storeEtcd:
		run.Store.Etcd.Prefix = cfg.Store.Etcd.Prefix + "selftest-" + randomHexString(6) + "/"
		r.Step("binding store (a temporary prefix in the configured etcd cluster)", func() (string, error) {
			return etcdSelftestPrefix(ctx, &run, stack.owner)
		})
	}

	r.Step("start the bridge and the mock Huawei IAM", func() (string, error) {
		return startConfigEnv(ctx, o, &run, stack, minter, metadataXML, tmp, storeCopy)
	})
	if r.Failed() {
		return stack, nil // closed; the steps after this are skipped and reported
	}
	ok = true
	return stack, nil
}

// selftestMinter finds the platform and loads its private key, and checks
// that a token it signs passes the bridge's verifier for that platform.
func selftestMinter(cfg *Config, o selftestOptions) (*PlatformConfig, *handoff.Minter, error) {
	var pc *PlatformConfig
	for i := range cfg.Platforms {
		if o.Platform == "" || cfg.Platforms[i].Name == o.Platform {
			pc = &cfg.Platforms[i]
			break
		}
	}
	if pc == nil {
		return nil, nil, fmt.Errorf("--platform %q is not in the config's platforms", o.Platform)
	}
	keyFile, from := o.PlatformKey, "--platform-key"
	if keyFile == "" {
		keyFile, from = cfg.Path(pc.SigningKeyFile), fmt.Sprintf("platforms[%s].test_signing_key_file", pc.Name)
	}
	if keyFile == "" {
		return nil, nil, fmt.Errorf("the selftest mints handoff tokens as platform %s: give its private key with --platform-key, or set test_signing_key_file in the config", pc.Name)
	}
	key, err := handoff.LoadSigningKey(keyFile, pc.Alg)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", from, err)
	}
	platforms, err := loadPlatforms(cfg)
	if err != nil {
		return nil, nil, err
	}
	m := &handoff.Minter{Issuer: pc.Issuer, Audience: pc.Audience, KID: pc.KeyID, Alg: pc.Alg, Key: key}
	if err := selftest.CheckMinter(m, platforms, pc.Name, from); err != nil {
		return nil, nil, err
	}
	return pc, m, nil
}

// etcdSelftestPrefix proves the cluster answers with the configured
// endpoints, TLS and credentials, and arranges for the selftest's own
// prefix (below the configured one, so the same permissions apply) to be
// deleted at the end: the deployment's bindings are never touched.
func etcdSelftestPrefix(ctx context.Context, run *Config, env *selftest.Env) (string, error) {
	s, err := openStore(ctx, run, storeOpen{})
	if err != nil {
		return "", err
	}
	es := s.(*etcd.Store)
	env.OnClose(func() error {
		defer es.Close()
		return es.Destroy(context.Background())
	})
	return fmt.Sprintf("etcd at %s answers; the selftest writes under %s and deletes it afterwards", strings.Join(run.Store.Etcd.Endpoints, ","), run.Store.Etcd.Prefix), nil
}

// startConfigEnv starts a mock Huawei IAM for each site (https when the
// bridge is not in development mode) and the configured bridge on
// loopback, and routes the bridge's public host to it.
func startConfigEnv(ctx context.Context, o selftestOptions, cfg *Config, stack *configStack, minter *handoff.Minter, metadataXML []byte, tmp, storeCopy string) (string, error) {
	public, err := url.Parse(cfg.PublicURL)
	if err != nil {
		return "", err
	}
	useTLS := public.Scheme == "https"
	var serverTLS *tls.Config
	var roots *x509.CertPool
	if useTLS {
		if serverTLS, roots, err = selftest.ThrowAwayTLS(public.Hostname()); err != nil {
			return "", err
		}
	}
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	bridgeURL := strings.TrimSuffix(cfg.PublicURL, "/")
	publicHost := public.Host
	if public.Port() == "" {
		publicHost = net.JoinHostPort(public.Hostname(), map[bool]string{true: "443", false: "80"}[useTLS])
	}
	group := newServerGroup()
	var br *bridge // closed after the servers stop (Close runs last to first)
	stack.owner.OnClose(func() error {
		if br == nil {
			return nil
		}
		return br.Close()
	})
	stack.owner.OnClose(group.shutdown)

	// One mock per site, each its own SP (entityID, key, ACS), registered
	// with the bridge's metadata for the site's xAccountType.
	sites := cfg.Sites()
	var overrides []siteOverride
	hosts := []string{publicHost, public.Host}
	var mocks []string
	for i, h := range sites {
		env := stack.sites[i]
		mockLn, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		env.MockURL = scheme + "://" + mockLn.Addr().String()
		env.BridgeURL = bridgeURL
		dir := filepath.Join(tmp, "mock-"+h.Name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			mockLn.Close()
			return "", err
		}
		var sp *metadata.SP
		env.Mock, sp, err = selftest.NewMock(env.MockURL, h.XAccountType, metadataXML, bridgeURL+idp.PathBind, dir, o.Logger.With("component", "mock-huawei", "site", h.Name))
		if err != nil {
			mockLn.Close()
			return "", err
		}
		mockSrv := newHTTPServer(env.Mock.Handler(), o.Logger)
		mockSrv.TLSConfig = serverTLS.Clone() // each server adds its own ALPN protocols
		group.start(servedListener{srv: mockSrv, ln: mockLn, tls: useTLS})
		overrides = append(overrides, siteOverride{SP: sp, LoginURL: env.MockURL + mockiam.PathLogin, ConsoleURL: env.MockURL + mockiam.PathConsole,
			ServiceHosts: []string{mockLn.Addr().String()}})
		hosts = append(hosts, mockLn.Addr().String())
		mocks = append(mocks, h.Name+" "+env.MockURL)
	}

	bridgeLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	run := *cfg
	run.DataDir = tmp
	if cfg.Store.Type == storeBolt {
		run.Store.Path = storeCopy
	}
	br, err = newBridge(ctx, &run, bridgeOptions{
		Logger: o.Logger.With("component", "bridge"), Auditor: slogAudit(o.Logger.With("component", "bridge")),
		Sites: overrides,
	})
	if err != nil {
		bridgeLn.Close()
		return "", err
	}
	var handler http.Handler = br.server.Handler()
	if prefix := strings.TrimSuffix(public.Path, "/"); prefix != "" {
		handler = http.StripPrefix(prefix, handler)
	}
	bridgeSrv := newHTTPServer(handler, o.Logger)
	bridgeSrv.TLSConfig = serverTLS.Clone()
	group.start(servedListener{srv: bridgeSrv, ln: bridgeLn, tls: useTLS})

	route := map[string]string{publicHost: bridgeLn.Addr().String()}
	customer := demoplatform.Customer{XAccountID: o.Customer, Name: "Selftest User", Mobile: "86-13800000000", Email: "selftest@partneridp.invalid"}
	if customer.XAccountID == "" {
		customer.XAccountID = "partneridp-selftest-" + randomHexString(4)
	}
	for i, h := range sites {
		env := stack.sites[i]
		env.Store = br.store
		env.NewBrowser = func() *journey.Browser { return selftest.RoutedBrowser(route, roots, hosts...) }
		env.Customer = customer
		if len(sites) > 1 {
			env.TokenClaims = map[string]any{idp.ClaimSite: h.Name}
		}
		// The platform's login page is the operator's real one: the
		// selftest does not go there; it does what the platform does with
		// return_to. A Huawei-initiated login goes to the login_url of the
		// platform that owns the site's xAccountType.
		owner, _ := siteOwner(cfg, h.XAccountType)
		env.UseMintedTokens(minter, owner.Name, owner.LoginURL, public.Scheme+"://"+public.Host)
	}
	mockDesc := "mock " + stack.sites[0].MockURL
	if len(sites) > 1 {
		mockDesc = "mocks " + strings.Join(mocks, ", ")
	}
	return fmt.Sprintf("bridge %s (served in-process on %s), %s; customer %s", bridgeURL, bridgeLn.Addr(), mockDesc, customer.XAccountID), nil
}
