package idp

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/partneridp/partneridp/idp/webhook"
)

// registeredReasonsOnly fails the test when an audit event names a reason
// that is not in the registry: every test environment records through it,
// so every reason any test provokes is checked (issue 11 item 6).
func registeredReasonsOnly(tb testing.TB) Auditor {
	return AuditFunc(func(ev AuditEvent) {
		if ev.Reason == "" {
			return
		}
		info, ok := LookupReason(ev.Reason)
		if !ok {
			tb.Errorf("audit event with reason %q, which is not in the registry (idp/reasons.go)", ev.Reason)
			return
		}
		switch {
		case ev.Verdict == VerdictRefused && info.Kind != KindRefusal,
			ev.Verdict == VerdictError && info.Kind != KindInternal,
			ev.Verdict == VerdictErrorResponse && info.Kind != KindSAMLError:
			tb.Errorf("audit verdict %s with reason %s of kind %s", ev.Verdict, ev.Reason, info.Kind)
		}
	})
}

// TestEveryReasonConstantIsRegistered: each Reason* string constant of idp,
// samlreq and handoff (token_ prefixed) and each ServiceError reason is in
// the registry.
func TestEveryReasonConstantIsRegistered(t *testing.T) {
	for dir, prefix := range map[string]string{".": "", "samlreq": "", "handoff": reasonTokenPrefix, "webhook": ""} {
		for name, value := range reasonConstants(t, dir) {
			if dir == "." && (name == "reasonTokenPrefix" || name == "reasonServicePrefix") {
				continue
			}
			if _, ok := LookupReason(prefix + value); !ok {
				t.Errorf("%s.%s = %q is not registered as %q", dir, name, value, prefix+value)
			}
		}
	}
	src, err := os.ReadFile(filepath.Join("handoff", "service.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range strings.Split(string(src), `&ServiceError{Reason: "`)[1:] {
		code := reasonServicePrefix + part[:strings.IndexByte(part, '"')]
		if _, ok := LookupReason(code); !ok {
			t.Errorf("service reason %q is not registered", code)
		}
	}
	for _, r := range Reasons() {
		if r.Fix == "" || r.Where == "" || (r.Status == 0 && r.Code != ReasonWriteFailed && r.Code != webhook.ReasonGivenUp) {
			t.Errorf("reason %s lacks status, place or fix: %+v", r.Code, r)
		}
	}
}

func reasonConstants(t *testing.T, dir string) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, d := range f.Decls {
				gd, ok := d.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if !strings.HasPrefix(n.Name, "Reason") || i >= len(vs.Values) {
							continue
						}
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							out[n.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
		}
	}
	return out
}

const (
	readmeBegin = "<!-- reasons:begin (generated from idp/reasons.go by TestReadmeTroubleshootingMatchesRegistry; UPDATE_README=1 rewrites it) -->"
	readmeEnd   = "<!-- reasons:end -->"
)

// reasonsTable renders the registry as the README's table.
func reasonsTable() string {
	var b strings.Builder
	b.WriteString("| reason | kind | HTTP | where | what to do |\n|---|---|---|---|---|\n")
	for _, r := range Reasons() {
		status := "—"
		if r.Status != 0 {
			status = strconv.Itoa(r.Status)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", r.Code, r.Kind, status, r.Where, r.Fix)
	}
	return b.String()
}

// TestReadmeTroubleshootingMatchesRegistry: the README's reason table is
// exactly the registry, so it lists every reason and none that does not
// exist.
func TestReadmeTroubleshootingMatchesRegistry(t *testing.T) {
	path := filepath.Join("..", "README.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, readmeBegin), strings.Index(doc, readmeEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the markers %q … %q", readmeBegin, readmeEnd)
	}
	want := readmeBegin + "\n\n" + reasonsTable() + "\n" + readmeEnd
	if got := doc[i : j+len(readmeEnd)]; got != want {
		if os.Getenv("UPDATE_README") == "1" {
			if err := os.WriteFile(path, []byte(doc[:i]+want+doc[j+len(readmeEnd):]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("README.md's reason table differs from idp/reasons.go; run UPDATE_README=1 go test ./idp -run TestReadmeTroubleshootingMatchesRegistry")
	}
	// Every reason-looking code quoted elsewhere in the troubleshooting
	// section exists.
	start := strings.Index(doc, "### Troubleshooting")
	end := strings.Index(doc[start:], "\n## ")
	section := doc[start : start+end]
	for _, part := range strings.Split(section, "`")[1:] {
		code, _, _ := strings.Cut(part, "`")
		if isReasonLike(code) {
			if _, ok := LookupReason(code); !ok {
				t.Errorf("the troubleshooting section names %q, which is not a reason the bridge emits", code)
			}
		}
	}
}

func isReasonLike(s string) bool {
	if !strings.Contains(s, "_") {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}
