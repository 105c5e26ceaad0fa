package main

import (
	"context"
	"strings"
	"testing"

	"github.com/partneridp/partneridp/idp/demoplatform"
	"github.com/partneridp/partneridp/internal/journey"
)

// demoLogin logs customer in on the demo platform and opens the console up
// to the mock's answer to the SAML POST form.
func demoLogin(t *testing.T, ctx context.Context, s *demoStack, b *journey.Browser, customer string) *journey.Page {
	t.Helper()
	p, err := journey.OpenConsoleOnDemoPlatform(ctx, b, s.platformURL, customer)
	if err != nil {
		t.Fatal(err)
	}
	post, ok := journey.FindForm(p, "saml-post")
	if !ok {
		t.Fatalf("no SAML POST form: %s", p.Describe())
	}
	if p, err = b.Submit(ctx, post); err != nil {
		t.Fatal(err)
	}
	return p
}

// demoFirstLogin runs a first login through the bind page: create the
// account, auto-post the notification to the bridge.
func demoFirstLogin(t *testing.T, ctx context.Context, s *demoStack, b *journey.Browser, customer, domainName string) *journey.Page {
	t.Helper()
	p := demoLogin(t, ctx, s, b, customer)
	create, ok := journey.FindForm(p, "create-form")
	if !ok {
		t.Fatalf("no bind page: %s", p.Describe())
	}
	create.Values.Set("domainName", domainName)
	p, err := b.Submit(ctx, create)
	if err != nil {
		t.Fatal(err)
	}
	notify, ok := journey.FindForm(p, "notify")
	if !ok {
		t.Fatalf("no bind notification form: %s", p.Describe())
	}
	if p, err = b.Submit(ctx, notify); err != nil {
		t.Fatal(err)
	}
	return p
}

// section is the trace page's section of login n.
func section(t *testing.T, body string, n string) string {
	t.Helper()
	start := strings.Index(body, `<section id="login-`+n+`"`)
	if start < 0 {
		t.Fatalf("the trace has no login %s:\n%s", n, body)
	}
	rest := body[start:]
	return rest[:strings.Index(rest, "</section>")]
}

// TestDemoTraceFirstThenBound is issue 13 item 7: after a first and a
// second console visit, the platform's trace page shows each step of both,
// and the two read differently.
func TestDemoTraceFirstThenBound(t *testing.T) {
	ctx := context.Background()
	s, err := startDemoStack(ctx, demoOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := journey.NewBrowser(nil, journey.HostOf(s.platformURL), journey.HostOf(s.bridgeURL), journey.HostOf(s.mockURL))

	p, err := b.Get(ctx, s.platformURL+demoplatform.PathTrace)
	if err != nil || p.Status != 200 || journey.Field(p.Body, "no-logins") == "" {
		t.Fatalf("empty trace: %v %s", err, p.Describe())
	}

	console := demoFirstLogin(t, ctx, s, b, "alice", "alice_trace_co")
	domainID := journey.Field(console.Body, "domain-id")
	if journey.Field(console.Body, "verdict") != "accepted" || domainID == "" {
		t.Fatalf("first login did not reach the console: %s", console.Describe())
	}
	if p := demoLogin(t, ctx, s, b, "alice"); journey.Field(p.Body, "domain-id") != domainID {
		t.Fatalf("second login: %s", p.Describe())
	}

	home, err := b.Get(ctx, s.platformURL+"/")
	if err != nil || !strings.Contains(home.Body, `id="trace-link" href="/trace"`) {
		t.Fatalf("the platform's page does not link the trace: %v", err)
	}
	p, err = b.Get(ctx, s.platformURL+demoplatform.PathTrace)
	if err != nil || p.Status != 200 {
		t.Fatalf("trace page: %v %s", err, p.Describe())
	}
	if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("trace page CSP %q", csp)
	}
	first, second := section(t, p.Body, "1"), section(t, p.Body, "2")
	if strings.Index(p.Body, `id="login-2"`) > strings.Index(p.Body, `id="login-1"`) {
		t.Error("the trace is not newest first")
	}

	for _, tc := range []struct {
		name, sec string
		want      []string
		not       []string
	}{
		{"first login", first, []string{
			`class="login first-login"`,
			"first login: bind page, notification, binding stored",
			`<td>sub</td><td><code>alice</code>`, `<td>name</td><td><code>Alice Wang</code>`, `<td>alg</td><td><code>EdDSA</code>`,
			`id="login-1-handoff-reason">first_login<`,
			`id="login-1-isfirstlogin">isFirstLogin=true<`,
			`id="login-1-signature">signature verified<`,
			"saml2p:AuthnRequest", "AssertionConsumerServiceURL=",
			`<span class="hl">`, "xUserId", "base64 characters",
			`id="login-1-bindpage"`,
			`id="login-1-notification"`, "signature verified, binding stored", `&#34;domainName&#34;: &#34;alice_trace_co&#34;`, `&#34;bindAction&#34;: 0`,
			`id="login-1-domain-id">` + domainID + "<", "binding stored",
		}, []string{"already bound"}},
		{"second login", second, []string{
			`class="login bound"`,
			"already bound: straight to the console",
			`id="login-2-handoff-reason">bound<`,
			`id="login-2-isfirstlogin">isFirstLogin=false<`,
			`id="login-2-signature">signature verified<`,
			`id="login-2-console"`, domainID,
		}, []string{`id="login-2-bindpage"`, `id="login-2-notification"`, "first login"}},
	} {
		for _, w := range tc.want {
			if !strings.Contains(tc.sec, w) {
				t.Errorf("%s: the trace lacks %q:\n%s", tc.name, w, tc.sec)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(tc.sec, w) {
				t.Errorf("%s: the trace shows %q", tc.name, w)
			}
		}
	}
	// Nothing secret: no compact JWS, no signature of a token, no key, no cookie.
	for _, secret := range []string{"eyJ", "PRIVATE KEY", "demoplatform_session", "mockiam_session", "whsec_", "<ds:SignatureValue>a"} {
		if strings.Contains(p.Body, secret) {
			t.Errorf("the trace page shows %q", secret)
		}
	}
}
