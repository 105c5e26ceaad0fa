package binding

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/partneridp/partneridp/metadata"
)

// Errors of bind-notification intake. The HTTP layer maps all three to 400;
// ErrNotificationSignature also wraps the metadata error that says why.
var (
	ErrNotificationSignature = errors.New("bind notification signature not accepted")
	ErrNotificationEncoding  = errors.New("bind notification bindRequest is not base64 of a JSON object")
	ErrNotificationFields    = errors.New("bind notification fields not accepted")
	// ErrNotificationMismatch: an unbind names a domain other than the one
	// the account is bound to (for example a late unbind after a rebind).
	// Nothing is changed.
	ErrNotificationMismatch = errors.New("unbind notification does not match the current binding")
)

// Size limits of a bind notification. Huawei's example is under 150 bytes;
// the caps leave room for fields not yet documented.
const (
	MaxBindRequestLen = 8 << 10 // base64 characters
	MaxSignatureLen   = 2 << 10 // base64 of an RSA-8192 signature is 1366
)

// Notification is a decoded, verified Huawei bind notification (the
// "association result" Huawei sends after a first-login binding).
type Notification struct {
	DomainID   string // domainId: the customer's Huawei account ID (customer_id)
	DomainName string // domainName: the Huawei account name
	XUserID    string // xUserId: the customer's ID on the partner platform (xaccount_id)
	Action     Action // bindAction 0 → ActionBind, 1 → ActionUnbind
	// Extra keeps members this code does not know, as a JSON object in the
	// order received (nil when there are none); it goes into history.
	Extra json.RawMessage
	// Mark identifies this exact notification (a digest of the bindRequest
	// as received). The store records it with the change it made, for good,
	// so an exact replay never changes a binding again.
	Mark string
}

// NotificationMark is the applied-once mark of a bindRequest value: the
// signature covers exactly these bytes, so equal marks mean a replay of one
// signed message.
func NotificationMark(bindRequest string) string {
	sum := sha256.Sum256([]byte(bindRequest))
	return "bindnotify:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// ParseNotification verifies and decodes a bind notification. bindRequest,
// sigAlg and signature are the form or query values after URL decoding,
// exactly as received: the signature covers the bindRequest string itself
// (the base64 text), so it must not be re-encoded. certs are the signing
// certificates of Huawei's SP metadata.
//
// Order: size caps, then the signature, then decoding; nothing is decoded
// from an unverified request.
func ParseNotification(bindRequest, sigAlg, signature string, certs []*x509.Certificate, policy metadata.SigAlgPolicy) (Notification, error) {
	if bindRequest == "" {
		return Notification{}, fmt.Errorf("%w: bindRequest is empty", ErrNotificationEncoding)
	}
	if len(bindRequest) > MaxBindRequestLen {
		return Notification{}, fmt.Errorf("%w: bindRequest is %d characters, more than the %d allowed", ErrNotificationEncoding, len(bindRequest), MaxBindRequestLen)
	}
	if len(signature) > MaxSignatureLen {
		return Notification{}, fmt.Errorf("%w: Signature is %d characters, more than the %d allowed", ErrNotificationSignature, len(signature), MaxSignatureLen)
	}
	if _, err := policy.VerifyDetached(sigAlg, []byte(bindRequest), signature, certs); err != nil {
		return Notification{}, fmt.Errorf("%w: %w (the signature must be over the bindRequest value as sent, with a certificate from Huawei's SP metadata)", ErrNotificationSignature, err)
	}
	n, err := decodeBindRequest(bindRequest)
	if err != nil {
		return Notification{}, err
	}
	n.Mark = NotificationMark(bindRequest)
	return n, nil
}

// decodeBindRequest decodes a verified bindRequest value.
//
// Base64: the standard alphabet, with or without '=' padding; CR and LF are
// ignored (MIME-style line breaks). The URL-safe alphabet is refused: Huawei
// documents standard base64, and a '-' or '_' means the value was mangled.
func decodeBindRequest(bindRequest string) (Notification, error) {
	raw, err := base64.StdEncoding.DecodeString(bindRequest)
	if err != nil && !strings.Contains(bindRequest, "=") {
		raw, err = base64.RawStdEncoding.DecodeString(bindRequest)
	}
	if err != nil {
		return Notification{}, fmt.Errorf("%w: base64: %v", ErrNotificationEncoding, err)
	}
	fields, err := readObject(raw)
	if err != nil {
		return Notification{}, fmt.Errorf("%w: %v", ErrNotificationEncoding, err)
	}
	return notificationFromFields(fields)
}

// Member names of the bindRequest JSON (Huawei's "表3").
const (
	fieldDomainID   = "domainId"
	fieldDomainName = "domainName"
	fieldXUserID    = "xUserId"
	fieldBindAction = "bindAction"
)

func notificationFromFields(fields []jsonField) (Notification, error) {
	var n Notification
	var present = map[string]bool{}
	var extra bytes.Buffer
	for _, f := range fields {
		switch f.Name {
		case fieldDomainID, fieldDomainName, fieldXUserID:
			s, ok := jsonString(f.Value)
			if !ok {
				return Notification{}, fmt.Errorf("%w: %s must be a JSON string", ErrNotificationFields, f.Name)
			}
			switch f.Name {
			case fieldDomainID:
				n.DomainID = s
			case fieldDomainName:
				n.DomainName = s
			case fieldXUserID:
				n.XUserID = s
			}
		case fieldBindAction:
			a, err := parseBindAction(f.Value)
			if err != nil {
				return Notification{}, err
			}
			n.Action = a
		default:
			if extra.Len() == 0 {
				extra.WriteByte('{')
			} else {
				extra.WriteByte(',')
			}
			name, _ := json.Marshal(f.Name)
			extra.Write(name)
			extra.WriteByte(':')
			if err := json.Compact(&extra, f.Value); err != nil {
				return Notification{}, fmt.Errorf("%w: member %.40q: %v", ErrNotificationEncoding, f.Name, err)
			}
			continue
		}
		present[f.Name] = true
	}
	for _, name := range []string{fieldDomainID, fieldDomainName, fieldXUserID, fieldBindAction} {
		if !present[name] {
			return Notification{}, fmt.Errorf("%w: %s is missing", ErrNotificationFields, name)
		}
	}
	if err := checkNotificationText(fieldDomainID, n.DomainID, MaxDomainIDLen); err != nil {
		return Notification{}, err
	}
	if err := checkNotificationText(fieldDomainName, n.DomainName, MaxDomainNameLen); err != nil {
		return Notification{}, err
	}
	if err := checkNotificationText(fieldXUserID, n.XUserID, MaxXAccountIDLen); err != nil {
		return Notification{}, err
	}
	if extra.Len() > 0 {
		extra.WriteByte('}')
		n.Extra = json.RawMessage(extra.Bytes())
	}
	return n, nil
}

// checkNotificationText applies the binding field rules (non-empty, length,
// no control characters) and reports them as notification field errors.
//
// xUserId is held to the one alphabet of account IDs (ValidXAccountID), as
// a token's sub: a zero-width space, a right-to-left override, surrounding
// spaces or fullwidth letters would make a binding no login can reach.
func checkNotificationText(field, s string, max int) error {
	if err := checkText(field, s, max, true); err != nil {
		msg := strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")
		return fmt.Errorf("%w: %s", ErrNotificationFields, msg)
	}
	if field == fieldXUserID {
		if err := ValidXAccountID(s); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrNotificationFields, fieldXUserID, err)
		}
	}
	return nil
}

