package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/partneridp/partneridp/idp"
)

// The README names flags and refusal reasons; each must exist. Flags of
// other tools the README quotes are listed here by name.
var readmeOtherToolFlags = map[string]string{
	"verify": "xmlsec1", "schema": "xmllint", "noout": "xmllint", "nonet": "xmllint",
	"quota-backend-bytes": "etcd", "auto-compaction-mode": "etcd", "auto-compaction-retention": "etcd",
	"prefix": "etcdctl", "dir": "go run ./internal/etcdtest/etcdmember",
}

func readmeText(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// cliFlags is every flag of every partneridp command.
func cliFlags() map[string]bool {
	flags := map[string]bool{"help": true}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		add := func(f *pflag.Flag) { flags[f.Name] = true }
		c.Flags().VisitAll(add)
		c.PersistentFlags().VisitAll(add)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(nil, nil))
	return flags
}

func TestReadmeFlagsExist(t *testing.T) {
	flags := cliFlags()
	var unknown []string
	for _, m := range regexp.MustCompile(`--([a-z][a-z0-9-]*)`).FindAllStringSubmatch(readmeText(t), -1) {
		if !flags[m[1]] && readmeOtherToolFlags[m[1]] == "" && !slices.Contains(unknown, m[1]) {
			unknown = append(unknown, m[1])
		}
	}
	if len(unknown) > 0 {
		t.Errorf("README.md mentions flags no partneridp command has (and no other tool listed in readmeOtherToolFlags): --%s", strings.Join(unknown, ", --"))
	}
}

// goSource is the project's non-test Go source, as one text.
func goSource(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "../.." {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			b.Write(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestReadmeWordsExist: every `snake_case` word in backquotes (a refusal
// reason, a config key, a JSON field, a metric) is spelled in the code or
// registered as a reason, so a renamed one cannot linger in the README.
// A metric name may be split in the code (namespace, subsystem, name).
func TestReadmeWordsExist(t *testing.T) {
	spelled := map[string]bool{}
	for _, w := range regexp.MustCompile(`[a-z0-9_]+`).FindAllString(goSource(t), -1) {
		spelled[w] = true
	}
	known := func(w string) bool {
		if _, ok := idp.LookupReason(w); ok || spelled[w] {
			return true
		}
		parts := strings.Split(strings.TrimPrefix(w, "partneridp_"), "_")
		for i := 1; i < len(parts); i++ {
			if spelled[strings.Join(parts[:i], "_")] && spelled[strings.Join(parts[i:], "_")] {
				return true
			}
		}
		return false
	}
	var unknown []string
	for _, m := range regexp.MustCompile("`([a-z][a-z0-9]*(?:_[a-z0-9]+)+)`").FindAllStringSubmatch(readmeText(t), -1) {
		if !known(m[1]) && !slices.Contains(unknown, m[1]) {
			unknown = append(unknown, m[1])
		}
	}
	if len(unknown) > 0 {
		t.Errorf("README.md names %d snake_case word(s) the code never spells: %s", len(unknown), strings.Join(unknown, ", "))
	}
}

// TestReadmeLinksResolve: every in-page link (#anchor) names a heading,
// with GitHub's anchor rules; every relative file link names a file.
func TestReadmeLinksResolve(t *testing.T) {
	text := readmeText(t)
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#{1,6} (.+)$`).FindAllStringSubmatch(text, -1) {
		a := strings.ToLower(m[1])
		a = regexp.MustCompile(`[^\w\- ]`).ReplaceAllString(a, "")
		anchors[strings.ReplaceAll(a, " ", "-")] = true
	}
	for _, m := range regexp.MustCompile(`\]\(([^)\s]+)\)`).FindAllStringSubmatch(text, -1) {
		link := m[1]
		switch {
		case strings.HasPrefix(link, "#"):
			if !anchors[link[1:]] {
				t.Errorf("README.md links to %s, which no heading makes", link)
			}
		case !strings.Contains(link, "://"):
			path, _, _ := strings.Cut(link, "#")
			if _, err := os.Stat(filepath.Join("../..", path)); err != nil {
				t.Errorf("README.md links to %s: %v", link, err)
			}
		}
	}
}
