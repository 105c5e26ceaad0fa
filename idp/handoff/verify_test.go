package handoff

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/partneridp/partneridp/idp/user"
)

func TestVerifyValid(t *testing.T) {
	f := loadFixture(t)
	withKID := func(kid string) map[string]any { return map[string]any{"kid": kid} }
	tests := []struct {
		name   string
		p      testPlatform
		token  func(c jwt.MapClaims) string
		mutate func(c jwt.MapClaims)
	}{
		{"EdDSA pem", pED, func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodEdDSA, f.ed, nil, c) }, nil},
		{"ES256 pem", pEC, func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodES256, f.ec, nil, c) }, nil},
		{"RS256 pem", pRSA, func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodRS256, f.rsa, nil, c) }, nil},
		{"HS256 secret", pHS, func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, f.hs, nil, c) }, nil},
		{"single key ignores an unknown kid", pED, func(c jwt.MapClaims) string {
			return sign(t, jwt.SigningMethodEdDSA, f.ed, withKID("whatever"), c)
		}, nil},
		{"JWKS kid ed-1 EdDSA", pJWKS, func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodEdDSA, f.ed, withKID("ed-1"), c) }, nil},
		{"JWKS kid ec-1 ES256", pJWKS, func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodES256, f.ec, withKID("ec-1"), c) }, nil},
		{"JWKS kid rsa-1 RS256", pJWKS, func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodRS256, f.rsa, withKID("rsa-1"), c) }, nil},
		{"aud as array containing ours", pED, func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodEdDSA, f.ed, nil, c) },
			func(c jwt.MapClaims) { c["aud"] = []string{"https://other", pED.aud} }},
		{"exp within leeway", pED, func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodEdDSA, f.ed, nil, c) },
			func(c jwt.MapClaims) {
				c["iat"], c["exp"] = t0.Add(-60*time.Second).Unix(), t0.Add(-20*time.Second).Unix()
			}},
		{"iat within leeway in the future", pED, func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodEdDSA, f.ed, nil, c) },
			func(c jwt.MapClaims) {
				c["iat"], c["exp"] = t0.Add(20*time.Second).Unix(), t0.Add(80*time.Second).Unix()
			}},
		{"lifetime exactly the cap", pED, func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodEdDSA, f.ed, nil, c) },
			func(c jwt.MapClaims) { c["exp"] = t0.Add(5 * time.Minute).Unix() }},
		{"sub of 128 characters with every allowed symbol", pED, func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodEdDSA, f.ed, nil, c) },
			func(c jwt.MapClaims) { c["sub"] = strings.Repeat("aZ09-_.@:+=", 12)[:120] + "abcdefgh" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, replay := f.verifier(t0)
			c := claimsFor(tc.p)
			if tc.mutate != nil {
				tc.mutate(c)
			}
			got, err := v.Verify(context.Background(), tc.token(c))
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if got.XAccountID != c["sub"] || got.Issuer != tc.p.iss || got.ID != c["jti"] {
				t.Errorf("claims = %+v", got)
			}
			iat := time.Unix(c["iat"].(int64), 0)
			if !got.IssuedAt.Equal(iat) || !got.AuthTime.Equal(iat) || !got.Expires.Equal(time.Unix(c["exp"].(int64), 0)) {
				t.Errorf("times = iat %v auth %v exp %v", got.IssuedAt, got.AuthTime, got.Expires)
			}
			if len(replay.used) != 1 {
				t.Errorf("jti not recorded: %v", replay.used)
			}
		})
	}
}

