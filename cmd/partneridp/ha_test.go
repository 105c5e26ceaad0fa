package main

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/etcd"
	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/mockiam"
	"github.com/partneridp/partneridp/internal/etcdtest"
	"github.com/partneridp/partneridp/internal/journey"
	"github.com/partneridp/partneridp/internal/loadtest"
	"github.com/partneridp/partneridp/metadata"
)

// The tests here run several `partneridp serve` processes (the binary
// built from this package) on one etcd cluster started by the test, behind
// a load balancer in the test that forwards each request to the instance
// it is told to, or round robin; the mock Huawei IAM and the platform's
// token minter run in the test too.

const haXAccountType = "ha_IDP"

var haBinary struct {
	once sync.Once
	path string
	err  error
}

// haServerBinary builds the command once per test binary.
func haServerBinary(t testing.TB) string {
	t.Helper()
	haBinary.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			haBinary.err = err
			return
		}
		dir, err := os.MkdirTemp("", "partneridp-ha-bin-")
		if err != nil {
			haBinary.err = err
			return
		}
		haBinary.path = filepath.Join(dir, "partneridp")
		if out, err := exec.Command(goTool, "build", "-o", haBinary.path, ".").CombinedOutput(); err != nil {
			haBinary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if haBinary.err != nil {
		t.Fatal(haBinary.err)
	}
	return haBinary.path
}

type haEnv struct {
	t         *testing.T
	dir, bin  string
	members   []*etcdtest.Member
	endpoints []string
	prefix    string

	spKey            metadata.SigningKey
	mock             *mockiam.IAM
	mockURL, service string
	minter           *handoff.Minter

	lbURL  string
	hooks  *hookReceiver
	pinned atomic.Pointer[string] // the instance address every request goes to; nil: round robin
	rr     atomic.Uint64
	mu     sync.Mutex
	live   []*haBridge
}

type haBridge struct {
	name, addr, cfgPath string
	cmd                 *exec.Cmd
	logs                *lockedBuffer
	exited              chan struct{}
}

