package handoff

import (
	"strings"
	"testing"
)

func TestValidXAccountID(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"cust-001", true},
		{"a", true},
		{strings.Repeat("x", 128), true},
		{"User_01.name@shop:eu+1=", true},
		{"0123456789abcdef0123456789abcdef", true},
		{"", false},
		{strings.Repeat("x", 129), false},
		{"a b", false},
		{"a\tb", false},
		{"a\x00", false},
		{"a\x7f", false},
		{"a/b", false},
		{"a#b", false},
		{"a%20b", false},
		{"a?b", false},
		{"a&b", false},
		{"a<b>", false},
		{`a"b`, false},
		{"用户", false},
		{"é", false},
		{"a\u200b", false}, // zero-width space
	}
	for _, tc := range tests {
		err := ValidXAccountID(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ValidXAccountID(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
		if err != nil && len(tc.in) > 20 && strings.Contains(err.Error(), tc.in) {
			t.Errorf("error echoes the whole value")
		}
	}
}
