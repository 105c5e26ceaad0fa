package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bolt"
)

// TestConfigPlatformOrigins: platforms[].origins must be origins.
func TestConfigPlatformOrigins(t *testing.T) {
	good := strings.Replace(minimalConfig, "secret_file: s}", "secret_file: s, origins: [\"https://shop.example:8443\"], handoff_without_origin: true}", 1)
	if _, err := ParseConfig([]byte(good), t.TempDir(), nil); err != nil {
		t.Fatalf("good origins: %v", err)
	}
	bad := strings.Replace(minimalConfig, "secret_file: s}", "secret_file: s, origins: [\"shop.example\", \"https://shop.example/path\"]}", 1)
	_, err := ParseConfig([]byte(bad), t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), "platforms[0].origins[0]") || !strings.Contains(err.Error(), "platforms[0].origins[1]") {
		t.Fatalf("bad origins: %v", err)
	}
}

// TestBindingsPrintHiddenCharacters: an odd entry stored before the one
// alphabet (issue 11 item 3) is visible in list, get and history, can be
// named as list prints it, and deleted; put refuses such an ID.
func TestBindingsPrintHiddenCharacters(t *testing.T) {
	dir, cfg := storeConfig(t)
	odd := "cust\u200b-1"
	db, err := bolt.Open(filepath.Join(dir, "bindings.db"), bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := binding.Put(context.Background(), db, binding.Binding{Key: binding.Key{XAccountType: "t_IDP", XAccountID: odd},
		DomainID: "d\u202e1", DomainName: "名字\u200b", Source: binding.SourceImport}, "legacy", nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	mustRun := func(args ...string) string {
		t.Helper()
		out, errOut, err := run(t, append(args, "--config", cfg)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut)
		}
		return out
	}
	list := mustRun("bindings", "list")
	if !strings.Contains(list, `"cust\u200b-1"`) || !strings.Contains(list, `"d\u202e1"`) || strings.ContainsRune(list, '\u200b') || strings.ContainsRune(list, '\u202e') {
		t.Errorf("list does not show the hidden characters escaped:\n%s", list)
	}
	for _, cmd := range []string{"get", "history"} {
		out := mustRun("bindings", cmd, `"cust\u200b-1"`)
		if !strings.Contains(out, `cust\u200b-1`) || strings.ContainsRune(out, '\u200b') || strings.ContainsRune(out, '\u202e') || !strings.Contains(out, "名字") {
			t.Errorf("%s:\n%s", cmd, out)
		}
	}
	if out := mustRun("bindings", "delete", `"cust\u200b-1"`); !strings.HasPrefix(out, "deleted") {
		t.Errorf("delete: %s", out)
	}
	_, _, err = run(t, "bindings", "put", "cust\u200b-2", "--domain-id", "d2", "--config", cfg)
	if err == nil || !strings.Contains(err.Error(), "U+200B") || !strings.Contains(err.Error(), "position 5") {
		t.Errorf("put of an odd ID: %v", err)
	}
}

// TestConfigAdminListen: metrics go to a loopback admin listener by
// default (issue 11 item 5); a bad or clashing address is a problem.
func TestConfigAdminListen(t *testing.T) {
	cfg, err := ParseConfig([]byte(minimalConfig), t.TempDir(), nil)
	if err != nil || cfg.Admin.Listen != "127.0.0.1:9464" {
		t.Fatalf("default admin.listen: %v %v", cfg, err)
	}
	for yaml, want := range map[string]string{
		"admin: {listen: nope}\n":                         "admin.listen",
		"listen: \":9000\"\nadmin: {listen: \":9000\"}\n": "must differ from listen",
	} {
		_, err := ParseConfig([]byte(minimalConfig+yaml), t.TempDir(), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v", yaml, err)
		}
	}
	if _, err := ParseConfig([]byte(minimalConfig+"admin: {listen: \"off\"}\n"), t.TempDir(), func(k string) string {
		if k == "PARTNERIDP_ADMIN_LISTEN" {
			return "0.0.0.0:9464"
		}
		return ""
	}); err != nil {
		t.Fatal(err)
	}
}

// TestServeAuditsEveryRefusal: the rate limiter's 429, the bridge's own
// header cap and the HTTP server's hard cap (plain 431 before any handler)
// each leave an audit event (issue 11 item 7).
func TestServeAuditsEveryRefusal(t *testing.T) {
	cfg, dir := serveConfig(t, "store: {path: bridge.db}\nlimits: {per_ip_per_minute: 60, burst: 2}\n")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, io.Discard, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve ended: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not start")
	}
	base := "http://" + addr
	send := func(path string, header string, size int) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if size > 0 {
			req.Header.Set(header, strings.Repeat("h", size))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := send("/nope", "X-Big", 40<<10); got != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("soft cap: %d", got)
	}
	if got := send("/nope", "X-Big", 400<<10); got != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("hard cap: %d", got)
	}
	limited := false
	for i := 0; i < 6 && !limited; i++ {
		limited = send("/saml/sso", "", 0) == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("never rate limited")
	}
	cancel()
	<-done
	audit, err := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"event":"http","client_ip":"127.0.0.1","verdict":"refused","reason":"request_too_large"`,
		`"event":"sso","client_ip":"127.0.0.1","verdict":"refused","reason":"rate_limited"`,
	} {
		if !strings.Contains(string(audit), want) {
			t.Errorf("audit log lacks %s:\n%s", want, audit)
		}
	}
	if n := strings.Count(string(audit), `"reason":"request_too_large"`); n != 2 {
		t.Errorf("%d request_too_large events, want 2 (soft and hard cap):\n%s", n, audit)
	}
}

// TestConfigPages: the page language is en or zh-CN.
func TestConfigPages(t *testing.T) {
	if _, err := ParseConfig([]byte(minimalConfig+"pages: {default_language: zh-CN, texts: {en: {label.back: Back to shop}}}\n"), t.TempDir(), nil); err != nil {
		t.Fatal(err)
	}
	_, err := ParseConfig([]byte(minimalConfig+"pages: {default_language: fr}\n"), t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), "pages.default_language") {
		t.Fatalf("fr: %v", err)
	}
}
