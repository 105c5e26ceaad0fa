package handoff

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// maxJSONDepth bounds the nesting checkUniqueMembers walks; a handoff token
// has flat claims, so anything deeper is refused.
const maxJSONDepth = 32

// checkTokenJSON refuses a compact JWS whose header or payload JSON names a
// member twice in one object. encoding/json (and so golang-jwt) keeps the
// last duplicate while other parsers keep the first: two readers of the same
// token could see two different subjects. Notifications are held to the
// same rule (binding's readObject).
func checkTokenJSON(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return tokenErr(ReasonMalformed, "", "token is not a compact JWS (three dot-separated parts)")
	}
	for i, what := range []string{"header", "payload"} {
		raw, err := base64.RawURLEncoding.Strict().DecodeString(parts[i])
		if err != nil {
			return tokenErr(ReasonMalformed, "", "token %s is not unpadded base64url", what)
		}
		if err := checkUniqueMembers(raw); err != nil {
			return tokenErr(ReasonMalformed, "", "token %s: %v; every member may appear once", what, err)
		}
	}
	return nil
}

// checkUniqueMembers reports the first object member name that appears twice
// in one object, at any depth. Syntax errors are left to the JSON decoder
// that reads the document afterwards, except that the walk stops there.
func checkUniqueMembers(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walkUnique(dec, 0); errors.Is(err, errDuplicateMember) {
		return err
	}
	return nil
}

var errDuplicateMember = errors.New("duplicate member")

type duplicateMemberError struct{ name string }

func (e *duplicateMemberError) Error() string {
	return fmt.Sprintf("member %s appears twice", clip(e.name))
}

func (e *duplicateMemberError) Is(target error) bool { return target == errDuplicateMember }

func walkUnique(dec *json.Decoder, depth int) error {
	if depth > maxJSONDepth {
		return &duplicateMemberError{name: "(nested too deep)"}
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			name, _ := k.(string)
			if seen[name] {
				return &duplicateMemberError{name: name}
			}
			seen[name] = true
			if err := walkUnique(dec, depth+1); err != nil {
				return err
			}
		}
	case '[':
		for dec.More() {
			if err := walkUnique(dec, depth+1); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}
