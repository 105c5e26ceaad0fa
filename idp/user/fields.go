package user

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
)

// The registered fields' names, for code that reads one of them (NameID
// emailAddress reads Email). Profiles name them as their source.
const (
	Name   = "name"   // Huawei `name` (keep equal to create-customer domain_name)
	Mobile = "mobile" // "countrycode-number", e.g. 86-13800000000
	Email  = "email"
	BPID   = "bp_id" // the bpId attribute
)

// Profile sources that are not registered fields.
const (
	// SourceXAccountID reads User.XAccountID.
	SourceXAccountID = "xaccount_id"
	// SourceClaimPrefix + claim name reads User.Extra[claim name].
	SourceClaimPrefix = "claim:"
)

// Field is one optional customer field.
type Field struct {
	// Name is the field's key in User.Fields and its profile source.
	Name string
	// Claim is the handoff-token claim it is read from, and its key in the
	// session cookie.
	Claim string
	// Normalize (optional) checks a non-empty value when an assertion is
	// built and returns the form sent. Text rules (length, control
	// characters) apply to every field and are not repeated here.
	Normalize func(string) (string, error)
}

// Registry is the list of registered fields, in the order they are checked.
type Registry []Field

// Fields is the registry every package uses unless a test injects another.
var Fields = Registry{
	{Name: Name, Claim: "name"},
	{Name: Mobile, Claim: "mobile", Normalize: normalizeMobile},
	{Name: Email, Claim: "email", Normalize: checkEmail},
	{Name: BPID, Claim: "bp_id"},
}

// OrDefault is r, or Fields when r is nil.
func (r Registry) OrDefault() Registry {
	if r == nil {
		return Fields
	}
	return r
}

// ByClaim returns the field read from a token claim.
func (r Registry) ByClaim(claim string) (Field, bool) {
	i := slices.IndexFunc(r, func(f Field) bool { return f.Claim == claim })
	if i < 0 {
		return Field{}, false
	}
	return r[i], true
}

// ByName returns the field of that name.
func (r Registry) ByName(name string) (Field, bool) {
	i := slices.IndexFunc(r, func(f Field) bool { return f.Name == name })
	if i < 0 {
		return Field{}, false
	}
	return r[i], true
}

// KnownSource says whether a profile rule may read from source.
func (r Registry) KnownSource(source string) bool {
	if source == SourceXAccountID {
		return true
	}
	if _, ok := r.ByName(source); ok {
		return true
	}
	claim, ok := strings.CutPrefix(source, SourceClaimPrefix)
	return ok && strings.TrimSpace(claim) != ""
}

// Sources describes the valid profile sources, for error messages.
func (r Registry) Sources() string {
	names := []string{SourceXAccountID}
	for _, f := range r {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ") + " or " + SourceClaimPrefix + "<name>"
}

// Value is what source yields for u; "" means unknown. source must be known.
func (r Registry) Value(u User, source string) string {
	if source == SourceXAccountID {
		return u.XAccountID
	}
	if claim, ok := strings.CutPrefix(source, SourceClaimPrefix); ok {
		return u.Extra[claim]
	}
	return u.Fields[source]
}

// Normalize checks every registered field of u that has a value and
// returns a copy with the normalized values. The first failing field's
// error is returned.
func (r Registry) Normalize(u User) (User, error) {
	u = u.Clone()
	for _, f := range r {
		v := u.Fields[f.Name]
		if v == "" || f.Normalize == nil {
			continue
		}
		n, err := f.Normalize(v)
		if err != nil {
			return User{}, err
		}
		u.Fields[f.Name] = n
	}
	return u, nil
}

// mobilePattern is Huawei's "国家码-手机号码": country code, hyphen, number.
var mobilePattern = regexp.MustCompile(`^\+?([0-9]{1,4})-([0-9]{4,15})$`)

// normalizeMobile accepts "86-13800000000" and "+86-13800000000" and returns
// the former.
func normalizeMobile(s string) (string, error) {
	m := mobilePattern.FindStringSubmatch(s)
	if m == nil {
		return "", errors.New("mobile must be country code, hyphen, number (for example 86-13912345678)")
	}
	return m[1] + "-" + m[2], nil
}

func checkEmail(s string) (string, error) {
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return "", fmt.Errorf("email must be a bare address such as user@example.com")
	}
	return s, nil
}
