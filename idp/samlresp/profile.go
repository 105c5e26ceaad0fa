package samlresp

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/partneridp/partneridp/idp/user"
)

// Sources an AttributeRule can take its value from (AttributeRule.From):
// user.SourceXAccountID, the name of a registered field (user.Fields), or
// user.SourceClaimPrefix + a handoff-token claim.
const (
	FromXAccountID = user.SourceXAccountID
	// FromClaimPrefix + claim name reads user.User.Extra[claim name].
	FromClaimPrefix = user.SourceClaimPrefix
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
			{Name: "name", From: user.Name},
			{Name: "mobile", From: user.Mobile},
			{Name: "email", From: user.Email},
			{Name: "bpId", From: user.BPID},
		},
	}
}

// DefaultProfileName is the profile used when none is named.
const DefaultProfileName = "huawei"

// profiles are the attribute profiles an operator can name, each made anew
// on every call so that no caller can change another's.
var profiles = map[string]func() Profile{
	DefaultProfileName: HuaweiProfile,
}

// ProfileNames lists the known profiles, sorted.
func ProfileNames() []string {
	return slices.Sorted(maps.Keys(profiles))
}

// NamedProfile returns the profile called name ("" is DefaultProfileName).
// An unknown name is an ErrInvalidProfile that lists the known ones.
func NamedProfile(name string) (Profile, error) {
	if name == "" {
		name = DefaultProfileName
	}
	mk, ok := profiles[name]
	if !ok {
		return Profile{}, fmt.Errorf("%w: profile %q is unknown (known: %s)", ErrInvalidProfile, name, strings.Join(ProfileNames(), ", "))
	}
	return mk(), nil
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
// names, unknown sources (of user.Fields), a rule with both or neither of
// From and Value.
func (p Profile) Validate() error { return p.validate(user.Fields) }

func (p Profile) validate(fields user.Registry) error {
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
		case !fields.KnownSource(a.From):
			errs = append(errs, fmt.Errorf("%w: %s: unknown from %q (use %s)", ErrInvalidProfile, where(), a.From, fields.Sources()))
		}
	}
	return errors.Join(errs...)
}

// attributeValue is what a rule yields for u; "" means the attribute is left
// out. u's fields were checked and normalised by checkUser.
func (a AttributeRule) attributeValue(fields user.Registry, u user.User) string {
	if a.From == "" {
		return a.Value
	}
	return fields.Value(u, a.From)
}
