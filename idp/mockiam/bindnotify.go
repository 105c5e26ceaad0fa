package mockiam

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/partneridp/partneridp/metadata"
)

// bindAction values of the notification (section 7): 0 binds, 1 unbinds.
const (
	BindActionBind   = 0
	BindActionUnbind = 1
)

// BindNotification is the JSON inside bindRequest, with the fields in the
// order of Huawei's documented example. bindAction is a number there.
type BindNotification struct {
	DomainName string `json:"domainName"`
	DomainID   string `json:"domainId"`
	XUserID    string `json:"xUserId"`
	BindAction int    `json:"bindAction"`
}

// SignedBindNotification is the three form fields Huawei sends to the
// partner's notification URL.
type SignedBindNotification struct {
	BindRequest string // base64 of the JSON
	SigAlg      string
	Signature   string // base64 RSA-SHA256 over the BindRequest value
}

// SignBindNotification encodes n and signs the bindRequest value with the
// SP key, as Huawei does with its SAML key.
func SignBindNotification(n BindNotification, key metadata.SigningKey) (SignedBindNotification, error) {
	body, err := json.Marshal(n)
	if err != nil {
		return SignedBindNotification{}, fmt.Errorf("encode bind notification: %w", err)
	}
	out := SignedBindNotification{
		BindRequest: base64.StdEncoding.EncodeToString(body),
		SigAlg:      metadata.SigAlgRSASHA256,
	}
	if out.Signature, err = metadata.SignDetached(key.Key, out.SigAlg, []byte(out.BindRequest)); err != nil {
		return SignedBindNotification{}, fmt.Errorf("sign bind notification: %w", err)
	}
	return out, nil
}
