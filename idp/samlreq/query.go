package samlreq

import (
	"net/url"
	"strings"
)

// queryParam is one HTTP-Redirect parameter: raw is the text exactly as it
// arrived (still URL-encoded), used to rebuild the signed octets; value is
// the URL-decoded text, used for everything else.
type queryParam struct {
	present bool
	raw     string
	value   string
}

// redirectQuery holds the four HTTP-Redirect binding parameters.
type redirectQuery struct {
	SAMLRequest queryParam
	RelayState  queryParam
	SigAlg      queryParam
	Signature   queryParam
}

// splitRedirectQuery parses the raw query string itself instead of using
// url.ParseQuery: the signature covers the encoded text as sent, and a
// decode/re-encode round trip would change it. Parameters other than the
// four of the binding are ignored; any of the four given twice is refused,
// so that no two readers can disagree on which one counts.
func splitRedirectQuery(rawQuery string, maxLen int) (*redirectQuery, error) {
	if len(rawQuery) > maxLen {
		return nil, untrusted(ReasonTooLarge, nil,
			"the query string is %d bytes, more than the %d allowed: the SP must send a smaller request", len(rawQuery), maxLen)
	}
	q := &redirectQuery{}
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		name, raw, _ := strings.Cut(part, "=")
		p := q.param(name)
		if p == nil {
			continue
		}
		if p.present {
			return nil, untrusted(ReasonDuplicateParam, nil,
				"the query has %s more than once: send each SAML parameter once", name)
		}
		value, err := url.QueryUnescape(raw)
		if err != nil {
			return nil, untrusted(ReasonMalformedQuery, nil,
				"the %s parameter is not valid URL encoding: encode it as the HTTP-Redirect binding says", name)
		}
		*p = queryParam{present: true, raw: raw, value: value}
	}
	return q, nil
}

func (q *redirectQuery) param(name string) *queryParam {
	switch name {
	case "SAMLRequest":
		return &q.SAMLRequest
	case "RelayState":
		return &q.RelayState
	case "SigAlg":
		return &q.SigAlg
	case "Signature":
		return &q.Signature
	}
	return nil
}

// requireMessageAndSignature refuses a query without a SAMLRequest or
// without its signature. Our policy signs every request, whatever the SP
// metadata's AuthnRequestsSigned says.
func (q *redirectQuery) requireMessageAndSignature() error {
	if !q.SAMLRequest.present || q.SAMLRequest.value == "" {
		return untrusted(ReasonNoMessage, nil,
			"the query has no SAMLRequest parameter: this URL only accepts SAML requests (HTTP-Redirect binding)")
	}
	if !q.SigAlg.present || !q.Signature.present || q.SigAlg.value == "" || q.Signature.value == "" {
		return untrusted(ReasonSignatureMissing, nil,
			"the SAMLRequest has no SigAlg/Signature parameters: this IdP requires every request to be signed; turn on request signing at the SP")
	}
	return nil
}

// signedOctets is the string the SP signed (SAML bindings §3.4.4.1): the
// parameters in this fixed order, each exactly as received, RelayState
// left out when absent.
func (q *redirectQuery) signedOctets() []byte {
	b := make([]byte, 0, len("SAMLRequest=&RelayState=&SigAlg=")+len(q.SAMLRequest.raw)+len(q.RelayState.raw)+len(q.SigAlg.raw))
	b = append(b, "SAMLRequest="...)
	b = append(b, q.SAMLRequest.raw...)
	if q.RelayState.present {
		b = append(b, "&RelayState="...)
		b = append(b, q.RelayState.raw...)
	}
	b = append(b, "&SigAlg="...)
	return append(b, q.SigAlg.raw...)
}
