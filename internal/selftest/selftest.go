package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bolt"
	"github.com/partneridp/partneridp/binding/etcd"
	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/idp/demoplatform"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/mockiam"
	"github.com/partneridp/partneridp/internal/journey"
	"github.com/partneridp/partneridp/metadata"
)

// selftestTimeout bounds a whole run; a healthy one takes about a second.
const selftestTimeout = 2 * time.Minute

// ErrSelftestFailed is returned when any step did not behave.
var ErrSelftestFailed = errors.New("selftest failed")

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
uploaded, and the mock's SP metadata replaces Huawei's. The handoff tokens
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

// selftestEnv is what the steps run against: a bridge, the mock in
// Huawei's place, and a way to hand a customer over as the platform does.
type selftestEnv struct {
	bridge       *bridge
	bridgeURL    string
	mock         *mockiam.IAM
	mockURL      string
	xAccountType string
	customer     demoplatform.Customer
	newBrowser   func() *journey.Browser
	// handoff starts a login from the platform: it returns the page the
	// browser ends on (the bridge's POST form when all is well).
	handoff func(ctx context.Context, b *journey.Browser) (*journey.Page, error)
	// platformLogin answers the bridge's redirect to the platform login (a
	// page with Status 302 whose Location is the platform's login URL).
	platformLogin func(ctx context.Context, b *journey.Browser, redirect *journey.Page) (*journey.Page, error)
	cleanup       []func() error
}

func (e *selftestEnv) close() error {
	var errs []error
	for i := len(e.cleanup) - 1; i >= 0; i-- {
		errs = append(errs, e.cleanup[i]())
	}
	return errors.Join(errs...)
}

// stepRunner prints each step as it finishes and skips the rest after a
// failure, since later steps build on earlier ones.
type stepRunner struct {
	out            io.Writer
	passed, failed int
	skipped        int
}

func (r *stepRunner) run(name string, fn func() (string, error)) {
	if r.failed > 0 {
		r.skipped++
		fmt.Fprintf(r.out, "[skip] %s\n", name)
		return
	}
	detail, err := fn()
	if err != nil {
		r.failed++
		fmt.Fprintf(r.out, "[FAIL] %s\n       %s\n", name, strings.ReplaceAll(err.Error(), "\n", "\n       "))
		return
	}
	r.passed++
	fmt.Fprintf(r.out, "[ ok ] %s\n", name)
	if detail != "" {
		fmt.Fprintf(r.out, "       %s\n", strings.ReplaceAll(detail, "\n", "\n       "))
	}
}

// runSelftest sets up the environment, runs every step and reports.
func runSelftest(ctx context.Context, o selftestOptions, out io.Writer) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := &stepRunner{out: out}
	var env *selftestEnv
	if o.ConfigPath == "" {
		fmt.Fprintln(out, "partneridp selftest: bridge, mock Huawei IAM and demo platform in-process on loopback (temporary data folder)")
		r.run("start the bridge, the mock Huawei IAM and the demo platform", func() (string, error) {
			var err error
			env, err = inProcessEnv(ctx, o)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("bridge %s, mock %s", env.bridgeURL, env.mockURL), nil
		})
	} else {
		fmt.Fprintf(out, "partneridp selftest: the bridge of %s against the mock Huawei IAM (store copied to a temporary folder)\n", o.ConfigPath)
		var err error
		env, err = configEnv(ctx, o, r)
		if err != nil {
			return err // the config itself is unusable: a *ConfigError lists why
		}
	}
	if env != nil {
		defer env.close()
		runSelftestSteps(ctx, r, env)
	}
	fmt.Fprintf(out, "selftest: %d passed, %d failed, %d skipped\n", r.passed, r.failed, r.skipped)
	if r.failed > 0 {
		return fmt.Errorf("%w: %d step(s) did not behave (see above)", ErrSelftestFailed, r.failed)
	}
	return nil
}

