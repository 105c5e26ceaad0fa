package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp/demoplatform"
	"github.com/partneridp/partneridp/idp/mockiam"
	"github.com/partneridp/partneridp/metadata/xmlsectest"
)

// browserSession is headless Chromium driven by chromedp, with a screenshot
// written as a test artifact when a step fails.
type browserSession struct {
	t   *testing.T
	ctx context.Context
}

func newBrowserSession(t *testing.T) *browserSession {
	t.Helper()
	chromium := xmlsectest.Require(t, "chromium") // skips outside CI only when it is absent
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	return &browserSession{t: t, ctx: ctx}
}

// run performs actions; on failure it saves a screenshot and fails the test.
func (b *browserSession) run(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.fail(step, err)
	}
}

// text is the text of the element with id.
func (b *browserSession) text(step, id string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.ID(id)))
	if err != nil {
		b.fail(step, err)
	}
	return strings.TrimSpace(s)
}

// evaluate runs a JavaScript expression on the page and returns its value.
func evaluate[T any](b *browserSession, step, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail(step, err)
	}
	return v
}

// fail saves a screenshot of the page to PARTNERIDP_ARTIFACTS (or a test
// temporary folder), logs its path, and fails the test.
func (b *browserSession) fail(step string, err error) {
	b.t.Helper()
	dir := os.Getenv("PARTNERIDP_ARTIFACTS")
	if dir == "" {
		dir = b.t.TempDir()
	}
	// A fresh deadline: the session's own may be what ran out.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), 10*time.Second)
	defer cancel()
	location, _ := chromedp.Run(sctx, chromedp.Location())
	if shot, serr := chromedp.Run(sctx, chromedp.FullScreenshot(100)); serr != nil {
		b.t.Logf("no screenshot: %v", serr)
	} else {
		name := strings.NewReplacer("/", "_", " ", "_").Replace(b.t.Name()+"-"+step) + ".png"
		path := filepath.Join(dir, name)
		if werr := os.MkdirAll(dir, 0o755); werr == nil {
			if werr = os.WriteFile(path, shot, 0o644); werr == nil {
				b.t.Logf("screenshot of %s: %s", redactQuery(location), path)
			}
		}
	}
	b.t.Fatalf("%s: %v", step, err)
}

// redactQuery drops a URL's query, which may hold a token.
func redactQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.RawQuery = ""
	return u.String()
}

