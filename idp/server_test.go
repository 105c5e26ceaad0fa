package idp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/samlreq"
	"github.com/partneridp/partneridp/idp/samlresp"
	"github.com/partneridp/partneridp/metadata"
)

// New lists every problem of an unusable configuration at once.
func TestNewReportsEveryProblem(t *testing.T) {
	_, err := New(Config{})
	var ce *ConfigError
	if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) {
		t.Fatalf("New(Config{}) = %v, want a *ConfigError matching ErrConfig", err)
	}
	for _, want := range []string{"PublicURL", "IdPEntityID", "MetadataXML", "SPs is nil", "DefaultSP", "Bindings", "Ephemeral",
		"Intake is nil", "Builder is nil", "Verifier is nil", "Sessions is nil", "login URL", "allowed_hosts", "XAccountType",
		"PlatformLoginURL", "LandingURL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not mention %q:\n%v", want, err)
		}
	}

	// A nearly right configuration: each mistake is named.
	e := newEnv(t, envOptions{noTLS: true})
	cfg := e.cfg
	cfg.PublicURL = "ftp://idp.example/?x=1"
	cfg.Builder = &samlresp.Builder{IssuerEntityID: "https://someone-else.example", Key: e.idpKey}
	cfg.XAccountType = "other_IDP"
	cfg.FlowTTL = 48 * time.Hour
	cfg.FormActionAlso = []string{"javascript:"}
	cfg.PlatformLoginURL = "/login"
	_, err = New(cfg)
	for _, want := range []string{"PublicURL", "Builder.IssuerEntityID", "XAccountType \"other_IDP\" differs", "FlowTTL", "FormActionAlso", "PlatformLoginURL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not mention %q:\n%v", want, err)
		}
	}
}

// New fills nil replay stores with store-backed ones.
func TestNewFillsReplayStores(t *testing.T) {
	e := newEnv(t, envOptions{noTLS: true})
	if _, ok := e.cfg.Intake.Replay.(SAMLReplay); !ok {
		t.Errorf("Intake.Replay is %T, want SAMLReplay", e.cfg.Intake.Replay)
	}
	if _, ok := e.cfg.Verifier.Replay.(TokenReplay); !ok {
		t.Errorf("Verifier.Replay is %T, want TokenReplay", e.cfg.Verifier.Replay)
	}
}

// The replay adapters map the store's ErrExists to each package's ErrReplay
// and keep SAML request IDs and token IDs apart.
func TestReplayAdapters(t *testing.T) {
	e := newEnv(t, envOptions{noTLS: true})
	ctx := context.Background()
	exp := e.clock.Now().Add(time.Minute)
	saml := SAMLReplay{Store: e.db.Ephemeral()}
	token := TokenReplay{Store: e.db.Ephemeral()}
	if err := saml.MarkUsed(ctx, spEntityID, "_id1", exp); err != nil {
		t.Fatal(err)
	}
	if err := saml.MarkUsed(ctx, spEntityID, "_id1", exp); !errors.Is(err, samlreq.ErrReplay) {
		t.Errorf("second MarkUsed: %v, want samlreq.ErrReplay", err)
	}
	if err := saml.MarkUsed(ctx, "https://other-sp.example/", "_id1", exp); err != nil {
		t.Errorf("the same ID from another SP: %v", err)
	}
	if err := token.MarkUsed(ctx, "_id1", exp); err != nil {
		t.Errorf("a token id equal to a request ID: %v", err)
	}
	if err := token.MarkUsed(ctx, "_id1", exp); !errors.Is(err, handoff.ErrReplay) {
		t.Errorf("second token MarkUsed: %v, want handoff.ErrReplay", err)
	}
	long := strings.Repeat("x", 2*binding.MaxEphemeralKeyLen)
	if err := saml.MarkUsed(ctx, long, "_id", exp); err != nil {
		t.Errorf("an over-long key: %v", err)
	}
	if err := saml.MarkUsed(ctx, long, "_id", exp); !errors.Is(err, samlreq.ErrReplay) {
		t.Errorf("an over-long key twice: %v", err)
	}
	// The digest is over length-prefixed parts: moving the boundary between
	// issuer and ID names a different request.
	if err := saml.MarkUsed(ctx, spEntityID+"\x00_i", "d1", exp); err != nil {
		t.Fatal(err)
	}
	if err := saml.MarkUsed(ctx, spEntityID, "_i\x00d1", exp); err != nil {
		t.Errorf("a shifted issuer/ID boundary: %v", err)
	}
	// The longest token the verifier accepts (1 h, plus leeway) and the
	// longest SAML window (15 m skew both ways, plus margin) still fit.
	if err := token.MarkUsed(ctx, "long-lived", e.clock.Now().Add(time.Hour+handoff.DefaultLeeway+time.Minute)); err != nil {
		t.Errorf("a token at the longest lifetime: %v", err)
	}
	if err := saml.MarkUsed(ctx, spEntityID, "_far", e.clock.Now().Add(2*15*time.Minute+samlreq.ReplayMargin)); err != nil {
		t.Errorf("a request at the widest skew: %v", err)
	}
	if got := len(replayKey("saml", spEntityID, "_id1")); got != replayKeyLen {
		t.Errorf("replay key is %d bytes, want %d", got, replayKeyLen)
	}
	e.clock.Advance(2 * time.Minute)
	if err := saml.MarkUsed(ctx, spEntityID, "_id1", e.clock.Now().Add(time.Minute)); err != nil {
		t.Errorf("an expired entry must not block: %v", err)
	}
}