func newHAEnv(t *testing.T, etcdMembers int) *haEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("starts etcd and bridge processes")
	}
	e := &haEnv{t: t, dir: t.TempDir(), bin: haServerBinary(t), prefix: "/ha/"}
	ms, err := etcdtest.StartCluster(filepath.Join(e.dir, "etcd"), etcdMembers)
	if err != nil {
		t.Fatal(err)
	}
	e.members = ms
	t.Cleanup(func() {
		for _, m := range ms {
			m.Stop()
		}
	})
	for _, m := range ms {
		e.endpoints = append(e.endpoints, m.Client)
	}

	now := time.Now()
	if _, _, err := devKeyPair(e.dir, demoIdPKeyName, demoIdPCertName, "partneridp HA test IdP", now); err != nil {
		t.Fatal(err)
	}
	if e.spKey, _, err = devKeyPair(e.dir, mockSPKeyName, mockSPCertName, "mock-huawei-iam", now); err != nil {
		t.Fatal(err)
	}
	platformKey, err := devEd25519Key(e.dir, demoPlatformKeyName, demoPlatformPubName)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "session.key"), bytes.Repeat([]byte("0123456789abcdef"), 2), 0o600); err != nil {
		t.Fatal(err)
	}

	lb := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", e.pick()
			r.Out.Host = r.In.Host
		},
		ErrorLog: log.New(io.Discard, "", 0), // an instance killed on purpose is not news
	})
	t.Cleanup(lb.Close)
	e.lbURL = lb.URL
	mockLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.mockURL = "http://" + mockLn.Addr().String()
	e.service = e.mockURL + mockiam.PathConsole
	e.mock, err = mockiam.New(mockiam.Config{
		BaseURL: e.mockURL, Key: e.spKey, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		IdPs: map[string]mockiam.IdPRegistration{haXAccountType: {
			MetadataURL: e.lbURL + idp.PathMetadata, NotificationURL: e.lbURL + idp.PathBind}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mockSrv := &http.Server{Handler: e.mock.Handler()}
	go mockSrv.Serve(mockLn)
	t.Cleanup(func() { mockSrv.Close() })
	e.minter = &handoff.Minter{Issuer: loadtest.PlatformURL, Audience: e.lbURL, Alg: handoff.AlgEdDSA, Key: platformKey}
	return e
}

// pick is the load balancer's choice of instance.
func (e *haEnv) pick() string {
	if p := e.pinned.Load(); p != nil {
		return *p
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.live) == 0 {
		return "127.0.0.1:1"
	}
	return e.live[int(e.rr.Add(1))%len(e.live)].addr
}

// pin sends every request to b; nil: round robin over the live instances.
func (e *haEnv) pin(b *haBridge) {
	if b == nil {
		e.pinned.Store(nil)
		return
	}
	a := b.addr
	e.pinned.Store(&a)
}

// start runs one `partneridp serve` on the shared etcd and waits until its
// /readyz answers 200.
func (e *haEnv) start(name string) *haBridge {
	t := e.t
	t.Helper()
	addr, err := freeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	cfg := demoBridgeConfig(e.dir, haXAccountType, e.lbURL, e.mockURL, loadtest.PlatformURL, nil)
	cfg.Listen = addr
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Platforms[0].LoginURL = loadtest.PlatformURL + "/login"
	cfg.Log = LogConfig{Format: "json", Level: "info"}
	cfg.Limits = LimitsConfig{PerIPPerMinute: 1 << 30, Burst: 1 << 20, MaxClients: 1000}
	cfg.Session.SecretFile = filepath.Join(e.dir, "session.key")
	cfg.Store.Type = storeEtcd
	cfg.Store.Etcd.Endpoints = e.endpoints
	cfg.Store.Etcd.Prefix = e.prefix
	cfg.Store.Etcd.RequestTimeout = Duration{2 * time.Second}
	cfg.DataDir = filepath.Join(e.dir, name)
	if e.hooks != nil {
		cfg.Platforms[0].Webhook = &WebhookConfig{URL: e.hooks.url, SecretFile: filepath.Join(e.dir, "webhook.secret")}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	b := &haBridge{name: name, addr: addr, logs: &lockedBuffer{}, exited: make(chan struct{})}
	b.cfgPath = filepath.Join(cfg.DataDir, "partneridp.yaml")
	if _, err = writeLoadConfig(cfg, b.cfgPath); err != nil {
		t.Fatal(err)
	}
	b.cmd = exec.Command(e.bin, "serve", "--config", b.cfgPath)
	b.cmd.Env = withoutConfigOverrides(os.Environ())
	b.cmd.Stdout, b.cmd.Stderr = b.logs, b.logs
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.cmd.Wait(); close(b.exited) }()
	t.Cleanup(func() { b.kill() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, err := httpGetErr("http://" + addr + idp.PathReadyz); err == nil && code == http.StatusOK {
			break
		}
		select {
		case <-b.exited:
			t.Fatalf("bridge %s exited at start:\n%s", name, b.logs)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("bridge %s not ready after 30 s:\n%s", name, b.logs)
		}
	}
	e.mu.Lock()
	e.live = append(e.live, b)
	e.mu.Unlock()
	return b
}

// kill sends SIGKILL and waits for the process to end.
func (b *haBridge) kill() {
	if b.cmd.Process == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.exited
}

func (e *haEnv) drop(b *haBridge) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, x := range e.live {
		if x == b {
			e.live = append(e.live[:i], e.live[i+1:]...)
			return
		}
	}
}

func (e *haEnv) browser() *journey.Browser {
	return journey.NewBrowser(&http.Transport{}, journey.HostOf(e.lbURL), journey.HostOf(e.mockURL))
}

func (e *haEnv) token(account string) string {
	e.t.Helper()
	tok, err := e.minter.Mint(account, map[string]any{handoff.ClaimName: "HA User"})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *haEnv) handoffURL(token string) string {
	return e.lbURL + idp.PathHandoff + "?" + url.Values{handoff.FieldToken: {token}, handoff.FieldService: {e.service}}.Encode()
}

// loginLink is the isFirstLogin the bridge put on the mock's login link
// during p's redirects ("" when it never went there).
func (e *haEnv) loginLink(p *journey.Page) string {
	for _, u := range p.Chain {
		if strings.HasPrefix(u.String(), e.mockURL+mockiam.PathLogin+"?") {
			return u.Query().Get("isFirstLogin")
		}
	}
	return ""
}

// store opens the etcd store the bridges use, for the test's own checks.
func (e *haEnv) store() *etcd.Store {
	e.t.Helper()
	s, err := etcd.Open(context.Background(), etcd.Options{Endpoints: e.endpoints, Prefix: e.prefix})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Close() })
	return s
}

