package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// hiddenRune reports a character an operator cannot see in a terminal:
// controls, format characters (zero-width, bidi overrides, BOM), spaces
// other than the ASCII space, line and paragraph separators, and invalid
// UTF-8.
func hiddenRune(r rune) bool {
	switch {
	case r == utf8.RuneError:
		return true
	case r == ' ':
		return false
	case unicode.IsControl(r), unicode.Is(unicode.Cf, r), unicode.Is(unicode.Zs, r),
		unicode.Is(unicode.Zl, r), unicode.Is(unicode.Zp, r):
		return true
	}
	return false
}

// visible prints a stored value for a table: unchanged when every character
// can be seen, else Go-quoted with \u escapes, so that "a\u200bb" and "ab"
// never look the same. Leading or trailing spaces are quoted too.
func visible(s string) string {
	odd := s != strings.TrimSpace(s)
	for i, r := range s {
		if hiddenRune(r) || (r == utf8.RuneError && !utf8.FullRuneInString(s[i:])) {
			odd = true
			break
		}
	}
	if !utf8.ValidString(s) {
		odd = true
	}
	if !odd {
		return s
	}
	return strconv.QuoteToASCII(s)
}

// visibleJSON is a writer for JSON output that writes every hidden
// character inside it as a \uXXXX escape. The JSON stays valid and decodes
// to the same value; only its look changes.
type visibleJSON struct{ w io.Writer }

func (v visibleJSON) Write(p []byte) (int, error) {
	var b bytes.Buffer
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if r != utf8.RuneError && r >= 0x80 && hiddenRune(r) {
			if r > 0xffff {
				r1, r2 := utf16Surrogates(r)
				fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		} else {
			b.Write(p[i : i+size])
		}
		i += size
	}
	if _, err := v.w.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

func utf16Surrogates(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}

// unquoteArg lets an operator name an entry the way `bindings list` prints
// it: a Go-quoted "a\u200bb" is unquoted; anything else is taken as is.
func unquoteArg(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
	}
	return s
}
