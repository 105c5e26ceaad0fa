package mockiam

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// The partner API paths of Huawei's BSS host that the mock serves.
const (
	PathSubCustomers  = "/v2/partners/sub-customers"
	PathCheckIdentity = "/v2/partners/sub-customers/users/check-identity"
)

// Huawei's error codes the mock answers with. APIGW.0301 is API Gateway's
// "verify aksk signature fail"; CBC.99000050 is what the create-customer
// documentation lists beside a domain_id (its meaning was not read: the mock
// uses it for an xaccount_id that already has a customer).
// ReasonPartnerSignature: a partner API call whose AK/SK signature failed.
const ReasonPartnerSignature Reason = "partner_api_signature"

const (
	CodeSignature   = "APIGW.0301"
	CodeExists      = "CBC.99000050"
	CodeInvalid     = "CBC.0100"
	partnerSkew     = 15 * time.Minute
	sdkDateFormat   = "20060102T150405Z"
	sdkHMACSHA256   = "SDK-HMAC-SHA256"
	maxPartnerBytes = 64 << 10
)

func (m *IAM) partnerError(w http.ResponseWriter, status int, code, msg string, extra map[string]string) {
	body := map[string]string{"error_code": code, "error_msg": msg, "request_id": fmt.Sprintf("mock-%d", m.now().UnixNano())}
	for k, v := range extra {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// verifyAKSK checks the SDK's SDK-HMAC-SHA256 signature of r (body read
// already) against the configured partner AK/SK. Written from Huawei's
// APIG signing description, not with the SDK's signer.
func (m *IAM) verifyAKSK(r *http.Request, body []byte) error {
	if m.partnerAK == "" {
		return errors.New("the mock has no partner AK/SK configured")
	}
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, sdkHMACSHA256+" ")
	if !ok {
		return errors.New("no SDK-HMAC-SHA256 Authorization header")
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	if !hmac.Equal([]byte(fields["Access"]), []byte(m.partnerAK)) {
		return errors.New("unknown access key")
	}
	date, err := time.Parse(sdkDateFormat, r.Header.Get("X-Sdk-Date"))
	if err != nil {
		return errors.New("missing or bad X-Sdk-Date")
	}
	if d := m.now().Sub(date); d > partnerSkew || d < -partnerSkew {
		return errors.New("X-Sdk-Date outside 15 minutes")
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !sort.StringsAreSorted(signed) || len(signed) == 0 {
		return errors.New("bad SignedHeaders")
	}
	var ch strings.Builder
	for _, h := range signed {
		v := r.Header.Values(h)
		if h == "host" {
			v = []string{r.Host}
		}
		vs := append([]string(nil), v...)
		sort.Strings(vs)
		for _, x := range vs {
			ch.WriteString(h + ":" + strings.TrimSpace(x) + "\n")
		}
	}
	uri := r.URL.EscapedPath()
	segs := strings.Split(uri, "/")
	for i, s := range segs {
		u, _ := url.PathUnescape(s)
		segs[i] = url.PathEscape(u)
	}
	uri = strings.Join(segs, "/")
	if !strings.HasSuffix(uri, "/") {
		uri += "/"
	}
	bodyHash := sha256.Sum256(body)
	canonical := strings.Join([]string{r.Method, uri, canonicalQuery(r.URL.Query()), ch.String(), fields["SignedHeaders"], hex.EncodeToString(bodyHash[:])}, "\n")
	crHash := sha256.Sum256([]byte(canonical))
	sts := sdkHMACSHA256 + "\n" + r.Header.Get("X-Sdk-Date") + "\n" + hex.EncodeToString(crHash[:])
	mac := hmac.New(sha256.New, []byte(m.partnerSK))
	mac.Write([]byte(sts))
	if !hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(fields["Signature"])) {
		return errors.New("signature mismatch")
	}
	return nil
}

func canonicalQuery(q url.Values) string {
	var keys []string
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
		}
	}
	return strings.Join(parts, "&")
}

// readPartner reads and authenticates a partner API call.
func (m *IAM) readPartner(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.Method != http.MethodPost {
		m.partnerError(w, http.StatusMethodNotAllowed, "APIGW.0101", "method not allowed", nil)
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPartnerBytes))
	if err != nil {
		m.partnerError(w, http.StatusBadRequest, CodeInvalid, "unreadable body", nil)
		return nil, false
	}
	if err := m.verifyAKSK(r, body); err != nil {
		m.record(Event{Kind: EventEndpoint, Reason: ReasonPartnerSignature, Detail: "partner API: " + err.Error()})
		m.partnerError(w, http.StatusUnauthorized, CodeSignature, "Incorrect IAM authentication information: verify aksk signature fail", nil)
		return nil, false
	}
	return body, true
}

func (m *IAM) handleSubCustomers(w http.ResponseWriter, r *http.Request) {
	body, ok := m.readPartner(w, r)
	if !ok {
		return
	}
	var req struct {
		XAccountID   string  `json:"xaccount_id"`
		XAccountType string  `json:"xaccount_type"`
		DomainName   *string `json:"domain_name"`
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&req); err != nil || req.XAccountID == "" || req.XAccountType == "" || len(req.XAccountID) > 128 || len(req.XAccountType) > 64 {
		m.partnerError(w, http.StatusBadRequest, CodeInvalid, "xaccount_id (≤128) and xaccount_type (≤64) are required", nil)
		return
	}
	name := ""
	if req.DomainName != nil {
		name = *req.DomainName
	}
	acct, err := m.bindNew(req.XAccountType, req.XAccountID, name)
	switch {
	case errors.Is(err, ErrAlreadyBound):
		a, _ := m.Account(req.XAccountType, req.XAccountID)
		m.partnerError(w, http.StatusBadRequest, CodeExists, "the xaccount_id already has a customer", map[string]string{"domain_id": a.Domain.ID, "domain_name": a.Domain.Name})
		return
	case err != nil:
		m.partnerError(w, http.StatusBadRequest, CodeInvalid, err.Error(), nil)
		return
	}
	m.record(Event{Kind: EventEndpoint, Accepted: true, XAccountType: acct.XAccountType, XUserID: acct.XUserID, DomainID: acct.Domain.ID, Detail: "partner API: create customer"})
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"domain_id": acct.Domain.ID, "domain_name": acct.Domain.Name})
}

func (m *IAM) handleCheckIdentity(w http.ResponseWriter, r *http.Request) {
	body, ok := m.readPartner(w, r)
	if !ok {
		return
	}
	var req struct {
		SearchType  string `json:"search_type"`
		SearchValue string `json:"search_value"`
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&req); err != nil || req.SearchValue == "" {
		m.partnerError(w, http.StatusBadRequest, CodeInvalid, "search_type and search_value are required", nil)
		return
	}
	result := "available"
	switch req.SearchType {
	case "name":
		m.mu.Lock()
		_, used := m.domains[strings.ToLower(req.SearchValue)]
		m.mu.Unlock()
		if used {
			result = "used_by_user"
		}
	case "email", "mobile":
	default:
		m.partnerError(w, http.StatusBadRequest, CodeInvalid, "search_type must be email, mobile or name", nil)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"check_result": result})
}