// Spent request IDs and token IDs stay spent across a restart: they live in
// the bbolt file.
func TestReplaySurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "partneridp.db")
	e := newEnv(t, envOptions{dbPath: path})
	query := e.newRequest("_restart-0001").Query(t)
	if p := e.get(ssoURL + "?" + query); p.Status != http.StatusFound {
		t.Fatalf("first use: %d %s", p.Status, p.Body)
	}
	tok := e.token(customer, nil)
	if p := e.get(handoffURL(tok, consoleURL)); p.Status != http.StatusFound {
		t.Fatalf("first token use: %d", p.Status)
	}
	e.ts.Close()
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}

	again := newEnv(t, envOptions{dbPath: path, now: e.clock.Now().Add(time.Minute)})
	p := again.get(ssoURL + "?" + query)
	if p.Status != http.StatusBadRequest || pageReason(p) != "replay" {
		t.Fatalf("after restart: %d %q, want 400 replay", p.Status, pageReason(p))
	}
	noResponse(t, p)
	p = again.get(handoffURL(tok, consoleURL))
	if p.Status != http.StatusConflict || pageReason(p) != "token_replay" {
		t.Fatalf("token after restart: %d %q, want 409 token_replay", p.Status, pageReason(p))
	}
}

// A panic in one request is a 500 page without the stack; the server keeps
// serving.
func TestPanicRecovery(t *testing.T) {
	var explode bool
	e := newEnv(t, envOptions{tweak: func(c *Config) {
		sp := c.DefaultSP
		c.DefaultSP = func() *metadata.SP {
			if explode {
				panic("metadata refresher corrupted its state")
			}
			return sp()
		}
	}})
	explode = true
	p := e.post(publicURL+PathBind, notification(t, e.spKey, bindFields(customer, "d1", 0)))
	if p.Status != http.StatusInternalServerError {
		t.Fatalf("got %d, want 500", p.Status)
	}
	if strings.Contains(p.Body, "goroutine") || strings.Contains(p.Body, "corrupted") || !strings.Contains(p.Body, `id="reference"`) {
		t.Errorf("the page leaks the panic or lacks a reference:\n%s", p.Body)
	}
	if !strings.Contains(e.logs.String(), "corrupted its state") || !strings.Contains(e.logs.String(), "goroutine") {
		t.Errorf("the panic and its stack are not logged")
	}
	checkEvent(t, e.oneEvent(), AuditEvent{Event: EventBindNotification, Verdict: VerdictError, Reason: "panic"})

	explode = false
	if p := e.get(publicURL + PathHealthz); p.Status != http.StatusOK || p.Body != "ok\n" {
		t.Errorf("healthz after the panic: %d %q", p.Status, p.Body)
	}
	p = e.post(publicURL+PathBind, notification(t, e.spKey, bindFields(customer, "d1", 0)))
	if p.Status != http.StatusFound {
		t.Errorf("the same request after the panic: %d", p.Status)
	}

	// And the wrapper alone, around any handler.
	s := e.srv
	h := s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(fmt.Errorf("boom")) }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/anything", nil))
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("recoverPanics: %d %v", rec.Code, rec.Header())
	}
}

