package platformapi

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp/mockiam"
	"github.com/partneridp/partneridp/metadata"
)

const (
	testAK       = "AKMOCKPARTNER0000001"
	testSK       = "skMockPartnerSecret0000000000000000000001"
	testDomainID = "0123456789abcdef0123456789abcdef"
)

func testSPKey(t *testing.T) metadata.SigningKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mock sp"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return metadata.SigningKey{Key: k, Cert: cert}
}

// mockHuawei starts the mock Huawei IAM (with its partner API) on a real port.
func mockHuawei(t *testing.T) (*mockiam.IAM, string) {
	t.Helper()
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	iam, err := mockiam.New(mockiam.Config{BaseURL: srv.URL, Key: testSPKey(t), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PartnerAK: testAK, PartnerSK: testSK})
	if err != nil {
		t.Fatal(err)
	}
	h = iam.Handler()
	return iam, srv.URL
}

func sdkPartner(t *testing.T, endpoint, sk string, timeout time.Duration) *SDKPartner {
	t.Helper()
	p, err := NewSDKPartner(HuaweiConfig{Endpoint: endpoint, AK: testAK, SK: sk, DomainID: testDomainID, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSDKAgainstMockHuawei(t *testing.T) {
	iam, base := mockHuawei(t)
	ctx := context.Background()
	p := sdkPartner(t, base, testSK, 5*time.Second)
	got, err := p.CreateCustomer(ctx, CreateCustomerRequest{XAccountType: "t_IDP", XAccountID: "cust-7", DomainName: "newco7"})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	acct, ok := iam.Account("t_IDP", "cust-7")
	if !ok || acct.Domain.ID != got.DomainID || got.DomainName != "newco7" {
		t.Fatalf("mock account %+v, SDK answer %+v", acct, got)
	}
	// Again: Huawei's "already has a customer" answer, its code kept.
	_, err = p.CreateCustomer(ctx, CreateCustomerRequest{XAccountType: "t_IDP", XAccountID: "cust-7"})
	var he *HuaweiError
	if !errors.As(err, &he) || he.Code != mockiam.CodeExists || he.DomainID != got.DomainID || he.DomainName != "newco7" {
		t.Fatalf("second create: %v (domain %q %q)", err, he.DomainID, he.DomainName)
	}
	res, err := p.CheckCustomer(ctx, CheckCustomerRequest{SearchType: "name", SearchValue: "newco7"})
	if err != nil || res.Status != "used_by_user" {
		t.Fatalf("check taken name: %+v %v", res, err)
	}
	res, err = p.CheckCustomer(ctx, CheckCustomerRequest{SearchType: "name", SearchValue: "freename"})
	if err != nil || res.Status != "available" {
		t.Fatalf("check free name: %+v %v", res, err)
	}
	// A wrong SK: Huawei's API Gateway refusal, 401 APIGW.0301.
	bad := sdkPartner(t, base, testSK+"x", 5*time.Second)
	_, err = bad.CreateCustomer(ctx, CreateCustomerRequest{XAccountType: "t_IDP", XAccountID: "cust-8"})
	if !errors.As(err, &he) || he.Status != 401 || he.Code != mockiam.CodeSignature {
		t.Fatalf("wrong SK: %v", err)
	}
	if _, ok := iam.Account("t_IDP", "cust-8"); ok {
		t.Fatal("a wrongly signed call created an account")
	}
}

func TestCreateCustomerThroughSDK(t *testing.T) {
	iam, base := mockHuawei(t)
	e := newEnv(t)
	e.api.cfg.Partner = sdkPartner(t, base, testSK, 5*time.Second)
	res, m := e.do("POST", "/api/v1/customers", e.token(e.mintA), `{"xaccount_id":"web-1","domain_name":"webco1"}`, false)
	if res.StatusCode != 201 || m["source"] != "create_customer" {
		t.Fatalf("%d %v", res.StatusCode, m)
	}
	acct, _ := iam.Account("typeA", "web-1")
	b, err := e.store.Get(context.Background(), binding.Key{XAccountType: "typeA", XAccountID: "web-1"})
	if err != nil || b.DomainID != acct.Domain.ID {
		t.Fatalf("stored %+v %v; mock %+v", b, err, acct)
	}
	// Bound now: answered from the store, Huawei not called (the mock would say CBC.99000050).
	res, m = e.do("POST", "/api/v1/customers", e.token(e.mintA), `{"xaccount_id":"web-1"}`, false)
	if res.StatusCode != 200 || m["domain_id"] != acct.Domain.ID {
		t.Fatalf("second: %d %v", res.StatusCode, m)
	}
}

func TestHuaweiUnreachableAndSlow(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	for _, tc := range []struct {
		endpoint string
		status   int
		reason   string
	}{{dead, 502, ReasonHuaweiUnreachable}, {slow.URL, 504, ReasonHuaweiTimeout}} {
		e := newEnv(t)
		e.api.cfg.Partner = sdkPartner(t, tc.endpoint, testSK, 500*time.Millisecond)
		res, m := e.do("POST", "/api/v1/customers", e.token(e.mintA), `{"xaccount_id":"n1"}`, false)
		if res.StatusCode != tc.status || m["reason"] != tc.reason {
			t.Errorf("%s: %d %v", tc.endpoint, res.StatusCode, m)
		}
		if n, _ := e.store.Count(context.Background()); n != 0 {
			t.Errorf("%d bindings stored", n)
		}
	}
}

// faultyHuawei sits in front of the mock's partner API and spoils the first
// n create-customer calls the way a network or Huawei can.
type faultyHuawei struct {
	next  http.Handler
	mode  string // "500-before": 503 without reaching the mock; "create-then-hang": the mock creates, the answer never comes; "create-then-502": the mock creates, the caller gets 502
	n     int
	mu    sync.Mutex
	calls int
}

func (f *faultyHuawei) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != mockiam.PathSubCustomers {
		f.next.ServeHTTP(w, r)
		return
	}
	f.mu.Lock()
	f.calls++
	spoil := f.calls <= f.n
	f.mu.Unlock()
	if !spoil {
		f.next.ServeHTTP(w, r)
		return
	}
	switch f.mode {
	case "500-before":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error_code":"CBC.0999","error_msg":"service busy"}`)
	case "create-then-hang":
		f.next.ServeHTTP(httptest.NewRecorder(), r)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	case "create-then-502":
		f.next.ServeHTTP(httptest.NewRecorder(), r)
		w.WriteHeader(http.StatusBadGateway)
	}
}

func TestCreateCustomerRetriesWithoutDuplicates(t *testing.T) {
	for _, tc := range []struct {
		mode     string
		n        int
		attempts int
		status   int
		calls    int
		waits    []time.Duration
		domains  int
	}{
		{mode: "500-before", n: 2, attempts: 3, status: 201, calls: 3, waits: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, domains: 1},
		{mode: "create-then-hang", n: 1, attempts: 3, status: 201, calls: 2, waits: []time.Duration{100 * time.Millisecond}, domains: 1},
		{mode: "create-then-502", n: 2, attempts: 3, status: 201, calls: 3, waits: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, domains: 1},
		// Tries spent: a clear 502, nothing stored, safe to repeat.
		{mode: "500-before", n: 9, attempts: 3, status: 502, calls: 3, waits: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, domains: 0},
		{mode: "create-then-hang", n: 9, attempts: 2, status: 504, calls: 2, waits: []time.Duration{100 * time.Millisecond}, domains: 1},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.mode, tc.n), func(t *testing.T) {
			iam, _ := mockHuawei(t)
			f := &faultyHuawei{next: iam.Handler(), mode: tc.mode, n: tc.n}
			srv := httptest.NewServer(f)
			defer srv.Close()
			e := newEnv(t)
			var waits []time.Duration
			e.api.cfg.Partner = sdkPartner(t, srv.URL, testSK, 300*time.Millisecond)
			e.api.cfg.Retry = Retry{Attempts: tc.attempts, Base: 100 * time.Millisecond, Max: time.Second,
				Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}
			res, m := e.do("POST", "/api/v1/customers", e.token(e.mintA), `{"xaccount_id":"retry-1","domain_name":"retryco1"}`, false)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %v", res.StatusCode, tc.status, m)
			}
			f.mu.Lock()
			calls := f.calls
			f.mu.Unlock()
			if calls != tc.calls || fmt.Sprint(waits) != fmt.Sprint(tc.waits) {
				t.Errorf("%d calls waiting %v; want %d waiting %v", calls, waits, tc.calls, tc.waits)
			}
			if n := len(iam.Domains()); n != tc.domains {
				t.Fatalf("the mock holds %d Huawei accounts, want %d", n, tc.domains)
			}
			b, err := e.store.Get(context.Background(), binding.Key{XAccountType: "typeA", XAccountID: "retry-1"})
			if tc.status != 201 {
				if err == nil {
					t.Fatalf("stored %+v after a failure", b)
				}
				return
			}
			acct, _ := iam.Account("typeA", "retry-1")
			if err != nil || b.DomainID != acct.Domain.ID || b.Source != binding.SourceCreateCustomer {
				t.Fatalf("stored %+v %v; mock account %+v", b, err, acct)
			}
		})
	}
}

