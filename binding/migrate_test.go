package binding_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
)

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	src := openMem(t, func() time.Time { return now })
	k := func(id string) binding.Key { return binding.Key{XAccountType: "t", XAccountID: id} }
	put := func(s binding.Store, id, dom string) {
		t.Helper()
		if _, err := binding.Put(ctx, s, binding.Binding{Key: k(id), DomainID: dom, Source: binding.SourceOperator}, "op", nil); err != nil {
			t.Fatal(err)
		}
	}
	put(src, "a", "d1")
	put(src, "b", "d2")
	put(src, "a", "d3")
	if _, err := binding.Delete(ctx, src, k("b"), binding.SourceOperator, "op", nil); err != nil {
		t.Fatal(err)
	}
	n := binding.Notification{DomainID: "d4", DomainName: "x", XUserID: "c", Action: binding.ActionBind, Mark: "bindnotify:abc"}
	if _, err := binding.ApplyNotification(ctx, src, "t", n, "huawei"); err != nil {
		t.Fatal(err)
	}

	dst := openMem(t, nil)
	r, err := binding.Migrate(ctx, src, dst, binding.MigrateOptions{Actor: "op"})
	if err != nil || r.Accounts != 3 || r.Copied != 3 || r.Bindings != 2 {
		t.Fatalf("Migrate = %+v, %v", r, err)
	}
	for _, id := range []string{"a", "b", "c"} {
		hs, _ := src.History(ctx, k(id))
		hd, _ := dst.History(ctx, k(id))
		if len(hs) != len(hd) {
			t.Errorf("%s: history %d entries, want %d", id, len(hd), len(hs))
		}
	}
	if _, err := binding.ApplyNotification(ctx, dst, "t", n, "huawei"); !errors.Is(err, binding.ErrApplied) {
		t.Errorf("the notification's mark did not travel: %v", err)
	}
	// Idempotent.
	r, err = binding.Migrate(ctx, src, dst, binding.MigrateOptions{Actor: "op"})
	if err != nil || r.Same != 3 || r.Copied != 0 {
		t.Fatalf("second Migrate = %+v, %v", r, err)
	}
	// Differing data is refused without Overwrite, changed with it.
	put(dst, "a", "other")
	if _, err := binding.Migrate(ctx, src, dst, binding.MigrateOptions{Actor: "op"}); !errors.Is(err, binding.ErrMigrateDiffers) {
		t.Fatalf("Migrate over differing data: %v", err)
	}
	if b, _ := dst.Get(ctx, k("a")); b.DomainID != "other" {
		t.Errorf("refused Migrate changed a: %+v", b)
	}
	r, err = binding.Migrate(ctx, src, dst, binding.MigrateOptions{Actor: "op", Overwrite: true})
	if err != nil || r.Rebound != 1 {
		t.Fatalf("Migrate --overwrite = %+v, %v", r, err)
	}
	if b, _ := dst.Get(ctx, k("a")); b.DomainID != "d3" {
		t.Errorf("after overwrite a = %+v", b)
	}
	// A bad imported history is refused.
	bad := []binding.Change{{Action: binding.ActionUnbind, Binding: binding.Binding{Key: k("z")}, Source: binding.SourceOperator}}
	if err := dst.ImportAccount(ctx, k("z"), bad); !errors.Is(err, binding.ErrInvalid) {
		t.Errorf("ImportAccount of an unbind-first history: %v", err)
	}
}