// inProcessEnv is the demo stack in a temporary folder; the platform side
// is the demo platform's real pages.
func inProcessEnv(ctx context.Context, o selftestOptions) (*selftestEnv, error) {
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
	platformHost := mustHost(s.platformURL)
	env := &selftestEnv{
		bridge: s.bridge, bridgeURL: s.bridgeURL, mock: s.mock, mockURL: s.mockURL,
		xAccountType: s.xAccountType, customer: customer,
		newBrowser: func() *journey.Browser {
			return journey.NewBrowser(nil, mustHost(s.bridgeURL), mustHost(s.mockURL), platformHost)
		},
		cleanup: []func() error{s.Close},
	}
	// The platform side: log in on the demo platform and press the button.
	env.handoff = func(ctx context.Context, b *journey.Browser) (*journey.Page, error) {
		p, err := b.Post(ctx, s.platformURL+demoplatform.PathLogin, url.Values{"customer": {customer.XAccountID}})
		if err != nil {
			return nil, err
		}
		if p.Status != http.StatusOK || !strings.Contains(p.Body, `id="open-console"`) {
			return nil, fmt.Errorf("demo platform login: %s", p.Describe())
		}
		m := csrfInputRE.FindStringSubmatch(p.Body)
		if m == nil {
			return nil, errors.New("demo platform: the account page has no CSRF token")
		}
		return b.Post(ctx, s.platformURL+demoplatform.PathOpenConsole, url.Values{"csrf": {m[1]}})
	}
	env.platformLogin = func(ctx context.Context, b *journey.Browser, p *journey.Page) (*journey.Page, error) {
		// The browser already followed the redirect to the platform's
		// login page: pick the customer there.
		if p.Status != http.StatusOK || p.URL.Host != platformHost || !strings.Contains(p.Body, `id="customer-`+customer.XAccountID+`"`) {
			return nil, fmt.Errorf("expected the demo platform's login page, got %s", p.Describe())
		}
		return b.Post(ctx, s.platformURL+demoplatform.PathLogin, url.Values{
			"customer": {customer.XAccountID}, "return_to": {p.URL.Query().Get("return_to")}})
	}
	return env, nil
}

var csrfInputRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func mustHost(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	return u.Host
}

