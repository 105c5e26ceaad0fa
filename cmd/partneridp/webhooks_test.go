package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWebhooksCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	yaml := strings.Replace(minimalConfig, "secret_file: s}]", "secret_file: s, api: {enabled: true}, webhook: {url: \"https://shop.example/hooks\", secret_file: wh}}]", 1) + "store: {path: bindings.db}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun := func(args ...string) string {
		t.Helper()
		out, errOut, err := run(t, append(args, "--config", cfg)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut)
		}
		return out
	}
	mustRun("bindings", "put", "cust-1", "--domain-id", "d1")
	mustRun("bindings", "put", "cust-2", "--domain-id", "d2")
	out := mustRun("webhooks", "list")
	if !strings.Contains(out, "delivered through seq 0  pending 2") || !strings.Contains(out, "bnd_1") || !strings.Contains(out, "cust-2") {
		t.Fatalf("list:\n%s", out)
	}
	mustRun("webhooks", "retry", "--platform", "p", "--from", "1")
	if out := mustRun("webhooks", "list"); !strings.Contains(out, "delivered through seq 1  pending 1") {
		t.Fatalf("after retry --from 1:\n%s", out)
	}
	if _, errOut, err := run(t, "webhooks", "retry", "--platform", "nope", "--from", "0", "--config", cfg); err == nil || !strings.Contains(err.Error()+errOut, "--platform") {
		t.Errorf("unknown platform: %v %s", err, errOut)
	}
}
