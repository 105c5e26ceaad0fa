package samlresp

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
)

// Sources an AttributeRule can take its value from (AttributeRule.From).
const (
	FromXAccountID = "xaccount_id"
	FromName       = "name"
	FromMobile     = "mobile"
	FromEmail      = "email"
	FromBPID       = "bp_id"
	// FromClaimPrefix + claim name reads User.Claims[claim name].
	FromClaimPrefix = "claim:"
)

// AttrNameFormatURI is the NameFormat of every attribute we emit: the one
// Huawei's partner SSO evidence uses (huawei-webui-saml.md §6.2).
const AttrNameFormatURI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"

const maxAttrNameLen = 256

// AttributeRule is one attribute of the AttributeStatement: its Name and where
// its value comes from. From == "" means the constant Value.
type AttributeRule struct {
	Name  string
	From  string
	Value string
}

// Profile is the list of attributes sent to one kind of SP, in order.
type Profile struct {
	Name       string
	Attributes []AttributeRule
}

// HuaweiProfile is what Huawei partner SSO reads: xUserId and xAccountId
// (both the customer's xaccount_id), and name, mobile, email, bpId when known.
func HuaweiProfile() Profile {
	return Profile{
		Name: "huawei",
		Attributes: []AttributeRule{
			{Name: "xUserId", From: FromXAccountID},
			{Name: "xAccountId", From: FromXAccountID},
			{Name: "name", From: FromName},
			{Name: "mobile", From: FromMobile},
			{Name: "email", From: FromEmail},
			{Name: "bpId", From: FromBPID},
		},
	}
}

// With returns a copy of p customised by the operator's config: renames maps
// an existing attribute name to its new name, drops removes attributes by
// their name in p, adds are appended. Every problem is reported at once.
func (p Profile) With(renames map[string]string, drops []string, adds []AttributeRule) (Profile, error) {
	var errs []error
	index := map[string]int{}
	for i, a := range p.Attributes {
		index[a.Name] = i
	}
	dropped := map[string]bool{}
	for _, d := range drops {
		if _, ok := index[d]; !ok {
			errs = append(errs, fmt.Errorf("%w: drop %q: profile %q has no such attribute", ErrInvalidProfile, d, p.Name))
		}
		dropped[d] = true
	}
	for from := range renames {
		if _, ok := index[from]; !ok {
			errs = append(errs, fmt.Errorf("%w: rename %q: profile %q has no such attribute", ErrInvalidProfile, from, p.Name))
		}
		if dropped[from] {
			errs = append(errs, fmt.Errorf("%w: %q is both renamed and dropped; keep one", ErrInvalidProfile, from))
		}
	}

	out := Profile{Name: p.Name}
	for _, a := range p.Attributes {
		if dropped[a.Name] {
			continue
		}
		if to, ok := renames[a.Name]; ok {
			a.Name = to
		}
		out.Attributes = append(out.Attributes, a)
	}
	out.Attributes = append(out.Attributes, adds...)

	if err := out.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Profile{}, errors.Join(errs...)
	}
	return out, nil
}

// Validate reports every invalid rule: empty or over-long names, duplicate
// names, unknown sources, a rule with both or neither of From and Value.
func (p Profile) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, a := range p.Attributes {
		// Formatted only for an error: Build validates its profile every time.
		where := func() string { return fmt.Sprintf("attribute %d (%q)", i+1, a.Name) }
		switch {
		case strings.TrimSpace(a.Name) == "":
			errs = append(errs, fmt.Errorf("%w: %s: name is empty", ErrInvalidProfile, where()))
		case len(a.Name) > maxAttrNameLen:
			errs = append(errs, fmt.Errorf("%w: %s: name is longer than %d bytes", ErrInvalidProfile, where(), maxAttrNameLen))
		case checkText(a.Name) != nil || a.Name != strings.TrimSpace(a.Name):
			errs = append(errs, fmt.Errorf("%w: %s: name has control characters, invalid UTF-8 or surrounding spaces", ErrInvalidProfile, where()))
		case seen[a.Name]:
			errs = append(errs, fmt.Errorf("%w: %s: duplicate name; attribute names must be unique", ErrInvalidProfile, where()))
		}
		seen[a.Name] = true

		switch {
		case a.From == "" && a.Value == "":
			errs = append(errs, fmt.Errorf("%w: %s: set either from or a constant value", ErrInvalidProfile, where()))
		case a.From == "":
			if checkText(a.Value) != nil {
				errs = append(errs, fmt.Errorf("%w: %s: constant value has control characters or invalid UTF-8", ErrInvalidProfile, where()))
			}
		case a.Value != "":
			errs = append(errs, fmt.Errorf("%w: %s: set from or value, not both", ErrInvalidProfile, where()))
		case !knownSource(a.From):
			errs = append(errs, fmt.Errorf("%w: %s: unknown from %q (use xaccount_id, name, mobile, email, bp_id or claim:<name>)", ErrInvalidProfile, where(), a.From))
		}
	}
	return errors.Join(errs...)
}

func knownSource(from string) bool {
	switch from {
	case FromXAccountID, FromName, FromMobile, FromEmail, FromBPID:
		return true
	}
	claim, ok := strings.CutPrefix(from, FromClaimPrefix)
	return ok && strings.TrimSpace(claim) != ""
}

// attributeValue is what a rule yields for u; "" means the attribute is left out.
// u's fields were checked and normalised by checkUser.
func (a AttributeRule) attributeValue(u *User) string {
	switch a.From {
	case "":
		return a.Value
	case FromXAccountID:
		return u.XAccountID
	case FromName:
		return u.Name
	case FromMobile:
		return u.Mobile
	case FromEmail:
		return u.Email
	case FromBPID:
		return u.BPID
	}
	claim, _ := strings.CutPrefix(a.From, FromClaimPrefix)
	return u.Claims[claim]
}

// mobilePattern is Huawei's "国家码-手机号码": country code, hyphen, number.
var mobilePattern = regexp.MustCompile(`^\+?([0-9]{1,4})-([0-9]{4,15})$`)

// normalizeMobile accepts "86-13800000000" and "+86-13800000000" and returns
// the former.
func normalizeMobile(s string) (string, error) {
	m := mobilePattern.FindStringSubmatch(s)
	if m == nil {
		return "", fmt.Errorf("%w: mobile must be country code, hyphen, number (for example 86-13912345678)", ErrInvalidUser)
	}
	return m[1] + "-" + m[2], nil
}

func checkEmail(s string) error {
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return fmt.Errorf("%w: email must be a bare address such as user@example.com", ErrInvalidUser)
	}
	return nil
}
