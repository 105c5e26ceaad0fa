package binding_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/metadata"
)

const sha256URI = metadata.SigAlgRSASHA256

// signedRaw signs an arbitrary bindRequest string with a test key.
func signedRaw(t *testing.T, keyName, sigAlg, bindRequest string) string {
	t.Helper()
	sig, err := metadata.SignDetached(loadKey(t, keyName), sigAlg, []byte(bindRequest))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestParseNotification(t *testing.T) {
	certs := []*x509.Certificate{loadCert(t, "sp-test.crt")}
	other := []*x509.Certificate{loadCert(t, "sp-other.crt")}
	docJSON, err := os.ReadFile(testdata("binding", "notification-doc-example.json"))
	if err != nil {
		t.Fatal(err)
	}
	docReq := b64(string(bytes.TrimSpace(docJSON)))

	// signed is a bindRequest of js signed by sp-test with rsa-sha256.
	type input struct{ req, sigAlg, sig string }
	signed := func(js string) input {
		req := b64(js)
		return input{req, sha256URI, signedRaw(t, "sp-test.key", sha256URI, req)}
	}
	signedReq := func(req string) input { return input{req, sha256URI, signedRaw(t, "sp-test.key", sha256URI, req)} }
	good := `{"domainId":"dom-1","domainName":"hw_alice","xUserId":"alice","bindAction":"0"}`
	goodIn := signed(good)
	flipped := []byte(goodIn.sig)
	flipped[10] ^= 1
	if flipped[10] == '+' || flipped[10] == '/' {
		flipped[10] = 'A'
	}

	tests := []struct {
		name    string
		in      input
		certs   []*x509.Certificate
		policy  metadata.SigAlgPolicy
		want    *binding.Notification
		wantErr []error
	}{
		{name: "bind as string 0", in: goodIn, want: &binding.Notification{DomainID: "dom-1", DomainName: "hw_alice", XUserID: "alice", Action: binding.ActionBind}},
		{name: "bind as number 0", in: signed(`{"domainId":"d","domainName":"n","xUserId":"u","bindAction":0}`), want: &binding.Notification{DomainID: "d", DomainName: "n", XUserID: "u", Action: binding.ActionBind}},
		{name: "unbind as string 1", in: signed(`{"domainId":"d","domainName":"n","xUserId":"u","bindAction":"1"}`), want: &binding.Notification{DomainID: "d", DomainName: "n", XUserID: "u", Action: binding.ActionUnbind}},
		{name: "unbind as number 1", in: signed(`{"domainId":"d","domainName":"n","xUserId":"u","bindAction":1}`), want: &binding.Notification{DomainID: "d", DomainName: "n", XUserID: "u", Action: binding.ActionUnbind}},
		{name: "Huawei's documented example", in: signedReq(docReq), want: &binding.Notification{DomainID: "yongzhiid", DomainName: "yongzhi", XUserID: "yongzhix", Action: binding.ActionUnbind}},
		{name: "unknown fields kept in Extra", in: signed(`{"domainId":"d","userName":"iam-user","domainName":"n","xUserId":"u","bindAction":"0","ids":{"userId":"x", "n":[1,2]}}`),
			want: &binding.Notification{DomainID: "d", DomainName: "n", XUserID: "u", Action: binding.ActionBind, Extra: json.RawMessage(`{"userName":"iam-user","ids":{"userId":"x","n":[1,2]}}`)}},
		{name: "rsa-sha512", in: input{goodIn.req, metadata.SigAlgRSASHA512, signedRaw(t, "sp-test.key", metadata.SigAlgRSASHA512, goodIn.req)}, want: &binding.Notification{DomainID: "dom-1", DomainName: "hw_alice", XUserID: "alice", Action: binding.ActionBind}},
		{name: "rsa-sha1 with AllowSHA1", in: input{goodIn.req, metadata.SigAlgRSASHA1, signedRaw(t, "sp-test.key", metadata.SigAlgRSASHA1, goodIn.req)}, policy: metadata.SigAlgPolicy{AllowSHA1: true}, want: &binding.Notification{DomainID: "dom-1", DomainName: "hw_alice", XUserID: "alice", Action: binding.ActionBind}},
		{name: "base64 without padding", in: signedReq(strings.TrimRight(b64(`{"domainId":"d","domainName":"n","xUserId":"u","bindAction":"0"}`), "=")), want: &binding.Notification{DomainID: "d", DomainName: "n", XUserID: "u", Action: binding.ActionBind}},
		{name: "base64 with MIME line breaks", in: signedReq(mimeWrap(b64(`{"domainId":"d","domainName":"n","xUserId":"u","bindAction":"0","pad":"` + strings.Repeat("p", 80) + `"}`))), want: &binding.Notification{DomainID: "d", DomainName: "n", XUserID: "u", Action: binding.ActionBind, Extra: json.RawMessage(`{"pad":"` + strings.Repeat("p", 80) + `"}`)}},
		{name: "trusted cert among others", in: goodIn, certs: append(other, certs...), want: &binding.Notification{DomainID: "dom-1", DomainName: "hw_alice", XUserID: "alice", Action: binding.ActionBind}},

		{name: "signature altered", in: input{goodIn.req, sha256URI, string(flipped)}, wantErr: []error{binding.ErrNotificationSignature, metadata.ErrSignatureInvalid}},
		{name: "signed by another key", in: input{goodIn.req, sha256URI, signedRaw(t, "sp-other.key", sha256URI, goodIn.req)}, wantErr: []error{binding.ErrNotificationSignature, metadata.ErrSignatureInvalid}},
		{name: "only the other cert trusted", in: goodIn, certs: other, wantErr: []error{binding.ErrNotificationSignature, metadata.ErrSignatureInvalid}},
		{name: "no certs", in: goodIn, certs: []*x509.Certificate{}, wantErr: []error{binding.ErrNotificationSignature, metadata.ErrSignatureInvalid}},
		{name: "rsa-sha1 refused by default", in: input{goodIn.req, metadata.SigAlgRSASHA1, signedRaw(t, "sp-test.key", metadata.SigAlgRSASHA1, goodIn.req)}, wantErr: []error{binding.ErrNotificationSignature, metadata.ErrSigAlgNotAllowed}},
		{name: "unknown SigAlg", in: input{goodIn.req, "http://www.w3.org/2000/09/xmldsig#dsa-sha1", goodIn.sig}, wantErr: []error{binding.ErrNotificationSignature, metadata.ErrSigAlgNotAllowed}},
		{name: "SigAlg of one, signed with another", in: input{goodIn.req, metadata.SigAlgRSASHA512, goodIn.sig}, wantErr: []error{binding.ErrNotificationSignature, metadata.ErrSignatureInvalid}},
		{name: "signature missing", in: input{goodIn.req, sha256URI, ""}, wantErr: []error{binding.ErrNotificationSignature, metadata.ErrSignatureMissing}},
		{name: "signature over the JSON, not the base64", in: input{goodIn.req, sha256URI, signedRaw(t, "sp-test.key", sha256URI, good)}, wantErr: []error{binding.ErrNotificationSignature}},
		{name: "bindRequest still URL-encoded", in: input{url.QueryEscape(docReq), sha256URI, signedRaw(t, "sp-test.key", sha256URI, docReq)}, wantErr: []error{binding.ErrNotificationSignature}},
		{name: "bindRequest changed after signing", in: input{b64(`{"domainId":"evil","domainName":"hw_alice","xUserId":"alice","bindAction":"0"}`), sha256URI, goodIn.sig}, wantErr: []error{binding.ErrNotificationSignature}},
		{name: "oversized bindRequest", in: signedReq(strings.Repeat("A", binding.MaxBindRequestLen+4)), wantErr: []error{binding.ErrNotificationEncoding}},
		{name: "oversized Signature", in: input{goodIn.req, sha256URI, strings.Repeat("A", binding.MaxSignatureLen+4)}, wantErr: []error{binding.ErrNotificationSignature}},
		{name: "empty bindRequest", in: signedReq(""), wantErr: []error{binding.ErrNotificationEncoding}},

		{name: "not base64", in: signedReq("not base64!"), wantErr: []error{binding.ErrNotificationEncoding}},
		{name: "URL-safe base64", in: signedReq(base64.URLEncoding.EncodeToString([]byte(`{"domainId":"d>>>","domainName":"n???","xUserId":"u","bindAction":"0"}`))), wantErr: []error{binding.ErrNotificationEncoding}},
		{name: "not JSON", in: signed(`domainId=d&xUserId=u`), wantErr: []error{binding.ErrNotificationEncoding}},
		{name: "truncated JSON", in: signed(`{"domainId":"d","domainName":"n"`), wantErr: []error{binding.ErrNotificationEncoding}},
		{name: "JSON array", in: signed(`[{"domainId":"d","domainName":"n","xUserId":"u","bindAction":0}]`), wantErr: []error{binding.ErrNotificationEncoding}},
		{name: "JSON string", in: signed(`"hello"`), wantErr: []error{binding.ErrNotificationEncoding}},
		{name: "duplicate member", in: signed(`{"domainId":"d","domainName":"n","xUserId":"u","xUserId":"admin","bindAction":0}`), wantErr: []error{binding.ErrNotificationEncoding}},
		{name: "trailing data", in: signed(`{"domainId":"d","domainName":"n","xUserId":"u","bindAction":0} {}`), wantErr: []error{binding.ErrNotificationEncoding}},
		{name: "invalid UTF-8", in: signed("{\"domainId\":\"d\xff\",\"domainName\":\"n\",\"xUserId\":\"u\",\"bindAction\":0}"), wantErr: []error{binding.ErrNotificationEncoding}},

		{name: "domainId missing", in: signed(`{"domainName":"n","xUserId":"u","bindAction":0}`), wantErr: []error{binding.ErrNotificationFields}},
		{name: "domainName missing", in: signed(`{"domainId":"d","xUserId":"u","bindAction":0}`), wantErr: []error{binding.ErrNotificationFields}},
		{name: "xUserId missing", in: signed(`{"domainId":"d","domainName":"n","bindAction":0}`), wantErr: []error{binding.ErrNotificationFields}},
		{name: "bindAction missing", in: signed(`{"domainId":"d","domainName":"n","xUserId":"u"}`), wantErr: []error{binding.ErrNotificationFields}},
		{name: "domainId a number", in: signed(`{"domainId":12,"domainName":"n","xUserId":"u","bindAction":0}`), wantErr: []error{binding.ErrNotificationFields}},
		{name: "xUserId null", in: signed(`{"domainId":"d","domainName":"n","xUserId":null,"bindAction":0}`), wantErr: []error{binding.ErrNotificationFields}},
		{name: "xUserId empty", in: signed(`{"domainId":"d","domainName":"n","xUserId":"","bindAction":0}`), wantErr: []error{binding.ErrNotificationFields}},
		{name: "xUserId too long", in: signed(`{"domainId":"d","domainName":"n","xUserId":"` + strings.Repeat("u", 129) + `","bindAction":0}`), wantErr: []error{binding.ErrNotificationFields}},
		{name: "xUserId control character", in: signed(`{"domainId":"d","domainName":"n","xUserId":"u\u0000v","bindAction":0}`), wantErr: []error{binding.ErrNotificationFields}},
		{name: "domainName too long", in: signed(`{"domainId":"d","domainName":"` + strings.Repeat("n", 65) + `","xUserId":"u","bindAction":0}`), wantErr: []error{binding.ErrNotificationFields}},
		{name: "bindAction 2", in: signed(`{"domainId":"d","domainName":"n","xUserId":"u","bindAction":2}`), wantErr: []error{binding.ErrNotificationFields}},
		{name: "bindAction \"2\"", in: signed(`{"domainId":"d","domainName":"n","xUserId":"u","bindAction":"2"}`), wantErr: []error{binding.ErrNotificationFields}},
		{name: "bindAction 1.0", in: signed(`{"domainId":"d","domainName":"n","xUserId":"u","bindAction":1.0}`), wantErr: []error{binding.ErrNotificationFields}},
		{name: "bindAction \"01\"", in: signed(`{"domainId":"d","domainName":"n","xUserId":"u","bindAction":"01"}`), wantErr: []error{binding.ErrNotificationFields}},
		{name: "bindAction true", in: signed(`{"domainId":"d","domainName":"n","xUserId":"u","bindAction":true}`), wantErr: []error{binding.ErrNotificationFields}},
		{name: "bindAction \"bind\"", in: signed(`{"domainId":"d","domainName":"n","xUserId":"u","bindAction":"bind"}`), wantErr: []error{binding.ErrNotificationFields}},
		{name: "bindAction null", in: signed(`{"domainId":"d","domainName":"n","xUserId":"u","bindAction":null}`), wantErr: []error{binding.ErrNotificationFields}},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A store each: the same bindRequest under several algorithms
			// would be a replay in one store.
			db := openMem(t, nil)
			c := certs
			if tc.certs != nil {
				c = tc.certs
			}
			before, _ := db.Count(ctx)
			n, err := receive(ctx, db, tc.in.req, tc.in.sigAlg, tc.in.sig, c, tc.policy)
			if tc.want != nil {
				if err != nil {
					t.Fatalf("ParseNotification: %v", err)
				}
				if n.DomainID != tc.want.DomainID || n.DomainName != tc.want.DomainName || n.XUserID != tc.want.XUserID || n.Action != tc.want.Action || !bytes.Equal(n.Extra, tc.want.Extra) {
					t.Errorf("got %+v (Extra %s), want %+v (Extra %s)", n, n.Extra, *tc.want, tc.want.Extra)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", n)
			}
			for _, want := range tc.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("err = %v; want it to wrap %v", err, want)
				}
			}
			if after, _ := db.Count(ctx); after != before {
				t.Errorf("a refused notification changed the store: %d → %d bindings", before, after)
			}
			if strings.Contains(err.Error(), tc.in.sig) && tc.in.sig != "" {
				t.Errorf("error repeats the signature: %v", err)
			}
		})
	}
}

