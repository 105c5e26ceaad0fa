package handoff

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/partneridp/partneridp/idp/user"
)

var sessionSecret = []byte("test-only-session-secret-0123456789abcdef")

func sessionClaimsFixture() Claims {
	return Claims{
		User: user.User{
			XAccountID: "cust-001",
			Fields:     map[string]string{user.Name: "Zhang San", user.Mobile: "86-13800000000", user.Email: "z@example.com", user.BPID: "bp-1"},
			Extra:      map[string]string{"tenant": "acme"},
			AuthTime:   t0.Add(-5 * time.Minute),
		},
		Issuer: pED.iss, IssuedAt: t0, Expires: t0.Add(time.Minute), ID: "jti-1",
	}
}

// startCookie runs Start and returns the Set-Cookie header and the parsed cookie.
func startCookie(t *testing.T, s *Sessions, c Claims) (string, *http.Cookie) {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := s.Start(rec, c); err != nil {
		t.Fatal(err)
	}
	res := rec.Result()
	if len(res.Cookies()) != 1 {
		t.Fatalf("want one cookie, got %v", res.Header["Set-Cookie"])
	}
	return res.Header.Get("Set-Cookie"), res.Cookies()[0]
}

func requestWith(cookies ...*http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://bridge.test/saml/sso", nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	return r
}

func TestSessionCookieAttributes(t *testing.T) {
	tests := []struct {
		name       string
		secure     bool
		lifetime   time.Duration
		wantName   string
		wantMaxAge int
	}{
		{"https", true, 0, "__Host-partneridp_session", 8 * 3600},
		{"http dev", false, 0, "partneridp_session", 8 * 3600},
		{"custom lifetime", true, 30 * time.Minute, "__Host-partneridp_session", 1800},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Sessions{Secret: sessionSecret, Secure: tc.secure, Lifetime: tc.lifetime, Clock: fixedClock(t0)}
			raw, ck := startCookie(t, s, sessionClaimsFixture())
			if ck.Name != tc.wantName || s.CookieName() != tc.wantName {
				t.Errorf("name = %q, want %q", ck.Name, tc.wantName)
			}
			if ck.Secure != tc.secure || strings.Contains(raw, "; Secure") != tc.secure {
				t.Errorf("Secure = %v in %q, want %v", ck.Secure, raw, tc.secure)
			}
			if !ck.HttpOnly || !strings.Contains(raw, "; HttpOnly") {
				t.Errorf("not HttpOnly: %q", raw)
			}
			if ck.SameSite != http.SameSiteLaxMode || !strings.Contains(raw, "; SameSite=Lax") {
				t.Errorf("not SameSite=Lax: %q", raw)
			}
			if ck.Path != "/" || !strings.Contains(raw, "; Path=/") {
				t.Errorf("Path = %q", ck.Path)
			}
			if ck.Domain != "" || strings.Contains(raw, "Domain=") {
				t.Errorf("Domain set: %q (forbidden with __Host-)", raw)
			}
			if ck.MaxAge != tc.wantMaxAge {
				t.Errorf("MaxAge = %d, want %d", ck.MaxAge, tc.wantMaxAge)
			}
			if !ck.Expires.Equal(t0.Add(time.Duration(tc.wantMaxAge) * time.Second)) {
				t.Errorf("Expires = %v", ck.Expires)
			}
		})
	}
}

func TestSessionRoundTrip(t *testing.T) {
	for _, secure := range []bool{true, false} {
		s := &Sessions{Secret: sessionSecret, Secure: secure, Clock: fixedClock(t0)}
		_, ck := startCookie(t, s, sessionClaimsFixture())
		later := *s
		later.Clock = fixedClock(t0.Add(7 * time.Hour))
		got, err := later.Read(requestWith(ck))
		if err != nil {
			t.Fatal(err)
		}
		want := sessionClaimsFixture()
		want.IssuedAt, want.Expires, want.ID = t0, t0.Add(DefaultSessionLifetime), ""
		if !reflect.DeepEqual(normalize(got), normalize(want)) {
			t.Fatalf("secure=%v\ngot  %+v\nwant %+v", secure, got, want)
		}
	}
	t.Run("auth_time falls back to iat", func(t *testing.T) {
		s := &Sessions{Secret: sessionSecret, Clock: fixedClock(t0)}
		c := sessionClaimsFixture()
		c.AuthTime = time.Time{}
		_, ck := startCookie(t, s, c)
		got, err := s.Read(requestWith(ck))
		if err != nil || !got.AuthTime.Equal(c.IssuedAt) {
			t.Fatalf("got %v, %v", got.AuthTime, err)
		}
	})
}

