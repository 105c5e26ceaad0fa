package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/idp/demoplatform"
	"github.com/partneridp/partneridp/idp/demotrace"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/mockiam"
	"github.com/partneridp/partneridp/idp/platformapi"
)

// Files the demo keeps in its data directory, besides the mock's SP key
// pair (mockSPKeyName, mockSPCertName) and the store.
const (
	demoIdPKeyName      = "idp-signing.key"
	demoIdPCertName     = "idp-signing.crt"
	demoPlatformKeyName = "platform-demo.key"
	demoPlatformPubName = "platform-demo.pub.pem"
	demoWebhookSecret   = "platform-demo.whsec"
	demoPartnerAKName   = "huawei-partner.ak"
	demoPartnerSKName   = "huawei-partner.sk"
	// demoPartnerDomainID is the (made-up) partner account ID the demo's
	// SDK client sends; the mock does not check it.
	demoPartnerDomainID  = "de300000000000000000000000000001"
	demoDefaultDataDir   = "partneridp-demo"
	demoXAccountType     = "demo_IDP"
	demoPlatformName     = "demo"
	demoResetActor       = "partneridp demo (the mock forgot its accounts at exit)"
	demoShutdownDeadline = 5 * time.Second
)

// The demo command's default ports (on 127.0.0.1).
const (
	demoPlatformPort = 8400
	demoBridgePort   = 8401
	demoMockPort     = 8402
)

// demoOptions say where the demo runs. Zero ports pick free ones.
type demoOptions struct {
	// DataDir holds keys and the store; "" makes a temporary directory that
	// is removed when the stack closes.
	DataDir      string
	Host         string // loopback address to listen on; "" is 127.0.0.1
	BridgePort   int
	MockPort     int
	PlatformPort int
	XAccountType string // "" is demo_IDP
	Logger       *slog.Logger
	Clock        func() time.Time
}

// demoStack is the bridge, the mock Huawei IAM and the demo platform, wired
// together and serving on loopback.
type demoStack struct {
	dataDir      string
	removeDir    bool
	xAccountType string

	bridgeURL, mockURL, platformURL string

	cfg      *Config
	bridge   *bridge
	mock     *mockiam.IAM
	platform *demoplatform.Platform
	trace    *demotrace.Trace
	minter   *handoff.Minter
	group    *serverGroup
	log      *slog.Logger
	reset    int // stale bindings removed at start
}