// runSelftestSteps are the four flows of the self-test.
func runSelftestSteps(ctx context.Context, r *stepRunner, env *selftestEnv) {
	c := env.customer
	key := binding.Key{XAccountType: env.xAccountType, XAccountID: c.XAccountID}
	var b *journey.Browser // one browser for the steps that share a bridge session
	if r.failed == 0 {
		b = env.newBrowser()
	}

	r.run("first login: isFirstLogin=true, bind page, notification stores the binding", func() (string, error) {
		if _, err := env.bridge.store.Get(ctx, key); !errors.Is(err, binding.ErrNotFound) {
			return "", fmt.Errorf("%s is already bound in the store (%v); pick another --customer", c.XAccountID, err)
		}
		form, first, err := loginToPostForm(ctx, env, b)
		if err != nil {
			return "", err
		}
		if !first {
			return "", errors.New("the bridge sent isFirstLogin=false for a customer without a binding")
		}
		p, err := b.Submit(ctx, form)
		if err != nil {
			return "", err
		}
		create, ok := journey.FindForm(p, "create-form")
		if !ok {
			return "", fmt.Errorf("the mock did not show its bind page: %s", p.Describe())
		}
		p, err = b.Submit(ctx, create) // an empty domainName: the mock picks a random account name
		if err != nil {
			return "", err
		}
		notify, ok := journey.FindForm(p, "notify")
		if !ok {
			return "", fmt.Errorf("the mock did not send a bind notification: %s", p.Describe())
		}
		if want := env.bridgeURL + idp.PathBind; notify.Action != want {
			return "", fmt.Errorf("the notification goes to %s, not the bridge's %s", notify.Action, want)
		}
		p, err = b.Submit(ctx, notify)
		if err != nil {
			return "", err
		}
		acct, bound := env.mock.Account(env.xAccountType, c.XAccountID)
		if !bound {
			return "", errors.New("the mock has no account for the customer after the bind page")
		}
		stored, err := env.bridge.store.Get(ctx, key)
		if err != nil {
			return "", fmt.Errorf("the bridge's store has no binding after the notification: %v (the bridge answered %s)", err, p.Describe())
		}
		if stored.DomainID != acct.Domain.ID {
			return "", fmt.Errorf("the store binds %s to domain %s, the mock to %s", c.XAccountID, stored.DomainID, acct.Domain.ID)
		}
		if p.Status != http.StatusOK || journey.Field(p.Body, "domain-id") != acct.Domain.ID {
			return "", fmt.Errorf("after the notification the browser did not land on the mock console: %s", p.Describe())
		}
		return fmt.Sprintf("Huawei account %s (domain %s) created; store: %s/%s -> %s (source %s)",
			acct.Domain.Name, acct.Domain.ID, stored.XAccountType, stored.XAccountID, stored.DomainID, stored.Source), nil
	})

	r.run("second login: isFirstLogin=false, straight to the mock console", func() (string, error) {
		form, first, err := loginToPostForm(ctx, env, b)
		if err != nil {
			return "", err
		}
		if first {
			return "", errors.New("the bridge sent isFirstLogin=true for a bound customer")
		}
		p, err := b.Submit(ctx, form)
		if err != nil {
			return "", err
		}
		return checkConsole(env, p)
	})

	r.run("login started at Huawei without a bridge session: platform login, back with a token", func() (string, error) {
		fresh := env.newBrowser()
		p, err := fresh.Get(ctx, env.mock.LoginURL(env.xAccountType, false, env.mockURL+mockiam.PathConsole))
		if err != nil {
			return "", err
		}
		if !p.Visited(env.bridgeURL + idp.PathSSO) {
			return "", fmt.Errorf("the mock's login link did not reach the bridge: %s", p.Describe())
		}
		p, err = env.platformLogin(ctx, fresh, p)
		if err != nil {
			return "", err
		}
		form, ok := journey.FindForm(p, "saml-post")
		if !ok {
			return "", fmt.Errorf("the bridge did not answer the resumed flow with a POST form: %s", p.Describe())
		}
		p, err = fresh.Submit(ctx, form)
		if err != nil {
			return "", err
		}
		return checkConsole(env, p)
	})

	r.run("tampered Response (xUserId changed after signing) is refused by the mock", func() (string, error) {
		form, _, err := loginToPostForm(ctx, env, b)
		if err != nil {
			return "", err
		}
		tampered, err := tamperXUserID(form.Values.Get("SAMLResponse"), "mallory")
		if err != nil {
			return "", err
		}
		form.Values.Set("SAMLResponse", tampered)
		p, err := b.Submit(ctx, form)
		if err != nil {
			return "", err
		}
		reason := journey.Field(p.Body, "reason")
		ev, _ := env.mock.LastEvent(mockiam.EventACS)
		if p.Status != http.StatusForbidden || reason != string(mockiam.ReasonBadSignature) || ev.Accepted || ev.Reason != mockiam.ReasonBadSignature {
			return "", fmt.Errorf("want a 403 refusal with reason %s, got %s", mockiam.ReasonBadSignature, p.Describe())
		}
		if _, bound := env.mock.Account(env.xAccountType, "mallory"); bound {
			return "", errors.New("the tampered user got an account")
		}
		return fmt.Sprintf("HTTP %d, reason %s: %s", p.Status, reason, journey.Field(p.Body, "detail")), nil
	})
}

