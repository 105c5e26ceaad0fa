// Package testtools lets tests cross-check the project's output with
// implementations we did not write (xmlsec1, xmllint with the OASIS
// schemas, python3-onelogin-saml2, chromium).
//
// The project's own assertions never depend on them: a test asks Have
// before a cross-check and runs only that check when the tool is there.
// Outside CI a missing tool skips the cross-check (Have returns false, or
// Require skips a test that is nothing but the cross-check); with CI=true a
// missing tool fails the test. Main, called from a package's TestMain,
// records what was skipped; SummaryMain, in the package that `go test ./...`
// runs last, prints it once at the end with the apt-get line that enables it.
package testtools

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Debian packages that provide each tool; AptLine installs all of them.
var packages = map[string]string{
	"xmlsec1":          "xmlsec1",
	"xmllint":          "libxml2-utils",
	"saml-schemas":     "opensaml-schemas xmltooling-schemas",
	"python3-onelogin": "python3-onelogin-saml2",
	"chromium":         "chromium fonts-dejavu-core",
}

// AptLine is the command that installs every optional tool (what .ci/run does).
const AptLine = "sudo apt-get install -y xmlsec1 libxml2-utils opensaml-schemas xmltooling-schemas python3-onelogin-saml2 chromium fonts-dejavu-core"

var (
	mu      sync.Mutex
	skipped = map[string][]string{} // tool -> test names
)

// InCI reports whether missing tools must fail the tests (CI set to
// anything but "" or "false").
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// Missing records that t could not run the cross-check needing tool: in CI
// it fails t, otherwise it logs and remembers the skip for Main's summary.
// why describes what is missing, for example "xmlsec1 not on PATH".
func Missing(t testing.TB, tool, why string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s: required when CI=true (install: %s)", why, aptFor(tool))
	}
	mu.Lock()
	skipped[tool] = append(skipped[tool], t.Name())
	mu.Unlock()
	t.Logf("cross-check skipped: %s (install: %s)", why, aptFor(tool))
}

// Have returns the path of the command tool and true when it is on PATH.
// When it is not, it calls Missing and returns false: the caller skips only
// the cross-check and goes on with its own assertions.
func Have(t testing.TB, tool string) (string, bool) {
	t.Helper()
	if p, err := exec.LookPath(tool); err == nil {
		return p, true
	}
	Missing(t, tool, tool+" not on PATH")
	return "", false
}

// Require is Have for a test that is nothing but the cross-check: it skips
// the test when the tool is missing outside CI.
func Require(t testing.TB, tool string) string {
	t.Helper()
	p, ok := Have(t, tool)
	if !ok {
		t.SkipNow()
	}
	return p
}

// HaveFile returns the first of candidates that exists, as Have does for
// commands; tool names the group for the summary (e.g. "saml-schemas").
func HaveFile(t testing.TB, tool string, candidates ...string) (string, bool) {
	t.Helper()
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c, true
		}
	}
	Missing(t, tool, fmt.Sprintf("%s not installed (%s)", tool, candidates[0]))
	return "", false
}

func aptFor(tool string) string {
	if p, ok := packages[tool]; ok {
		return "apt-get install -y " + p
	}
	return AptLine
}

// Summary describes what was skipped, or "" when nothing was.
func Summary() string {
	mu.Lock()
	defer mu.Unlock()
	if len(skipped) == 0 {
		return ""
	}
	tools := make([]string, 0, len(skipped))
	for tool := range skipped {
		tools = append(tools, tool)
	}
	sort.Strings(tools)
	var b strings.Builder
	b.WriteString("external cross-checks skipped (the project's own assertions ran):\n")
	for _, tool := range tools {
		names := slices.Compact(slices.Sorted(slices.Values(skipped[tool])))
		fmt.Fprintf(&b, "  %-16s %d test(s), e.g. %s\n", tool, len(names), names[0])
	}
	fmt.Fprintf(&b, "  to run them: %s  (with CI=true they are required)\n", AptLine)
	return b.String()
}

// Main runs the package's tests and records which cross-checks were
// skipped: it prints them on stdout (shown by go test -v and on failure) and
// leaves them for SummaryMain, which prints one summary for the whole
// `go test ./...` run at its end (go test hides a passing package's output).
func Main(m *testing.M) {
	code := m.Run()
	if s := Summary(); s != "" {
		fmt.Print(packageName() + ": " + s)
		record(packageName())
	}
	os.Exit(code)
}

// packageName is the test's folder relative to the module root.
func packageName() string {
	wd, err := os.Getwd()
	if err != nil {
		return "?"
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if rel, err := filepath.Rel(dir, wd); err == nil {
				return "./" + filepath.ToSlash(rel)
			}
			return wd
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return wd
		}
		dir = parent
	}
}

// goCommandTerminal opens the go command's stderr when it is a terminal, a
// pipe or a file opened for appending (Linux only; never a file opened
// otherwise: reopening it would write over the go command's output).
func goCommandTerminal() io.WriteCloser {
	path := fmt.Sprintf("/proc/%d/fd/2", os.Getppid())
	st, err := os.Stat(path)
	if err != nil {
		return nil
	}
	flags := os.O_WRONLY
	if st.Mode()&(os.ModeCharDevice|os.ModeNamedPipe) == 0 {
		if !st.Mode().IsRegular() || !openedForAppend(fmt.Sprintf("/proc/%d/fdinfo/2", os.Getppid())) {
			return nil
		}
		flags |= os.O_APPEND
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil
	}
	return f
}

// openedForAppend reads the flags line of /proc/PID/fdinfo/FD (octal).
func openedForAppend(fdinfo string) bool {
	data, err := os.ReadFile(fdinfo)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
			return err == nil && flags&syscall.O_APPEND != 0
		}
	}
	return false
}
