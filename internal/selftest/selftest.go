// Package selftest owns the self-test's four SSO flows and their checks:
// first login with the bind page, second login, a login started at Huawei
// without a bridge session, and a tampered Response. It runs them as
// numbered steps against an Env (a bridge, the mock Huawei IAM and the
// platform's side) that the caller builds, and prints each verdict.
package selftest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"maps"
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

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bolt"
	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/idp/demoplatform"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/mockiam"
	"github.com/partneridp/partneridp/internal/journey"
	"github.com/partneridp/partneridp/metadata"
)

// ErrFailed is returned when any step did not behave.
var ErrFailed = errors.New("selftest failed")

// Options says what a run starts with.
type Options struct {
	// Intro is the first line printed: what runs where.
	Intro string
	// Setup builds the environment. Checks of its own run as steps on r;
	// after a failed step it may return a nil Env (the flows are then
	// skipped). An error means the input itself is unusable: Run returns
	// it as it is.
	Setup func(ctx context.Context, r *Runner) (*Env, error)
}

// Report is the tally of a run.
type Report struct {
	Passed, Failed, Skipped int
}

// Env is what the steps run against: a bridge, the mock in Huawei's place,
// and a way to hand a customer over as the platform does.
type Env struct {
	// Store is the bridge's binding store, read after the bind notification.
	Store        binding.Store
	BridgeURL    string
	Mock         *mockiam.IAM
	MockURL      string
	XAccountType string
	Customer     demoplatform.Customer
	// TokenClaims (optional) are more claims in every token UseMintedTokens
	// mints: huawei_site names the site a multi-site bridge is tested on.
	TokenClaims map[string]any
	NewBrowser  func() *journey.Browser
	// Handoff starts a login from the platform: it returns the page the
	// browser ends on (the bridge's POST form when all is well).
	Handoff func(ctx context.Context, b *journey.Browser) (*journey.Page, error)
	// PlatformLogin answers the bridge's deferral to the platform login
	// (the page the browser stopped on: a 302 to the platform's login URL,
	// or that login page when the browser may follow it).
	PlatformLogin func(ctx context.Context, b *journey.Browser, redirect *journey.Page) (*journey.Page, error)
	cleanup       []func() error
}

// OnClose adds f to what Close undoes; Close calls them last to first.
func (e *Env) OnClose(f func() error) { e.cleanup = append(e.cleanup, f) }

// Close stops and removes what the environment started; a second call does
// nothing.
func (e *Env) Close() error {
	var errs []error
	for i := len(e.cleanup) - 1; i >= 0; i-- {
		errs = append(errs, e.cleanup[i]())
	}
	e.cleanup = nil
	return errors.Join(errs...)
}

// Runner prints each step as it finishes and skips the rest after a
// failure, since later steps build on earlier ones.
type Runner struct {
	out io.Writer
	rep Report
}

// Failed says whether a step has failed.
func (r *Runner) Failed() bool { return r.rep.Failed > 0 }

// Step runs fn as the step name and prints its verdict and detail.
func (r *Runner) Step(name string, fn func() (string, error)) {
	if r.rep.Failed > 0 {
		r.rep.Skipped++
		fmt.Fprintf(r.out, "[skip] %s\n", name)
		return
	}
	detail, err := fn()
	if err != nil {
		r.rep.Failed++
		fmt.Fprintf(r.out, "[FAIL] %s\n       %s\n", name, strings.ReplaceAll(err.Error(), "\n", "\n       "))
		return
	}
	r.rep.Passed++
	fmt.Fprintf(r.out, "[ ok ] %s\n", name)
	if detail != "" {
		fmt.Fprintf(r.out, "       %s\n", strings.ReplaceAll(detail, "\n", "\n       "))
	}
}

