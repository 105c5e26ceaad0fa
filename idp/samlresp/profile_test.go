package samlresp

import (
	"errors"
	"strings"
	"testing"

	"github.com/partneridp/partneridp/idp/user"
	"github.com/partneridp/partneridp/metadata"
	"github.com/partneridp/partneridp/metadata/xmlsectest"
)

func TestHuaweiProfile(t *testing.T) {
	p := HuaweiProfile()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range p.Attributes {
		got = append(got, a.Name+"="+a.From)
	}
	wantEqual(t, "huawei profile", strings.Join(got, " "), "xUserId=xaccount_id xAccountId=xaccount_id name=name mobile=mobile email=email bpId=bp_id")
}

func TestProfileWith(t *testing.T) {
	p, err := HuaweiProfile().With(
		map[string]string{"bpId": "partnerId", "name": "displayName"},
		[]string{"email"},
		[]AttributeRule{
			{Name: "tenant", Value: "acme-cloud"},
			{Name: "department", From: "claim:dept"},
			{Name: "level", From: "claim:level"}, // claim absent: attribute left out
			{Name: "uid", From: FromXAccountID},
		})
	if err != nil {
		t.Fatal(err)
	}
	b := testBuilder(t)
	b.Profile = p
	u := testUser()
	u.Extra = map[string]string{"dept": "Sales & Ops", "unused": "x\x00y"}
	r, err := b.Build(huaweiRequest(), u)
	if err != nil {
		t.Fatal(err)
	}
	names, values := attributes(t, r.XML)
	wantEqual(t, "attribute names", strings.Join(names, ","), "xUserId,xAccountId,displayName,mobile,partnerId,tenant,department,uid")
	for name, want := range map[string]string{
		"displayName": u.Get(user.Name), "partnerId": u.Get(user.BPID), "tenant": "acme-cloud", "department": "Sales & Ops", "uid": u.XAccountID,
	} {
		if len(values[name]) != 1 || values[name][0] != want {
			t.Errorf("%s = %q, want [%q]", name, values[name], want)
		}
	}
	if xmlsectest.Have(t, "xmlsec1") {
		if out, ok := verifyXMLSec(t, r.XML, b.Key.Cert, idAttrAssertion, r.AssertionID); !ok {
			t.Fatalf("xmlsec1: %s", out)
		}
	}

	t.Run("a used claim is checked like any user field", func(t *testing.T) {
		u.Extra["dept"] = "a\nb"
		if _, err := b.Build(huaweiRequest(), u); !errors.Is(err, ErrInvalidUser) {
			t.Fatalf("err = %v, want ErrInvalidUser", err)
		}
	})
	t.Run("the base profile is unchanged", func(t *testing.T) {
		if HuaweiProfile().Attributes[5].Name != "bpId" {
			t.Fatal("With modified the profile it was called on")
		}
	})
}

