package binding

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// TestValidXAccountID: the one alphabet of account IDs; errors name the
// character and its 1-based position, never the whole value.
func TestValidXAccountID(t *testing.T) {
	tests := []struct {
		in, want string // want: "" for ok, else a substring of the error
	}{
		{"cust-001", ""},
		{"User_01.name@shop:eu+1=", ""},
		{strings.Repeat("x", 128), ""},
		{"", "empty"},
		{strings.Repeat("x", 129), "longer than 128"},
		{"ab\u200bc", "U+200B (invisible or control) at position 3"},
		{"\u202ecust", "U+202E (invisible or control) at position 1"},
		{" cust", "U+0020 (space) at position 1"},
		{"cust ", "U+0020 (space) at position 5"},
		{"ｃust", "U+FF43 'ｃ' at position 1"},
		{"用户1", "U+7528 '用' at position 1"},
		{"a\xffb", "invalid UTF-8 byte 0xff at position 2"},
		{"a\x00", "U+0000 (invisible or control) at position 2"},
		{"a\ufeff", "U+FEFF (invisible or control) at position 2"},
	}
	for _, tc := range tests {
		err := ValidXAccountID(tc.in)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: err %v, want it to contain %q", tc.in, err, tc.want)
		}
	}
}

// TestNotificationXUserIDAlphabet: a notification's xUserId follows the
// token sub rules (issue 11 item 3). Before, each of these was accepted and
// stored as a separate binding no login could reach.
func TestNotificationXUserIDAlphabet(t *testing.T) {
	for name, id := range map[string]string{
		"zero-width space":       "cust\u200b-1",
		"right-to-left override": "\u202ecust-1",
		"leading space":          " cust-1",
		"trailing space":         "cust-1 ",
		"fullwidth letters":      "ｃｕｓｔ-1",
		"ideographic space":      "cust\u3000-1",
	} {
		t.Run(name, func(t *testing.T) {
			raw := `{"domainId":"d1","domainName":"n","xUserId":"` + id + `","bindAction":"0"}`
			_, err := decodeBindRequest(base64.StdEncoding.EncodeToString([]byte(raw)))
			if !errors.Is(err, ErrNotificationFields) || !strings.Contains(err.Error(), "xUserId: xaccount_id has the character") ||
				!strings.Contains(err.Error(), "at position") {
				t.Fatalf("err = %v", err)
			}
		})
	}
	good := `{"domainId":"d1","domainName":"名字","xUserId":"cust-1","bindAction":"0"}`
	if _, err := decodeBindRequest(base64.StdEncoding.EncodeToString([]byte(good))); err != nil {
		t.Fatalf("good notification: %v", err)
	}
}
