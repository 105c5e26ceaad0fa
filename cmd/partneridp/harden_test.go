package main

import (
	"strings"
	"testing"
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