// bindFirstLogin runs a first login with the mock's bind page and the
// bind notification, through the load balancer as it is set.
func (e *haEnv) bindFirstLogin(ctx context.Context, account string) {
	t := e.t
	t.Helper()
	b := e.browser()
	p, err := b.Get(ctx, e.handoffURL(e.token(account)))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.loginLink(p); got != "true" {
		t.Fatalf("first login of %s: isFirstLogin=%q, want true: %s", account, got, p.Describe())
	}
	for _, id := range []string{"saml-post", "create-form", "notify"} {
		f, ok := journey.FindForm(p, id)
		if !ok {
			t.Fatalf("%s: no form %q: %s", account, id, p.Describe())
		}
		if p, err = b.Submit(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if p.Status != http.StatusOK || journey.Field(p.Body, "domain-id") == "" {
		t.Fatalf("%s: after the notification: %s", account, p.Describe())
	}
}

var samlRequestIDRE = regexp.MustCompile(`\bID="([^"]+)"`)
var inResponseToRE = regexp.MustCompile(`<(?:\w+:)?Response\b[^>]*\bInResponseTo="([^"]+)"`)

// authnRequestID decodes the SAMLRequest of an HTTP-Redirect URL.
func authnRequestID(t *testing.T, u *url.URL) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(u.Query().Get("SAMLRequest"))
	if err != nil {
		t.Fatal(err)
	}
	xml, err := io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	m := samlRequestIDRE.FindSubmatch(xml)
	if m == nil {
		t.Fatalf("no ID in %s", xml)
	}
	return string(m[1])
}

// TestHATwoBridgesOneEtcd: a flow started at A completes at B with the
// original InResponseTo; the AuthnRequest and the handoff token replayed
// at B are refused; a binding stored through A decides isFirstLogin=false
// at B.
func TestHATwoBridgesOneEtcd(t *testing.T) {
	e := newHAEnv(t, 1)
	e.hooks = newHookReceiver(t, e.dir)
	a, b := e.start("a"), e.start("b")
	ctx := context.Background()

	// The AuthnRequest reaches A, which has no session: to the platform.
	e.pin(a)
	br := e.browser()
	p, err := br.Get(ctx, e.mock.LoginURL(haXAccountType, false, e.service))
	if err != nil {
		t.Fatal(err)
	}
	var ssoURL *url.URL
	for _, u := range p.Chain {
		if u.Path == idp.PathSSO {
			ssoURL = u
		}
	}
	loc, lerr := p.Location()
	if ssoURL == nil || lerr != nil || !strings.HasPrefix(loc.String(), loadtest.PlatformURL+"/login") {
		t.Fatalf("the AuthnRequest did not end at the platform login: %s", p.Describe())
	}
	reqID := authnRequestID(t, ssoURL)
	returnTo := loc.Query().Get("return_to")

	// The platform sends the logged-in user back; the balancer picks B.
	e.pin(b)
	token := e.token("ha-flow-user")
	p, err = br.Get(ctx, returnTo+"&"+url.Values{handoff.FieldToken: {token}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	f, ok := journey.FindForm(p, "saml-post")
	if !ok {
		t.Fatalf("B did not resume the flow started at A: %s", p.Describe())
	}
	resp, err := base64.StdEncoding.DecodeString(f.Values.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	if m := inResponseToRE.FindSubmatch(resp); m == nil || string(m[1]) != reqID {
		t.Fatalf("B's Response answers %q, want the AuthnRequest A received (%s)", m, reqID)
	}

	// The same AuthnRequest at B: refused as a replay, no Response.
	p, err = e.browser().Get(ctx, ssoURL.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := journey.FindForm(p, "saml-post"); ok || journey.Field(p.Body, "reason") != "replay" {
		t.Errorf("the AuthnRequest replayed at B: %s", p.Describe())
	}
	// The same handoff token at B: refused.
	p, err = e.browser().Get(ctx, e.handoffURL(token))
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != http.StatusConflict || journey.Field(p.Body, "reason") != "token_replay" {
		t.Errorf("the handoff token replayed at B: %s", p.Describe())
	}
	// And at A, which never saw the token.
	e.pin(a)
	if p, err = e.browser().Get(ctx, e.handoffURL(token)); err != nil || p.Status != http.StatusConflict {
		t.Errorf("the handoff token replayed at A: %v %s", err, p.Describe())
	}

	// A bind notification received by A decides B's next handoff.
	e.pin(a)
	e.bindFirstLogin(ctx, "ha-bound-user")
	e.pin(b)
	p, err = e.browser().Get(ctx, e.handoffURL(e.token("ha-bound-user")))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.loginLink(p); got != "false" {
		t.Fatalf("B's login link after A stored the binding: isFirstLogin=%q: %s", got, p.Describe())
	}
	acct, _ := e.mock.Account(haXAccountType, "ha-bound-user")
	got, err := e.store().Get(ctx, binding.Key{XAccountType: haXAccountType, XAccountID: "ha-bound-user"})
	if err != nil || got.DomainID != acct.Domain.ID {
		t.Fatalf("store: %+v, %v; mock domain %s", got, err, acct.Domain.ID)
	}

	// The operator's CLI, with A's config, while both instances serve.
	cli := func(args ...string) string {
		t.Helper()
		c := exec.Command(e.bin, append(args, "--config", a.cfgPath)...)
		c.Env = withoutConfigOverrides(os.Environ())
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("partneridp %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	cli("bindings", "put", "ha-cli-user", "--domain-id", "0123456789abcdef0123456789abcdef", "--domain-name", "hw_cli")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bindings", "get", "ha-cli-user"}, "0123456789abcdef0123456789abcdef"},
		{[]string{"bindings", "get", "--domain", acct.Domain.ID}, "ha-bound-user"},
		{[]string{"bindings", "list"}, "ha-cli-user"},
		{[]string{"bindings", "history", "ha-bound-user"}, "notification"},
		{[]string{"bindings", "verify"}, "OK"},
		{[]string{"config", "check", "--connect"}, "store etcd reached, 2 binding(s)"},
	} {
		if out := cli(c.args...); !strings.Contains(out, c.want) {
			t.Errorf("partneridp %s: no %q in\n%s", strings.Join(c.args, " "), c.want, out)
		}
	}
	export := filepath.Join(e.dir, "export.jsonl")
	cli("bindings", "export", "--out", export)
	cli("bindings", "delete", "ha-cli-user")
	e.pin(b)
	if p, err = e.browser().Get(ctx, e.handoffURL(e.token("ha-cli-user"))); err != nil || e.loginLink(p) != "true" {
		t.Errorf("after the CLI deleted the binding, B's login link: %v %s", err, p.Describe())
	}
	if out := cli("bindings", "import", export); !strings.Contains(out, "1") {
		t.Errorf("import: %s", out)
	}
	if out := cli("bindings", "get", "ha-cli-user"); !strings.Contains(out, "0123456789abcdef0123456789abcdef") {
		t.Errorf("after import: %s", out)
	}
	before, err := e.store().Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out := cli("selftest"); !strings.Contains(out, "temporary prefix") {
		t.Errorf("selftest --config on etcd:\n%s", out)
	}
	if after, err := e.store().Count(ctx); err != nil || after != before {
		t.Errorf("the selftest changed the deployment's bindings: %d before, %d after (%v)", before, after, err)
	}
	raw, err := clientv3.New(clientv3.Config{Endpoints: e.endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if left, err := raw.Get(ctx, e.prefix+"selftest-", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || left.Count != 0 {
		t.Errorf("the selftest left keys under its prefix: %+v %v", left, err)
	}
	// Binding webhooks: one deliverer leads across both instances, so
	// every change arrives once, in order, also from a burst of
	// notifications spread over both.
	nc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i := range 100 {
		inst := []*haBridge{a, b}[i%2]
		if ok, refused, err := e.notify(ctx, nc, inst.addr, fmt.Sprintf("burst-%d", i), fmt.Sprintf("%032x", 0xb000+i)); !ok {
			t.Fatalf("notification %d: %s %v", i, refused, err)
		}
	}
	changes, err := e.store().Changes(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	e.hooks.waitFor(t, len(changes))

	// store migrate from etcd to a bolt file and back: idempotent.
	boltFile := filepath.Join(e.dir, "migrated.db")
	if out := cli("store", "migrate", "--to", boltFile); !strings.Contains(out, " copied, 0 already there, 0 differing") {
		t.Errorf("store migrate --to: %s", out)
	}
	if out := cli("store", "migrate", "--from", boltFile); !strings.Contains(out, ": 0 copied, ") || !strings.Contains(out, " 0 differing") {
		t.Errorf("store migrate --from the copy: %s", out)
	}
	backup := filepath.Join(e.dir, "backup.jsonl")
	cli("bindings", "backup", backup)
	if data, err := os.ReadFile(backup); err != nil || !bytes.Contains(data, []byte("ha-bound-user")) {
		t.Errorf("backup: %v %.300s", err, data)
	}
}

// notify posts one signed bind notification straight to an instance and
// says whether it was acknowledged (the bridge's 302 after storing it) or
// else the status and reason.
func (e *haEnv) notify(ctx context.Context, c *http.Client, addr, user, domain string) (bool, string, error) {
	n, err := mockiam.SignBindNotification(mockiam.BindNotification{DomainName: "hw_" + user, DomainID: domain, XUserID: user, BindAction: mockiam.BindActionBind}, e.spKey)
	if err != nil {
		return false, "", err
	}
	form := url.Values{"bindRequest": {n.BindRequest}, "SigAlg": {n.SigAlg}, "Signature": {n.Signature}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+idp.PathBind, strings.NewReader(form.Encode()))
	if err != nil {
		return false, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return false, "", err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusFound {
		return true, "", nil
	}
	return false, fmt.Sprintf("%d %s", resp.StatusCode, journey.Field(string(body), "reason")), nil
}

// TestHABridgeKilledDuringNotifications: bind notifications stream to A
// and B; A gets SIGKILL in the middle. B keeps acknowledging, and every
// notification either instance acknowledged is in the store.
func TestHABridgeKilledDuringNotifications(t *testing.T) {
	e := newHAEnv(t, 1)
	a, b := e.start("a"), e.start("b")
	ctx := context.Background()
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	type ack struct{ user, domain, via string }
	var mu sync.Mutex
	var acked []ack
	var sentA, failedA, ackedBAfterKill atomic.Int64
	var killed atomic.Bool
	stop := stream(4, func(w, i int) {
		inst := a
		if (w+i)%2 == 1 {
			inst = b
		}
		user, domain := fmt.Sprintf("kill-%d-%d", w, i), fmt.Sprintf("%08x%024x", w, i)
		ok, _, err := e.notify(ctx, client, inst.addr, user, domain)
		if inst == a {
			sentA.Add(1)
			if !ok {
				failedA.Add(1)
			}
		}
		if err != nil && inst == b {
			t.Errorf("B failed while A was killed: %v", err)
		}
		if ok {
			mu.Lock()
			acked = append(acked, ack{user, domain, inst.name})
			mu.Unlock()
			if inst == b && killed.Load() {
				ackedBAfterKill.Add(1)
			}
		}
	})
	time.Sleep(1500 * time.Millisecond)
	a.kill()
	killed.Store(true)
	e.drop(a)
	time.Sleep(1500 * time.Millisecond)
	stop()

	if failedA.Load() == 0 {
		t.Error("no notification to A failed: A was not killed in the middle of the stream")
	}
	if ackedBAfterKill.Load() == 0 {
		t.Error("B acknowledged nothing after A was killed")
	}
	s := e.store()
	viaA := 0
	for _, k := range acked {
		got, err := s.Get(ctx, binding.Key{XAccountType: haXAccountType, XAccountID: k.user})
		if err != nil || got.DomainID != k.domain {
			t.Errorf("acknowledged by %s but not stored: %s -> %s: %+v, %v", k.via, k.user, k.domain, got, err)
		}
		if k.via == "a" {
			viaA++
		}
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() {
		t.Errorf("verify after the kill: %+v, %v", rep, err)
	}
	t.Logf("%d notifications acknowledged (%d by A before SIGKILL, %d by B after it), %d sent to A failed; all in the store, verify OK",
		len(acked), viaA, ackedBAfterKill.Load(), failedA.Load())
}

// flow is one login of a bound account through the load balancer: the
// handoff, Huawei's AuthnRequest, the signed Response accepted by the mock.
// It returns "" or where it stopped ("503 store_unavailable", ...).
func (e *haEnv) flow(ctx context.Context, account string) string {
	b := e.browser()
	p, err := b.Get(ctx, e.handoffURL(e.token(account)))
	if err != nil {
		return "transport: " + err.Error()
	}
	f, ok := journey.FindForm(p, "saml-post")
	if !ok {
		return fmt.Sprintf("%d %s", p.Status, journey.Field(p.Body, "reason"))
	}
	if p, err = b.Submit(ctx, f); err != nil {
		return "transport: " + err.Error()
	}
	if journey.Field(p.Body, "verdict") != "accepted" {
		return "mock refused: " + p.Describe()
	}
	return ""
}

// TestHAEtcdLeaderStopped: three etcd members, two bridges, a stream of
// logins and bind notifications. The leader is stopped, then a second
// member (no quorum, so no leader until one returns). While there is no
// leader, requests fail with 503 store_unavailable and /readyz is 503 on
// both bridges; nothing else fails. When the members return, logins
// succeed again on the same processes, and every acknowledged binding is
// in the store.
func TestHAEtcdLeaderStopped(t *testing.T) {
	e := newHAEnv(t, 3)
	a, b := e.start("a"), e.start("b")
	ctx := context.Background()
	e.bindFirstLogin(ctx, "ha-leader-user")
	client := &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	var mu sync.Mutex
	outcomes := map[string]int{}
	type ack struct{ user, domain string }
	var acked []ack
	var okAfter atomic.Int64
	var recovered atomic.Bool
	stop := stream(3, func(w, i int) {
		var out string
		if w == 0 {
			inst := []*haBridge{a, b}[i%2]
			user, domain := fmt.Sprintf("leader-%d", i), fmt.Sprintf("%032x", i+1)
			ok, refused, err := e.notify(ctx, client, inst.addr, user, domain)
			switch {
			case err != nil:
				out = "transport: " + err.Error()
			case ok:
				mu.Lock()
				acked = append(acked, ack{user, domain})
				mu.Unlock()
			default:
				out = refused
			}
		} else {
			out = e.flow(ctx, "ha-leader-user")
		}
		mu.Lock()
		outcomes[out]++
		mu.Unlock()
		if out == "" && recovered.Load() {
			okAfter.Add(1)
		}
	})

	time.Sleep(time.Second)
	var leader *etcdtest.Member
	for _, m := range e.members {
		if m.IsLeader() {
			leader = m
		}
	}
	if leader == nil {
		t.Fatal("no etcd leader")
	}
	leader.Stop()
	time.Sleep(2 * time.Second)
	var second *etcdtest.Member
	for _, m := range e.members {
		if m != leader {
			second = m
			break
		}
	}
	second.Stop()
	// No quorum: both bridges must say they are not ready.
	for _, inst := range []*haBridge{a, b} {
		deadline := time.Now().Add(15 * time.Second)
		for {
			code := readyz(inst)
			if code == http.StatusServiceUnavailable {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("bridge %s: /readyz %d without an etcd leader", inst.name, code)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(2 * time.Second)
	for _, m := range []*etcdtest.Member{leader, second} {
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []*etcdtest.Member{leader, second} {
		if err := m.Ready(20 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for _, inst := range []*haBridge{a, b} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			if readyz(inst) == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("bridge %s not ready again 20 s after etcd regained quorum", inst.name)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	recovered.Store(true)
	deadline := time.Now().Add(20 * time.Second)
	for okAfter.Load() < 10 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	stop()

	t.Logf("outcomes: %v", outcomes)
	if okAfter.Load() < 10 {
		t.Errorf("only %d successful requests after recovery", okAfter.Load())
	}
	for out, n := range outcomes {
		if out != "" && out != "503 store_unavailable" {
			t.Errorf("%d request(s) failed otherwise than 503 store_unavailable: %q", n, out)
		}
	}
	if outcomes["503 store_unavailable"] == 0 {
		t.Error("no request saw the outage")
	}
	s := e.store()
	for _, k := range acked {
		got, err := s.Get(ctx, binding.Key{XAccountType: haXAccountType, XAccountID: k.user})
		if err != nil || got.DomainID != k.domain {
			t.Errorf("acknowledged but not stored: %s -> %s: %+v, %v", k.user, k.domain, got, err)
		}
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK() {
		t.Errorf("verify after the outage: %+v, %v", rep, err)
	}
}

// readyz is an instance's /readyz status, 0 when it does not answer
// within 10 s (its own store check gives up after a few seconds).
func readyz(b *haBridge) int {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + b.addr + idp.PathReadyz)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServeRefusesUnreachableEtcd: serve with an etcd nobody listens on
// stops at start with an error naming the endpoints and the setting.
func TestServeRefusesUnreachableEtcd(t *testing.T) {
	dead := fmt.Sprintf("http://127.0.0.1:%d", etcdtest.FreePort())
	cfg, dir := serveConfig(t, "store: {type: etcd, etcd: {endpoints: ["+dead+"], dial_timeout: 1s, request_timeout: 1s}}\nsession: {secret_file: session.key}\n")
	if err := os.WriteFile(filepath.Join(dir, "session.key"), bytes.Repeat([]byte("k"), 32), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var logs lockedBuffer
	go func() { done <- serve(context.Background(), cfg, &logs, nil) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), dead) || !strings.Contains(err.Error(), "store.etcd.endpoints") {
			t.Fatalf("serve on an unreachable etcd: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not give up on an unreachable etcd")
	}
}

// hookReceiver is the platform's webhook endpoint: it records each
// delivery's webhook-id.
type hookReceiver struct {
	url string
	mu  sync.Mutex
	ids []string
}

func newHookReceiver(t *testing.T, dir string) *hookReceiver {
	h := &hookReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.ids = append(h.ids, r.Header.Get("webhook-id"))
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL + "/hooks"
	secret := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	if err := os.WriteFile(filepath.Join(dir, "webhook.secret"), []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

// waitFor waits until n deliveries arrived, then checks none came twice.
func (h *hookReceiver) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		h.mu.Lock()
		got := slices.Clone(h.ids)
		h.mu.Unlock()
		if len(got) >= n {
			time.Sleep(2 * time.Second) // a second deliverer would show now
			h.mu.Lock()
			got = slices.Clone(h.ids)
			h.mu.Unlock()
		}
		if len(got) >= n || time.Now().After(deadline) {
			seen := map[string]bool{}
			for _, id := range got {
				if seen[id] {
					t.Errorf("webhook %s delivered twice (two deliverers?)", id)
				}
				seen[id] = true
			}
			if len(got) != n {
				t.Errorf("%d webhook deliveries, want one per change (%d)", len(got), n)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLoadtestOnEtcd: `loadtest --store etcd --instances 2` against an
// etcd started by the test: zero errors, both instances measured, the
// etcd process (this one, here) sampled, and the run's prefix removed.
func TestLoadtestOnEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, starts etcd and two servers")
	}
	ms, err := etcdtest.StartCluster(t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer ms[0].Stop()
	bin := haServerBinary(t)
	var stdout, stderr lockedBuffer
	root := newRootCmd(&stdout, &stderr)
	root.SetArgs([]string{"loadtest", "--store", "etcd", "--etcd-endpoints", ms[0].Client, "--instances", "2",
		"--etcd-pid", fmt.Sprint(os.Getpid()), "--duration", "3s", "--warmup", "1s", "--concurrency", "4",
		"--accounts", "10", "--ceiling-samples", "50", "--server-binary", bin, "--json"})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	runErr := root.ExecuteContext(ctx)
	var verdict *verdictError
	if runErr != nil && !errors.As(runErr, &verdict) {
		t.Fatalf("loadtest: %v\nstderr:\n%s", runErr, stderr.String())
	}
	var rep loadtest.Report
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, stdout.String())
	}
	if rep.Errors != 0 || rep.WarmupErrors != 0 || rep.Flows == 0 {
		t.Errorf("flows %d, errors %d (+%d warm-up): %v", rep.Flows, rep.Errors, rep.WarmupErrors, rep.ErrorSamples)
	}
	if rep.Store != storeEtcd || rep.Instances != 2 || len(rep.Server.PIDs) != 2 || rep.Server.CPUMSFlow <= 0 || rep.Server.ExitCode != 0 {
		t.Errorf("servers: store %s, %d instances, %+v", rep.Store, rep.Instances, rep.Server)
	}
	if rep.Etcd == nil || rep.Etcd.CPUMSFlow <= 0 || rep.Etcd.RSSEndMiB <= 0 {
		t.Errorf("etcd figures: %+v", rep.Etcd)
	}
	raw, err := clientv3.New(clientv3.Config{Endpoints: []string{ms[0].Client}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if left, err := raw.Get(ctx, "/partneridp-loadtest-", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || left.Count != 0 {
		t.Errorf("the run left keys in etcd: %+v %v", left, err)
	}
}

// freeLoopbackAddr is a loopback address with a port that was free a moment ago.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// stream calls step(worker, i) from workers goroutines, i counting each
// worker's calls, until the returned stop is called; stop waits for them.
func stream(workers int, step func(w, i int)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				step(w, i)
			}
		})
	}
	return func() { close(done); wg.Wait() }
}