// startDemoStack makes or reuses the development keys, builds the three
// services and starts serving them. Close stops them.
func startDemoStack(ctx context.Context, o demoOptions) (_ *demoStack, err error) {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if ip := net.ParseIP(o.Host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("demo: %q is not a loopback address; the demo runs with development settings (http, plain cookies) and must stay on this machine", o.Host)
	}
	if o.XAccountType == "" {
		o.XAccountType = demoXAccountType
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	s := &demoStack{xAccountType: o.XAccountType, group: newServerGroup(), log: o.Logger}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if o.DataDir == "" {
		if s.dataDir, err = os.MkdirTemp("", "partneridp-demo-*"); err != nil {
			return nil, fmt.Errorf("demo: temporary data directory: %w", err)
		}
		s.removeDir = true
	} else {
		s.dataDir = o.DataDir
		if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("demo: data directory: %w", err)
		}
	}

	listen := func(port int) (net.Listener, string, error) {
		ln, err := net.Listen("tcp", net.JoinHostPort(o.Host, strconv.Itoa(port)))
		if err != nil {
			return nil, "", fmt.Errorf("demo: listen: %w (choose another port, or 0 for a free one)", err)
		}
		return ln, "http://" + ln.Addr().String(), nil
	}
	mockLn, mockURL, err := listen(o.MockPort)
	if err != nil {
		return nil, err
	}
	bridgeLn, bridgeURL, err := listen(o.BridgePort)
	if err != nil {
		mockLn.Close()
		return nil, err
	}
	platformLn, platformURL, err := listen(o.PlatformPort)
	if err != nil {
		mockLn.Close()
		bridgeLn.Close()
		return nil, err
	}
	listeners := []net.Listener{mockLn, bridgeLn, platformLn}
	defer func() {
		if err != nil {
			for _, ln := range listeners {
				ln.Close() // a served listener is closed again by Shutdown: harmless
			}
		}
	}()
	s.mockURL, s.bridgeURL, s.platformURL = mockURL, bridgeURL, platformURL

	now := o.Clock()
	if _, _, err := devKeyPair(s.dataDir, demoIdPKeyName, demoIdPCertName, "partneridp demo IdP", now); err != nil {
		return nil, fmt.Errorf("demo: IdP signing key: %w", err)
	}
	spKey, _, err := devKeyPair(s.dataDir, mockSPKeyName, mockSPCertName, "mock-huawei-iam", now)
	if err != nil {
		return nil, fmt.Errorf("demo: mock Huawei IAM key: %w", err)
	}
	platformKey, err := devEd25519Key(s.dataDir, demoPlatformKeyName, demoPlatformPubName)
	if err != nil {
		return nil, fmt.Errorf("demo: platform key: %w", err)
	}
	// The platform's webhook secret and the partner's (mock) AK/SK.
	whsec, err := devSecretFile(s.dataDir, demoWebhookSecret, func(b []byte) string { return "whsec_" + base64.StdEncoding.EncodeToString(b) })
	if err != nil {
		return nil, fmt.Errorf("demo: webhook secret: %w", err)
	}
	partnerAK, err := devSecretFile(s.dataDir, demoPartnerAKName, func(b []byte) string { return "DEMOAK" + strings.ToUpper(hex.EncodeToString(b[:7])) })
	if err != nil {
		return nil, fmt.Errorf("demo: partner AK: %w", err)
	}
	partnerSK, err := devSecretFile(s.dataDir, demoPartnerSKName, func(b []byte) string { return hex.EncodeToString(b) })
	if err != nil {
		return nil, fmt.Errorf("demo: partner SK: %w", err)
	}

	// Huawei first: the bridge reads its SP metadata at start.
	s.mock, err = mockiam.New(mockiam.Config{
		BaseURL: mockURL,
		Key:     spKey,
		IdPs: map[string]mockiam.IdPRegistration{o.XAccountType: {
			MetadataURL:     bridgeURL + idp.PathMetadata,
			NotificationURL: bridgeURL + idp.PathBind,
		}},
		Clock:     o.Clock,
		Logger:    o.Logger.With("component", "mock-huawei"),
		PartnerAK: partnerAK,
		PartnerSK: partnerSK,
		// The platform's trace shows the decoded messages.
		KeepMessages: true,
	})
	if err != nil {
		return nil, fmt.Errorf("demo: mock Huawei IAM: %w", err)
	}
	s.group.start(servedListener{srv: newHTTPServer(s.mock.Handler(), o.Logger), ln: mockLn})

	// The login trace the platform shows: demo-only, fed by the audit events
	// below, the platform's minted tokens and the mock's events.
	s.trace = demotrace.New(demotrace.Config{
		MockEvents: s.mock.Events,
		Binding: func(ctx context.Context, xAccountID string) (binding.Binding, bool, error) {
			b, err := s.bridge.store.Get(ctx, binding.Key{XAccountType: o.XAccountType, XAccountID: xAccountID})
			if errors.Is(err, binding.ErrNotFound) {
				return binding.Binding{}, false, nil
			}
			return b, err == nil, err
		},
	})

	s.cfg = demoBridgeConfig(s.dataDir, o.XAccountType, bridgeURL, mockURL, platformURL, o.Logger)
	withDemoBackend(s.cfg, s.dataDir, platformURL, mockURL)
	if problems := s.cfg.Validate(); len(problems) > 0 {
		return nil, &ConfigError{File: "demo bridge config (built in code)", Problems: problems}
	}
	s.bridge, err = newBridge(ctx, s.cfg, bridgeOptions{
		Clock:   o.Clock,
		Logger:  o.Logger.With("component", "bridge"),
		Auditor: idp.MultiAuditor{slogAudit(o.Logger.With("component", "bridge")), s.trace},
	})
	if err != nil {
		return nil, fmt.Errorf("demo: bridge: %w", err)
	}
	if s.reset, err = resetBindings(ctx, s.bridge.store, o.XAccountType); err != nil {
		return nil, fmt.Errorf("demo: store: %w", err)
	}
	s.bridge.startBackground(o.Logger.With("component", "bridge"))
	s.group.start(servedListener{srv: newHTTPServer(s.bridge.server.Handler(), o.Logger), ln: bridgeLn})

	s.minter = &handoff.Minter{Issuer: platformURL, Audience: bridgeURL, Alg: handoff.AlgEdDSA, Key: platformKey, Clock: o.Clock}
	s.platform, err = demoplatform.New(demoplatform.Config{
		BaseURL:       platformURL,
		BridgeURL:     bridgeURL,
		Minter:        s.minter,
		APIMinter:     &handoff.Minter{Issuer: platformURL, Audience: platformapi.Audience(bridgeURL), Alg: handoff.AlgEdDSA, Key: platformKey, Clock: o.Clock},
		WebhookSecret: whsec,
		Customers:     demoplatform.DefaultCustomers(),
		Service:       mockURL + mockiam.PathConsole,
		Clock:         o.Clock,
		Logger:        o.Logger.With("component", "demo-platform"),
		Trace:         s.trace,
	})
	if err != nil {
		return nil, fmt.Errorf("demo: platform: %w", err)
	}
	s.group.start(servedListener{srv: newHTTPServer(s.platform.Handler(), o.Logger), ln: platformLn})
	return s, nil
}

