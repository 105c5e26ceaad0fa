package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/partneridp/partneridp/idp/mockiam"
	"github.com/partneridp/partneridp/metadata"
)

// MockHuaweiConfig is the YAML configuration of `partneridp mock-huawei`.
// Relative paths are relative to the file's own folder.
type MockHuaweiConfig struct {
	// Listen is the address to listen on.
	Listen string `yaml:"listen"`
	// BaseURL is the mock's origin as browsers and the bridge reach it; its
	// entityID is BaseURL + "/". Default: http://<listen address>.
	BaseURL string `yaml:"base_url"`
	// DataDir holds the SP key pair generated when sp_key_file and
	// sp_cert_file are not set.
	DataDir    string   `yaml:"data_dir"`
	SPKeyFile  string   `yaml:"sp_key_file"`
	SPCertFile string   `yaml:"sp_cert_file"`
	ClockSkew  Duration `yaml:"clock_skew"`
	// IdPs are the partner IdPs registered, by xAccountType, as in Partner
	// Center's access configuration.
	IdPs map[string]MockIdPConfig `yaml:"idps"`
	// Accounts are bindings that exist from the start: the effect of the
	// partner's create-customer calls.
	Accounts []MockAccountConfig `yaml:"accounts"`
	TLS      MockTLSConfig       `yaml:"tls"`
	Log      MockLogConfig       `yaml:"log"`

	dir string
}

// MockIdPConfig registers one partner IdP with the mock.
type MockIdPConfig struct {
	MetadataFile    string `yaml:"metadata_file"`
	MetadataURL     string `yaml:"metadata_url"`
	NotificationURL string `yaml:"notification_url"`
}

// MockAccountConfig pre-binds a partner user to a Huawei account.
type MockAccountConfig struct {
	XAccountType string `yaml:"x_account_type"`
	XAccountID   string `yaml:"xaccount_id"`
	DomainName   string `yaml:"domain_name"`
}

// MockTLSConfig makes the mock serve HTTPS itself.
type MockTLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// MockLogConfig sets the mock's log output on stderr.
type MockLogConfig struct {
	Format string `yaml:"format"`
	Level  string `yaml:"level"`
}

// Files the mock generates in its data directory.
const (
	mockSPKeyName  = "mock-huawei-sp.key"
	mockSPCertName = "mock-huawei-sp.crt"
)

// LoadMockHuaweiConfig reads, defaults and validates a mock-huawei config,
// returning a *ConfigError that lists every problem.
func LoadMockHuaweiConfig(path string) (*MockHuaweiConfig, error) {
	data, err := readCapped(path, maxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := ParseMockHuaweiConfig(data, filepath.Dir(path))
	var ce *ConfigError
	if errors.As(err, &ce) {
		ce.File = path
	}
	return cfg, err
}

// ParseMockHuaweiConfig is LoadMockHuaweiConfig without the file: dir
// anchors relative paths.
func ParseMockHuaweiConfig(data []byte, dir string) (*MockHuaweiConfig, error) {
	var cfg MockHuaweiConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var problems []string
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, &ConfigError{File: "config", Problems: []string{err.Error()}}
		}
		problems = te.Errors
	}
	cfg.dir = dir
	cfg.applyDefaults()
	if problems = append(problems, cfg.Validate()...); len(problems) > 0 {
		return nil, &ConfigError{File: "config", Problems: problems}
	}
	return &cfg, nil
}

func (c *MockHuaweiConfig) applyDefaults() {
	setDefault(&c.Listen, "127.0.0.1:9443")
	setDefault(&c.DataDir, "mock-huawei-data")
	setDefault(&c.Log.Format, "text")
	setDefault(&c.Log.Level, "info")
	setDuration(&c.ClockSkew, mockiam.DefaultSkew)
}

