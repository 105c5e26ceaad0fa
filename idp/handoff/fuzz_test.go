package handoff

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify feeds arbitrary strings to the token verifier. Seeds are valid tokens of every
// platform and algorithm plus classic attacks. Properties: no panic; every refusal is a
// *TokenError; an accepted token has a valid xaccount_id, a configured issuer and a bounded
// lifetime, and cannot be used twice.
func FuzzVerify(f *testing.F) {
	fx := loadFixture(f)
	for _, p := range []testPlatform{pED, pEC, pRSA, pHS, pJWKS} {
		c := claimsFor(p)
		c["name"], c["mobile"], c["tenant"] = "N", "86-1", "acme"
		f.Add(fx.signFor(f, p, c))
	}
	f.Add(sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, claimsFor(pED)))
	f.Add(sign(f, jwt.SigningMethodHS256, fx.rsaPEM, nil, claimsFor(pRSA)))
	f.Add(sign(f, jwt.SigningMethodES256, fx.ec, map[string]any{"kid": "rsa-1"}, claimsFor(pJWKS)))
	f.Add("eyJhbGciOiJFZERTQSJ9.e30.")
	f.Add("..")
	f.Add("")
	issuers := map[string]bool{}
	for _, p := range fx.platforms() {
		issuers[p.Issuer] = true
	}
	f.Fuzz(func(t *testing.T, token string) {
		v, _ := fx.verifier(t0)
		c, err := v.Verify(context.Background(), token)
		if err != nil {
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("refusal is not a *TokenError: %T %v", err, err)
			}
			if len(token) >= 40 && strings.Contains(err.Error(), token) {
				t.Fatalf("error echoes the token")
			}
			return
		}
		if len(token) > MaxTokenBytes {
			t.Fatalf("accepted an oversized token")
		}
		if ValidXAccountID(c.XAccountID) != nil || !issuers[c.Issuer] || c.ID == "" {
			t.Fatalf("accepted bad claims %+v", c)
		}
		if c.Expires.Sub(c.IssuedAt) > DefaultMaxLifetime || !c.Expires.After(t0.Add(-DefaultLeeway)) {
			t.Fatalf("accepted bad times %+v", c)
		}
		if _, err := v.Verify(context.Background(), token); !errors.Is(err, ErrReplay) {
			t.Fatalf("second use not refused as replay: %v", err)
		}
	})
}

// FuzzServicePolicy checks that whatever Resolve accepts is the default or an absolute
// https URL whose host, as Go parses it, is exactly an allowed host with no userinfo.
func FuzzServicePolicy(f *testing.F) {
	for _, s := range []string{
		"", "https://console.huaweicloud.com/", "https://console.huaweicloud.com/iam/?a=b#c",
		"https://console.huaweicloud.com.evil.com/", `https://evil.com\@console.huaweicloud.com`,
		"//evil.com", "javascript:alert(1)", "http://console.huaweicloud.com/", "https://u@console.huaweicloud.com/",
		"https://console%2ehuaweicloud.com/", "HTTPS://CONSOLE.HUAWEICLOUD.COM", "https://console.huaweicloud.com:443/",
		"https://[::1]/", "https://console.huaweicloud.com?x", "https://console.huaweicloud.com#@evil.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := cnPolicy.Resolve(s)
		if err != nil {
			if !errors.Is(err, ErrServiceNotAllowed) || got != "" {
				t.Fatalf("bad refusal: %q, %v", got, err)
			}
			return
		}
		if s == "" {
			if got != cnPolicy.Default {
				t.Fatalf("empty gave %q", got)
			}
			return
		}
		if got != s {
			t.Fatalf("Resolve rewrote %q to %q", s, got)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("accepted unparsable %q", got)
		}
		if !strings.EqualFold(u.Scheme, "https") || u.User != nil || u.Opaque != "" ||
			!strings.EqualFold(u.Host, "console.huaweicloud.com") || strings.ContainsAny(got, "\\ \t\r\n") {
			t.Fatalf("accepted %q (scheme %q host %q)", got, u.Scheme, u.Host)
		}
	})
}

// FuzzParseJWKS: no panic, and every key returned is pinned and fits its algorithm.
func FuzzParseJWKS(f *testing.F) {
	data, err := os.ReadFile(td("jwks.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data, "")
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","alg":"EdDSA"}]}`), "")
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"AAAA","alg":"HS256"}]}`), "HS256")
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`), "RS256")
	f.Fuzz(func(t *testing.T, data []byte, defaultAlg string) {
		keys, err := ParseJWKS(data, defaultAlg)
		if err != nil {
			if !errors.Is(err, ErrConfig) || keys != nil {
				t.Fatalf("bad refusal: %v", err)
			}
			return
		}
		for _, k := range keys {
			if err := k.check(); err != nil || k.Alg == AlgHS256 {
				t.Fatalf("accepted unusable key %+v: %v", k, err)
			}
		}
	})
}

// FuzzSessionRead: arbitrary cookie values never panic and are only accepted when they carry
// a valid subject and issuer (forging the HMAC is out of the fuzzer's reach).
func FuzzSessionRead(f *testing.F) {
	s := &Sessions{Secret: sessionSecret, Secure: true, Clock: fixedClock(t0)}
	rec := httptest.NewRecorder()
	if err := s.Start(rec, sessionClaimsFixture()); err != nil {
		f.Fatal(err)
	}
	f.Add(rec.Result().Cookies()[0].Value)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("")
	f.Fuzz(func(t *testing.T, value string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", SessionCookieSecure+"="+value)
		c, err := s.Read(r)
		if err != nil {
			if !errors.Is(err, ErrNoSession) {
				t.Fatalf("refusal is not ErrNoSession: %v", err)
			}
			return
		}
		if ValidXAccountID(c.XAccountID) != nil || c.Issuer == "" || !c.Expires.After(t0.Add(-time.Minute)) {
			t.Fatalf("accepted bad session %+v", c)
		}
	})
}

// FuzzReadRequest: arbitrary queries and form bodies never panic and refusals are typed.
func FuzzReadRequest(f *testing.F) {
	f.Add(false, "token=a.b.c&service=https%3A%2F%2Fconsole.huaweicloud.com%2F", "")
	f.Add(true, "", "token=a.b.c&service=x")
	f.Add(true, "token=x", "token=a")
	f.Add(false, "token=%zz;x", "")
	f.Fuzz(func(t *testing.T, post bool, query, body string) {
		r := httptest.NewRequest(http.MethodGet, "/sso/huawei", nil)
		if post {
			r = httptest.NewRequest(http.MethodPost, "/sso/huawei", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		r.URL.RawQuery = query
		h, err := ReadRequest(r)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) || re.Status < 400 || h != (Handoff{}) {
				t.Fatalf("bad refusal: %+v, %v", h, err)
			}
			return
		}
		if h.Token == "" || len(h.Token) > MaxTokenBytes {
			t.Fatalf("accepted token of %d bytes", len(h.Token))
		}
	})
}