func TestVerifyProfileClaims(t *testing.T) {
	f := loadFixture(t)
	v, _ := f.verifier(t0)
	c := claimsFor(pHS)
	c["name"] = "Zhang San 张三"
	c["mobile"] = "86-13800000000"
	c["email"] = "zhang@example.com"
	c["bp_id"] = "0123456789abcdef0123456789abcdef"
	c["auth_time"] = t0.Add(-10 * time.Minute).Unix()
	c["tenant"] = "acme"
	c["roles"] = []string{"admin"} // not a string: ignored
	c["level"] = 3                 // not a string: ignored
	got, err := v.Verify(context.Background(), f.signFor(t, pHS, c))
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{
		User: user.User{
			XAccountID: "cust-001",
			Fields: map[string]string{user.Name: "Zhang San 张三", user.Mobile: "86-13800000000", user.Email: "zhang@example.com",
				user.BPID: "0123456789abcdef0123456789abcdef"},
			Extra:    map[string]string{"tenant": "acme"},
			AuthTime: t0.Add(-10 * time.Minute),
		},
		Issuer: pHS.iss, IssuedAt: t0, Expires: t0.Add(time.Minute), ID: c["jti"].(string),
	}
	if !reflect.DeepEqual(normalize(got), normalize(want)) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

// normalize drops monotonic/location differences so DeepEqual compares instants.
func normalize(c Claims) Claims {
	c.IssuedAt, c.AuthTime, c.Expires = c.IssuedAt.UTC(), c.AuthTime.UTC(), c.Expires.UTC()
	return c
}

func TestVerifyRefused(t *testing.T) {
	f := loadFixture(t)
	_, otherEdPriv, _ := ed25519.GenerateKey(rand.Reader)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	edSigned := func(mut func(c jwt.MapClaims)) func(t *testing.T) string {
		return func(t *testing.T) string {
			c := claimsFor(pED)
			mut(c)
			return sign(t, jwt.SigningMethodEdDSA, f.ed, nil, c)
		}
	}
	del := func(name string) func(c jwt.MapClaims) { return func(c jwt.MapClaims) { delete(c, name) } }
	set := func(name string, v any) func(c jwt.MapClaims) { return func(c jwt.MapClaims) { c[name] = v } }
	segs := func(tok string) []string { return strings.Split(tok, ".") }
	enc := base64.RawURLEncoding.EncodeToString

	tests := []struct {
		name   string
		token  func(t *testing.T) string
		reason string
	}{
		{"alg none", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, claimsFor(pED))
		}, ReasonAlgNotAllowed},
		{"alg none on HS256 platform", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, claimsFor(pHS))
		}, ReasonAlgNotAllowed},
		{"alg NONE spelled oddly", func(t *testing.T) string {
			s := segs(sign(t, jwt.SigningMethodEdDSA, f.ed, nil, claimsFor(pED)))
			return enc([]byte(`{"alg":"NoNe","typ":"JWT"}`)) + "." + s[1] + "."
		}, ReasonAlgNotAllowed},
		{"alg missing", func(t *testing.T) string {
			s := segs(sign(t, jwt.SigningMethodEdDSA, f.ed, nil, claimsFor(pED)))
			return enc([]byte(`{"typ":"JWT"}`)) + "." + s[1] + "." + s[2]
		}, ReasonAlgNotAllowed},
		{"HS256 signed with the RSA public key PEM (key confusion)", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, f.rsaPEM, nil, claimsFor(pRSA))
		}, ReasonAlgNotAllowed},
		{"HS256 signed with the RSA public key PEM via JWKS kid", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, f.rsaPEM, map[string]any{"kid": "rsa-1"}, claimsFor(pJWKS))
		}, ReasonAlgNotAllowed},
		{"RS256 token for an EdDSA-pinned key", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, f.rsa, nil, claimsFor(pED))
		}, ReasonAlgNotAllowed},
		{"ES384 token for an ES256-pinned key", func(t *testing.T) string {
			k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			return sign(t, jwt.SigningMethodES384, k, nil, claimsFor(pEC))
		}, ReasonAlgNotAllowed},
		{"PS256 with the platform's RSA key", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodPS256, f.rsa, nil, claimsFor(pRSA))
		}, ReasonAlgNotAllowed},
		{"JWKS kid ed-1 but signed ES256", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES256, f.ec, map[string]any{"kid": "ed-1"}, claimsFor(pJWKS))
		}, ReasonAlgNotAllowed},
		{"unknown alg", func(t *testing.T) string {
			s := segs(sign(t, jwt.SigningMethodEdDSA, f.ed, nil, claimsFor(pED)))
			return enc([]byte(`{"alg":"HS999"}`)) + "." + s[1] + "." + s[2]
		}, ReasonAlgNotAllowed},
		{"signed by another Ed25519 key", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodEdDSA, otherEdPriv, nil, claimsFor(pED))
		}, ReasonBadSignature},
		{"signed by another P-256 key", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES256, otherEC, nil, claimsFor(pEC))
		}, ReasonBadSignature},
		{"HS256 with a different secret", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 48)), nil, claimsFor(pHS))
		}, ReasonBadSignature},
		{"JWKS kid ec-1 signed by another P-256 key", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES256, otherEC, map[string]any{"kid": "ec-1"}, claimsFor(pJWKS))
		}, ReasonBadSignature},
		{"tampered payload (sub changed)", func(t *testing.T) string {
			s := segs(f.signFor(t, pED, claimsFor(pED)))
			c := claimsFor(pED)
			c["sub"] = "someone-else"
			forged := segs(sign(t, jwt.SigningMethodEdDSA, otherEdPriv, nil, c))
			return s[0] + "." + forged[1] + "." + s[2]
		}, ReasonBadSignature},
		{"tampered payload HS256", func(t *testing.T) string {
			s := segs(f.signFor(t, pHS, claimsFor(pHS)))
			c := claimsFor(pHS)
			c["exp"] = t0.Add(4 * time.Minute).Unix()
			forged := segs(sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("y", 40)), nil, c))
			return s[0] + "." + forged[1] + "." + s[2]
		}, ReasonBadSignature},
		{"tampered signature", func(t *testing.T) string {
			s := segs(f.signFor(t, pRSA, claimsFor(pRSA)))
			sig, _ := base64.RawURLEncoding.DecodeString(s[2])
			sig[10] ^= 1
			return s[0] + "." + s[1] + "." + enc(sig)
		}, ReasonBadSignature},
		{"empty signature", func(t *testing.T) string {
			s := segs(f.signFor(t, pED, claimsFor(pED)))
			return s[0] + "." + s[1] + "."
		}, ReasonBadSignature},
		{"signature with non-canonical base64 trailing bits", func(t *testing.T) string {
			s := segs(f.signFor(t, pED, claimsFor(pED)))
			// An 86-char Ed25519 signature ends in one of A, Q, g, w (4 unused bits zero);
			// the next letter sets an unused bit: same bytes under lax decoding.
			last := s[2][len(s[2])-1]
			return s[0] + "." + s[1] + "." + s[2][:len(s[2])-1] + string(last+1)
		}, ReasonMalformed},
		{"expired", edSigned(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = t0.Add(-2*time.Minute).Unix(), t0.Add(-31*time.Second).Unix()
		}), ReasonExpired},
		{"issued in the future", edSigned(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = t0.Add(31*time.Second).Unix(), t0.Add(91*time.Second).Unix()
		}), ReasonIssuedInFuture},
		{"nbf in the future", edSigned(set("nbf", t0.Add(time.Minute).Unix())), ReasonNotYetValid},
		{"lifetime one second over the cap", edSigned(set("exp", t0.Add(5*time.Minute+time.Second).Unix())), ReasonLifetimeTooLong},
		{"lifetime of a day", edSigned(set("exp", t0.Add(24*time.Hour).Unix())), ReasonLifetimeTooLong},
		{"exp before iat", edSigned(set("exp", t0.Add(-time.Second).Unix())), ReasonBadClaim},
		{"missing exp", edSigned(del("exp")), ReasonMissingClaim},
		{"missing iat", edSigned(del("iat")), ReasonMissingClaim},
		{"missing jti", edSigned(del("jti")), ReasonMissingClaim},
		{"missing sub", edSigned(del("sub")), ReasonMissingClaim},
		{"missing aud", edSigned(del("aud")), ReasonMissingClaim},
		{"missing iss", edSigned(del("iss")), ReasonMissingClaim},
		{"exp not a number", edSigned(set("exp", "tomorrow")), ReasonBadClaim},
		{"iat not a number", edSigned(set("iat", true)), ReasonBadClaim},
		{"aud not a string", edSigned(set("aud", 42)), ReasonBadClaim},
		{"wrong aud", edSigned(set("aud", "https://bridge.test/other")), ReasonBadAudience},
		{"aud of another platform", edSigned(set("aud", pEC.aud)), ReasonBadAudience},
		{"aud array without ours", edSigned(set("aud", []string{"a", "b"})), ReasonBadAudience},
		{"wrong iss", edSigned(set("iss", "https://evil.test")), ReasonBadIssuer},
		{"iss differing in case", edSigned(set("iss", strings.ToUpper(pED.iss))), ReasonBadIssuer},
		{"iss not a string", edSigned(set("iss", 7)), ReasonBadIssuer},
		{"iss of the EC platform signed by the ed key", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodEdDSA, f.ed, nil, claimsFor(pEC))
		}, ReasonAlgNotAllowed},
		{"unknown kid", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodEdDSA, f.ed, map[string]any{"kid": "ed-2"}, claimsFor(pJWKS))
		}, ReasonUnknownKey},
		{"no kid on a several-key platform", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodEdDSA, f.ed, nil, claimsFor(pJWKS))
		}, ReasonUnknownKey},
		{"kid not a string", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodEdDSA, f.ed, map[string]any{"kid": 1}, claimsFor(pJWKS))
		}, ReasonMalformed},
		{"crit header", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodEdDSA, f.ed, map[string]any{"crit": []string{"b64"}, "b64": false}, claimsFor(pED))
		}, ReasonMalformed},
		{"oversized garbage", func(*testing.T) string { return strings.Repeat("a", MaxTokenBytes+1) }, ReasonTooLarge},
		{"oversized validly signed token", edSigned(set("note", strings.Repeat("n", MaxTokenBytes))), ReasonTooLarge},
		{"empty", func(*testing.T) string { return "" }, ReasonMalformed},
		{"one segment", func(*testing.T) string { return "abc" }, ReasonMalformed},
		{"two segments", func(*testing.T) string { return "abc.def" }, ReasonMalformed},
		{"four segments", func(t *testing.T) string { return f.signFor(t, pED, claimsFor(pED)) + ".x" }, ReasonMalformed},
		{"header not base64", func(t *testing.T) string {
			s := segs(f.signFor(t, pED, claimsFor(pED)))
			return "!!!." + s[1] + "." + s[2]
		}, ReasonMalformed},
		{"header not JSON", func(t *testing.T) string {
			s := segs(f.signFor(t, pED, claimsFor(pED)))
			return enc([]byte("alg=EdDSA")) + "." + s[1] + "." + s[2]
		}, ReasonMalformed},
		{"claims not JSON object", func(t *testing.T) string {
			s := segs(f.signFor(t, pED, claimsFor(pED)))
			return s[0] + "." + enc([]byte(`["x"]`)) + "." + s[2]
		}, ReasonMalformed},
		{"padded base64", func(t *testing.T) string {
			s := segs(f.signFor(t, pED, claimsFor(pED)))
			return s[0] + "=." + s[1] + "." + s[2]
		}, ReasonMalformed},
		{"sub of 129 characters", edSigned(set("sub", strings.Repeat("a", 129))), ReasonBadSubject},
		{"sub with a space", edSigned(set("sub", "cust 001")), ReasonBadSubject},
		{"sub with a control char", edSigned(set("sub", "cust\x01")), ReasonBadSubject},
		{"sub with a newline", edSigned(set("sub", "cust\n001")), ReasonBadSubject},
		{"sub with unicode", edSigned(set("sub", "客户001")), ReasonBadSubject},
		{"sub with a lookalike letter", edSigned(set("sub", "cust-0о1")), ReasonBadSubject},
		{"sub with a slash", edSigned(set("sub", "a/b")), ReasonBadSubject},
		{"sub empty", edSigned(set("sub", "")), ReasonBadSubject},
		{"sub not a string", edSigned(set("sub", 12345)), ReasonBadSubject},
		{"jti empty", edSigned(set("jti", "")), ReasonBadClaim},
		{"jti with a space", edSigned(set("jti", "a b")), ReasonBadClaim},
		{"jti a number", edSigned(set("jti", 5)), ReasonBadClaim},
		{"jti too long", edSigned(set("jti", strings.Repeat("j", 129))), ReasonBadClaim},
		{"name not a string", edSigned(set("name", 5)), ReasonBadClaim},
		{"name with a control char", edSigned(set("name", "a\x00b")), ReasonBadClaim},
		{"mobile with a newline", edSigned(set("mobile", "86-1\n38")), ReasonBadClaim},
		{"email too long", edSigned(set("email", strings.Repeat("e", maxClaimValueLen+1))), ReasonBadClaim},
		{"extra claim with a C1 control", edSigned(set("tenant", "a\u0085b")), ReasonBadClaim},
		{"extra claim name with a space", edSigned(set("bad name", "v")), ReasonBadClaim},
		{"auth_time after iat", edSigned(set("auth_time", t0.Add(time.Minute).Unix())), ReasonBadClaim},
		{"auth_time a string", edSigned(set("auth_time", "yesterday")), ReasonBadClaim},
		{"auth_time zero", edSigned(set("auth_time", 0)), ReasonBadClaim},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, replay := f.verifier(t0)
			tok := tc.token(t)
			got, err := v.Verify(context.Background(), tok)
			if err == nil {
				t.Fatalf("accepted: %+v", got)
			}
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("error %v (%T) is not a *TokenError", err, err)
			}
			if te.Reason != tc.reason {
				t.Errorf("reason = %q (%v), want %q", te.Reason, err, tc.reason)
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Errorf("not ErrInvalidToken")
			}
			if !reflect.DeepEqual(got, Claims{}) {
				t.Errorf("claims returned with error: %+v", got)
			}
			if len(replay.used) != 0 {
				t.Errorf("refused token was recorded in the replay store")
			}
			if len(tok) > 20 && strings.Contains(err.Error(), tok[len(tok)-20:]) {
				t.Errorf("error echoes the token: %v", err)
			}
			if te.Msg == "" {
				t.Errorf("empty message")
			}
		})
	}
}

