package handoff

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"

	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// signRaw signs header and payload JSON exactly as given (duplicates kept).
func signRaw(t *testing.T, key any, header, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodEdDSA.Sign(signing, key)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + enc.EncodeToString(sig)
}

// TestVerifyRefusesDuplicateMembers: a validly signed token whose header or
// payload names a member twice is refused as malformed (issue 11 item 4:
// before, the last sub won), and the jti is not spent.
func TestVerifyRefusesDuplicateMembers(t *testing.T) {
	f := loadFixture(t)
	c := claimsFor(pED)
	body, _ := json.Marshal(c)
	payload := string(body)
	inner := strings.TrimSuffix(payload, "}")
	hdr := `{"alg":"EdDSA","typ":"JWT"}`
	tests := []struct{ name, header, payload, want string }{
		{"sub twice", hdr, inner + `,"sub":"victim-002"}`, "member \"sub\" appears twice"},
		{"iss twice", hdr, inner + `,"iss":"` + pED.iss + `"}`, "member \"iss\" appears twice"},
		{"nested twice", hdr, inner + `,"x":{"a":1,"a":2}}`, "member \"a\" appears twice"},
		{"alg twice in header", `{"alg":"EdDSA","typ":"JWT","alg":"EdDSA"}`, payload, "header: member \"alg\" appears twice"},
		{"kid twice in header", `{"alg":"EdDSA","kid":"a","kid":"b"}`, payload, "member \"kid\" appears twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := f.verifier(t0)
			_, err := v.Verify(context.Background(), signRaw(t, f.ed, tc.header, tc.payload))
			var te *TokenError
			if !errors.As(err, &te) || te.Reason != ReasonMalformed || !strings.Contains(te.Msg, tc.want) {
				t.Fatalf("err = %v; want malformed naming %s", err, tc.want)
			}
		})
	}
	// The same bytes without the duplicate verify: the check is not a
	// side effect of signing by hand.
	v, _ := f.verifier(t0)
	if _, err := v.Verify(context.Background(), signRaw(t, f.ed, hdr, payload)); err != nil {
		t.Fatalf("hand-signed token without duplicates: %v", err)
	}
}

func TestCheckUniqueMembers(t *testing.T) {
	for doc, dup := range map[string]bool{
		`{}`: false, `{"a":1,"b":{"a":2}}`: false, `[{"a":1},{"a":1}]`: false, `not json`: false,
		`{"a":1,"a":1}`: true, `{"a":[{"b":1,"b":2}]}`: true, `{"a\u0062":1,"ab":2}`: true,
		`{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`: true,
	} {
		if got := checkUniqueMembers([]byte(doc)) != nil; got != dup {
			t.Errorf("%s: refused=%v, want %v", doc, got, dup)
		}
	}

}

// FuzzCheckTokenJSON: the new decoder never panics, and a refusal is always
// a malformed-token error.
func FuzzCheckTokenJSON(f *testing.F) {
	enc := base64.RawURLEncoding
	for _, s := range []string{`{"a":1,"a":2}`, `{"sub":"x"}`, `[[[`, `{"a":{"b":[1,{"c":1,"c":1}]}}`} {
		f.Add(enc.EncodeToString([]byte(`{"alg":"EdDSA"}`)) + "." + enc.EncodeToString([]byte(s)) + ".sig")
	}
	f.Fuzz(func(t *testing.T, token string) {
		err := checkTokenJSON(token)
		var te *TokenError
		if err != nil && (!errors.As(err, &te) || te.Reason != ReasonMalformed) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
