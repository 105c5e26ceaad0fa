package demoplatform

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// PathTrace is the demo's login trace page, served when Config.Trace is set.
const PathTrace = "/trace"

// How a handoff token left the platform (TokenMinted.Via).
const (
	ViaConsoleButton = "console button"
	ViaLoginReturnTo = "login page, back to the bridge"
)

// Tracer is the demo's login trace (optional): it is told of every handoff
// token the platform mints, by its header and claims only (never the token
// or its signature), and it serves the trace page at PathTrace.
type Tracer interface {
	HandoffMinted(TokenMinted)
	http.Handler
}

// TokenMinted is a handoff token as the trace may show it.
type TokenMinted struct {
	XAccountID string
	Via        string // ViaConsoleButton or ViaLoginReturnTo
	Header     map[string]any
	Claims     map[string]any
}

// tokenParts decodes a compact JWS's header and claims; the signature is
// dropped.
func tokenParts(token string) (header, claims map[string]any, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, errors.New("not a compact JWS")
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, nil, err
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return nil, nil, err
		}
	}
	return header, claims, nil
}

// traceMinted tells the tracer of a minted token, when there is one.
func (p *Platform) traceMinted(xAccountID, via, token string) {
	if p.trace == nil {
		return
	}
	header, claims, err := tokenParts(token)
	if err != nil {
		p.log.Warn("demoplatform: minted token not traced", "err", err)
		return
	}
	p.trace.HandoffMinted(TokenMinted{XAccountID: xAccountID, Via: via, Header: header, Claims: claims})
}
