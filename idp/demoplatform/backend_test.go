package demoplatform

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/partneridp/partneridp/idp/handoff"
)

const testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// newBackendSite is a platform with registration and webhooks on, in front
// of a fake bridge answering POST /api/v1/customers with bridge.
func newBackendSite(t *testing.T, bridge http.HandlerFunc) *site {
	t.Helper()
	fake := httptest.NewServer(bridge)
	t.Cleanup(fake.Close)
	srv := httptest.NewUnstartedServer(nil)
	cfg := testConfig("http://" + srv.Listener.Addr().String())
	cfg.BridgeURL = fake.URL
	cfg.APIMinter = &handoff.Minter{Issuer: issuer, Audience: fake.URL + "/api/v1", Alg: handoff.AlgEdDSA, Key: platformKey()}
	cfg.WebhookSecret = testWebhookSecret
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = p.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &site{t: t, p: p, srv: srv, client: client}
}

func TestRegister(t *testing.T) {
	var calls atomic.Int32
	s := newBackendSite(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var req map[string]string
		_ = json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path != APIPath || !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "):
			w.WriteHeader(401)
			io.WriteString(w, `{"reason":"api_unauthenticated","message":"no token"}`)
		case req["xaccount_id"] == "refused":
			w.WriteHeader(422)
			io.WriteString(w, `{"reason":"huawei_error","message":"Huawei refused: bad","huawei_code":"CBC.0100"}`)
		default:
			w.WriteHeader(201)
			fmt.Fprintf(w, `{"xaccount_id":%q,"domain_id":"dom-%s","domain_name":"hw_%s","source":"create_customer"}`, req["xaccount_id"], req["xaccount_id"], req["xaccount_id"])
		}
	})
	if _, body := s.get(PathHome); !strings.Contains(body, `id="register-form"`) || !strings.Contains(body, `id="webhooks"`) {
		t.Fatalf("home page lacks the register form or the webhook table:\n%s", body)
	}
	res, body := s.post(PathRegister, url.Values{"xaccount_id": {"dave"}, "name": {"Dave Chen"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("register: %d\n%s", res.StatusCode, body)
	}
	if _, body := s.get(PathHome); !strings.Contains(body, `id="registered-domain-id">dom-dave<`) || !strings.Contains(body, `id="logged-in-as">dave<`) {
		t.Fatalf("after registering:\n%s", body)
	}
	for _, tc := range []struct {
		form   url.Values
		status int
		want   string
	}{
		{url.Values{"xaccount_id": {"dave"}}, 409, "already a customer"},
		{url.Values{"xaccount_id": {"a b"}}, 400, "xaccount_id:"},
		{url.Values{}, 400, "xaccount_id once"},
		{url.Values{"xaccount_id": {"x1"}, "name": {strings.Repeat("n", 65)}}, 400, "name: at most 64"},
		{url.Values{"xaccount_id": {"refused"}}, 502, "CBC.0100"},
	} {
		before := calls.Load()
		res, body := s.post(PathRegister, tc.form)
		if res.StatusCode != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%v: %d, want %d with %q\n%s", tc.form, res.StatusCode, tc.status, tc.want, body)
		}
		if tc.status != 502 && calls.Load() != before {
			t.Errorf("%v: the bridge was called for a refused form", tc.form)
		}
	}
	if res, _ := s.post(PathRegister, url.Values{"xaccount_id": {"eve"}}, "Origin", "https://evil.example"); res.StatusCode != 403 {
		t.Errorf("cross-site register: %d", res.StatusCode)
	}
}

func signWebhook(id string, ts int64, body string) string {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(testWebhookSecret, "whsec_"))
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.%s", id, ts, body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestWebhookReceiver(t *testing.T) {
	s := newBackendSite(t, func(w http.ResponseWriter, r *http.Request) {})
	body := `{"type":"binding.bound","data":{"seq":7,"source":"create_customer","xaccount_id":"dave","domain_id":"dom-dave"}}`
	now := fixedNow.Unix()
	send := func(id string, ts int64, sig, b string) int {
		req, _ := http.NewRequest("POST", s.srv.URL+PathWebhooks, strings.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if id != "" {
			req.Header.Set("webhook-id", id)
		}
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("webhook-signature", sig)
		res, _ := s.do(req)
		return res.StatusCode
	}
	for _, tc := range []struct {
		name   string
		id     string
		ts     int64
		sig    string
		body   string
		status int
	}{
		{"good", "bnd_7", now, signWebhook("bnd_7", now, body), body, 204},
		{"duplicate kept once", "bnd_7", now, signWebhook("bnd_7", now, body), body, 204},
		{"second of two signatures", "bnd_8", now, "v1,AAAA " + signWebhook("bnd_8", now, body), body, 204},
		{"wrong signature", "bnd_9", now, signWebhook("bnd_9", now, body+" "), body, 401},
		{"stale", "bnd_10", now - int64((6 * time.Minute).Seconds()), signWebhook("bnd_10", now-360, body), body, 401},
		{"no id", "", now, signWebhook("", now, body), body, 400},
		{"not JSON", "bnd_11", now, signWebhook("bnd_11", now, "nope"), "nope", 400},
	} {
		if got := send(tc.id, tc.ts, tc.sig, tc.body); got != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.status)
		}
	}
	ev := s.p.Events()
	if len(ev) != 2 || ev[0].ID != "bnd_7" || ev[0].DomainID != "dom-dave" || ev[0].Source != "create_customer" {
		t.Fatalf("events %+v", ev)
	}
	if _, page := s.get(PathHome); !strings.Contains(page, `id="webhook-bnd_7"`) {
		t.Fatalf("home page does not show the webhook:\n%s", page)
	}
}

func TestBackendConfigRefused(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:1")
	cfg.WebhookSecret = "plain"
	cfg.APIMinter = &handoff.Minter{Issuer: issuer, Audience: audience, Alg: handoff.AlgEdDSA, Key: platformKey()}
	_, err := New(cfg)
	if err == nil || !strings.Contains(err.Error(), "whsec_") || !strings.Contains(err.Error(), "APIMinter") {
		t.Fatalf("New: %v", err)
	}
}
