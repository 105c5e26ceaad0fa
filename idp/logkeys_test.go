package idp

import (
	"bytes"
	"encoding/json"

	"net/http"
	"strings"
	"testing"
)

// duplicateKey returns the first member name that appears twice in one
// object of the JSON document, at any depth, or "".
func duplicateKey(line []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	var walk func() (string, error)
	walk = func() (string, error) {
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return "", nil
		}
		switch d {
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return "", err
				}
				name := k.(string)
				if seen[name] {
					return name, nil
				}
				seen[name] = true
				if dup, err := walk(); dup != "" || err != nil {
					return dup, err
				}
			}
		case '[':
			for dec.More() {
				if dup, err := walk(); dup != "" || err != nil {
					return dup, err
				}
			}
		}
		_, err = dec.Token()
		return "", err
	}
	return walk()
}

// TestLogLinesHaveNoDuplicateKeys: a refusal, an internal error and a
// success each log; no JSON line carries a key twice (issue 11 item 8:
// refusals used to log two "msg" keys).
func TestLogLinesHaveNoDuplicateKeys(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.get(publicURL + PathHandoff + "?token=not-a-token")                // refused
	e.get(publicURL + PathSSO + "?SAMLRequest=%%%")                      // refused
	e.postBody(publicURL+PathBind, "bindRequest=x&SigAlg=y&Signature=z") // refused
	e.login("customer-1")                                                // accepted
	if p := e.get(publicURL + "/nope"); p.Status != http.StatusNotFound {
		t.Fatalf("status %d", p.Status)
	}
	lines := strings.Split(strings.TrimSpace(e.logs.String()), "\n")
	lines = append(lines, strings.Split(strings.TrimSpace(e.audit.String()), "\n")...)
	refusals := 0
	for i, l := range lines {
		if l == "" {
			continue
		}
		dup, err := duplicateKey([]byte(l))
		if err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", i, err, l)
		}
		if dup != "" {
			t.Errorf("line %d has key %q twice: %s", i, dup, l)
		}
		if strings.Contains(l, `"request refused"`) {
			refusals++
		}
	}
	if refusals == 0 {
		t.Fatalf("no refusal was logged; logs:\n%s", e.logs.String())
	}
}
