package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The documented exit statuses, usage on a usage error, and errors that say
// what to do next.
func TestExitStatusesAndMessages(t *testing.T) {
	t.Setenv("PARTNERIDP_CONFIG", "")
	dir := t.TempDir()
	t.Chdir(dir)
	broken := filepath.Join(dir, "broken.yaml")
	os.WriteFile(broken, []byte("public_url: ftp://x\n"), 0o644)
	cases := []struct {
		name string
		args []string
		code int
		want []string // in stderr
	}{
		{"unknown command", []string{"frobnicate"}, exitUsage, []string{`unknown command "frobnicate"`, "Usage:", "Available Commands:"}},
		{"unknown flag", []string{"serve", "--allow_http"}, exitUsage, []string{"unknown flag: --allow_http", "partneridp serve --help", "Usage:"}},
		{"required flag", []string{"token", "--config", "x.yaml"}, exitUsage, []string{"required flag(s) --sub not set", "Usage:", "--sub string"}},
		{"missing argument", []string{"metadata", "check"}, exitUsage, []string{"accepts 1 arg(s)", "partneridp metadata check"}},
		{"missing config", []string{"config", "check"}, exitConfig, []string{"partneridp.yaml", "--config", "PARTNERIDP_CONFIG"}},
		{"missing config for serve", []string{"serve", "--config", "nope.yaml"}, exitConfig, []string{"nope.yaml", "--config", "PARTNERIDP_CONFIG"}},
		{"broken config", []string{"config", "check", "--config", broken}, exitConfig, []string{"public_url"}},
		{"mock config", []string{"config", "check", "--config", filepath.Join(repoRoot, "mock-huawei.example.yaml")}, exitConfig, []string{"partneridp mock-huawei --config"}},
		{"version", []string{"version"}, exitOK, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			var stdout, stderr bytes.Buffer
			code := runMain(args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit status %d, want %d\nstderr: %s", code, tc.code, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

// repoRoot is the checkout, absolute (tests may change directory).
var repoRoot = func() string { wd, _ := os.Getwd(); return filepath.Join(wd, "../..") }()

// PARTNERIDP_CONFIG names the config when --config is absent; --config wins.
func TestConfigFromEnvironment(t *testing.T) {
	path := brokenDeployment(t, nil)
	t.Setenv("PARTNERIDP_CONFIG", path)
	var stdout, stderr bytes.Buffer
	if code := runMain([]string{"config", "check", "--offline"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), path+": OK") {
		t.Errorf("stdout: %s", stdout.String())
	}
	stderr.Reset()
	if code := runMain([]string{"config", "check", "--offline", "--config", filepath.Join(t.TempDir(), "other.yaml")}, &stdout, &stderr); code != exitConfig || !strings.Contains(stderr.String(), "other.yaml") {
		t.Errorf("--config should win over PARTNERIDP_CONFIG: %d %s", code, stderr.String())
	}
}

// Log level and format, behind_proxy and development come from the
// environment too; a bad boolean is a config problem.
func TestBoolAndLogEnvOverrides(t *testing.T) {
	env := map[string]string{"PARTNERIDP_BEHIND_PROXY": "true", "PARTNERIDP_DEVELOPMENT": "1",
		"PARTNERIDP_LOG_LEVEL": "debug", "PARTNERIDP_LOG_FORMAT": "text"}
	cfg, err := ParseConfig([]byte(minimalConfig), "", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.TLS.BehindProxy || !cfg.Development || cfg.Log.Level != "debug" || cfg.Log.Format != "text" {
		t.Errorf("overrides not applied: proxy=%v dev=%v level=%s format=%s", cfg.TLS.BehindProxy, cfg.Development, cfg.Log.Level, cfg.Log.Format)
	}
	env = map[string]string{"PARTNERIDP_DEVELOPMENT": "yes please"}
	_, err = ParseConfig([]byte(minimalConfig), "", func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "PARTNERIDP_DEVELOPMENT") {
		t.Errorf("a bad boolean: %v", err)
	}
}

// The entityID follows public_url unless idp.entity_id is set.
func TestEntityIDFollowsPublicURL(t *testing.T) {
	env := map[string]string{"PARTNERIDP_PUBLIC_URL": "https://sso.mine.example"}
	cfg, err := LoadConfig(filepath.Join(repoRoot, "partneridp.example.yaml"), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.IdP.EntityID != "https://sso.mine.example/saml/metadata" {
		t.Errorf("entityID %q does not follow public_url", cfg.IdP.EntityID)
	}
}

// serve warns loudly in development mode.
func TestDevelopmentWarning(t *testing.T) {
	cfg, _ := serveConfig(t, "store: {path: bridge.db}\n")
	srv := serveInProcess(t, cfg)
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	logs := srv.logs
	if !strings.Contains(logs.String(), "DEVELOPMENT MODE") {
		t.Errorf("no development warning in:\n%s", logs.String())
	}
}