// legacySessionClaims is the session cookie's payload as the bridge wrote it before the user
// registry (a fixed struct). Cookies set by that release must still be read after an upgrade.
type legacySessionClaims struct {
	jwt.RegisteredClaims
	Name     string            `json:"name,omitempty"`
	Mobile   string            `json:"mobile,omitempty"`
	Email    string            `json:"email,omitempty"`
	BPID     string            `json:"bp_id,omitempty"`
	Extra    map[string]string `json:"ext,omitempty"`
	AuthTime int64             `json:"auth_time"`
}

func TestSessionReadsLegacyCookie(t *testing.T) {
	want := sessionClaimsFixture()
	want.IssuedAt, want.Expires, want.ID = t0, t0.Add(DefaultSessionLifetime), ""
	legacy := legacySessionClaims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: want.Issuer, Subject: want.XAccountID, Audience: jwt.ClaimStrings{SessionAudience},
			IssuedAt: jwt.NewNumericDate(t0), ExpiresAt: jwt.NewNumericDate(want.Expires)},
		Name: want.Get(user.Name), Mobile: want.Get(user.Mobile), Email: want.Get(user.Email), BPID: want.Get(user.BPID),
		Extra: want.Extra, AuthTime: want.AuthTime.Unix(),
	}
	value, err := jwt.NewWithClaims(jwt.SigningMethodHS256, legacy).SignedString(sessionSecret)
	if err != nil {
		t.Fatal(err)
	}
	s := &Sessions{Secret: sessionSecret, Secure: true, Clock: fixedClock(t0.Add(time.Hour))}
	got, err := s.Read(requestWith(&http.Cookie{Name: SessionCookieSecure, Value: value}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(got), normalize(want)) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	t.Run("and a new cookie decodes into the legacy shape", func(t *testing.T) {
		_, ck := startCookie(t, &Sessions{Secret: sessionSecret, Secure: true, Clock: fixedClock(t0)}, sessionClaimsFixture())
		var back legacySessionClaims
		if _, err := jwt.NewParser(jwt.WithTimeFunc(fixedClock(t0))).ParseWithClaims(ck.Value, &back, func(*jwt.Token) (any, error) { return sessionSecret, nil }); err != nil {
			t.Fatal(err)
		}
		gotJSON, _ := json.Marshal(back)
		wantJSON, _ := json.Marshal(legacy)
		if string(gotJSON) != string(wantJSON) {
			t.Fatalf("got  %s\nwant %s", gotJSON, wantJSON)
		}
	})
}