// receive is what the HTTP handler does: parse, and apply only if that
// succeeded.
func receive(ctx context.Context, s binding.Store, req, sigAlg, sig string, certs []*x509.Certificate, policy metadata.SigAlgPolicy) (binding.Notification, error) {
	n, err := binding.ParseNotification(req, sigAlg, sig, certs, policy)
	if err != nil {
		return n, err
	}
	_, err = binding.ApplyNotification(ctx, s, "partner_IDP", n, "huawei")
	return n, err
}

func mimeWrap(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}

// The documented example as a signed form body, the way the handler will
// see it: URL-encoded on the wire, decoded by the form parser. Golden file:
// regenerate with -update (PKCS#1 v1.5 signatures are deterministic).
func TestNotificationFormGolden(t *testing.T) {
	docJSON, err := os.ReadFile(testdata("binding", "notification-doc-example.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(docJSON, &fields); err != nil {
		t.Fatal(err)
	}
	req, sig, err := binding.SignNotification(loadKey(t, "sp-test.key"), sha256URI, fields)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"bindRequest": {req}, "SigAlg": {sha256URI}, "Signature": {sig}}.Encode()
	golden := testdata("binding", "notification-doc-example.form")
	if *update {
		if err := os.WriteFile(golden, []byte(form+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != form+"\n" {
		t.Errorf("signed form differs from %s (run with -update if the change is intended)", golden)
	}
	if !strings.Contains(string(want), "%3D") && !strings.Contains(string(want), "%2B") && !strings.Contains(string(want), "%2F") {
		t.Errorf("golden form has no URL-encoded base64 characters; it does not exercise form decoding")
	}
	vals, err := url.ParseQuery(strings.TrimSpace(string(want)))
	if err != nil {
		t.Fatal(err)
	}
	n, err := binding.ParseNotification(vals.Get("bindRequest"), vals.Get("SigAlg"), vals.Get("Signature"), []*x509.Certificate{loadCert(t, "sp-test.crt")}, metadata.SigAlgPolicy{})
	if err != nil {
		t.Fatalf("ParseNotification(golden form): %v", err)
	}
	if n.DomainID != "yongzhiid" || n.DomainName != "yongzhi" || n.XUserID != "yongzhix" || n.Action != binding.ActionUnbind {
		t.Errorf("golden form decodes to %+v", n)
	}
	// The raw (still URL-encoded) form value must not verify.
	rawReq := strings.SplitN(strings.SplitN(string(want), "bindRequest=", 2)[1], "&", 2)[0]
	if rawReq != vals.Get("bindRequest") {
		if _, err := binding.ParseNotification(rawReq, sha256URI, vals.Get("Signature"), []*x509.Certificate{loadCert(t, "sp-test.crt")}, metadata.SigAlgPolicy{}); !errors.Is(err, binding.ErrNotificationSignature) {
			t.Errorf("the URL-encoded value verified: err=%v", err)
		}
	}
}

func TestApplyNotification(t *testing.T) {
	ctx := context.Background()
	db := openMem(t, nil)
	defer db.Close()
	const typ = "partner_IDP"
	k := binding.Key{XAccountType: typ, XAccountID: "alice"}
	bind := binding.Notification{DomainID: "dom-1", DomainName: "hw_alice", XUserID: "alice", Action: binding.ActionBind, Extra: json.RawMessage(`{"userName":"iam"}`)}

	res, err := binding.ApplyNotification(ctx, db, typ, bind, "huawei")
	changed, b := res.Changed, res.Binding
	if err != nil || !changed {
		t.Fatalf("first bind: changed=%v err=%v", changed, err)
	}
	if b.Key != k || b.DomainID != "dom-1" || b.DomainName != "hw_alice" || b.Source != binding.SourceNotification || b.CreatedAt.IsZero() {
		t.Errorf("bound %+v", b)
	}
	res, err = binding.ApplyNotification(ctx, db, typ, bind, "huawei")
	if changed = res.Changed; err != nil || changed {
		t.Errorf("same notification again: changed=%v err=%v, want false", changed, err)
	}
	h, _ := db.History(ctx, k)
	if len(h) != 1 || h[0].Source != binding.SourceNotification || h[0].Actor != "huawei" || string(h[0].Extra) != `{"userName":"iam"}` {
		t.Fatalf("history = %+v", h)
	}

	// A late unbind for another domain changes nothing.
	stale := binding.Notification{DomainID: "dom-old", DomainName: "x", XUserID: "alice", Action: binding.ActionUnbind}
	res, err = binding.ApplyNotification(ctx, db, typ, stale, "huawei")
	if !errors.Is(err, binding.ErrNotificationMismatch) || res.Changed {
		t.Errorf("mismatched unbind: %+v err=%v, want ErrNotificationMismatch", res, err)
	}
	if _, err := db.Get(ctx, k); err != nil {
		t.Errorf("mismatched unbind removed the binding: %v", err)
	}

	unbind := binding.Notification{DomainID: "dom-1", DomainName: "hw_alice", XUserID: "alice", Action: binding.ActionUnbind}
	res, err = binding.ApplyNotification(ctx, db, typ, unbind, "huawei")
	if err != nil || !res.Changed || res.Binding.DomainID != "dom-1" {
		t.Fatalf("unbind: %+v err=%v", res, err)
	}
	res, err = binding.ApplyNotification(ctx, db, typ, unbind, "huawei")
	if changed = res.Changed; err != nil || changed {
		t.Errorf("same unbind again: changed=%v err=%v, want false", changed, err)
	}
	if h, _ := db.History(ctx, k); len(h) != 2 || h[1].Action != binding.ActionUnbind || h[1].Source != binding.SourceNotification {
		t.Errorf("history after unbind = %+v", h)
	}

	// Inputs the store refuses leave it untouched.
	bad := []struct {
		name string
		typ  string
		n    binding.Notification
	}{
		{"empty xAccountType", "", bind},
		{"control character in xUserId", typ, binding.Notification{DomainID: "d", XUserID: "a\nb", Action: binding.ActionBind}},
		{"no action", typ, binding.Notification{DomainID: "d", XUserID: "bob"}},
	}
	for _, tc := range bad {
		if _, err := binding.ApplyNotification(ctx, db, tc.typ, tc.n, "huawei"); err == nil {
			t.Errorf("%s: applied", tc.name)
		}
	}
	if n, _ := db.Count(ctx); n != 0 {
		t.Errorf("refused notifications stored %d bindings", n)
	}
}
