package demoplatform

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// MaxReturnToLen bounds return_to; the bridge's resume URLs are far shorter.
const MaxReturnToLen = 2048

// ErrReturnTo matches every *ReturnToError (errors.Is).
var ErrReturnTo = errors.New("demoplatform: return_to refused")

// ReturnToError says why a return_to URL was refused. Msg never holds the
// whole URL.
type ReturnToError struct {
	Reason string // too_long, bad_characters, not_absolute, fragment, userinfo, not_bridge_origin, bad_query, has_token
	Msg    string
}

func (e *ReturnToError) Error() string {
	return "return_to refused (" + e.Reason + "): " + e.Msg
}

func (e *ReturnToError) Is(target error) bool { return target == ErrReturnTo }

// CheckReturnTo accepts return_to only when it is an absolute URL on
// bridgeOrigin (scheme://host[:port], as configured), so the login page can
// never be used as an open redirect or to hand a token to anyone but the
// bridge. The origin is compared on the raw text first, so no difference
// between Go's parser and a browser's can smuggle another host in.
func CheckReturnTo(returnTo, bridgeOrigin string) error {
	if len(returnTo) > MaxReturnToLen {
		return &ReturnToError{Reason: "too_long", Msg: fmt.Sprintf("return_to is longer than %d bytes", MaxReturnToLen)}
	}
	for i := 0; i < len(returnTo); i++ {
		if c := returnTo[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return &ReturnToError{Reason: "bad_characters", Msg: "return_to may not contain spaces, control characters, backslashes or raw non-ASCII"}
		}
	}
	scheme, rest, ok := strings.Cut(returnTo, "://")
	if !ok || scheme == "" {
		return &ReturnToError{Reason: "not_absolute", Msg: "return_to must be an absolute URL on the bridge, e.g. " + bridgeOrigin + "/sso/resume?…"}
	}
	if strings.Contains(returnTo, "#") {
		return &ReturnToError{Reason: "fragment", Msg: "return_to may not have a fragment: the token is appended to its query"}
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority = rest[:i]
	}
	if strings.Contains(authority, "@") {
		return &ReturnToError{Reason: "userinfo", Msg: "return_to may not contain user information (user@host)"}
	}
	if !strings.EqualFold(scheme+"://"+authority, bridgeOrigin) {
		return &ReturnToError{Reason: "not_bridge_origin", Msg: fmt.Sprintf("return_to is not on the bridge's origin %s", bridgeOrigin)}
	}
	// The raw checks decide; the parse only rejects what Go finds malformed.
	u, err := url.Parse(returnTo)
	if err != nil || u.Opaque != "" || u.User != nil || !strings.EqualFold(u.Host, authority) {
		return &ReturnToError{Reason: "not_absolute", Msg: "return_to is not a well-formed absolute URL"}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return &ReturnToError{Reason: "bad_query", Msg: "return_to's query is not valid URL encoding"}
	}
	if _, has := q["token"]; has {
		return &ReturnToError{Reason: "has_token", Msg: "return_to already carries a token parameter; the platform adds a fresh one"}
	}
	return nil
}

// withToken appends token to a checked return_to URL's query.
func withToken(returnTo, token string) string {
	sep := "?"
	if strings.Contains(returnTo, "?") {
		sep = "&"
		if strings.HasSuffix(returnTo, "?") || strings.HasSuffix(returnTo, "&") {
			sep = ""
		}
	}
	return returnTo + sep + "token=" + url.QueryEscape(token)
}
