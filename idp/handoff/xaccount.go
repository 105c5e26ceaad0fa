package handoff

import (
	"errors"
	"fmt"
)

// MaxXAccountIDLen is Huawei's limit for xaccount_id (create-customer API: String, max 128).
const MaxXAccountIDLen = 128

// XAccountIDCharset documents the characters a token's `sub` (the customer's xaccount_id) may
// use. Huawei only documents the length; we keep to a set that survives URLs, XML attributes,
// logs and CSV exports unchanged: ASCII letters, digits and - _ . @ : + =
const XAccountIDCharset = "A-Z a-z 0-9 - _ . @ : + ="

var (
	errXAccountIDEmpty   = errors.New("xaccount_id is empty")
	errXAccountIDTooLong = fmt.Errorf("xaccount_id is longer than %d characters", MaxXAccountIDLen)
)

// ValidXAccountID checks a partner user id against the documented length and character set.
// The error names the offending position, never the whole value.
func ValidXAccountID(s string) error {
	if s == "" {
		return errXAccountIDEmpty
	}
	if len(s) > MaxXAccountIDLen {
		return errXAccountIDTooLong
	}
	for i := 0; i < len(s); i++ {
		if !xAccountIDByte(s[i]) {
			return fmt.Errorf("xaccount_id has a disallowed byte 0x%02x at position %d (allowed: %s)", s[i], i, XAccountIDCharset)
		}
	}
	return nil
}

func xAccountIDByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', '@', ':', '+', '=':
		return true
	}
	return false
}