func TestHealth(t *testing.T) {
	cases := []struct {
		name  string
		tweak func(*env)
		want  []string // problems named; none means healthy
	}{
		{name: "healthy"},
		{name: "signing certificate not yet valid", tweak: func(e *env) { e.clock.now = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) },
			want: []string{"signing certificate", "SP metadata"}},
		{name: "no SP metadata", tweak: func(e *env) { e.sp = nil }, want: []string{"no Huawei SP metadata"}},
		{name: "SP metadata without certificates", tweak: func(e *env) { e.sp.SigningCerts = nil }, want: []string{"has no signing certificate"}},
		{name: "store closed", tweak: func(e *env) { e.db.Close() }, want: []string{"store does not answer"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			if tc.tweak != nil {
				tc.tweak(e)
			}
			err := e.srv.Health(context.Background())
			p := e.get(publicURL + PathReadyz)
			if len(tc.want) == 0 {
				if err != nil || p.Status != http.StatusOK {
					t.Fatalf("Health = %v, readyz %d %q", err, p.Status, p.Body)
				}
				return
			}
			if !errors.Is(err, ErrNotReady) || p.Status != http.StatusServiceUnavailable {
				t.Fatalf("Health = %v, readyz %d; want ErrNotReady and 503", err, p.Status)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) || !strings.Contains(p.Body, w) {
					t.Errorf("%q is not named in %q / %q", w, err, p.Body)
				}
			}
		})
	}
}

// classify is the one mapping from errors to answers.
func TestClassify(t *testing.T) {
	cases := []struct {
		err     error
		status  int
		verdict string
		reason  string
	}{
		{&samlreq.Error{Kind: samlreq.Untrusted, Reason: samlreq.ReasonBadSignature, Msg: "m"}, 400, VerdictRefused, "bad_signature"},
		{fmt.Errorf("wrapped: %w", &samlreq.Error{Kind: samlreq.Untrusted, Reason: samlreq.ReasonReplay, Msg: "m"}), 400, VerdictRefused, "replay"},
		{&samlreq.Error{Kind: samlreq.Internal, Reason: samlreq.ReasonReplayStore, Msg: "bbolt: closed"}, 500, VerdictError, "replay_store"},
		{&samlreq.Error{Kind: samlreq.Internal, Reason: samlreq.ReasonReplayStore, Msg: "no leader", Err: fmt.Errorf("%w: etcd", binding.ErrUnavailable)}, 503, VerdictError, "store_unavailable"},
		{&handoff.TokenError{Reason: handoff.ReasonExpired}, 401, VerdictRefused, "token_expired"},
		{&handoff.TokenError{Reason: handoff.ReasonBadSignature}, 401, VerdictRefused, "token_bad_signature"},
		{&handoff.TokenError{Reason: handoff.ReasonReplay, Err: handoff.ErrReplay}, 409, VerdictRefused, "token_replay"},
		{&handoff.TokenError{Reason: handoff.ReasonMalformed}, 400, VerdictRefused, "token_malformed"},
		{&handoff.ServiceError{Reason: "host_not_allowed"}, 400, VerdictRefused, "service_host_not_allowed"},
		{&handoff.RequestError{Status: 415}, 415, VerdictRefused, "bad_handoff_request"},
		{handoff.ErrSessionTooLarge, 400, VerdictRefused, "session_too_large"},
		{ErrFlowNotFound, 400, VerdictRefused, ReasonFlowNotFound},
		{&RequestError{Status: 405, Reason: ReasonMethodNotAllowed}, 405, VerdictRefused, ReasonMethodNotAllowed},
		{fmt.Errorf("%w: x", binding.ErrNotificationSignature), 400, VerdictRefused, "bad_signature"},
		{fmt.Errorf("%w: x", binding.ErrNotificationEncoding), 400, VerdictRefused, "bad_encoding"},
		{fmt.Errorf("%w: x", binding.ErrNotificationFields), 400, VerdictRefused, "bad_fields"},
		{fmt.Errorf("%w: x", binding.ErrNotificationMismatch), 409, VerdictRefused, "unbind_mismatch"},
		{fmt.Errorf("%w: x", binding.ErrUnavailable), 503, VerdictError, "store_unavailable"},
		{fmt.Errorf("%w: mobile", samlresp.ErrInvalidUser), 400, VerdictRefused, "invalid_user"},
		{fmt.Errorf("%w: x", samlresp.ErrInvalidRelayState), 400, VerdictRefused, "bad_relay_state"},
		{fmt.Errorf("%w: x", samlresp.ErrInvalidConfig), 500, VerdictError, "internal"},
		{ErrNoDefaultSP, 500, VerdictError, "no_default_sp"},
		{context.Canceled, 500, VerdictError, "canceled"},
		{errors.New("disk on fire"), 500, VerdictError, "internal"},
	}
	for _, tc := range cases {
		a := classify(tc.err)
		if a.status != tc.status || a.verdict != tc.verdict || a.reason != tc.reason {
			t.Errorf("classify(%v) = %d %s %s, want %d %s %s", tc.err, a.status, a.verdict, a.reason, tc.status, tc.verdict, tc.reason)
		}
		if a.status >= 500 && (strings.Contains(a.msg, "bbolt") || strings.Contains(a.msg, "fire")) {
			t.Errorf("a 5xx page shows the internal error: %q", a.msg)
		}
	}
}