// demoBridgeConfig is the bridge configuration the demo builds in code: what
// an operator would write to point a development bridge at the mock.
func demoBridgeConfig(dir, xAccountType, bridgeURL, mockURL, platformURL string, log *slog.Logger) *Config {
	cfg := &Config{
		PublicURL:   bridgeURL,
		Development: true,
		DataDir:     dir,
		IdP: IdPConfig{
			Signing: SigningConfig{KeyFile: filepath.Join(dir, demoIdPKeyName), CertFile: filepath.Join(dir, demoIdPCertName)},
			Logout:  true,
		},
		Huawei: HuaweiConfig{
			Site:         "custom",
			XAccountType: xAccountType,
			LoginURL:     mockURL + mockiam.PathLogin,
			ConsoleURL:   mockURL + mockiam.PathConsole,
			SPMetadata:   mockURL + mockiam.PathMetadata,
			SPCertPin:    filepath.Join(dir, mockSPCertName),
		},
		Platforms: []PlatformConfig{{
			Name:           demoPlatformName,
			Issuer:         platformURL,
			Audience:       bridgeURL,
			Alg:            handoff.AlgEdDSA,
			PublicKeyFile:  filepath.Join(dir, demoPlatformPubName),
			LoginURL:       platformURL + demoplatform.PathLogin,
			SigningKeyFile: filepath.Join(dir, demoPlatformKeyName),
		}},
		LandingURL: platformURL + "/",
		Log:        LogConfig{Format: "text", Level: "info"},
	}
	cfg.applyDefaults()
	return cfg
}

// withDemoBackend adds what the demo platform's backend uses to a demo
// bridge config: the platform API, the binding webhooks to the platform, and
// Huawei's partner API (create customer through the Go SDK, at the mock).
// The webhook secret and the AK/SK files are in dir (devSecretFile).
func withDemoBackend(cfg *Config, dir, platformURL, mockURL string) {
	pc := &cfg.Platforms[0]
	pc.API = &PlatformAPIConfig{Enabled: true}
	pc.Webhook = &WebhookConfig{URL: platformURL + demoplatform.PathWebhooks, SecretFile: filepath.Join(dir, demoWebhookSecret)}
	cfg.Huawei.PartnerAPI = &PartnerAPIConfig{
		AKFile: filepath.Join(dir, demoPartnerAKName), SKFile: filepath.Join(dir, demoPartnerSKName),
		DomainID: demoPartnerDomainID, Endpoint: mockURL, Timeout: Duration{10 * time.Second},
	}
	cfg.applyDefaults()
}

