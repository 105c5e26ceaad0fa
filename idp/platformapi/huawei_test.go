package platformapi

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
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
	if !errors.As(err, &he) || he.Code != mockiam.CodeExists {
		t.Fatalf("second create: %v", err)
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