// Validate checks every field it can without reading files or the network.
func (c *MockHuaweiConfig) Validate() []string {
	var p problems
	if host, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		p.add("listen: %q is not host:port (e.g. 127.0.0.1:9443)", c.Listen)
	} else if host == "" || host == "0.0.0.0" || host == "::" {
		if c.BaseURL == "" {
			p.add("listen: %q listens on every interface; set base_url to the address browsers and the bridge use", c.Listen)
		}
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			p.add("base_url: %q is not an absolute http(s) URL", c.BaseURL)
		case strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			p.add("base_url: %q must be scheme://host[:port] only: the mock serves Huawei's paths at the root", c.BaseURL)
		}
	}
	if (c.SPKeyFile == "") != (c.SPCertFile == "") {
		p.add("sp_key_file, sp_cert_file: set both, or neither to generate a key pair in data_dir")
	}
	if c.ClockSkew.Duration < 0 || c.ClockSkew.Duration > 15*time.Minute {
		p.add("clock_skew: %s must be between 0 and 15m", c.ClockSkew.Duration)
	}
	if len(c.IdPs) == 0 {
		p.add("idps: register at least one partner IdP: idps: {<xAccountType>: {metadata_url: …, notification_url: …}}")
	}
	for _, t := range sortedKeys(c.IdPs) {
		reg := c.IdPs[t]
		at := "idps." + t
		if !validXAccountType(t) {
			p.add("idps: %q is not an xAccountType (1-64 letters, digits, '_', '-' or '.')", t)
		}
		if (reg.MetadataFile == "") == (reg.MetadataURL == "") {
			p.add("%s: set exactly one of metadata_file or metadata_url (the IDP Metadata.xml the partner uploads)", at)
		}
		if reg.MetadataURL != "" {
			p.url(at+".metadata_url", reg.MetadataURL, true, true)
		}
		p.url(at+".notification_url", reg.NotificationURL, false, true)
	}
	for i, a := range c.Accounts {
		at := fmt.Sprintf("accounts[%d]", i)
		if _, ok := c.IdPs[a.XAccountType]; !ok {
			p.add("%s.x_account_type: %q is not one of the idps", at, a.XAccountType)
		}
		if a.XAccountID == "" || len(a.XAccountID) > 128 {
			p.add("%s.xaccount_id: must be 1-128 characters", at)
		}
		if err := mockiam.CheckDomainName(a.DomainName); err != nil {
			p.add("%s.domain_name: %v", at, err)
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		p.add("tls: set both cert_file and key_file, or neither")
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		p.add("log.format: %q is unknown (json or text)", c.Log.Format)
	}
	if _, err := parseLogLevel(c.Log.Level); err != nil {
		p.add("log.level: %v", err)
	}
	return p.list
}

