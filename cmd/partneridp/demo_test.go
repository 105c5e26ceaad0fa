package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bolt"
	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/idp/demoplatform"
	"github.com/partneridp/partneridp/idp/mockiam"
	"github.com/partneridp/partneridp/internal/journey"
)

var (
	demoOpenURL   = regexp.MustCompile(`(?m)^\s+(http://127\.0\.0\.1:\d+)/$`)
	demoBridgeURL = regexp.MustCompile(`bridge \(IdP\)\s+(http://127\.0\.0\.1:\d+)`)
	demoMockURL   = regexp.MustCompile(`mock Huawei IAM\s+(http://127\.0\.0\.1:\d+)`)
)

// listTree returns every path below dir, relative to it.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestDemoWithNoFlags is the README's first command: `partneridp demo` in
// an empty folder. It prints one URL that serves the platform, stops when
// its context ends (SIGINT), closes the store, and writes only below
// ./partneridp-demo. A second start reuses the keys and removes the
// bindings the first run left.
func TestDemoWithNoFlags(t *testing.T) {
	work, tmp := t.TempDir(), t.TempDir()
	t.Chdir(work)
	t.Setenv("TMPDIR", tmp)

	rc := startCLI(t, "demo")
	platformURL := rc.waitFor(t, demoOpenURL)
	bridgeURL := rc.waitFor(t, demoBridgeURL)
	mockURL := rc.waitFor(t, demoMockURL)
	for got, want := range map[string]int{platformURL: demoPlatformPort, bridgeURL: demoBridgePort, mockURL: demoMockPort} {
		if !strings.HasPrefix(got, fmt.Sprintf("http://127.0.0.1:%d", want)) {
			t.Errorf("default demo URL %s, want the fixed port %d", got, want)
		}
	}
	status, body := httpGet(t, platformURL+"/")
	if status != 200 || !strings.Contains(body, `id="customer-alice"`) {
		t.Fatalf("the printed URL answered %d:\n%s", status, body)
	}
	if status, body := httpGet(t, bridgeURL+idp.PathMetadata); status != 200 || !strings.Contains(body, "IDPSSODescriptor") {
		t.Errorf("bridge metadata: %d", status)
	}
	if status, _ := httpGet(t, mockURL+mockiam.PathMetadata); status != 200 {
		t.Errorf("mock SP metadata: %d", status)
	}
	if err := rc.stop(t); err != nil {
		t.Fatalf("demo ended with %v\n%s", err, rc.stderr)
	}
	if !strings.Contains(rc.stdout.String(), "partneridp demo stopped") {
		t.Errorf("no stop message:\n%s", rc.stdout)
	}
	for _, u := range []string{platformURL, bridgeURL, mockURL} {
		if _, err := httpGetErr(u + "/"); err == nil {
			t.Errorf("%s still answers after the demo stopped", u)
		}
	}

	if got := listTree(t, work); len(got) == 0 || got[0] != demoDefaultDataDir {
		t.Fatalf("work folder holds %v", got)
	}
	for _, p := range listTree(t, work) {
		if p != demoDefaultDataDir && !strings.HasPrefix(p, demoDefaultDataDir+string(filepath.Separator)) {
			t.Errorf("demo wrote %s outside its data directory", p)
		}
	}
	if got := listTree(t, tmp); len(got) != 0 {
		t.Errorf("demo wrote to the temporary folder: %v", got)
	}
	want := []string{demoIdPCertName, demoIdPKeyName, mockSPCertName, mockSPKeyName, "partneridp.db", demoPlatformKeyName, demoPlatformPubName, demoWebhookSecret, demoPartnerAKName, demoPartnerSKName}
	sort.Strings(want)
	if got := listTree(t, filepath.Join(work, demoDefaultDataDir)); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("data directory holds %v, want %v", got, want)
	}
	for _, key := range []string{demoIdPKeyName, mockSPKeyName, demoPlatformKeyName, demoWebhookSecret, demoPartnerAKName, demoPartnerSKName} {
		if st, err := os.Stat(filepath.Join(work, demoDefaultDataDir, key)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v", key, st.Mode(), err)
		}
	}

	// The store was closed: it opens at once, and a binding left in it ...
	storePath := filepath.Join(work, demoDefaultDataDir, "partneridp.db")
	db, err := bolt.Open(storePath, bolt.Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("the demo left the store locked: %v", err)
	}
	left := binding.Binding{Key: binding.Key{XAccountType: demoXAccountType, XAccountID: "alice"},
		DomainID: "0123456789abcdef0123456789abcdef", DomainName: "alice_co", Source: binding.SourceNotification}
	if _, err := binding.Put(context.Background(), db, left, "test", nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	cert, err := os.ReadFile(filepath.Join(work, demoDefaultDataDir, demoIdPCertName))
	if err != nil {
		t.Fatal(err)
	}

	// ... is removed at the next start, which keeps the keys.
	rc2 := startCLI(t, "demo")
	rc2.waitFor(t, demoOpenURL)
	if !strings.Contains(rc2.stdout.String(), "removed 1 binding(s) of an earlier run") {
		t.Errorf("second start did not report the stale binding:\n%s", rc2.stdout)
	}
	if err := rc2.stop(t); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(work, demoDefaultDataDir, demoIdPCertName)); string(again) != string(cert) {
		t.Error("the second start made a new IdP certificate")
	}
	db, err = bolt.Open(storePath, bolt.Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Get(context.Background(), left.Key); !errors.Is(err, binding.ErrNotFound) {
		t.Errorf("stale binding still there: %v", err)
	}
	if h, _ := db.History(context.Background(), left.Key); len(h) != 2 || h[1].Actor != demoResetActor {
		t.Errorf("the reset is not in the binding's history: %+v", h)
	}
}