// Nothing secret reaches the audit log or the application log: not the
// handoff token, not the SAMLResponse, not the assertion, not a key.
func TestNoSecretsInLogs(t *testing.T) {
	e := newEnv(t, envOptions{})
	var secrets []string

	tok := e.token(customer, customerClaims())
	secrets = append(secrets, tok)
	e.get(handoffURL(tok, consoleURL))
	e.get(handoffURL(tok, consoleURL)) // replayed: refused and logged
	forged := tok[:len(tok)-4] + "AAAA"
	secrets = append(secrets, forged)
	e.get(handoffURL(forged, consoleURL))

	p := e.get(ssoURL + "?" + e.newRequest("_secret-0001").Query(t))
	f := readSAMLForm(t, p)
	d := parseResponse(t, f.SAMLResponse)
	secrets = append(secrets, f.RawResponse, string(f.SAMLResponse), d.text("./Assertion/Subject/NameID"),
		"SignatureValue", "<saml2:Assertion", "PRIVATE KEY")

	// A deferred flow completed by a token.
	e.browser.Jar, _ = newJar()
	p = e.get(ssoURL + "?" + e.newRequest("_secret-0002").Query(t))
	returnTo, _ := url.QueryUnescape(strings.TrimPrefix(p.Location, platformLogin+"&return_to="))
	tok2 := e.token(customer, customerClaims())
	secrets = append(secrets, tok2)
	f2 := readSAMLForm(t, e.get(returnTo+"&token="+tok2))
	secrets = append(secrets, f2.RawResponse)

	// A failure deep enough to be logged as an error (store closed).
	e.db.Close()
	e.get(handoffURL(e.token(customer, nil), consoleURL))

	// Each token's signature part alone must not appear either.
	for _, s := range []string{tok, tok2} {
		secrets = append(secrets, s[strings.LastIndex(s, ".")+1:])
	}
	for name, out := range map[string]string{"audit log": e.audit.String(), "application log": e.logs.String()} {
		if out == "" {
			t.Fatalf("%s is empty: the test captures nothing", name)
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(out, s) {
				t.Errorf("%s contains a secret (%.40q…)", name, s)
			}
		}
	}
	// The audit log is JSON Lines of AuditEvent.
	lines := strings.Split(strings.TrimSpace(e.audit.String()), "\n")
	for _, l := range lines {
		var ev AuditEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.Event == "" || ev.Verdict == "" {
			t.Errorf("audit line %q: %v", l, err)
		}
	}
	if len(lines) != 7 {
		t.Errorf("%d audit lines, want 7 (one per request)", len(lines))
	}
}

// The audit trail of a whole first-login journey, with a fixed clock and
// seeded randomness, is a golden file.
func TestJourneyAuditGolden(t *testing.T) {
	e := newEnv(t, envOptions{})
	req := e.newRequest("_journey-0001")
	p := e.get(ssoURL + "?" + req.Query(t)) // Huawei's AuthnRequest; no session yet
	returnTo, _ := url.QueryUnescape(strings.TrimPrefix(p.Location, platformLogin+"&return_to="))
	e.clock.Advance(40 * time.Second)
	readSAMLForm(t, e.get(returnTo+"&"+url.Values{"token": {e.token(customer, customerClaims())}}.Encode()))
	e.clock.Advance(3 * time.Minute) // registration at Huawei
	e.post(publicURL+PathBind, notification(t, e.spKey, bindFields(customer, "0a1b2c3d4e5f", 0)))
	e.clock.Advance(time.Hour)
	e.get(sloURL)

	got := []byte(e.audit.String())
	path := filepath.Join(idpDir, "journey-audit.golden.jsonl")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := readFile(t, path)
	if string(got) != string(want) {
		t.Errorf("the audit trail differs from %s (run with -update if intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
