package samlresp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/user"
)

// TestAddingAUserField is issue 14's claim made a test: a new customer
// field (the customer's company) is one registry entry, and sending it is
// one profile line. The value goes from the platform's token claim through
// handoff's verifier and the bridge session cookie to an assertion
// attribute, with no other code changed.
func TestAddingAUserField(t *testing.T) {
	company := user.Field{Name: "company", Claim: "company"}
	// A field may normalise its value; a refused value is an invalid user.
	country := user.Field{Name: "country", Claim: "country", Normalize: func(s string) (string, error) {
		if len(s) != 2 {
			return "", errors.New("country must be an ISO 3166 two-letter code")
		}
		return strings.ToUpper(s), nil
	}}
	withField := func(f user.Field) user.Registry { return append(append(user.Registry{}, user.Fields...), f) }
	withLine := func(rule AttributeRule) Profile {
		p := HuaweiProfile()
		p.Attributes = append(p.Attributes, rule)
		return p
	}
	tests := []struct {
		name      string
		fields    user.Registry // nil: user.Fields as shipped
		profile   Profile
		claims    map[string]any
		wantAttr  string // the attribute's expected value
		wantErr   error  // from Build
		wantExtra bool   // the claim stayed an extra claim
	}{
		{name: "a registered field reaches its attribute", fields: withField(company),
			profile: withLine(AttributeRule{Name: "company", From: "company"}),
			claims:  map[string]any{"company": "Acme Cloud 有限公司"}, wantAttr: "Acme Cloud 有限公司"},
		{name: "a registered field's check normalises it", fields: withField(country),
			profile: withLine(AttributeRule{Name: "countryCode", From: "country"}),
			claims:  map[string]any{"country": "cn"}, wantAttr: "CN"},
		{name: "a registered field's check refuses a bad value", fields: withField(country),
			profile: withLine(AttributeRule{Name: "countryCode", From: "country"}),
			claims:  map[string]any{"country": "China"}, wantErr: ErrInvalidUser},
		{name: "a registered field the token leaves out is left out", fields: withField(company),
			profile: withLine(AttributeRule{Name: "company", From: "company"}),
			claims:  map[string]any{}},
		{name: "without the entry the claim is only an extra claim", fields: nil,
			profile: withLine(AttributeRule{Name: "company", From: "company"}),
			claims:  map[string]any{"company": "Acme"}, wantErr: ErrInvalidProfile, wantExtra: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := sessionRoundTrip(t, tt.fields, tt.claims)
			if _, isExtra := claims.Extra["company"]; isExtra != tt.wantExtra {
				t.Errorf("company in Extra = %v, want %v (fields %v, extra %v)", isExtra, tt.wantExtra, claims.Fields, claims.Extra)
			}
			b := testBuilder(t)
			b.Fields, b.Profile = tt.fields, tt.profile
			r, err := b.Build(huaweiRequest(), claims.User)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Build: %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			_, values := attributes(t, r.XML)
			last := tt.profile.Attributes[len(tt.profile.Attributes)-1].Name
			got := strings.Join(values[last], ",")
			wantEqual(t, last+" attribute", got, tt.wantAttr)
			wantEqual(t, "name attribute", strings.Join(values["name"], ","), "Li Si")
		})
	}
}

// sessionRoundTrip mints a handoff token with claims (and name Li Si),
// verifies it, starts the bridge session with it and reads the session back,
// all with the registry fields.
func sessionRoundTrip(t *testing.T, fields user.Registry, claims map[string]any) handoff.Claims {
	t.Helper()
	secret := []byte("test-only-platform-secret-0123456789abcdef")
	clock := func() time.Time { return fixedNow.Add(-2 * time.Minute) }
	m := handoff.Minter{Issuer: "https://shop.example", Audience: "partneridp", Alg: handoff.AlgHS256, Key: secret, Clock: clock}
	extra := map[string]any{handoff.ClaimName: "Li Si"}
	for k, v := range claims {
		extra[k] = v
	}
	token, err := m.Mint("cust-42", extra)
	if err != nil {
		t.Fatal(err)
	}
	v := handoff.Verifier{
		Platforms: []handoff.Platform{{Name: "shop", Issuer: m.Issuer, Audience: m.Audience,
			Keys: []handoff.PlatformKey{{Alg: handoff.AlgHS256, Secret: secret}}}},
		Replay: &handoff.MemoryReplay{Clock: clock}, Clock: clock, Fields: fields,
	}
	verified, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	s := handoff.Sessions{Secret: []byte("test-only-session-secret-0123456789abcdef"), Clock: clock, Fields: fields}
	rec := httptest.NewRecorder()
	if err := s.Start(rec, verified); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/saml/sso", nil)
	for _, c := range rec.Result().Cookies() {
		req.AddCookie(c)
	}
	read, err := s.Read(req)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(read.User) != fmt.Sprint(verified.User) {
		t.Fatalf("the session changed the user:\n got %+v\nwant %+v", read.User, verified.User)
	}
	return read
}