// waitForPath polls until the page's URL has path.
func waitForPath(path string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for {
			loc, err := chromedp.Location()(ctx, t)
			if err != nil {
				return err
			}
			if u, err := url.Parse(loc); err == nil && u.Path == path {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("the page stayed at %s instead of reaching %s: %w", redactQuery(loc), path, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

// TestDemoInChromium runs the demo in a real browser: log in on the demo
// platform, open the console, the auto-submitted SAML form reaches the mock,
// the first login binds a new Huawei account (bind page, notification
// auto-POST to the bridge, binding stored), reload and Back land on the
// console, the platform's trace shows that first login, and the second
// login goes straight to the mock console showing the account and the
// attributes, and reads differently in the trace. Each auto-submit only
// runs when its page's CSP hash is right.
func TestDemoInChromium(t *testing.T) {
	b := newBrowserSession(t)
	logs := &lockedBuffer{}
	s, err := startDemoStack(context.Background(), demoOptions{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	key := binding.Key{XAccountType: s.xAccountType, XAccountID: "alice"}

	id := func(s string) chromedp.ID { return chromedp.ID(s) }

	b.run("log in on the demo platform",
		chromedp.Navigate(s.platformURL+"/"),
		chromedp.WaitVisible(id("customer-alice")),
		chromedp.Click(id("customer-alice")),
		chromedp.WaitVisible(id("logged-in-as")),
	)
	if who := b.text("log in on the demo platform", "logged-in-as"); who != "alice" {
		b.fail("log in on the demo platform", fmt.Errorf("logged in as %q", who))
	}

	// First login: the bridge's form auto-posts to the mock, which shows
	// its bind page; creating an account sends the notification.
	b.run("first login reaches the mock's bind page",
		chromedp.Click(id("open-console")),
		chromedp.WaitVisible(id("create-account")),
	)
	b.run("create the Huawei account; the notification reaches the bridge",
		chromedp.SetValue(id("create-domain-name"), "alice_demo_co"),
		chromedp.Click(id("create-account")),
		waitForPath(mockiam.PathConsole),
		chromedp.WaitVisible(id("domain-id")),
	)
	acct, bound := s.mock.Account(s.xAccountType, "alice")
	if !bound || acct.Domain.Name != "alice_demo_co" {
		b.fail("first login", fmt.Errorf("mock account %+v, bound %v", acct, bound))
	}
	stored, err := s.bridge.store.Get(context.Background(), key)
	if err != nil || stored.DomainID != acct.Domain.ID || stored.Source != binding.SourceNotification {
		b.fail("first login", fmt.Errorf("the bridge stored %+v, %v; the mock bound domain %s", stored, err, acct.Domain.ID))
	}
	if got := b.text("read the console", "domain-id"); got != acct.Domain.ID {
		b.fail("read the console", fmt.Errorf("console shows domain %q, want %s", got, acct.Domain.ID))
	}
	// Reload and Back land on the console again: the mock answered every
	// form with a redirect, so there is nothing to resubmit, and the page
	// that sent the notification is shown once.
	b.run("reload the console, then go back",
		chromedp.Reload(),
		chromedp.WaitVisible(id("domain-id")),
		chromedp.NavigateBack(),
		waitForPath(mockiam.PathConsole),
		chromedp.WaitVisible(id("domain-id")),
	)
	if n := len(s.mock.Accounts()); n != 1 {
		b.fail("reload the console, then go back", fmt.Errorf("the mock holds %d accounts after reload and back", n))
	}

	// The platform's trace shows the first login: bind page, notification,
	// binding stored.
	b.run("open the trace after the first login",
		chromedp.Navigate(s.platformURL+demoplatform.PathTrace),
		chromedp.WaitVisible(id("login-1-summary")),
	)
	if got := b.text("trace after the first login", "login-1-summary"); got != "first login: bind page, notification, binding stored" {
		b.fail("trace after the first login", fmt.Errorf("login 1 reads %q", got))
	}
	if got := b.text("trace after the first login", "login-1-domain-id"); got != acct.Domain.ID {
		b.fail("trace after the first login", fmt.Errorf("login 1 shows the binding to %q, want %s", got, acct.Domain.ID))
	}

	// Second login: bound, so the bridge says isFirstLogin=false and the
	// mock logs the user straight in.
	b.run("second login lands on the mock console",
		chromedp.Navigate(s.platformURL+"/"),
		chromedp.WaitVisible(id("open-console")),
		chromedp.Click(id("open-console")),
		chromedp.WaitVisible(id("attributes")),
		waitForPath(mockiam.PathConsole),
	)
	title, err := chromedp.Run(b.ctx, chromedp.Title())
	if err != nil {
		b.fail("second login", err)
	}
	domainID, xUserID := b.text("second login", "domain-id"), b.text("second login", "xuserid")
	attrs := b.text("second login", "attributes")
	if !strings.HasPrefix(title, "Huawei Cloud console (mock)") || domainID != acct.Domain.ID || xUserID != "alice" {
		b.fail("second login", fmt.Errorf("page %q shows domain %q, xUserId %q", title, domainID, xUserID))
	}
	for _, want := range []string{"xUserId", "alice", "Alice Wang", "86-13800000001", "alice@demo.example"} {
		if !strings.Contains(attrs, want) {
			b.fail("second login", fmt.Errorf("attributes table lacks %q:\n%s", want, attrs))
		}
	}
	if ev, _ := s.mock.LastEvent(mockiam.EventSession); !ev.Accepted || ev.Detail != "bound user logged in" {
		b.fail("second login", fmt.Errorf("mock's last session event: %+v", ev))
	}
	// The trace shows both logins, the second already bound, and they look
	// different: their own summary, badge colour and steps.
	b.run("open the trace after the second login",
		chromedp.Navigate(s.platformURL+demoplatform.PathTrace),
		chromedp.WaitVisible(id("login-2-summary")),
		chromedp.WaitVisible(id("login-1-summary")),
		chromedp.WaitVisible(id("login-1-notification")),
	)
	step := "trace after the second login"
	if got := b.text(step, "login-2-summary"); got != "already bound: straight to the console" {
		b.fail(step, fmt.Errorf("login 2 reads %q", got))
	}
	if got := b.text(step, "login-1-summary"); got != "first login: bind page, notification, binding stored" {
		b.fail(step, fmt.Errorf("login 1 reads %q", got))
	}
	if first, second := b.text(step, "login-1-isfirstlogin"), b.text(step, "login-2-isfirstlogin"); first != "isFirstLogin=true" || second != "isFirstLogin=false" {
		b.fail(step, fmt.Errorf("the login links say %q then %q", first, second))
	}
	colours := [2]string{
		evaluate[string](b, step, `getComputedStyle(document.getElementById("login-1")).borderTopColor`),
		evaluate[string](b, step, `getComputedStyle(document.getElementById("login-2")).borderTopColor`),
	}
	hasBindSteps := evaluate[bool](b, step, `!!(document.getElementById("login-2-bindpage") || document.getElementById("login-2-notification"))`)
	if colours[0] == colours[1] || hasBindSteps {
		b.fail(step, fmt.Errorf("the two logins look alike: borders %q and %q, bind steps on the second: %v", colours[0], colours[1], hasBindSteps))
	}

	// The bridge's audit log: the first handoff was a first login, the
	// second a bound one.
	audit := logs.String()
	first, second := strings.Index(audit, "reason=first_login"), strings.LastIndex(audit, "reason=bound")
	if first < 0 || second < first {
		b.fail("second login", errors.New("the bridge's audit log does not show first_login then bound:\n"+audit))
	}
}
