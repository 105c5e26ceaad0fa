package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// TestSystemdUnitExposure keeps the shipped unit's `systemd-analyze
// security` exposure low (it was 5.8 MEDIUM before the hardening).
func TestSystemdUnitExposure(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd)")
	}
	unit, err := os.ReadFile("deploy/partneridp.service")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "partneridp.service")
	if err := os.WriteFile(path, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "security", "--offline=true", path).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for partneridp\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Skipf("this systemd-analyze cannot score a unit file offline (%v):\n%s", err, out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	if score >= 2 {
		t.Errorf("exposure %.1f, want below 2:\n%s", score, out)
	}
}
