package bindingtest

import (
	"context"
	"errors"
	"testing"

	"github.com/partneridp/partneridp/binding"
)

// testUpdateBatch: a BatchUpdater applies its items in order, each as
// Update would, and a failing item leaves the store as it was. Skipped on
// a store without one.
func testUpdateBatch(t *testing.T, s binding.Store) {
	bu, ok := s.(binding.BatchUpdater)
	if !ok {
		t.Skip("the backend has no BatchUpdater")
	}
	ctx := context.Background()
	bind := func(domain string) binding.Decide {
		return func(*binding.Binding) (binding.Edit, error) {
			return binding.Edit{Action: binding.ActionBind, DomainID: domain, Source: binding.SourceImport, Actor: "batch"}, nil
		}
	}
	a, b := key("batch-a"), key("batch-b")
	res, err := bu.UpdateBatch(ctx, []binding.BatchItem{{Key: a, Decide: bind("dom-1")}, {Key: b, Decide: bind("dom-2")}, {Key: a, Decide: bind("dom-3")}})
	if err != nil || len(res) != 3 || !res[0].Changed || !res[2].Changed || res[2].Before == nil || res[2].Before.DomainID != "dom-1" {
		t.Fatalf("UpdateBatch: %+v, %v", res, err)
	}
	if got, err := s.Get(ctx, a); err != nil || got.DomainID != "dom-3" {
		t.Fatalf("after the batch, a: %+v, %v", got, err)
	}
	if h, err := s.History(ctx, a); err != nil || len(h) != 2 {
		t.Fatalf("history of a: %d entries, %v", len(h), err)
	}
	boom := errors.New("refused")
	_, err = bu.UpdateBatch(ctx, []binding.BatchItem{{Key: key("batch-c"), Decide: bind("dom-4")},
		{Key: b, Decide: func(*binding.Binding) (binding.Edit, error) { return binding.Edit{}, boom }}})
	if !errors.Is(err, boom) {
		t.Fatalf("a failing item: %v", err)
	}
	if _, err := s.Get(ctx, key("batch-c")); !errors.Is(err, binding.ErrNotFound) {
		t.Errorf("the item before the failing one was stored: %v", err)
	}
	if n, err := s.Count(ctx); err != nil || n != 2 {
		t.Errorf("count after the failed batch: %d, %v", n, err)
	}
	if _, err := bu.UpdateBatch(ctx, []binding.BatchItem{{Key: binding.Key{XAccountType: "t", XAccountID: ""}, Decide: bind("d")}}); !errors.Is(err, binding.ErrInvalid) {
		t.Errorf("an invalid key: %v", err)
	}
}
