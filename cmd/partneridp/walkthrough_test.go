package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// walkthroughBlock extracts the fenced shell block between the
// walkthrough:begin and walkthrough:end markers of README.md.
func walkthroughBlock(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- walkthrough:begin -->")
	block, _, ok2 := strings.Cut(rest, "<!-- walkthrough:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md lacks the walkthrough:begin/end markers")
	}
	block = strings.TrimSpace(block)
	if !strings.HasPrefix(block, "```sh\n") || !strings.HasSuffix(block, "\n```") {
		t.Fatalf("the walk-through is not one ```sh block:\n%s", block)
	}
	return strings.TrimSuffix(strings.TrimPrefix(block, "```sh\n"), "\n```")
}

// copySource copies what `go build ./cmd/partneridp` and the walk-through
// need (Go sources, go.mod, go.sum, the example configs, .gitignore) into dir.
func copySource(t *testing.T, root, dir string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || strings.HasSuffix(d.Name(), "-data") || d.Name() == "partneridp-demo") {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		keep := strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") ||
			rel == "go.mod" || rel == "go.sum" || rel == ".gitignore" || strings.HasSuffix(rel, ".example.yaml") ||
			strings.Contains(rel, string(filepath.Separator)+"assets"+string(filepath.Separator)) || strings.HasSuffix(name, ".html") || strings.HasSuffix(name, ".css") || strings.HasSuffix(name, ".js") || strings.HasSuffix(name, ".tmpl")
		if !keep {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	gi, err := os.ReadFile(filepath.Join(root, ".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".gitignore"), gi, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestREADMEWalkthrough runs the README's operator walk-through verbatim in
// a copy of the checkout: every command must succeed (the last one is
// `config check`), and every file it makes must be covered by .gitignore.
func TestREADMEWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	for _, tool := range []string{"go", "bash", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not on PATH", tool)
		}
	}
	script := walkthroughBlock(t)
	dir := t.TempDir()
	copySource(t, "../..", dir)
	before := map[string]bool{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, _ error) error { before[p] = true; return nil })

	cmd := exec.Command("bash", "-euo", "pipefail", "-x", "-c", script)
	cmd.Dir = dir
	// -trimpath lets the copy share the build cache with the checkout.
	cmd.Env = append(os.Environ(), "PARTNERIDP_CONFIG=", "GOFLAGS=-trimpath")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the README walk-through failed: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "partneridp.yaml: OK") {
		t.Errorf("config check did not say OK:\n%s", out.String())
	}

	// Every file the walk-through made is ignored by git.
	var made []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, _ error) error {
		if !before[p] && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			made = append(made, rel)
		}
		return nil
	})
	if len(made) == 0 {
		t.Fatal("the walk-through made no files")
	}
	git, err := exec.LookPath("git")
	if err != nil {
		t.Logf("git not on PATH: .gitignore not checked for %v", made)
		return
	}
	if out, err := exec.Command(git, "-C", dir, "init", "-q").CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	for _, f := range made {
		if err := exec.Command(git, "-C", dir, "check-ignore", "-q", f).Run(); err != nil {
			t.Errorf("%s, made by the walk-through, is not covered by .gitignore", f)
		}
	}
}