// loginToPostForm hands the customer over and follows the browser to the
// bridge's auto-submitting POST form; it reports the isFirstLogin the
// bridge put on Huawei's login link.
func loginToPostForm(ctx context.Context, env *selftestEnv, b *journey.Browser) (*journey.Form, bool, error) {
	p, err := env.handoff(ctx, b)
	if err != nil {
		return nil, false, err
	}
	var link *url.URL
	for _, u := range p.Chain {
		if strings.HasPrefix(u.String(), env.mockURL+mockiam.PathLogin+"?") {
			link = u
		}
	}
	if link == nil {
		return nil, false, fmt.Errorf("the bridge did not send the browser to the mock's login link: %s", p.Describe())
	}
	first := link.Query().Get("isFirstLogin")
	if link.Query().Get("xAccountType") != env.xAccountType || (first != "true" && first != "false") {
		return nil, false, fmt.Errorf("the bridge's login link is %s", link.Redacted())
	}
	f, ok := journey.FindForm(p, "saml-post")
	if !ok {
		return nil, false, fmt.Errorf("the bridge did not answer Huawei's AuthnRequest with a POST form: %s", p.Describe())
	}
	if want := env.mock.ACSURL(); f.Action != want {
		return nil, false, fmt.Errorf("the POST form goes to %s, not the mock's ACS %s", f.Action, want)
	}
	return f, first == "true", nil
}

// checkConsole checks the mock console page after a login: the bound
// account and the partner user the assertion named.
func checkConsole(env *selftestEnv, p *journey.Page) (string, error) {
	c := env.customer
	acct, bound := env.mock.Account(env.xAccountType, c.XAccountID)
	if !bound {
		return "", errors.New("the mock has no account for the customer")
	}
	if p.Status != http.StatusOK || journey.Field(p.Body, "verdict") != "accepted" {
		return "", fmt.Errorf("the mock did not log the customer in: %s", p.Describe())
	}
	if got := journey.Field(p.Body, "domain-id"); got != acct.Domain.ID {
		return "", fmt.Errorf("the console shows domain %q, want %s", got, acct.Domain.ID)
	}
	if got := journey.Field(p.Body, "xuserid"); got != c.XAccountID {
		return "", fmt.Errorf("the console shows xUserId %q, want %s", got, c.XAccountID)
	}
	attrs := consoleAttributes(p.Body)
	if attrs["xUserId"] != c.XAccountID {
		return "", fmt.Errorf("the assertion's xUserId attribute is %q, want %s", attrs["xUserId"], c.XAccountID)
	}
	var list []string
	for _, name := range sortedKeys(attrs) {
		list = append(list, name+"="+attrs[name])
	}
	return fmt.Sprintf("console: account %s (domain %s), xUserId %s\nattributes: %s", acct.Domain.Name, acct.Domain.ID, c.XAccountID, strings.Join(list, ", ")), nil
}

var attributeRowRE = regexp.MustCompile(`<tr><td>([^<]*)</td><td>[^<]*</td><td>[^<]*</td><td>([^<]*)</td></tr>`)

// consoleAttributes reads the mock's attribute table (single values).
func consoleAttributes(body string) map[string]string {
	out := map[string]string{}
	for _, m := range attributeRowRE.FindAllStringSubmatch(body, -1) {
		out[html.UnescapeString(m[1])] = html.UnescapeString(m[2])
	}
	return out
}

// tamperXUserID changes the xUserId attribute value inside the signed
// Assertion, byte for byte, leaving everything else as the bridge signed it.
func tamperXUserID(samlResponse, to string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(samlResponse)
	if err != nil {
		return "", fmt.Errorf("the bridge's SAMLResponse is not base64: %v", err)
	}
	doc := string(raw)
	at := strings.Index(doc, `Name="xUserId"`)
	if at < 0 {
		return "", errors.New("the Response has no xUserId attribute to tamper with")
	}
	open := strings.Index(doc[at:], "AttributeValue")
	if open < 0 {
		return "", errors.New("the xUserId attribute has no value")
	}
	start := at + open + strings.Index(doc[at+open:], ">") + 1
	end := start + strings.Index(doc[start:], "<")
	if end <= start {
		return "", errors.New("the xUserId value is empty")
	}
	doc = doc[:start] + html.EscapeString(to) + doc[end:]
	return base64.StdEncoding.EncodeToString([]byte(doc)), nil
}

