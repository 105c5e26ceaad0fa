package main

import (
	"context"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/memory"
	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/mockiam"
	"github.com/partneridp/partneridp/metadata"
)

// TestPlatformAPIWiring: platforms[].api and huawei.partner_api (AK/SK
// from env) build an API that creates a customer at the mock Huawei
// through the SDK, stores it with source create_customer and audits the
// call; the AK/SK appear in no log or audit line.
func TestPlatformAPIWiring(t *testing.T) {
	now := time.Now()
	spKey, err := metadata.GenerateKeyPair(2048, pkix.Name{CommonName: "mock"}, now.Add(-time.Hour), now.Add(time.Hour), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const ak, sk = "AKWIRING000000000001", "skWiringSecret000000000000000000000000001"
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	defer srv.Close()
	iam, err := mockiam.New(mockiam.Config{BaseURL: srv.URL, Key: spKey, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PartnerAK: ak, PartnerSK: sk})
	if err != nil {
		t.Fatal(err)
	}
	h = iam.Handler()

	dir := t.TempDir()
	secret := strings.Repeat("s", 48)
	os.WriteFile(filepath.Join(dir, "s"), []byte(secret), 0o600)
	// development: the mock answers on http.
	yaml := "development: true\n" + strings.Replace(minimalConfig, "secret_file: s}]", "secret_file: s, api: {enabled: true}}]", 1) +
		"huawei: {x_account_type: t_IDP, partner_api: {ak_env: TEST_AK, sk_env: TEST_SK, domain_id: 0123456789abcdef0123456789abcdef, endpoint: \"" + srv.URL + "\"}}\n"
	yaml = strings.Replace(yaml, "huawei: {x_account_type: t_IDP}\n", "", 1)
	cfgPath := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfgPath, []byte(yaml), 0o644)
	cfg, err := LoadConfig(cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TEST_AK": ak, "TEST_SK": sk}
	partner, err := buildPartner(cfg, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	platforms, err := loadPlatforms(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logBuf strings.Builder
	logger := slog.New(slog.NewTextHandler(&logBuf, nil))
	var events []idp.AuditEvent
	st := memory.New(nil)
	api, err := buildPlatformAPI(cfg, platforms, st, partner, idp.AuditFunc(func(e idp.AuditEvent) { events = append(events, e) }), logger, nil)
	if err != nil || api == nil {
		t.Fatalf("api %v, %v", api, err)
	}
	m := &handoff.Minter{Issuer: "https://p", Audience: "https://idp.example/api/v1", Alg: handoff.AlgHS256, Key: []byte(secret)}
	tok, _ := m.Mint("backend", nil)
	req := httptest.NewRequest("POST", "https://idp.example/api/v1/customers", strings.NewReader(`{"xaccount_id":"wired-1"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, req)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	if rec.Code != 201 {
		t.Fatalf("%d %v", rec.Code, out)
	}
	acct, ok := iam.Account("t_IDP", "wired-1")
	b, err := st.Get(context.Background(), binding.Key{XAccountType: "t_IDP", XAccountID: "wired-1"})
	if !ok || err != nil || b.DomainID != acct.Domain.ID || b.Source != binding.SourceCreateCustomer {
		t.Fatalf("store %+v %v, mock %+v", b, err, acct)
	}
	if len(events) != 1 || events[0].Event != idp.EventAPI || events[0].Verdict != idp.VerdictStored || events[0].DomainID != acct.Domain.ID {
		t.Errorf("audit %+v", events)
	}
	all, _ := json.Marshal(events)
	if strings.Contains(logBuf.String()+string(all), sk) || strings.Contains(logBuf.String()+string(all), ak) {
		t.Error("AK or SK in a log or audit line")
	}
	// Missing env: a config error naming the field.
	if _, err := buildPartner(cfg, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "huawei.partner_api.ak_env") {
		t.Errorf("missing env: %v", err)
	}
}

// TestCustomersCommands: `customers create|check` against the mock Huawei.
func TestCustomersCommands(t *testing.T) {
	now := time.Now()
	spKey, _ := metadata.GenerateKeyPair(2048, pkix.Name{CommonName: "mock"}, now.Add(-time.Hour), now.Add(time.Hour), rand.Reader)
	const ak, sk = "AKCLI000000000000001", "skCliSecret00000000000000000000000000001"
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	defer srv.Close()
	iam, err := mockiam.New(mockiam.Config{BaseURL: srv.URL, Key: spKey, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PartnerAK: ak, PartnerSK: sk})
	if err != nil {
		t.Fatal(err)
	}
	h = iam.Handler()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ak"), []byte(ak+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "sk"), []byte(sk+"\n"), 0o600)
	yaml := "development: true\n" + strings.Replace(minimalConfig, "huawei: {x_account_type: t_IDP}\n",
		"huawei: {x_account_type: t_IDP, partner_api: {ak_file: ak, sk_file: sk, domain_id: 0123456789abcdef0123456789abcdef, endpoint: \""+srv.URL+"\"}}\n", 1) + "store: {path: bindings.db}\n"
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte(yaml), 0o644)
	out, errOut, err := run(t, "customers", "create", "cli-1", "--domain-name", "clico1", "--config", cfg)
	if err != nil || !strings.HasPrefix(out, "created cli-1 domain_id ") {
		t.Fatalf("create: %v %s %s", err, out, errOut)
	}
	out, _, err = run(t, "customers", "create", "cli-1", "--config", cfg)
	if err != nil || !strings.HasPrefix(out, "existing cli-1") {
		t.Fatalf("second create: %v %s", err, out)
	}
	out, _, err = run(t, "customers", "check", "name", "clico1", "--config", cfg)
	if err != nil || !strings.Contains(out, "used_by_user") {
		t.Fatalf("check: %v %s", err, out)
	}
	out, _, _ = run(t, "bindings", "history", "cli-1", "--config", cfg)
	if !strings.Contains(out, "create_customer") {
		t.Errorf("history: %s", out)
	}
}