// TestDemoTemporaryDataDir: --data-dir "" keeps everything in a temporary
// folder and removes it at exit.
func TestDemoTemporaryDataDir(t *testing.T) {
	work, tmp := t.TempDir(), t.TempDir()
	t.Chdir(work)
	t.Setenv("TMPDIR", tmp)
	rc := startCLI(t, "demo", "--data-dir", "")
	platformURL := rc.waitFor(t, demoOpenURL)
	if !strings.Contains(rc.stdout.String(), "(temporary, removed at exit)") {
		t.Errorf("output does not say the data is temporary:\n%s", rc.stdout)
	}
	if got := listTree(t, tmp); len(got) == 0 {
		t.Error("no temporary data directory while running")
	}
	if status, _ := httpGet(t, platformURL+"/"); status != 200 {
		t.Fatalf("platform: %d", status)
	}
	if err := rc.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := listTree(t, tmp); len(got) != 0 {
		t.Errorf("temporary data left behind: %v", got)
	}
	if got := listTree(t, work); len(got) != 0 {
		t.Errorf("demo wrote to the current folder: %v", got)
	}
}

func TestDemoRefusesBadSettings(t *testing.T) {
	dir := t.TempDir()
	if _, err := startDemoStack(context.Background(), demoOptions{DataDir: dir, Host: "0.0.0.0"}); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("0.0.0.0: %v", err)
	}
	if got := listTree(t, dir); len(got) != 0 {
		t.Errorf("a refused start wrote %v", got)
	}
	// A port in use is reported, and nothing keeps running.
	s, err := startDemoStack(context.Background(), demoOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	port := s.bridgeURL[strings.LastIndex(s.bridgeURL, ":")+1:]
	_, _, err = run(t, "demo", "--data-dir", t.TempDir(), "--bridge-port", port)
	if err == nil || !strings.Contains(err.Error(), "choose another port") {
		t.Errorf("port in use: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "demo", "--log-level", "loud"); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Errorf("bad log level: %v", err)
	}
}

// TestDemoRegisterNewCustomer is issue 12's demo: a new customer registers
// on the demo platform, whose backend has the bridge create the Huawei
// account (POST /api/v1/customers → Huawei's Go SDK → the mock's partner
// API); the platform receives the binding webhook and shows it; and the
// customer's first "Open Huawei Cloud console" goes to Huawei's login link
// with isFirstLogin=false and on to the console without the bind page.
func TestDemoRegisterNewCustomer(t *testing.T) {
	ctx := context.Background()
	s, err := startDemoStack(ctx, demoOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := journey.NewBrowser(nil, journey.HostOf(s.platformURL), journey.HostOf(s.bridgeURL), journey.HostOf(s.mockURL))

	p, err := b.Post(ctx, s.platformURL+demoplatform.PathRegister, url.Values{"xaccount_id": {"dave"}, "name": {"Dave Chen"}})
	if err != nil {
		t.Fatal(err)
	}
	acct, ok := s.mock.Account(demoXAccountType, "dave")
	if !ok {
		t.Fatalf("the mock has no Huawei account for dave: %s", p.Describe())
	}
	if got := journey.Field(p.Body, "registered-domain-id"); got != acct.Domain.ID {
		t.Fatalf("the platform shows domain %q, the mock made %s: %s", got, acct.Domain.ID, p.Describe())
	}
	stored, err := s.bridge.store.Get(ctx, binding.Key{XAccountType: demoXAccountType, XAccountID: "dave"})
	if err != nil || stored.DomainID != acct.Domain.ID || stored.Source != binding.SourceCreateCustomer {
		t.Fatalf("bridge binding %+v %v", stored, err)
	}

	// The webhook arrives (the deliverer polls every second).
	deadline := time.Now().Add(15 * time.Second)
	for {
		var got []demoplatform.ReceivedEvent
		for _, ev := range s.platform.Events() {
			if ev.XAccountID == "dave" {
				got = append(got, ev)
			}
		}
		if len(got) == 1 && got[0].Type == "binding.bound" && got[0].DomainID == acct.Domain.ID && got[0].Source == "create_customer" {
			home, err := b.Get(ctx, s.platformURL+"/")
			if err != nil || !strings.Contains(home.Body, `id="webhook-`+got[0].ID+`"`) {
				t.Fatalf("the platform's page does not show webhook %s: %v", got[0].ID, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no binding webhook for dave; the platform has %+v", s.platform.Events())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// First console visit: isFirstLogin=false, no bind page, the console.
	home, err := b.Get(ctx, s.platformURL+"/")
	if err != nil {
		t.Fatal(err)
	}
	open, ok := journey.FindForm(home, "open-console-form")
	if !ok {
		t.Fatalf("no console button: %s", home.Describe())
	}
	p, err = b.Submit(ctx, open)
	if err != nil {
		t.Fatal(err)
	}
	var link *url.URL
	for _, u := range p.Chain {
		if strings.HasPrefix(u.String(), s.mockURL+mockiam.PathLogin+"?") {
			link = u
		}
		if strings.HasPrefix(u.String(), s.mockURL+mockiam.PathBind) {
			t.Errorf("the browser saw the bind page: %s", u.Path)
		}
	}
	if link == nil || link.Query().Get("isFirstLogin") != "false" || link.Query().Get("xAccountType") != demoXAccountType {
		t.Fatalf("Huawei login link %v (want isFirstLogin=false): %s", link, p.Describe())
	}
	post, ok := journey.FindForm(p, "saml-post")
	if !ok {
		t.Fatalf("no SAML POST form: %s", p.Describe())
	}
	console, err := b.Submit(ctx, post)
	if err != nil {
		t.Fatal(err)
	}
	if journey.Field(console.Body, "verdict") != "accepted" || journey.Field(console.Body, "domain-id") != acct.Domain.ID || journey.Field(console.Body, "xuserid") != "dave" {
		t.Fatalf("console: %s", console.Describe())
	}
	if n := len(s.mock.Domains()); n != 1 {
		t.Errorf("the mock holds %d Huawei accounts, want 1", n)
	}
}
