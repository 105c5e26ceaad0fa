package samlresp

import (
	"errors"
	"unicode/utf8"
)

var errBadText = errors.New("has invalid UTF-8, control characters or XML non-characters")

// checkText refuses what would not survive an XML round trip unchanged:
// invalid UTF-8, control characters (an XML parser rewrites CR, LF and TAB in
// attribute values, which would break the signature digest) and U+FFFE/U+FFFF.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errBadText
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffe || r == 0xffff {
			return errBadText
		}
	}
	return nil
}
