package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// storeConfig writes a config whose store lives in a temp dir.
func storeConfig(t *testing.T) (dir, cfgPath string) {
	t.Helper()
	dir = t.TempDir()
	cfgPath = filepath.Join(dir, "c.yaml")
	cfg := minimalConfig + "store: {path: bindings.db}\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, cfgPath
}

func TestBindingsCommands(t *testing.T) {
	dir, cfg := storeConfig(t)
	mustRun := func(args ...string) string {
		t.Helper()
		out, errOut, err := run(t, append(args, "--config", cfg)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut)
		}
		return out
	}
	if out := mustRun("bindings", "put", "cust-1", "--domain-id", "d1", "--domain-name", "alice"); !strings.HasPrefix(out, "bound") {
		t.Errorf("put: %q", out)
	}
	if out := mustRun("bindings", "put", "cust-1", "--domain-id", "d1", "--domain-name", "alice"); !strings.HasPrefix(out, "unchanged") {
		t.Errorf("second put must change nothing: %q", out)
	}
	if out := mustRun("bindings", "get", "cust-1"); !strings.Contains(out, `"domain_id": "d1"`) {
		t.Errorf("get: %s", out)
	}
	if out := mustRun("bindings", "get", "d1", "--domain"); !strings.Contains(out, "cust-1") {
		t.Errorf("get --domain: %s", out)
	}
	if out := mustRun("bindings", "history", "cust-1"); strings.Count(out, "\n") != 1 {
		t.Errorf("history should have exactly one entry:\n%s", out)
	}
	if out := mustRun("login-url", "--account", "cust-1"); !strings.Contains(out, "isFirstLogin=false") || !strings.Contains(out, "xAccountType=t_IDP") {
		t.Errorf("login-url for a bound account: %s", out)
	}
	if out := mustRun("login-url", "--account", "cust-2"); !strings.Contains(out, "isFirstLogin=true") {
		t.Errorf("login-url for an unbound account: %s", out)
	}

	// A bad import stores nothing and names the bad lines.
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"xaccount_id\":\"c2\",\"domain_id\":\"d2\"}\n{\"xaccount_id\":\"c3\"}\nnot json\n"), 0o600)
	_, errOut, err := run(t, "bindings", "import", bad, "--config", cfg, "--quiet")
	if err == nil || !strings.Contains(errOut, "bad.jsonl:2:") || !strings.Contains(errOut, "bad.jsonl:3:") {
		t.Fatalf("bad import: %v\n%s", err, errOut)
	}
	if out := mustRun("bindings", "list"); strings.Contains(out, "c2") {
		t.Fatalf("a refused import stored a line:\n%s", out)
	}
	if out := mustRun("bindings", "import", bad, "--skip-bad", "--quiet"); !strings.Contains(out, "stored 1") {
		t.Errorf("import --skip-bad: %s", out)
	}

	export := mustRun("bindings", "export")
	if strings.Count(export, "\n") != 2 {
		t.Errorf("export should have 2 lines:\n%s", export)
	}
	backup := filepath.Join(dir, "backup.db")
	if out := mustRun("bindings", "backup", backup); !strings.Contains(out, "verified") {
		t.Errorf("backup: %s", out)
	}
	if _, _, err := run(t, "bindings", "backup", backup, "--config", cfg); err == nil {
		t.Error("backup overwrote an existing file")
	}
	if out := mustRun("bindings", "verify"); !strings.Contains(out, "OK") {
		t.Errorf("verify: %s", out)
	}
	if out := mustRun("bindings", "verify", "--store", backup); !strings.Contains(out, "2 binding(s)") {
		t.Errorf("verify backup: %s", out)
	}
	if out := mustRun("bindings", "delete", "cust-1"); !strings.HasPrefix(out, "deleted") {
		t.Errorf("delete: %s", out)
	}
	if _, _, err := run(t, "bindings", "put", "bad id", "--domain-id", "d", "--config", cfg); err == nil {
		t.Error("put accepted an xaccount_id with a space")
	}
}