// Path resolves a config path against the config file's folder.
func (c *MockHuaweiConfig) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// validXAccountType keeps to the characters of real platform ids
// (csdndev_IDP, hwportal), as the mock does.
func validXAccountType(t string) bool {
	if t == "" || len(t) > 64 {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

func parseLogLevel(s string) (slog.Level, error) {
	switch s {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is unknown (debug, info, warn, error)", s)
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	lvl, err := parseLogLevel(level)
	if err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// devKeyPair loads the RSA key pair keyName/certName from dir, or makes and
// writes one (key mode 0600) when neither file exists. It is for
// development keys only: the demo's and the mock's.
func devKeyPair(dir, keyName, certName, cn string, now time.Time) (metadata.SigningKey, bool, error) {
	keyPath, certPath := filepath.Join(dir, keyName), filepath.Join(dir, certName)
	_, keyErr := os.Stat(keyPath)
	_, certErr := os.Stat(certPath)
	if keyErr == nil || certErr == nil {
		k, err := metadata.LoadSigningKey(keyPath, certPath, now)
		if err != nil {
			return k, false, fmt.Errorf("%w (delete %s and %s to make a new pair)", err, keyPath, certPath)
		}
		return k, false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return metadata.SigningKey{}, false, fmt.Errorf("data directory: %w", err)
	}
	start := now.UTC().Truncate(time.Second)
	k, err := metadata.GenerateKeyPair(2048, pkix.Name{CommonName: cn, Organization: []string{"partneridp development key"}},
		start.Add(-5*time.Minute), start.AddDate(3, 0, 0), rand.Reader)
	if err != nil {
		return k, false, err
	}
	if err := metadata.WriteKeyPair(k, keyPath, certPath, false); err != nil {
		return k, false, err
	}
	return k, true, nil
}

// mockHuaweiSetup is a configured mock, ready to serve on its listener.
type mockHuaweiSetup struct {
	iam     *mockiam.IAM
	baseURL string
	ln      net.Listener
	tls     *tls.Config
	spKey   metadata.SigningKey
}

// setupMockHuawei loads or makes the SP key, listens and builds the mock.
// The caller closes ln on error-free return when it does not serve.
func setupMockHuawei(cfg *MockHuaweiConfig, log *slog.Logger, now time.Time) (_ *mockHuaweiSetup, err error) {
	// Missing files first, all at once, before anything is generated.
	var missing problems
	for _, t := range sortedKeys(cfg.IdPs) {
		missing.file("idps."+t+".metadata_file", cfg.Path(cfg.IdPs[t].MetadataFile), false)
	}
	missing.file("sp_key_file", cfg.Path(cfg.SPKeyFile), false)
	missing.file("sp_cert_file", cfg.Path(cfg.SPCertFile), false)
	missing.file("tls.cert_file", cfg.Path(cfg.TLS.CertFile), false)
	missing.file("tls.key_file", cfg.Path(cfg.TLS.KeyFile), false)
	if len(missing.list) > 0 {
		return nil, &ConfigError{File: "mock-huawei config", Problems: missing.list}
	}
	var spKey metadata.SigningKey
	if cfg.SPKeyFile != "" {
		if spKey, err = metadata.LoadSigningKey(cfg.Path(cfg.SPKeyFile), cfg.Path(cfg.SPCertFile), now); err != nil {
			return nil, fmt.Errorf("sp_key_file/sp_cert_file: %w", err)
		}
	} else {
		var made bool
		dir := cfg.Path(cfg.DataDir)
		if spKey, made, err = devKeyPair(dir, mockSPKeyName, mockSPCertName, "mock-huawei-iam", now); err != nil {
			return nil, fmt.Errorf("data_dir: %w", err)
		}
		if made {
			log.Info("mock-huawei: generated an SP signing key pair", "key", filepath.Join(dir, mockSPKeyName), "cert", filepath.Join(dir, mockSPCertName))
		}
	}
	var tlsCfg *tls.Config
	if cfg.TLS.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(cfg.Path(cfg.TLS.CertFile), cfg.Path(cfg.TLS.KeyFile))
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	defer func() {
		if err != nil {
			ln.Close()
		}
	}()
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	if base == "" {
		scheme := "http"
		if tlsCfg != nil {
			scheme = "https"
		}
		base = scheme + "://" + ln.Addr().String()
	}
	idps := map[string]mockiam.IdPRegistration{}
	for t, reg := range cfg.IdPs {
		idps[t] = mockiam.IdPRegistration{MetadataFile: cfg.Path(reg.MetadataFile), MetadataURL: reg.MetadataURL, NotificationURL: reg.NotificationURL}
	}
	iam, err := mockiam.New(mockiam.Config{BaseURL: base, Key: spKey, IdPs: idps, Logger: log, Skew: cfg.ClockSkew.Duration})
	if err != nil {
		return nil, err
	}
	for i, a := range cfg.Accounts {
		if _, err := iam.SeedAccount(a.XAccountType, a.XAccountID, a.DomainName); err != nil {
			return nil, fmt.Errorf("accounts[%d]: %w", i, err)
		}
	}
	return &mockHuaweiSetup{iam: iam, baseURL: base, ln: ln, tls: tlsCfg, spKey: spKey}, nil
}

// describeMock prints what a partner needs to point a bridge at the mock.
func describeMock(w io.Writer, m *mockiam.IAM, base string, spKey metadata.SigningKey, xAccountTypes []string) {
	fmt.Fprintf(w, "mock Huawei IAM (not Huawei) is serving at %s\n", base)
	fmt.Fprintf(w, "  SP metadata:   %s%s   (bridge: huawei.sp_metadata)\n", base, mockiam.PathMetadata)
	fmt.Fprintf(w, "  SP entityID:   %s\n", m.EntityID())
	fmt.Fprintf(w, "  ACS:           %s\n", m.ACSURL())
	fmt.Fprintf(w, "  SP cert:       SHA-256 %s   (bridge: huawei.sp_fingerprint_sha256)\n", metadata.FingerprintSHA256(spKey.Cert))
	fmt.Fprintf(w, "  login URL:     %s%s   (bridge: huawei.login_url)\n", base, mockiam.PathLogin)
	fmt.Fprintf(w, "  console:       %s%s   (bridge: huawei.console_url)\n", base, mockiam.PathConsole)
	for _, t := range xAccountTypes {
		fmt.Fprintf(w, "  login link:    %s%s?xAccountType=%s&isFirstLogin=<true|false>&service=<url>\n", base, mockiam.PathLogin, url.QueryEscape(t))
	}
}

func newMockHuaweiCmd() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "mock-huawei",
		Short: "Run a mock Huawei Cloud IAM (the SAML SP side) for integration tests",
		Long: `Run the strict mock of Huawei Cloud IAM that the demo and the self-test use, on
its own, so a partner platform's integration tests can log in through a bridge
without Huawei. It serves signed SP metadata, turns the login link into a signed
AuthnRequest, checks the SAML Response at its ACS strictly (a refusal page names
the reason), runs the first-login bind page and sends the signed bind
notification. Accounts live in memory only.

The config registers the partner IdPs by xAccountType; see
mock-huawei.example.yaml. Stop it with Ctrl-C (SIGINT) or SIGTERM.`,
		Example: `  partneridp mock-huawei --config mock-huawei.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := LoadMockHuaweiConfig(configPath)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			err = runMockHuawei(ctx, cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
			var ce *ConfigError
			if errors.As(err, &ce) {
				ce.File = configPath
			}
			return err
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "mock-huawei.yaml", "mock-huawei config file")
	return cmd
}

// runMockHuawei serves the mock until ctx ends, then shuts it down.
func runMockHuawei(ctx context.Context, cfg *MockHuaweiConfig, stdout, stderr io.Writer) error {
	log := newLogger(stderr, cfg.Log.Format, cfg.Log.Level)
	m, err := setupMockHuawei(cfg, log, time.Now())
	if err != nil {
		return err
	}
	srv := newHTTPServer(m.iam.Handler(), log)
	srv.TLSConfig = m.tls
	describeMock(stdout, m.iam, m.baseURL, m.spKey, sortedKeys(cfg.IdPs))
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")
	err = serveUntilDone(ctx, []servedListener{{srv, m.ln, m.tls != nil}})
	fmt.Fprintln(stdout, "mock Huawei IAM stopped")
	return err
}

// servedListener is one server on its listener.
type servedListener struct {
	srv *http.Server
	ln  net.Listener
	tls bool
}

// newHTTPServer has the timeouts every server here gets.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// serverGroup runs several servers and stops them together.
type serverGroup struct {
	servers []servedListener
	errc    chan error
}

func newServerGroup() *serverGroup { return &serverGroup{errc: make(chan error, 1)} }

// start serves s in the background.
func (g *serverGroup) start(s servedListener) {
	g.servers = append(g.servers, s)
	go func() {
		var err error
		if s.tls {
			err = s.srv.ServeTLS(s.ln, "", "")
		} else {
			err = s.srv.Serve(s.ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		select {
		case g.errc <- err: // the first to stop is the one wait reports
		default:
		}
	}()
}

// wait blocks until ctx ends (nil) or a server stops on its own (its error).
func (g *serverGroup) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-g.errc:
		if err == nil {
			err = errors.New("a server stopped unexpectedly")
		}
		return err
	}
}

// shutdown stops every server gracefully (5 s), closing their listeners.
func (g *serverGroup) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, s := range g.servers {
		if err := s.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
	}
	g.servers = nil
	return errors.Join(errs...)
}

// serveUntilDone serves every listener until ctx ends or one server fails,
// then shuts them all down.
func serveUntilDone(ctx context.Context, servers []servedListener) error {
	g := newServerGroup()
	for _, s := range servers {
		g.start(s)
	}
	err := g.wait(ctx)
	return errors.Join(err, g.shutdown())
}