func TestProfileWithRefuses(t *testing.T) {
	tests := []struct {
		name     string
		renames  map[string]string
		drops    []string
		adds     []AttributeRule
		wantErrs int
		wantText string
	}{
		{name: "rename to empty name", renames: map[string]string{"name": ""}, wantErrs: 1, wantText: "name is empty"},
		{name: "rename onto an existing name", renames: map[string]string{"name": "email"}, wantErrs: 1, wantText: "duplicate name"},
		{name: "rename unknown attribute", renames: map[string]string{"nickname": "nick"}, wantErrs: 1, wantText: "no such attribute"},
		{name: "drop unknown attribute", drops: []string{"nickname"}, wantErrs: 1, wantText: "no such attribute"},
		{name: "rename and drop the same", renames: map[string]string{"email": "mail"}, drops: []string{"email"}, wantErrs: 1, wantText: "both renamed and dropped"},
		{name: "add duplicate name", adds: []AttributeRule{{Name: "xUserId", Value: "c"}}, wantErrs: 1, wantText: "duplicate name"},
		{name: "add with empty name", adds: []AttributeRule{{Name: " ", Value: "c"}}, wantErrs: 1, wantText: "name is empty"},
		{name: "add unknown from", adds: []AttributeRule{{Name: "a", From: "phone"}}, wantErrs: 1, wantText: "unknown from"},
		{name: "add empty claim name", adds: []AttributeRule{{Name: "a", From: "claim:"}}, wantErrs: 1, wantText: "unknown from"},
		{name: "add with neither from nor value", adds: []AttributeRule{{Name: "a"}}, wantErrs: 1, wantText: "either from or a constant"},
		{name: "add with both from and value", adds: []AttributeRule{{Name: "a", From: "name", Value: "v"}}, wantErrs: 1, wantText: "not both"},
		{name: "add constant with newline", adds: []AttributeRule{{Name: "a", Value: "x\ny"}}, wantErrs: 1, wantText: "control characters"},
		{name: "name with surrounding space", adds: []AttributeRule{{Name: " a", Value: "v"}}, wantErrs: 1, wantText: "surrounding spaces"},
		{name: "over-long name", adds: []AttributeRule{{Name: strings.Repeat("n", 257), Value: "v"}}, wantErrs: 1, wantText: "longer than"},
		{name: "every problem at once", renames: map[string]string{"x": "y"}, drops: []string{"z"},
			adds: []AttributeRule{{Name: "", Value: "v"}, {Name: "b", From: "nope"}}, wantErrs: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := HuaweiProfile().With(tt.renames, tt.drops, tt.adds)
			if !errors.Is(err, ErrInvalidProfile) {
				t.Fatalf("err = %v, want ErrInvalidProfile", err)
			}
			if p.Attributes != nil {
				t.Error("a profile was returned along with the error")
			}
			if n := strings.Count(err.Error(), ErrInvalidProfile.Error()); n != tt.wantErrs {
				t.Errorf("%d problems reported, want %d:\n%v", n, tt.wantErrs, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not say %q", err, tt.wantText)
			}
		})
	}
}

func TestNamedProfile(t *testing.T) {
	for _, name := range []string{"", "huawei"} {
		p, err := NamedProfile(name)
		if err != nil || p.Name != "huawei" {
			t.Errorf("NamedProfile(%q) = %v, %v", name, p.Name, err)
		}
	}
	_, err := NamedProfile("okta")
	if !errors.Is(err, ErrInvalidProfile) || !strings.Contains(err.Error(), `profile "okta" is unknown (known: huawei)`) {
		t.Errorf("unknown profile: %v", err)
	}
	wantEqual(t, "profile names", strings.Join(ProfileNames(), ","), "huawei")
}

func TestBuilderProfilePerSP(t *testing.T) {
	other := huaweiSP()
	other.EntityID = "https://auth-intl.huaweicloud.com/"
	short, err := HuaweiProfile().With(nil, []string{"mobile", "email", "bpId"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := testBuilder(t)
	b.SPProfiles = map[string]Profile{other.EntityID: short}
	tests := []struct {
		name      string
		sp        *metadata.SP
		wantNames string
	}{
		{"an SP without its own profile gets the Builder's", huaweiSP(), "xUserId,xAccountId,name,mobile,email,bpId"},
		{"an SP with its own profile gets it", other, "xUserId,xAccountId,name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := huaweiRequest()
			req.SP, req.SPNameQualifier = tt.sp, tt.sp.EntityID
			r, err := b.Build(req, testUser())
			if err != nil {
				t.Fatal(err)
			}
			names, _ := attributes(t, r.XML)
			wantEqual(t, "attribute names", strings.Join(names, ","), tt.wantNames)
		})
	}
	t.Run("a broken per-SP profile is refused when used", func(t *testing.T) {
		b := testBuilder(t)
		b.SPProfiles = map[string]Profile{other.EntityID: {Name: "broken", Attributes: []AttributeRule{{Name: "x", From: "nowhere"}}}}
		req := huaweiRequest()
		req.SP, req.SPNameQualifier = other, other.EntityID
		if _, err := b.Build(req, testUser()); !errors.Is(err, ErrInvalidProfile) {
			t.Fatalf("err = %v", err)
		}
	})
}
