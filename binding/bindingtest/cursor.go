package bindingtest

import (
	"context"
	"errors"
	"testing"

	"github.com/partneridp/partneridp/binding"
)

// RunCursor checks a backend's binding.CursorStore: unset names read 0,
// a set value reads back, names are independent, an empty name is
// ErrInvalid, and (when reopen is not nil) a cursor survives reopening the
// store. open returns a new, empty store; reopen closes s and opens the
// same data again.
func RunCursor(t *testing.T, open func(t *testing.T) binding.Store, reopen func(t *testing.T, s binding.Store) binding.Store) {
	ctx := context.Background()
	s := open(t)
	cs, ok := s.(binding.CursorStore)
	if !ok {
		t.Fatalf("%T does not implement binding.CursorStore", s)
	}
	if got, err := cs.Cursor(ctx, "webhooks/a"); err != nil || got != 0 {
		t.Fatalf("unset cursor: %d, %v; want 0, nil", got, err)
	}
	if err := cs.SetCursor(ctx, "webhooks/a", 42); err != nil {
		t.Fatal(err)
	}
	if err := cs.SetCursor(ctx, "webhooks/b", 7); err != nil {
		t.Fatal(err)
	}
	if err := cs.SetCursor(ctx, "webhooks/a", 43); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]uint64{"webhooks/a": 43, "webhooks/b": 7, "other": 0} {
		if got, err := cs.Cursor(ctx, name); err != nil || got != want {
			t.Errorf("cursor %s: %d, %v; want %d", name, got, err, want)
		}
	}
	if err := cs.SetCursor(ctx, "", 1); !errors.Is(err, binding.ErrInvalid) {
		t.Errorf("empty name: %v, want ErrInvalid", err)
	}
	if reopen != nil {
		s = reopen(t, s)
		cs = s.(binding.CursorStore)
		if got, err := cs.Cursor(ctx, "webhooks/a"); err != nil || got != 43 {
			t.Errorf("after reopen: %d, %v; want 43", got, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Cursor(ctx, "webhooks/a"); err == nil {
		t.Error("Cursor on a closed store succeeded")
	}
}
