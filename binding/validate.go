package binding

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Field limits. The XAccount limits are those of Huawei's create-customer
// API (xaccount_type ≤ 64, xaccount_id ≤ 128); the domain limits leave room
// over the values Huawei issues.
const (
	MaxXAccountTypeLen = 64
	MaxXAccountIDLen   = 128
	MaxDomainIDLen     = 128
	MaxDomainNameLen   = 64
	MaxActorLen        = 256
	MaxExtraLen        = 16 << 10
)

// Validate checks a partner-account key: both parts present, within
// Huawei's limits (counted in characters), valid UTF-8, no control
// characters. Errors wrap ErrInvalid.
func (k Key) Validate() error {
	if err := checkText("xaccount_type", k.XAccountType, MaxXAccountTypeLen, true); err != nil {
		return err
	}
	return checkText("xaccount_id", k.XAccountID, MaxXAccountIDLen, true)
}

// Validate checks what a Store accepts in Put: the key, the domain and the
// source. The timestamps are the store's to set and are not checked.
//
// The stricter alphabet of account IDs (ValidXAccountID) is applied where a
// new account ID enters (notification, import line, `bindings put`), not
// here: Validate also checks stored records (verify, backup), and an odd
// entry stored before that rule must stay readable, listable and deletable.
func (b Binding) Validate() error {
	if err := b.Key.Validate(); err != nil {
		return err
	}
	if err := checkText("domain_id", b.DomainID, MaxDomainIDLen, true); err != nil {
		return err
	}
	if err := checkText("domain_name", b.DomainName, MaxDomainNameLen, false); err != nil {
		return err
	}
	return b.Source.Validate()
}

// Validate accepts the known sources only, so history stays meaningful.
func (s Source) Validate() error {
	switch s {
	case SourceNotification, SourceImport, SourceOperator, SourceCreateCustomer:
		return nil
	case "":
		return fmt.Errorf("%w: source is empty (want notification, import, operator or create_customer)", ErrInvalid)
	}
	return fmt.Errorf("%w: source %.40q is unknown (want notification, import, operator or create_customer)", ErrInvalid, string(s))
}

// ValidateChangeInfo checks the actor and extra JSON a Put or Delete records
// in history.
func ValidateChangeInfo(actor string, extra json.RawMessage) error {
	if err := checkText("actor", actor, MaxActorLen, false); err != nil {
		return err
	}
	if extra == nil {
		return nil
	}
	if len(extra) > MaxExtraLen {
		return fmt.Errorf("%w: extra is %d bytes, more than the %d allowed", ErrInvalid, len(extra), MaxExtraLen)
	}
	if !json.Valid(extra) {
		return fmt.Errorf("%w: extra is not valid JSON", ErrInvalid)
	}
	return nil
}

// XAccountIDCharset documents the characters an xaccount_id may use: the
// one alphabet of account IDs (token sub, notification xUserId, import
// lines, `bindings put`). Huawei only documents the length (128); this set
// survives URLs, XML attributes, logs and CSV exports unchanged and has no
// look-alikes: no spaces, no invisible or bidi characters, no fullwidth
// letters.
const XAccountIDCharset = "A-Z a-z 0-9 - _ . @ : + ="

// ValidXAccountID checks an xaccount_id against the one alphabet and
// Huawei's length limit. The error names the first bad character and its
// position (1-based, in characters), never the whole value.
func ValidXAccountID(s string) error {
	if s == "" {
		return errors.New("xaccount_id is empty")
	}
	if len(s) > MaxXAccountIDLen {
		return fmt.Errorf("xaccount_id is longer than %d characters", MaxXAccountIDLen)
	}
	pos := 0
	for i := 0; i < len(s); {
		pos++
		c := s[i]
		if xAccountIDByte(c) {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			return fmt.Errorf("xaccount_id has the invalid UTF-8 byte 0x%02x at position %d (allowed: %s)", c, pos, XAccountIDCharset)
		}
		return fmt.Errorf("xaccount_id has the character %s at position %d (allowed: %s)", describeRune(r), pos, XAccountIDCharset)
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

// describeRune names a character so that an invisible one is visible in
// an error: U+200B, or U+0041 'A' for a printable one.
func describeRune(r rune) string {
	if r == ' ' {
		return "U+0020 (space)"
	}
	if unicode.IsPrint(r) && !unicode.Is(unicode.Cf, r) {
		return fmt.Sprintf("%U %q", r, r)
	}
	return fmt.Sprintf("%U (invisible or control)", r)
}

// checkText is the one rule set for every identifier: non-empty when
// required, at most max characters, valid UTF-8 and free of control
// characters (which also keeps the NUL byte free for the store's key
// separator).
func checkText(field, s string, max int, required bool) error {
	if s == "" {
		if required {
			return fmt.Errorf("%w: %s is empty", ErrInvalid, field)
		}
		return nil
	}
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return fmt.Errorf("%w: %s contains the control character %U at byte %d", ErrInvalid, field, rune(c), i)
			}
			i++
			n++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return fmt.Errorf("%w: %s is not valid UTF-8 (byte %d)", ErrInvalid, field, i)
		}
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %s contains the control character %U at byte %d", ErrInvalid, field, r, i)
		}
		i += size
		n++
	}
	if n > max {
		return fmt.Errorf("%w: %s is %d characters, more than the %d allowed", ErrInvalid, field, n, max)
	}
	return nil
}

// CheckDomainID validates a Huawei domain ID given to a lookup.
func CheckDomainID(domainID string) error {
	return checkText("domain_id", domainID, MaxDomainIDLen, true)
}

// CompareKeys orders keys by type, then ID, byte-wise: the order List
// returns on every backend.
func CompareKeys(a, b Key) int {
	if c := strings.Compare(a.XAccountType, b.XAccountType); c != 0 {
		return c
	}
	return strings.Compare(a.XAccountID, b.XAccountID)
}

// MaxChangesLimit bounds one Changes call.
const MaxChangesLimit = 10000

// CheckChangesLimit validates the limit of a Changes call.
func CheckChangesLimit(limit int) error {
	if limit <= 0 || limit > MaxChangesLimit {
		return fmt.Errorf("%w: changes limit %d is outside 1..%d", ErrInvalid, limit, MaxChangesLimit)
	}
	return nil
}

// MarkApplied is the error of an Update whose mark was recorded before.
func MarkApplied(mark string) error {
	return fmt.Errorf("%w: mark %s was recorded by an earlier update; nothing changed", ErrApplied, mark)
}