// parseBindAction accepts "0"/"1" (the documented string type) and 0/1 (the
// documented example's number); 0 binds, 1 unbinds.
func parseBindAction(v json.RawMessage) (Action, error) {
	switch string(v) {
	case `0`, `"0"`:
		return ActionBind, nil
	case `1`, `"1"`:
		return ActionUnbind, nil
	}
	shown := string(v)
	if len(shown) > 20 {
		shown = shown[:20] + "…"
	}
	return "", fmt.Errorf("%w: bindAction is %s; want 0 (bind) or 1 (unbind), as a string or a number", ErrNotificationFields, shown)
}

// ApplyNotification stores what a verified notification says about the
// partner account (xAccountType, n.XUserID) in one atomic Update: a bind
// puts the binding with SourceNotification and n.Extra in history; an
// unbind removes it. A bind that is already in place, or an unbind of an
// account without a binding, changes nothing (Result.Changed is false).
//
// An unbind naming a domain other than the bound one changes nothing and
// returns ErrNotificationMismatch; the comparison runs inside the update, so
// a rebind landing at the same moment is seen. A notification whose Mark
// the store has recorded (an exact replay) changes nothing and returns an
// error wrapping ErrApplied.
func ApplyNotification(ctx context.Context, s Store, xAccountType string, n Notification, actor string) (Result, error) {
	k := Key{XAccountType: xAccountType, XAccountID: n.XUserID}
	if n.Action != ActionBind && n.Action != ActionUnbind {
		return Result{}, fmt.Errorf("%w: action %q is neither bind nor unbind", ErrNotificationFields, n.Action)
	}
	return s.Update(ctx, k, n.Mark, func(cur *Binding) (Edit, error) {
		if n.Action == ActionBind {
			return Edit{Action: ActionBind, DomainID: n.DomainID, DomainName: n.DomainName, Source: SourceNotification, Actor: actor, Extra: n.Extra}, nil
		}
		if cur != nil && cur.DomainID != n.DomainID {
			return Edit{}, fmt.Errorf("%w: account %s/%s is bound to domain %s, the unbind names domain %s; nothing changed",
				ErrNotificationMismatch, k.XAccountType, k.XAccountID, cur.DomainID, n.DomainID)
		}
		return Edit{Action: ActionUnbind, Source: SourceNotification, Actor: actor, Extra: n.Extra}, nil
	})
}

// SignNotification makes a bind notification as Huawei IAM sends it: fields
// as JSON, base64 (standard, padded), signed with key. The mock Huawei IAM
// and tests use it. The returned values still need URL encoding on the wire.
func SignNotification(key *rsa.PrivateKey, sigAlg string, fields map[string]any) (bindRequest, signature string, err error) {
	js, err := json.Marshal(fields)
	if err != nil {
		return "", "", fmt.Errorf("bind notification fields: %w", err)
	}
	bindRequest = base64.StdEncoding.EncodeToString(js)
	signature, err = metadata.SignDetached(key, sigAlg, []byte(bindRequest))
	if err != nil {
		return "", "", err
	}
	return bindRequest, signature, nil
}
