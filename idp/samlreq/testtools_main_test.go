package samlreq

import (
	"testing"

	"github.com/partneridp/partneridp/internal/testtools"
)

// TestMain prints, after the tests, which external cross-checks were
// skipped because their tool is not installed, and how to install it.
func TestMain(m *testing.M) { testtools.Main(m) }