// Run sets up the environment, runs every step, prints the tally to out and
// returns it; the error wraps ErrFailed when a step did not behave.
func Run(ctx context.Context, o Options, out io.Writer) (Report, error) {
	r := &Runner{out: out}
	fmt.Fprintln(out, o.Intro)
	env, err := o.Setup(ctx, r)
	if err != nil {
		return r.rep, err
	}
	if env != nil {
		defer env.Close()
		runSteps(ctx, r, env)
	}
	fmt.Fprintf(out, "selftest: %d passed, %d failed, %d skipped\n", r.rep.Passed, r.rep.Failed, r.rep.Skipped)
	if r.rep.Failed > 0 {
		return r.rep, fmt.Errorf("%w: %d step(s) did not behave (see above)", ErrFailed, r.rep.Failed)
	}
	return r.rep, nil
}

// UseDemoPlatform makes the demo platform at platformURL the platform's
// side: its real login page and console button.
func (e *Env) UseDemoPlatform(platformURL string) {
	platformHost := journey.HostOf(platformURL)
	customer := e.Customer.XAccountID
	e.Handoff = func(ctx context.Context, b *journey.Browser) (*journey.Page, error) {
		return journey.OpenConsoleOnDemoPlatform(ctx, b, platformURL, customer)
	}
	e.PlatformLogin = func(ctx context.Context, b *journey.Browser, p *journey.Page) (*journey.Page, error) {
		// The browser already followed the redirect to the platform's
		// login page: pick the customer there.
		if p.Status != http.StatusOK || p.URL.Host != platformHost || !strings.Contains(p.Body, `id="customer-`+customer+`"`) {
			return nil, fmt.Errorf("expected the demo platform's login page, got %s", p.Describe())
		}
		return b.Post(ctx, platformURL+demoplatform.PathLogin, url.Values{
			"customer": {customer}, "return_to": {p.URL.Query().Get("return_to")}})
	}
}

// UseMintedTokens makes handoff tokens signed by minter the platform's side,
// for a deployment whose real platform login page the self-test does not
// visit: it does what the platform does with return_to. loginURL is the
// platform's login_url; publicOrigin the bridge's scheme://host.
func (e *Env) UseMintedTokens(minter *handoff.Minter, platformName, loginURL, publicOrigin string) {
	service := e.MockURL + mockiam.PathConsole
	mint := func() (string, error) {
		c := e.Customer
		claims := map[string]any{handoff.ClaimName: c.Name, handoff.ClaimMobile: c.Mobile, handoff.ClaimEmail: c.Email}
		maps.Copy(claims, e.TokenClaims)
		return minter.Mint(c.XAccountID, claims)
	}
	e.Handoff = func(ctx context.Context, b *journey.Browser) (*journey.Page, error) {
		token, err := mint()
		if err != nil {
			return nil, err
		}
		q := url.Values{handoff.FieldToken: {token}, handoff.FieldService: {service}}
		return b.Get(ctx, e.BridgeURL+idp.PathHandoff+"?"+q.Encode())
	}
	e.PlatformLogin = func(ctx context.Context, b *journey.Browser, p *journey.Page) (*journey.Page, error) {
		loc, err := p.Location()
		if err != nil || !strings.HasPrefix(loc.String(), loginURL) {
			return nil, fmt.Errorf("expected a redirect to platform %s's login_url %s, got %s", platformName, loginURL, p.Describe())
		}
		returnTo := loc.Query().Get("return_to")
		if err := demoplatform.CheckReturnTo(returnTo, publicOrigin); err != nil {
			return nil, fmt.Errorf("the bridge's return_to: %w", err)
		}
		token, err := mint()
		if err != nil {
			return nil, err
		}
		return b.Get(ctx, returnTo+"&token="+url.QueryEscape(token))
	}
}