// configEnv builds the bridge from the operator's config with the mock in
// Huawei's place. Setup checks run as steps; an unusable config returns its
// *ConfigError.
func configEnv(ctx context.Context, o selftestOptions, r *stepRunner) (*selftestEnv, error) {
	cfg, err := LoadConfig(o.ConfigPath, os.Getenv)
	if err != nil {
		return nil, err
	}
	env := &selftestEnv{xAccountType: cfg.Huawei.XAccountType}
	var ok bool
	defer func() {
		if !ok {
			env.close()
		}
	}()
	tmp, err := os.MkdirTemp("", "partneridp-selftest-*")
	if err != nil {
		return nil, err
	}
	env.cleanup = append(env.cleanup, func() error { return os.RemoveAll(tmp) })

	var platform *PlatformConfig
	var minter *handoff.Minter
	r.run("platform key: the private key matches the key the bridge verifies with", func() (string, error) {
		var err error
		platform, minter, err = selftestMinter(cfg, o)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("platform %s (%s, iss %s, aud %s)", platform.Name, platform.Alg, platform.Issuer, platform.Audience), nil
	})

	var keyset *metadata.Keyset
	var metadataXML []byte
	r.run("IdP signing key and IDP Metadata.xml", func() (string, error) {
		var err error
		now := time.Now()
		if metadataXML, keyset, err = buildIDPMetadata(cfg, now); err != nil {
			return "", err
		}
		if problems := metadata.CheckIDPMetadata(metadataXML, metadata.CheckOptions{AllowHTTP: cfg.Development, Now: now}); len(problems) > 0 {
			var list []string
			for _, p := range problems {
				list = append(list, fmt.Sprint(p))
			}
			return "", fmt.Errorf("the metadata would not pass Huawei's upload checks:\n%s", strings.Join(list, "\n"))
		}
		cert := keyset.Current.Cert
		return fmt.Sprintf("entityID %s; signing certificate %s, SHA-256 %s, valid until %s",
			cfg.IdP.EntityID, cert.Subject, metadata.FingerprintSHA256(cert), cert.NotAfter.Format(time.DateOnly)), nil
	})

	storeCopy := filepath.Join(tmp, "partneridp.db")
	run := *cfg
	switch cfg.Store.Type {
	case storeBolt:
		r.run("binding store (a temporary copy)", func() (string, error) {
			return copyStore(cfg.Path(cfg.Store.Path), storeCopy)
		})
	case storeEtcd:
		run.Store.Etcd.Prefix = cfg.Store.Etcd.Prefix + "selftest-" + randomHexString(6) + "/"
		r.run("binding store (a temporary prefix in the configured etcd cluster)", func() (string, error) {
			return etcdSelftestPrefix(ctx, &run, env)
		})
	}

	r.run("start the bridge and the mock Huawei IAM", func() (string, error) {
		return startConfigEnv(ctx, o, &run, env, platform, minter, metadataXML, tmp, storeCopy)
	})
	if r.failed > 0 {
		return env, nil // the steps after this are skipped and reported
	}
	ok = true
	return env, nil
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
	token, err := m.Mint("partneridp-selftest", nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", from, err)
	}
	v := &handoff.Verifier{Platforms: platforms, Replay: &handoff.MemoryReplay{}}
	if _, err := v.Verify(context.Background(), token); err != nil {
		var te *handoff.TokenError
		if errors.As(err, &te) && te.Reason == handoff.ReasonBadSignature {
			return nil, nil, fmt.Errorf("the private key in %s does not match the public key the bridge has for platform %s: the bridge would refuse every token it signs (%s)", from, pc.Name, te.Reason)
		}
		return nil, nil, fmt.Errorf("a token signed with %s is refused by the bridge: %w", from, err)
	}
	return pc, m, nil
}

// etcdSelftestPrefix proves the cluster answers with the configured
// endpoints, TLS and credentials, and arranges for the selftest's own
// prefix (below the configured one, so the same permissions apply) to be
// deleted at the end: the deployment's bindings are never touched.
func etcdSelftestPrefix(ctx context.Context, run *Config, env *selftestEnv) (string, error) {
	s, err := openStore(ctx, run, storeOpen{})
	if err != nil {
		return "", err
	}
	es := s.(*etcd.Store)
	env.cleanup = append(env.cleanup, func() error {
		defer es.Close()
		return es.Destroy(context.Background())
	})
	return fmt.Sprintf("etcd at %s answers; the selftest writes under %s and deletes it afterwards", strings.Join(run.Store.Etcd.Endpoints, ","), run.Store.Etcd.Prefix), nil
}

