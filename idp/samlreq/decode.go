package samlreq

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"sync"
)

// DefaultMaxInflated caps a decoded message when Intake.MaxInflated is 0.
// Huawei's AuthnRequest is under 1 KiB.
const DefaultMaxInflated = 64 << 10

// maxDeflated is the most a raw DEFLATE stream can take to carry max bytes:
// stored blocks cost 5 bytes per 64 KiB, so a margin of 1 KiB is plenty.
func maxDeflated(max int) int { return max + 1024 }

// DecodeRedirectMessage turns the URL-decoded value of an HTTP-Redirect
// SAMLRequest (or SAMLResponse) into XML: base64, then raw DEFLATE (RFC 1951,
// no zlib header). The inflated size is capped at max bytes
// (DefaultMaxInflated when max <= 0) so a small "deflate bomb" cannot
// exhaust memory. Errors are *Error with Kind Untrusted.
func DecodeRedirectMessage(v string, max int) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxInflated
	}
	deflated, err := decodeBase64(v, maxDeflated(max))
	if err != nil {
		return nil, err
	}
	out, err := inflate(deflated, max+1)
	if err != nil {
		return nil, untrusted(ReasonUndecodable, nil,
			"SAMLRequest is not raw DEFLATE data (%v): the HTTP-Redirect binding deflates without a zlib header", deflateProblem(err))
	}
	if len(out) > max {
		return nil, untrusted(ReasonTooLarge, nil,
			"SAMLRequest inflates to more than %d bytes: refused as too large", max)
	}
	if len(out) == 0 {
		return nil, untrusted(ReasonUndecodable, nil, "SAMLRequest inflates to nothing: send a SAML message")
	}
	return out, nil
}

// decodePostMessage decodes the SAMLRequest of the HTTP-POST binding:
// base64 only, no DEFLATE, capped at max decoded bytes.
func decodePostMessage(v string, max int) ([]byte, error) {
	return decodeBase64(v, max)
}

// decodeBase64 checks the encoded length before decoding, so the cap holds
// for memory too. Line breaks are dropped: some senders wrap base64 at 76.
func decodeBase64(v string, maxDecoded int) ([]byte, error) {
	if len(v) > base64.StdEncoding.EncodedLen(maxDecoded)+len(v)/76*2 {
		return nil, untrusted(ReasonTooLarge, nil,
			"SAMLRequest is %d bytes of base64, more than %d decoded bytes allow: refused as too large", len(v), maxDecoded)
	}
	clean := v
	if strings.ContainsAny(v, "\r\n") {
		clean = strings.NewReplacer("\r", "", "\n", "").Replace(v)
	}
	out, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, untrusted(ReasonUndecodable, nil,
			"SAMLRequest is not standard base64 (a '+' sent unencoded turns into a space): the SP must URL-encode the base64 text")
	}
	if len(out) > maxDecoded {
		return nil, untrusted(ReasonTooLarge, nil,
			"SAMLRequest decodes to more than %d bytes: refused as too large", maxDecoded)
	}
	if len(out) == 0 {
		return nil, untrusted(ReasonUndecodable, nil, "SAMLRequest is empty: send a SAML message")
	}
	return out, nil
}

// deflateProblem names the failure without echoing attacker bytes.
func deflateProblem(err error) string {
	var corrupt flate.CorruptInputError
	switch {
	case errors.As(err, &corrupt):
		return "corrupt input"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated stream"
	}
	return "read error"
}

// inflaters keeps DEFLATE readers for reuse: a new one allocates a 32 KiB
// window and its tables, more than everything else a request needs.
var inflaters sync.Pool

// inflate reads at most limit bytes of the raw DEFLATE stream in deflated.
func inflate(deflated []byte, limit int) ([]byte, error) {
	src := bytes.NewReader(deflated)
	r, _ := inflaters.Get().(io.ReadCloser)
	if r == nil {
		r = flate.NewReader(src)
	} else if err := r.(flate.Resetter).Reset(src, nil); err != nil {
		return nil, err
	}
	defer func() {
		r.Close()
		inflaters.Put(r)
	}()
	// SAML requests deflate 2-4 times; start there and let ReadFrom grow it.
	var out bytes.Buffer
	out.Grow(min(4*len(deflated)+512, limit))
	_, err := out.ReadFrom(io.LimitReader(r, int64(limit)))
	return out.Bytes(), err
}
