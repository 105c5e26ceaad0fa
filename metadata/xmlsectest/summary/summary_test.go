// Package summary prints, at the end of `go test ./...`, one summary of the
// external cross-checks that the run skipped because a tool is missing
// (see internal/testtools). It holds no code: its path sorts last among the
// module's packages, so the go command runs it last.
package summary

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/partneridp/partneridp/internal/testtools"
)

func TestMain(m *testing.M) { testtools.SummaryMain(m) }

// TestThisPackageIsLast: the summary is at the end only while this package's
// path sorts after every other package of the module.
func TestThisPackageIsLast(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH")
	}
	out, err := exec.Command(goTool, "list", "github.com/partneridp/partneridp/...").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	pkgs := strings.Fields(string(out))
	if last := pkgs[len(pkgs)-1]; last != "github.com/partneridp/partneridp/metadata/xmlsectest/summary" {
		t.Errorf("%s sorts after this package: move this package so that it stays last", last)
	}
}