func TestSessionRefused(t *testing.T) {
	s := &Sessions{Secret: sessionSecret, Secure: true, Clock: fixedClock(t0)}
	_, good := startCookie(t, s, sessionClaimsFixture())
	other := &Sessions{Secret: []byte("another-secret-another-secret-another!!"), Secure: true, Clock: fixedClock(t0)}
	_, foreign := startCookie(t, other, sessionClaimsFixture())
	seg := strings.Split(good.Value, ".")
	enc := base64.RawURLEncoding.EncodeToString
	withValue := func(v string) *http.Cookie { return &http.Cookie{Name: SessionCookieSecure, Value: v} }
	forge := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) *http.Cookie {
		tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return withValue(tok)
	}
	sessionLike := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": pED.iss, "sub": "cust-001", "aud": SessionAudience, "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix(), "auth_time": t0.Unix()}
	}
	tests := []struct {
		name   string
		now    time.Time
		cookie *http.Cookie
	}{
		{"absent", t0, nil},
		{"empty value", t0, withValue("")},
		{"expired", t0.Add(DefaultSessionLifetime + sessionLeeway + time.Second), good},
		{"signed with another secret", t0, foreign},
		{"tampered payload", t0, withValue(seg[0] + "." + enc([]byte(`{"iss":"https://ed.platform.test","sub":"admin","aud":["partneridp-session"],"iat":1772359200,"exp":1900000000,"auth_time":1}`)) + "." + seg[2])},
		{"tampered signature", t0, withValue(seg[0] + "." + seg[1] + "." + strings.Repeat("A", len(seg[2])))},
		{"alg none", t0, forge(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, sessionLike())},
		{"platform audience under the session secret", t0, forge(jwt.SigningMethodHS256, sessionSecret, func() jwt.MapClaims {
			c := sessionLike()
			c["aud"] = pED.aud
			return c
		}())},
		{"no exp", t0, forge(jwt.SigningMethodHS256, sessionSecret, func() jwt.MapClaims { c := sessionLike(); delete(c, "exp"); return c }())},
		{"no iat", t0, forge(jwt.SigningMethodHS256, sessionSecret, func() jwt.MapClaims { c := sessionLike(); delete(c, "iat"); return c }())},
		{"bad subject", t0, forge(jwt.SigningMethodHS256, sessionSecret, func() jwt.MapClaims { c := sessionLike(); c["sub"] = "a b"; return c }())},
		{"no issuer", t0, forge(jwt.SigningMethodHS256, sessionSecret, func() jwt.MapClaims { c := sessionLike(); delete(c, "iss"); return c }())},
		{"HS512 under the session secret", t0, forge(jwt.SigningMethodHS512, sessionSecret, sessionLike())},
		{"oversized", t0, withValue(strings.Repeat("a", maxSessionCookieBytes+1))},
		{"garbage", t0, withValue("not-a-jwt")},
		{"plain-name cookie on an https bridge", t0, &http.Cookie{Name: SessionCookiePlain, Value: good.Value}},
		{"a field claim that is not a string", t0, forge(jwt.SigningMethodHS256, sessionSecret, func() jwt.MapClaims { c := sessionLike(); c["mobile"] = 8613800000000; return c }())},
		{"ext that is not an object of strings", t0, forge(jwt.SigningMethodHS256, sessionSecret, func() jwt.MapClaims { c := sessionLike(); c["ext"] = map[string]any{"n": 1}; return c }())},
		{"auth_time that is not a number", t0, forge(jwt.SigningMethodHS256, sessionSecret, func() jwt.MapClaims { c := sessionLike(); c["auth_time"] = "yesterday"; return c }())},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reader := *s
			reader.Clock = fixedClock(tc.now)
			r := requestWith()
			if tc.cookie != nil {
				r = requestWith(tc.cookie)
			}
			got, err := reader.Read(r)
			if !errors.Is(err, ErrNoSession) {
				t.Fatalf("got %+v, %v; want ErrNoSession", got, err)
			}
			if !reflect.DeepEqual(got, Claims{}) {
				t.Errorf("claims returned with error")
			}
		})
	}
	t.Run("good cookie is accepted by the same reader (control)", func(t *testing.T) {
		if _, err := s.Read(requestWith(good)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSessionStartRefused(t *testing.T) {
	tests := []struct {
		name    string
		s       Sessions
		mod     func(c *Claims)
		wantErr error
	}{
		{"short secret", Sessions{Secret: []byte("short")}, nil, ErrConfig},
		{"negative lifetime", Sessions{Secret: sessionSecret, Lifetime: -time.Second}, nil, ErrConfig},
		{"bad subject", Sessions{Secret: sessionSecret}, func(c *Claims) { c.XAccountID = "a b" }, nil},
		{"no issuer", Sessions{Secret: sessionSecret}, func(c *Claims) { c.Issuer = "" }, nil},
		{"too large for a cookie", Sessions{Secret: sessionSecret}, func(c *Claims) {
			c.Extra = map[string]string{"a": strings.Repeat("x", 1000), "b": strings.Repeat("y", 1000), "c": strings.Repeat("z", 1000)}
		}, ErrSessionTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := sessionClaimsFixture()
			if tc.mod != nil {
				tc.mod(&c)
			}
			rec := httptest.NewRecorder()
			err := tc.s.Start(rec, c)
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			if len(rec.Result().Cookies()) != 0 {
				t.Errorf("cookie set despite error")
			}
		})
	}
	t.Run("short secret refused by Read too", func(t *testing.T) {
		s := &Sessions{Secret: []byte("short")}
		if _, err := s.Read(requestWith()); !errors.Is(err, ErrConfig) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestSessionEnd(t *testing.T) {
	for _, secure := range []bool{true, false} {
		s := &Sessions{Secret: sessionSecret, Secure: secure}
		rec := httptest.NewRecorder()
		s.End(rec)
		raw := rec.Result().Header.Get("Set-Cookie")
		ck := rec.Result().Cookies()[0]
		if ck.Name != s.CookieName() || ck.Value != "" || !strings.Contains(raw, "Max-Age=0") || ck.Path != "/" || ck.Secure != secure || !ck.HttpOnly {
			t.Errorf("End cookie = %q", raw)
		}
	}
}
