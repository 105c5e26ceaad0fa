package memory_test

import (
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bindingtest"
	"github.com/partneridp/partneridp/binding/memory"
)

func TestConformance(t *testing.T) {
	bindingtest.Run(t, func(*testing.T) binding.Store { return memory.New(nil) })
}

func TestEphemeralConformance(t *testing.T) {
	bindingtest.RunEphemeral(t, func(t *testing.T, clock func() time.Time) binding.Store {
		s := memory.New(clock)
		t.Cleanup(func() { s.Close() })
		return s
	})
}
