package binding

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// jsonField is one top-level member of a JSON object, value undecoded.
type jsonField struct {
	Name  string
	Value json.RawMessage
}

// readObject splits a JSON document that must be exactly one object into its
// members, in order. It refuses invalid UTF-8, duplicate member names (two
// parsers could otherwise disagree on which one counts) and trailing data.
func readObject(data []byte) ([]jsonField, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not JSON: %v", jsonErrText(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var fields []jsonField
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not JSON: %v", jsonErrText(err))
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("not JSON: object member name expected")
		}
		if seen[name] {
			return nil, fmt.Errorf("member %.40q appears twice", name)
		}
		seen[name] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("not JSON: member %.40q: %v", name, jsonErrText(err))
		}
		fields = append(fields, jsonField{Name: name, Value: v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("not JSON: %v", jsonErrText(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	return fields, nil
}

func jsonErrText(err error) string {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return "unexpected end of input"
	}
	return err.Error()
}

// jsonString decodes a member that must be a JSON string.
func jsonString(v json.RawMessage) (string, bool) {
	if len(v) == 0 || v[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}