func TestVerifyReplay(t *testing.T) {
	f := loadFixture(t)
	for _, p := range []testPlatform{pED, pEC, pRSA, pHS, pJWKS} {
		t.Run(p.name, func(t *testing.T) {
			v, _ := f.verifier(t0)
			tok := f.signFor(t, p, claimsFor(p))
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(context.Background(), tok)
			var te *TokenError
			if !errors.As(err, &te) || te.Reason != ReasonReplay || !errors.Is(err, ErrReplay) {
				t.Fatalf("second use: %v, want replay", err)
			}
			if !reflect.DeepEqual(got, Claims{}) {
				t.Errorf("claims returned on replay")
			}
		})
	}
	t.Run("same jti re-signed is still a replay", func(t *testing.T) {
		v, _ := f.verifier(t0)
		c := claimsFor(pED)
		if _, err := v.Verify(context.Background(), f.signFor(t, pED, c)); err != nil {
			t.Fatal(err)
		}
		c["name"] = "changed"
		if _, err := v.Verify(context.Background(), f.signFor(t, pED, c)); !errors.Is(err, ErrReplay) {
			t.Fatalf("got %v, want ErrReplay", err)
		}
	})
	t.Run("same jti on two platforms is two tokens", func(t *testing.T) {
		v, _ := f.verifier(t0)
		a, b := claimsFor(pED), claimsFor(pHS)
		b["jti"] = a["jti"]
		for _, tok := range []string{f.signFor(t, pED, a), f.signFor(t, pHS, b)} {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("replay store failure is not a token error", func(t *testing.T) {
		v, _ := f.verifier(t0)
		v.Replay = failingReplay{}
		_, err := v.Verify(context.Background(), f.signFor(t, pED, claimsFor(pED)))
		if err == nil || errors.Is(err, ErrInvalidToken) || !errors.Is(err, errStoreDown) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("memory replay forgets expired ids", func(t *testing.T) {
		now := t0
		m := &MemoryReplay{Clock: func() time.Time { return now }}
		ctx := context.Background()
		if err := m.MarkUsed(ctx, "a", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := m.MarkUsed(ctx, "a", t0.Add(time.Minute)); !errors.Is(err, ErrReplay) {
			t.Fatalf("got %v", err)
		}
		now = t0.Add(2 * time.Minute)
		if err := m.MarkUsed(ctx, "b", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, ok := m.used["a"]; ok {
			t.Fatalf("expired id kept")
		}
	})
}

var errStoreDown = errors.New("store down")

type failingReplay struct{}

func (failingReplay) MarkUsed(context.Context, string, time.Time) error { return errStoreDown }

func TestVerifyLifetimeCapPerPlatform(t *testing.T) {
	f := loadFixture(t)
	v, _ := f.verifier(t0)
	v.Platforms[0].MaxLifetime = time.Minute
	c := claimsFor(pED)
	c["exp"] = t0.Add(61 * time.Second).Unix()
	_, err := v.Verify(context.Background(), f.signFor(t, pED, c))
	var te *TokenError
	if !errors.As(err, &te) || te.Reason != ReasonLifetimeTooLong {
		t.Fatalf("got %v", err)
	}
}

func TestVerifierConfig(t *testing.T) {
	f := loadFixture(t)
	t.Run("valid", func(t *testing.T) {
		v, _ := f.verifier(t0)
		if err := v.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no replay store", func(t *testing.T) {
		v, _ := f.verifier(t0)
		v.Replay = nil
		if err := v.Validate(); !errors.Is(err, ErrConfig) {
			t.Fatalf("Validate: %v", err)
		}
		_, err := v.Verify(context.Background(), f.signFor(t, pED, claimsFor(pED)))
		if !errors.Is(err, ErrConfig) || errors.Is(err, ErrInvalidToken) {
			t.Fatalf("Verify: %v", err)
		}
	})
	t.Run("every problem reported at once", func(t *testing.T) {
		v := &Verifier{Leeway: time.Hour, Platforms: []Platform{
			{Name: "a", Issuer: "same", Audience: "x", Keys: f.edKeys},
			{Name: "a", Issuer: "same", Audience: "", Keys: nil},
		}}
		err := v.Validate()
		for _, want := range []string{"replay store", "leeway", "audience is required", "at least one verification key", "issuer \"same\" is used", "name is used"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Validate() = %v, missing %q", err, want)
			}
		}
	})
	t.Run("duplicate issuer refused at verify time", func(t *testing.T) {
		v, _ := f.verifier(t0)
		dup := v.Platforms[0]
		dup.Name = "dup"
		v.Platforms = append(v.Platforms, dup)
		_, err := v.Verify(context.Background(), f.signFor(t, pED, claimsFor(pED)))
		if !errors.Is(err, ErrConfig) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("invalid platform key refused at verify time", func(t *testing.T) {
		v, _ := f.verifier(t0)
		v.Platforms[3].Keys = []PlatformKey{{Alg: AlgHS256, Secret: []byte("short")}}
		_, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodHS256, []byte("short"), nil, claimsFor(pHS)))
		if !errors.Is(err, ErrConfig) {
			t.Fatalf("got %v", err)
		}
	})
}
