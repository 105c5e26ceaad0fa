package binding_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/metadata"
)

var notificationSeeds = []string{
	`{"domainName":"yongzhi","domainId":"yongzhiid","xUserId":"yongzhix","bindAction":1}`,
	`{"domainId":"d","domainName":"n","xUserId":"u","bindAction":"0"}`,
	`{"domainId":"d","domainName":"n","xUserId":"u","bindAction":0,"extra":{"a":[1,2,{"b":null}]}}`,
	`{"domainId":"d","domainName":"n","xUserId":"u","bindAction":"2"}`,
	`{"domainId":"d","domainName":"n","xUserId":"u","xUserId":"v","bindAction":0}`,
	`{"domainId":"d"}`,
	`[]`,
	`{"domainId":"\u0000","domainName":"n","xUserId":"用户","bindAction":1}`,
}

// checkNotification holds for every accepted notification: what
// ApplyNotification will store passes the store's validation.
func checkNotification(t *testing.T, n binding.Notification) {
	t.Helper()
	b := binding.Binding{Key: binding.Key{XAccountType: "t", XAccountID: n.XUserID}, DomainID: n.DomainID, DomainName: n.DomainName, Source: binding.SourceNotification}
	if err := b.Validate(); err != nil {
		t.Fatalf("accepted a notification the store refuses: %+v: %v", n, err)
	}
	if n.Action != binding.ActionBind && n.Action != binding.ActionUnbind {
		t.Fatalf("accepted action %q", n.Action)
	}
	if n.Extra != nil {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(n.Extra, &m); err != nil || len(m) == 0 {
			t.Fatalf("Extra %q is not a non-empty JSON object: %v", n.Extra, err)
		}
		for _, known := range []string{"domainId", "domainName", "xUserId", "bindAction"} {
			if _, ok := m[known]; ok {
				t.Fatalf("Extra holds the known member %s", known)
			}
		}
		if err := binding.ValidateChangeInfo("", n.Extra); err != nil && len(n.Extra) <= binding.MaxExtraLen {
			t.Fatalf("Extra refused by the store: %v", err)
		}
	}
}

func isNotificationError(err error) bool {
	return errors.Is(err, binding.ErrNotificationSignature) || errors.Is(err, binding.ErrNotificationEncoding) || errors.Is(err, binding.ErrNotificationFields)
}

// FuzzParseNotification feeds the whole intake, signature included. Most
// inputs fail the signature; the seeds are validly signed so the fuzzer
// starts from accepted requests.
func FuzzParseNotification(f *testing.F) {
	key := loadKey(f, "sp-test.key")
	certs := []*x509.Certificate{loadCert(f, "sp-test.crt")}
	for _, js := range notificationSeeds {
		req := base64.StdEncoding.EncodeToString([]byte(js))
		sig, err := metadata.SignDetached(key, metadata.SigAlgRSASHA256, []byte(req))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(req, metadata.SigAlgRSASHA256, sig)
	}
	f.Add("", "", "")
	f.Add("e30=", metadata.SigAlgRSASHA1, "AAAA")
	f.Fuzz(func(t *testing.T, req, sigAlg, sig string) {
		n, err := binding.ParseNotification(req, sigAlg, sig, certs, metadata.SigAlgPolicy{})
		if err != nil {
			if !isNotificationError(err) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		checkNotification(t, n)
	})
}

// FuzzDecodeBindRequest feeds the decoder that runs after the signature
// check, which FuzzParseNotification rarely reaches.
func FuzzDecodeBindRequest(f *testing.F) {
	for _, js := range notificationSeeds {
		enc := base64.StdEncoding.EncodeToString([]byte(js))
		f.Add(enc)
		f.Add(strings.TrimRight(enc, "="))
	}
	f.Add("eyJkb21haW5OYW1lIjoieW9uZ3poaSIsImRvbWFpbklkIjoieW9uZ3poaWlkIiwieFVzZXJJZCI6Inlvbmd6aGl4IiwiYmluZEFjdGlvbiI6MX0=")
	f.Add("!!!")
	f.Fuzz(func(t *testing.T, req string) {
		n, err := binding.DecodeBindRequest(req)
		if err != nil {
			if !errors.Is(err, binding.ErrNotificationEncoding) && !errors.Is(err, binding.ErrNotificationFields) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		checkNotification(t, n)
		// Re-encoding what was accepted gives the same notification.
		fields := map[string]any{"domainId": n.DomainID, "domainName": n.DomainName, "xUserId": n.XUserID, "bindAction": map[binding.Action]int{binding.ActionBind: 0, binding.ActionUnbind: 1}[n.Action]}
		if n.Extra != nil {
			var extra map[string]json.RawMessage
			json.Unmarshal(n.Extra, &extra)
			for k, v := range extra {
				fields[k] = v
			}
		}
		js, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		again, err := binding.DecodeBindRequest(base64.StdEncoding.EncodeToString(js))
		if err != nil {
			t.Fatalf("re-encoded notification refused: %v", err)
		}
		if again.DomainID != n.DomainID || again.DomainName != n.DomainName || again.XUserID != n.XUserID || again.Action != n.Action {
			t.Fatalf("round trip changed %+v into %+v", n, again)
		}
	})
}

// FuzzImportLine feeds one import line to the line decoder.
func FuzzImportLine(f *testing.F) {
	for _, s := range []string{
		`{"xaccount_id":"cust-0001","domain_id":"0d2f8a6c1e7b4a3c9f5e6d7c8b9a0f1e","domain_name":"partner_cust1"}`,
		`{"xaccount_type":"partner_IDP","xaccount_id":"a","domain_id":"d","domain_name":"n","source":"import","created_at":"2025-06-01T08:00:01Z"}`,
		`{"xaccount_id":"a","domain_id":"d","domain_name":null}`,
		`{"xaccount_id":1}`,
		`[1,2]`,
		`{"xaccount_id":"a","xaccount_id":"b"}`,
		"{\"xaccount_id\":\"\\u0001\",\"domain_id\":\"d\"}",
	} {
		f.Add([]byte(s), "default_IDP")
	}
	f.Add([]byte(`{"xaccount_id":"a","domain_id":"d"}`), "")
	f.Fuzz(func(t *testing.T, line []byte, defaultType string) {
		b, err := binding.ParseImportLine(line, defaultType)
		if err != nil {
			if !errors.Is(err, binding.ErrImportLine) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if b.XAccountID == "" || b.DomainID == "" || b.XAccountType == "" {
			t.Fatalf("accepted a line without a required member: %+v", b)
		}
		if b.XAccountType != defaultType && !strings.Contains(string(line), "xaccount_type") {
			t.Fatalf("type %q came from nowhere", b.XAccountType)
		}
	})
}
