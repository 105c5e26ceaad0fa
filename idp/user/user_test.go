package user

import (
	"strings"
	"testing"
)

func TestRegistrySources(t *testing.T) {
	u := User{XAccountID: "cust-1", Fields: map[string]string{Name: "Li Si"}, Extra: map[string]string{"tier": "gold"}}
	tests := []struct {
		source    string
		known     bool
		wantValue string
	}{
		{SourceXAccountID, true, "cust-1"},
		{Name, true, "Li Si"},
		{Mobile, true, ""},
		{"claim:tier", true, "gold"},
		{"claim:absent", true, ""},
		{"claim: ", false, ""},
		{"company", false, ""},
		{"", false, ""},
	}
	for _, tt := range tests {
		if got := Fields.KnownSource(tt.source); got != tt.known {
			t.Errorf("KnownSource(%q) = %v, want %v", tt.source, got, tt.known)
		}
		if tt.known {
			if got := Fields.Value(u, tt.source); got != tt.wantValue {
				t.Errorf("Value(%q) = %q, want %q", tt.source, got, tt.wantValue)
			}
		}
	}
	if got := Fields.Sources(); got != "xaccount_id, name, mobile, email, bp_id or claim:<name>" {
		t.Errorf("Sources() = %q", got)
	}
}

func TestRegistryNormalize(t *testing.T) {
	tests := []struct {
		name    string
		fields  map[string]string
		want    map[string]string
		wantErr string
	}{
		{"nothing to check", nil, nil, ""},
		{"mobile with plus", map[string]string{Mobile: "+86-13800000000"}, map[string]string{Mobile: "86-13800000000"}, ""},
		{"mobile without country code", map[string]string{Mobile: "13800000000"}, nil, "mobile must be country code, hyphen, number"},
		{"email with display name", map[string]string{Email: "Li <li@example.com>"}, nil, "email must be a bare address"},
		{"fields without a check pass as they are", map[string]string{Name: " x ", BPID: "bp"}, map[string]string{Name: " x ", BPID: "bp"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := User{XAccountID: "c", Fields: tt.fields}
			got, err := Fields.Normalize(in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want {
				if got.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, got.Get(k), v)
				}
			}
			if tt.fields[Mobile] != "" && in.Fields[Mobile] != tt.fields[Mobile] {
				t.Error("Normalize changed its argument's map")
			}
		})
	}
}

func TestRegistryClaimsAreDistinct(t *testing.T) {
	// Each claim and name once, and none a claim the token or the session
	// cookie uses for something else.
	reserved := map[string]bool{"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true, "auth_time": true, "ext": true}
	claims, names := map[string]bool{}, map[string]bool{SourceXAccountID: true}
	for _, f := range Fields {
		if reserved[f.Claim] || claims[f.Claim] || names[f.Name] || strings.HasPrefix(f.Name, SourceClaimPrefix) {
			t.Errorf("field %q (claim %q) clashes", f.Name, f.Claim)
		}
		claims[f.Claim], names[f.Name] = true, true
	}
}

func TestUserSet(t *testing.T) {
	var u User
	u.Set(Name, "x")
	u.Set(Email, "")
	if u.Get(Name) != "x" || len(u.Fields) != 1 {
		t.Fatalf("fields = %v", u.Fields)
	}
	u.Set(Name, "")
	if len(u.Fields) != 0 {
		t.Fatalf("fields = %v", u.Fields)
	}
}