// runSteps are the four flows of the self-test.
func runSteps(ctx context.Context, r *Runner, env *Env) {
	c := env.Customer
	key := binding.Key{XAccountType: env.XAccountType, XAccountID: c.XAccountID}
	var b *journey.Browser // one browser for the steps that share a bridge session
	if !r.Failed() {
		b = env.NewBrowser()
	}

	r.Step("first login: isFirstLogin=true, bind page, notification stores the binding", func() (string, error) {
		if _, err := env.Store.Get(ctx, key); !errors.Is(err, binding.ErrNotFound) {
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
		if want := env.BridgeURL + idp.PathBind; notify.Action != want {
			return "", fmt.Errorf("the notification goes to %s, not the bridge's %s", notify.Action, want)
		}
		p, err = b.Submit(ctx, notify)
		if err != nil {
			return "", err
		}
		acct, bound := env.Mock.Account(env.XAccountType, c.XAccountID)
		if !bound {
			return "", errors.New("the mock has no account for the customer after the bind page")
		}
		stored, err := env.Store.Get(ctx, key)
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

	r.Step("second login: isFirstLogin=false, straight to the mock console", func() (string, error) {
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

	r.Step("login started at Huawei without a bridge session: platform login, back with a token", func() (string, error) {
		fresh := env.NewBrowser()
		p, err := fresh.Get(ctx, env.Mock.LoginURL(env.XAccountType, false, env.MockURL+mockiam.PathConsole))
		if err != nil {
			return "", err
		}
		if !p.Visited(env.BridgeURL + idp.PathSSO) {
			return "", fmt.Errorf("the mock's login link did not reach the bridge: %s", p.Describe())
		}
		p, err = env.PlatformLogin(ctx, fresh, p)
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

	r.Step("tampered Response (xUserId changed after signing) is refused by the mock", func() (string, error) {
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
		ev, _ := env.Mock.LastEvent(mockiam.EventACS)
		if p.Status != http.StatusForbidden || reason != string(mockiam.ReasonBadSignature) || ev.Accepted || ev.Reason != mockiam.ReasonBadSignature {
			return "", fmt.Errorf("want a 403 refusal with reason %s, got %s", mockiam.ReasonBadSignature, p.Describe())
		}
		if _, bound := env.Mock.Account(env.XAccountType, "mallory"); bound {
			return "", errors.New("the tampered user got an account")
		}
		return fmt.Sprintf("HTTP %d, reason %s: %s", p.Status, reason, journey.Field(p.Body, "detail")), nil
	})
}

// loginToPostForm hands the customer over and follows the browser to the
// bridge's auto-submitting POST form; it reports the isFirstLogin the
// bridge put on Huawei's login link.
func loginToPostForm(ctx context.Context, env *Env, b *journey.Browser) (*journey.Form, bool, error) {
	p, err := env.Handoff(ctx, b)
	if err != nil {
		return nil, false, err
	}
	var link *url.URL
	for _, u := range p.Chain {
		if strings.HasPrefix(u.String(), env.MockURL+mockiam.PathLogin+"?") {
			link = u
		}
	}
	if link == nil {
		return nil, false, fmt.Errorf("the bridge did not send the browser to the mock's login link: %s", p.Describe())
	}
	first := link.Query().Get("isFirstLogin")
	if link.Query().Get("xAccountType") != env.XAccountType || (first != "true" && first != "false") {
		return nil, false, fmt.Errorf("the bridge's login link is %s", link.Redacted())
	}
	f, ok := journey.FindForm(p, "saml-post")
	if !ok {
		return nil, false, fmt.Errorf("the bridge did not answer Huawei's AuthnRequest with a POST form: %s", p.Describe())
	}
	if want := env.Mock.ACSURL(); f.Action != want {
		return nil, false, fmt.Errorf("the POST form goes to %s, not the mock's ACS %s", f.Action, want)
	}
	return f, first == "true", nil
}

// checkConsole checks the mock console page after a login: the bound
// account and the partner user the assertion named.
func checkConsole(env *Env, p *journey.Page) (string, error) {
	c := env.Customer
	acct, bound := env.Mock.Account(env.XAccountType, c.XAccountID)
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
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
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

// CopyStore copies the bolt store file (read only) so the bridge writes to the
// copy; without a store file the bridge starts an empty one at dst.
func CopyStore(src, dst string) (string, error) {
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

// CheckMinter checks that a token m signs passes the bridge's verifier for
// platforms: a private key that is not the platform's would make the bridge
// refuse every login. from names where the key came from, for the message.
func CheckMinter(m *handoff.Minter, platforms []handoff.Platform, platformName, from string) error {
	token, err := m.Mint("partneridp-selftest", nil)
	if err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	v := &handoff.Verifier{Platforms: platforms, Replay: &handoff.MemoryReplay{}}
	if _, err := v.Verify(context.Background(), token); err != nil {
		var te *handoff.TokenError
		if errors.As(err, &te) && te.Reason == handoff.ReasonBadSignature {
			return fmt.Errorf("the private key in %s does not match the public key the bridge has for platform %s: the bridge would refuse every token it signs (%s)", from, platformName, te.Reason)
		}
		return fmt.Errorf("a token signed with %s is refused by the bridge: %w", from, err)
	}
	return nil
}

// CheckIDPMetadata checks the IDP Metadata.xml against Huawei's upload
// rules and describes the signing certificate it publishes.
func CheckIDPMetadata(metadataXML []byte, cert *x509.Certificate, entityID string, allowHTTP bool, now time.Time) (string, error) {
	if problems := metadata.CheckIDPMetadata(metadataXML, metadata.CheckOptions{AllowHTTP: allowHTTP, Now: now}); len(problems) > 0 {
		var list []string
		for _, p := range problems {
			list = append(list, fmt.Sprint(p))
		}
		return "", fmt.Errorf("the metadata would not pass Huawei's upload checks:\n%s", strings.Join(list, "\n"))
	}
	return fmt.Sprintf("entityID %s; signing certificate %s, SHA-256 %s, valid until %s",
		entityID, cert.Subject, metadata.FingerprintSHA256(cert), cert.NotAfter.Format(time.DateOnly)), nil
}

// NewMock makes the mock Huawei IAM at baseURL in Huawei's place: the
// bridge's IDP Metadata.xml is registered for xAccountType as if uploaded to
// Partner Center (the file is written to dir), with a fresh SP key. It
// returns the mock and its SP metadata, which the bridge trusts instead of
// Huawei's.
func NewMock(baseURL, xAccountType string, metadataXML []byte, notificationURL, dir string, logger *slog.Logger) (*mockiam.IAM, *metadata.SP, error) {
	metaFile := filepath.Join(dir, "IDP Metadata.xml")
	if err := os.WriteFile(metaFile, metadataXML, 0o600); err != nil {
		return nil, nil, err
	}
	spKey, err := metadata.GenerateKeyPair(2048, pkix.Name{CommonName: "partneridp selftest mock Huawei IAM"},
		time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	mock, err := mockiam.New(mockiam.Config{
		BaseURL: baseURL, Key: spKey, Logger: logger,
		IdPs: map[string]mockiam.IdPRegistration{xAccountType: {MetadataFile: metaFile, NotificationURL: notificationURL}},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("the mock does not accept the bridge's metadata: %w", err)
	}
	sp, err := metadata.ParseSP(mock.SPMetadata(), metadata.SPLoadOptions{PinnedCert: spKey.Cert, AllowHTTP: strings.HasPrefix(baseURL, "http://"), Now: time.Now()})
	if err != nil {
		return nil, nil, fmt.Errorf("the mock's SP metadata: %w", err)
	}
	return mock, sp, nil
}

// RoutedBrowser is a browser that reaches the bridge's public host at an
// in-process listener: route maps host:port as dialled to the loopback
// address that serves it; roots are the TLS roots it trusts (nil: the
// system's). hosts are those it may follow redirects among.
func RoutedBrowser(route map[string]string, roots *x509.CertPool, hosts ...string) *journey.Browser {
	return journey.NewBrowser(&http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if to, ok := route[addr]; ok {
				addr = to
			}
			return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}, hosts...)
}

// ThrowAwayTLS makes an in-memory certificate for the bridge's public host
// and 127.0.0.1, and a pool that trusts only it.
func ThrowAwayTLS(host string) (*tls.Config, *x509.CertPool, error) {
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