func TestCreateCustomerNoRetryOnRefusal(t *testing.T) {
	for _, tc := range []struct {
		err   error
		calls int
	}{
		{&HuaweiError{Status: 400, Code: "CBC.0100", Message: "bad"}, 1},
		{&HuaweiError{Status: 400, Code: CodeExists, Message: "exists, no domain"}, 1},
		{&HuaweiError{Status: 401, Code: "APIGW.0301", Message: "signature"}, 1},
		{&HuaweiError{Status: 500, Code: "CBC.0999", Message: "internal"}, 3},
		{ErrHuaweiTimeout, 3},
	} {
		e := newEnv(t)
		e.partner.err = tc.err
		e.do("POST", "/api/v1/customers", e.token(e.mintA), `{"xaccount_id":"n1"}`, false)
		if e.partner.calls != tc.calls {
			t.Errorf("%v: %d calls, want %d", tc.err, e.partner.calls, tc.calls)
		}
	}
	// Huawei's "already exists" with a domain_id is the answer.
	e := newEnv(t)
	e.partner.err = &HuaweiError{Status: 400, Code: CodeExists, Message: "exists", DomainID: "dom-x", DomainName: "xco"}
	res, m := e.do("POST", "/api/v1/customers", e.token(e.mintA), `{"xaccount_id":"n1"}`, false)
	if res.StatusCode != 201 || m["domain_id"] != "dom-x" {
		t.Fatalf("exists with domain: %d %v", res.StatusCode, m)
	}
}

func TestRetryWait(t *testing.T) {
	r := Retry{Base: time.Second, Max: 5 * time.Second}
	var got []time.Duration
	for n := 1; n <= 5; n++ {
		got = append(got, r.wait(n))
	}
	if fmt.Sprint(got) != "[1s 2s 4s 5s 5s]" {
		t.Fatalf("waits %v", got)
	}
	if (Retry{}).attempts() != DefaultCreateAttempts || (Retry{Attempts: 99}).attempts() != maxCreateAttempts {
		t.Fatal("attempt bounds")
	}
}