// resetBindings removes the demo platform's bindings left from an earlier
// run: the mock keeps its Huawei accounts in memory only, so they would
// point at accounts that no longer exist.
func resetBindings(ctx context.Context, store binding.Store, xAccountType string) (int, error) {
	var stale []binding.Key
	err := store.List(ctx, binding.Key{}, func(b binding.Binding) error {
		if b.XAccountType == xAccountType {
			stale = append(stale, b.Key)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range stale {
		if _, err := binding.Delete(ctx, store, k, binding.SourceOperator, demoResetActor, nil); err != nil {
			return 0, err
		}
	}
	return len(stale), nil
}

// slogAudit writes the bridge's audit events to a logger.
func slogAudit(log *slog.Logger) idp.Auditor {
	return idp.AuditFunc(func(e idp.AuditEvent) {
		attrs := []any{"event", e.Event, "verdict", e.Verdict}
		for _, kv := range [][2]string{{"reason", e.Reason}, {"request_id", e.RequestID}, {"sp", e.SP},
			{"xaccount_id", e.XAccountID}, {"domain_id", e.DomainID}, {"assertion_id", e.AssertionID}} {
			if kv[1] != "" {
				attrs = append(attrs, kv[0], kv[1])
			}
		}
		log.Info("audit", attrs...)
	})
}

// devSecretFile returns the secret kept in dir/name, or makes one from 32
// random bytes (format shapes it) and writes it with mode 0600.
func devSecretFile(dir, name string, format func([]byte) string) (string, error) {
	path := filepath.Join(dir, name)
	if b, err := os.ReadFile(path); err == nil {
		if v := strings.TrimSpace(string(b)); v != "" {
			return v, nil
		}
		return "", fmt.Errorf("%s is empty (delete it to make a new one)", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	v := format(raw)
	return v, os.WriteFile(path, []byte(v+"\n"), 0o600)
}

// devEd25519Key loads the demo platform's Ed25519 key, or makes it (private
// key mode 0600, public key beside it) when absent.
func devEd25519Key(dir, keyName, pubName string) (ed25519.PrivateKey, error) {
	keyPath, pubPath := filepath.Join(dir, keyName), filepath.Join(dir, pubName)
	if _, err := os.Stat(keyPath); err == nil {
		k, err := handoff.LoadSigningKey(keyPath, handoff.AlgEdDSA)
		if err != nil {
			return nil, fmt.Errorf("%w (delete %s to make a new key)", err, keyPath)
		}
		priv := k.(ed25519.PrivateKey)
		if _, err := os.Stat(pubPath); errors.Is(err, os.ErrNotExist) {
			return priv, writePublicKey(pubPath, priv.Public())
		}
		return priv, nil
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return priv, writePublicKey(pubPath, priv.Public())
}

func writePublicKey(path string, pub any) error {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
}

// Close stops the servers, closes the store and removes a temporary data
// directory. It is safe on a partly started stack.
func (s *demoStack) Close() error {
	if s == nil {
		return nil
	}
	var errs []error
	if s.group != nil {
		errs = append(errs, s.group.shutdown())
	}
	if s.bridge != nil {
		errs = append(errs, s.bridge.Close())
		s.bridge = nil
	}
	if s.removeDir && s.dataDir != "" {
		errs = append(errs, os.RemoveAll(s.dataDir))
		s.removeDir = false
	}
	return errors.Join(errs...)
}

// describe prints the one URL to open, then what is behind it.
func (s *demoStack) describe(w io.Writer) {
	fmt.Fprintf(w, "partneridp demo is running. Open the demo partner platform in your browser:\n\n    %s/\n\n", s.platformURL)
	fmt.Fprintf(w, "Log in as a customer, then press \"Open Huawei Cloud console\". Or register a new customer: the\nbridge creates the Huawei account at once (partner API), the platform receives the webhook,\nand the first console visit skips the bind page.\n\n")
	fmt.Fprintf(w, "After a console visit, %s%s shows its trace: token claims, Huawei's login link,\nthe AuthnRequest, the signed Response, the bind notification and the stored binding.\n\n", s.platformURL, demoplatform.PathTrace)
	fmt.Fprintf(w, "  bridge (IdP)        %s   metadata %s%s\n", s.bridgeURL, s.bridgeURL, idp.PathMetadata)
	fmt.Fprintf(w, "  mock Huawei IAM     %s   SP metadata %s%s\n", s.mockURL, s.mockURL, mockiam.PathMetadata)
	fmt.Fprintf(w, "  demo platform       %s   xAccountType %s\n", s.platformURL, s.xAccountType)
	where := s.dataDir
	if s.removeDir {
		where += " (temporary, removed at exit)"
	}
	fmt.Fprintf(w, "  data (keys, store)  %s\n", where)
	if s.reset > 0 {
		fmt.Fprintf(w, "  removed %d binding(s) of an earlier run: the mock Huawei IAM keeps accounts in memory only\n", s.reset)
	}
	fmt.Fprintln(w, "\nPress Ctrl-C to stop.")
}

func newDemoCmd() *cobra.Command {
	o := demoOptions{}
	var logLevel string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the bridge, a mock Huawei IAM and a demo partner platform on this machine",
		Long: `Run the whole integration on loopback with no configuration: the bridge (this
IdP), a strict mock of Huawei Cloud IAM in Huawei's place, and a small demo
partner platform with three customers. Open the printed URL, log in as a
customer and press "Open Huawei Cloud console": the first time you create a
(mock) Huawei account and the bind notification stores the binding; after that
you go straight to the mock console. "Register a new customer" has the
platform's backend call the bridge's POST /api/v1/customers, which creates the
Huawei account through Huawei's Go SDK at the mock's partner API and stores the
binding; the platform receives the binding webhook and lists it, and that
customer's first console visit skips the bind page. The platform's "Trace of
the logins" page (/trace) shows each console visit step by step: the token's
claims, Huawei's login link with isFirstLogin, the decoded AuthnRequest and
its verified signature, the signed Response, the bind notification and the
stored binding.

Development keys (the IdP signing key, the mock's SP key, the platform's
Ed25519 key, its webhook secret, the mock partner AK/SK) and the binding store
are kept in --data-dir, and nothing is written anywhere else. They are reused at the next start; bindings of an
earlier run are removed because the mock forgets its accounts at exit.
--data-dir "" uses a temporary directory that is removed at exit.

Never use these keys or settings (development: true, plain http) in
production.`,
		Example: `  go run ./cmd/partneridp demo
  partneridp demo --data-dir /tmp/pidp-demo --platform-port 8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lvl, err := parseLogLevel(logLevel)
			if err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			o.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: lvl}))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.DataDir, "data-dir", demoDefaultDataDir, `folder for the development keys and the store ("" : a temporary folder removed at exit)`)
	// Fixed ports by default: the printed URL stays the same from run to
	// run, so a bookmark or a second terminal's curl keeps working.
	f.IntVar(&o.PlatformPort, "platform-port", demoPlatformPort, "demo platform port, the URL to open (0: a free port)")
	f.IntVar(&o.BridgePort, "bridge-port", demoBridgePort, "bridge port (0: a free port)")
	f.IntVar(&o.MockPort, "mock-port", demoMockPort, "mock Huawei IAM port (0: a free port)")
	f.StringVar(&o.XAccountType, "x-account-type", demoXAccountType, "the platform id the mock assigns (xAccountType)")
	f.StringVar(&logLevel, "log-level", "info", "log level on stderr: debug, info, warn, error")
	return cmd
}

// runDemo serves the demo until ctx ends, then stops it cleanly.
func runDemo(ctx context.Context, o demoOptions, stdout io.Writer) error {
	s, err := startDemoStack(ctx, o)
	if err != nil {
		return err
	}
	s.describe(stdout)
	waitErr := s.group.wait(ctx)
	closeErr := s.Close()
	fmt.Fprintln(stdout, "partneridp demo stopped")
	return errors.Join(waitErr, closeErr)
}
