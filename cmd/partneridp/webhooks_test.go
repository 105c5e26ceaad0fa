package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/partneridp/partneridp/binding/bolt"
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

	// Given-up events (as the deliverer records them after give_up_after).
	db, err := bolt.Open(filepath.Join(dir, "bindings.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_ = db.SetCursor(ctx, "webhook/p", 2)
	_ = db.SetCursor(ctx, "webhook/p/given-up-first", 1)
	_ = db.SetCursor(ctx, "webhook/p/given-up-count", 2)
	db.Close()
	if out := mustRun("webhooks", "list"); !strings.Contains(out, "given up: 2 events, the first seq 1") || !strings.Contains(out, "--given-up") {
		t.Fatalf("list with given-up events:\n%s", out)
	}
	if out := mustRun("webhooks", "retry", "--platform", "p", "--given-up"); !strings.Contains(out, "from seq 1") {
		t.Fatalf("retry --given-up:\n%s", out)
	}
	if out := mustRun("webhooks", "list"); !strings.Contains(out, "delivered through seq 0  pending 2") || strings.Contains(out, "given up") {
		t.Fatalf("after retry --given-up:\n%s", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--given-up"}, "no event was given up"},
		{[]string{"--given-up", "--from", "1"}, "exactly one of --from SEQ and --given-up"},
		{nil, "exactly one of --from SEQ and --given-up"},
		{[]string{"--from", "x"}, "--from: a sequence number"},
	} {
		args := append([]string{"webhooks", "retry", "--platform", "p", "--config", cfg}, tc.args...)
		if _, errOut, err := run(t, args...); err == nil || !strings.Contains(err.Error()+errOut, tc.want) {
			t.Errorf("%v: %v %s; want %q", tc.args, err, errOut, tc.want)
		}
	}
}