// copyStore copies the store file (read only) so the bridge writes to the
// copy; without a store file the bridge starts an empty one at dst.
func copyStore(src, dst string) (string, error) {
	in, err := os.Open(src)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Sprintf("%s does not exist yet; using an empty temporary store", src), nil
	}
	if err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("copy the store: %w", err)
	}
	db, err := bolt.Open(dst, bolt.Options{Timeout: time.Second})
	if err != nil {
		return "", fmt.Errorf("the copy of %s does not open (if the bridge was writing while it was copied, run the selftest again): %w", src, err)
	}
	defer db.Close()
	report, err := db.Verify(context.Background())
	if err != nil {
		return "", fmt.Errorf("the copy of %s fails verification: %w", src, err)
	}
	if !report.OK() {
		return "", fmt.Errorf("the copy of %s has problems: %s", src, strings.Join(report.Problems, "; "))
	}
	return fmt.Sprintf("copied %s (%d bytes; the original is only read): schema v%d, %d binding(s), %d history entries, consistent",
		src, n, report.SchemaVersion, report.Bindings, report.History), nil
}

// startConfigEnv starts the mock (https when the bridge is not in
// development mode) and the configured bridge on loopback, and routes the
// bridge's public host to it.
func startConfigEnv(ctx context.Context, o selftestOptions, cfg *Config, env *selftestEnv, pc *PlatformConfig, minter *handoff.Minter, metadataXML []byte, tmp, storeCopy string) (string, error) {
	public, err := url.Parse(cfg.PublicURL)
	if err != nil {
		return "", err
	}
	useTLS := public.Scheme == "https"
	var serverTLS *tls.Config
	var roots *x509.CertPool
	if useTLS {
		if serverTLS, roots, err = throwAwayTLS(public.Hostname()); err != nil {
			return "", err
		}
	}
	mockLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	bridgeLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		mockLn.Close()
		return "", err
	}
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	env.mockURL = scheme + "://" + mockLn.Addr().String()
	env.bridgeURL = strings.TrimSuffix(cfg.PublicURL, "/")
	publicHost := public.Host
	if public.Port() == "" {
		publicHost = net.JoinHostPort(public.Hostname(), map[bool]string{true: "443", false: "80"}[useTLS])
	}
	group := newServerGroup()
	groupAt := len(env.cleanup)
	env.cleanup = append(env.cleanup, group.shutdown)

	// The bridge's metadata, registered with the mock as the Partner Center upload.
	metaFile := filepath.Join(tmp, "IDP Metadata.xml")
	if err := os.WriteFile(metaFile, metadataXML, 0o600); err != nil {
		return "", err
	}
	spKey, err := metadata.GenerateKeyPair(2048, pkix.Name{CommonName: "partneridp selftest mock Huawei IAM"},
		time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), rand.Reader)
	if err != nil {
		return "", err
	}
	env.mock, err = mockiam.New(mockiam.Config{
		BaseURL: env.mockURL, Key: spKey, Logger: o.Logger.With("component", "mock-huawei"),
		IdPs: map[string]mockiam.IdPRegistration{cfg.Huawei.XAccountType: {
			MetadataFile: metaFile, NotificationURL: env.bridgeURL + idp.PathBind}},
	})
	if err != nil {
		mockLn.Close()
		bridgeLn.Close()
		return "", fmt.Errorf("the mock does not accept the bridge's metadata: %w", err)
	}
	mockSrv := newHTTPServer(env.mock.Handler(), o.Logger)
	mockSrv.TLSConfig = serverTLS.Clone() // each server adds its own ALPN protocols
	group.start(servedListener{srv: mockSrv, ln: mockLn, tls: useTLS})

	sp, err := metadata.ParseSP(env.mock.SPMetadata(), metadata.SPLoadOptions{PinnedCert: spKey.Cert, AllowHTTP: !useTLS, Now: time.Now()})
	if err != nil {
		bridgeLn.Close()
		return "", fmt.Errorf("the mock's SP metadata: %w", err)
	}
	run := *cfg
	run.DataDir = tmp
	if cfg.Store.Type == storeBolt {
		run.Store.Path = storeCopy
	}
	env.bridge, err = newBridge(ctx, &run, bridgeOptions{
		Logger: o.Logger.With("component", "bridge"), Auditor: slogAudit(o.Logger.With("component", "bridge")),
		SP: sp, LoginURL: env.mockURL + mockiam.PathLogin, ConsoleURL: env.mockURL + mockiam.PathConsole,
		ServiceHosts: []string{mockLn.Addr().String()},
	})
	if err != nil {
		bridgeLn.Close()
		return "", err
	}
	// Closed after the servers stop (cleanup runs last to first).
	env.cleanup = slices.Insert(env.cleanup, groupAt, env.bridge.Close)
	var handler http.Handler = env.bridge.server.Handler()
	if prefix := strings.TrimSuffix(public.Path, "/"); prefix != "" {
		handler = http.StripPrefix(prefix, handler)
	}
	bridgeSrv := newHTTPServer(handler, o.Logger)
	bridgeSrv.TLSConfig = serverTLS.Clone()
	group.start(servedListener{srv: bridgeSrv, ln: bridgeLn, tls: useTLS})

	route := map[string]string{publicHost: bridgeLn.Addr().String()}
	env.newBrowser = func() *journey.Browser {
		return journey.NewBrowser(&http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if to, ok := route[addr]; ok {
					addr = to
				}
				return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
			},
			TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		}, publicHost, public.Host, mockLn.Addr().String())
	}
	env.customer = demoplatform.Customer{XAccountID: o.Customer, Name: "Selftest User", Mobile: "86-13800000000", Email: "selftest@partneridp.invalid"}
	if env.customer.XAccountID == "" {
		env.customer.XAccountID = "partneridp-selftest-" + randomHexString(4)
	}
	service := env.mockURL + mockiam.PathConsole
	mint := func() (string, error) {
		c := env.customer
		return minter.Mint(c.XAccountID, map[string]any{handoff.ClaimName: c.Name, handoff.ClaimMobile: c.Mobile, handoff.ClaimEmail: c.Email})
	}
	env.handoff = func(ctx context.Context, b *journey.Browser) (*journey.Page, error) {
		token, err := mint()
		if err != nil {
			return nil, err
		}
		q := url.Values{handoff.FieldToken: {token}, handoff.FieldService: {service}}
		return b.Get(ctx, env.bridgeURL+idp.PathHandoff+"?"+q.Encode())
	}
	// The platform's login page is the operator's real one: the selftest
	// does not go there; it does what the platform does with return_to.
	env.platformLogin = func(ctx context.Context, b *journey.Browser, p *journey.Page) (*journey.Page, error) {
		loc, err := p.Location()
		if err != nil || !strings.HasPrefix(loc.String(), pc.LoginURL) {
			return nil, fmt.Errorf("expected a redirect to platform %s's login_url %s, got %s", pc.Name, pc.LoginURL, p.Describe())
		}
		returnTo := loc.Query().Get("return_to")
		if err := demoplatform.CheckReturnTo(returnTo, public.Scheme+"://"+public.Host); err != nil {
			return nil, fmt.Errorf("the bridge's return_to: %w", err)
		}
		token, err := mint()
		if err != nil {
			return nil, err
		}
		return b.Get(ctx, returnTo+"&token="+url.QueryEscape(token))
	}
	return fmt.Sprintf("bridge %s (served in-process on %s), mock %s; customer %s", env.bridgeURL, bridgeLn.Addr(), env.mockURL, env.customer.XAccountID), nil
}

// throwAwayTLS makes an in-memory certificate for the bridge's public host
// and 127.0.0.1, and a pool that trusts only it.
func throwAwayTLS(host string) (*tls.Config, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "partneridp selftest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}, pool, nil
}

func randomHexString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
