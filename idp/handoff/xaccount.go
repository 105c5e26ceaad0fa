package handoff

import "github.com/partneridp/partneridp/binding"

// MaxXAccountIDLen is Huawei's limit for xaccount_id (create-customer API: String, max 128).
const MaxXAccountIDLen = binding.MaxXAccountIDLen

// XAccountIDCharset documents the characters a token's `sub` (the customer's xaccount_id) may
// use: the one alphabet of account IDs, defined in package binding and applied to notifications,
// imports and `bindings put` as well.
const XAccountIDCharset = binding.XAccountIDCharset

// ValidXAccountID checks a partner user id against the documented length and character set.
// The error names the offending character and its position, never the whole value.
func ValidXAccountID(s string) error { return binding.ValidXAccountID(s) }
