package memory_test

import (
	"testing"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bindingtest"
	"github.com/partneridp/partneridp/binding/memory"
)

func TestMemoryCursorConformance(t *testing.T) {
	bindingtest.RunCursor(t, func(*testing.T) binding.Store { return memory.New(nil) }, nil)
}
