package bindingtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/memory"
)

func testUpdateSeesCurrent(t *testing.T, s binding.Store) {
	ctx := context.Background()
	k := key("upd")
	var seen []*binding.Binding
	decide := func(cur *binding.Binding) (binding.Edit, error) {
		seen = append(seen, cur)
		return binding.Edit{Action: binding.ActionBind, DomainID: "d1", Source: binding.SourceOperator}, nil
	}
	res, err := s.Update(ctx, k, "", decide)
	if err != nil || !res.Changed || res.Before != nil || res.Binding.DomainID != "d1" {
		t.Fatalf("first Update = %+v, %v", res, err)
	}
	if seen[len(seen)-1] != nil {
		t.Errorf("decide saw %+v for an account without a binding", seen[len(seen)-1])
	}
	res, err = s.Update(ctx, k, "", func(cur *binding.Binding) (binding.Edit, error) {
		if cur == nil || cur.DomainID != "d1" {
			return binding.Edit{}, fmt.Errorf("decide saw %+v, want d1", cur)
		}
		return binding.Edit{Action: binding.ActionUnbind, Source: binding.SourceOperator}, nil
	})
	if err != nil || !res.Changed || res.Before == nil || res.Binding.DomainID != "d1" {
		t.Fatalf("unbind Update = %+v, %v", res, err)
	}
	res, err = s.Update(ctx, k, "", func(*binding.Binding) (binding.Edit, error) { return binding.Edit{}, nil })
	if err != nil || res.Changed {
		t.Errorf("empty Edit = %+v, %v; want no change", res, err)
	}
	if h := mustHistory(t, s, k); len(h) != 2 {
		t.Errorf("history has %d entries, want 2", len(h))
	}
}

var errDecide = errors.New("decided against it")

func testUpdateDecideError(t *testing.T, s binding.Store) {
	ctx := context.Background()
	mustPut(t, s, bnd("keep", "d1", "n"), true)
	_, err := s.Update(ctx, key("keep"), "mark-refused", func(*binding.Binding) (binding.Edit, error) { return binding.Edit{}, errDecide })
	if !errors.Is(err, errDecide) {
		t.Fatalf("Update returned %v, want decide's error", err)
	}
	// An Edit the store refuses changes nothing either.
	_, err = s.Update(ctx, key("keep"), "mark-refused", func(*binding.Binding) (binding.Edit, error) {
		return binding.Edit{Action: binding.ActionBind, DomainID: "bad\x00domain", Source: binding.SourceOperator}, nil
	})
	if !errors.Is(err, binding.ErrInvalid) {
		t.Fatalf("Update with a bad Edit returned %v, want ErrInvalid", err)
	}
	if got := mustGet(t, s, key("keep")); got.DomainID != "d1" {
		t.Errorf("binding changed to %+v", got)
	}
	if h := mustHistory(t, s, key("keep")); len(h) != 1 {
		t.Errorf("history has %d entries, want 1", len(h))
	}
	// The refused updates did not record their mark.
	if _, err := s.Update(ctx, key("keep"), "mark-refused", func(*binding.Binding) (binding.Edit, error) { return binding.Edit{}, nil }); err != nil {
		t.Errorf("a mark of a refused update was recorded: %v", err)
	}
	for _, bad := range []string{"with space", "tab\t", string(make([]byte, binding.MaxMarkLen+1)), "ümlaut"} {
		if _, err := s.Update(ctx, key("keep"), bad, func(*binding.Binding) (binding.Edit, error) { return binding.Edit{}, nil }); !errors.Is(err, binding.ErrInvalid) {
			t.Errorf("mark %q: err=%v, want ErrInvalid", bad, err)
		}
	}
}

func notification(id, domain string, a binding.Action, mark string) binding.Notification {
	return binding.Notification{DomainID: domain, DomainName: "n-" + domain, XUserID: id, Action: a, Mark: mark}
}

func testMarkOnce(t *testing.T, s binding.Store) {
	ctx := context.Background()
	bindA := notification("m", "A", binding.ActionBind, "n-bind-A")
	res, err := binding.ApplyNotification(ctx, s, typ, bindA, "huawei")
	if err != nil || !res.Changed {
		t.Fatalf("first bind = %+v, %v", res, err)
	}
	if _, err := binding.ApplyNotification(ctx, s, typ, bindA, "huawei"); !errors.Is(err, binding.ErrApplied) {
		t.Fatalf("replayed bind: err=%v, want ErrApplied", err)
	}
	// A mark is recorded even when its update changed nothing.
	mustPut(t, s, bnd("m2", "B", "n-B"), true)
	same := notification("m2", "B", binding.ActionBind, "n-bind-B")
	if res, err := binding.ApplyNotification(ctx, s, typ, same, "huawei"); err != nil || res.Changed {
		t.Fatalf("bind already in place = %+v, %v", res, err)
	}
	if _, err := binding.Delete(ctx, s, key("m2"), binding.SourceOperator, "op", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := binding.ApplyNotification(ctx, s, typ, same, "huawei"); !errors.Is(err, binding.ErrApplied) {
		t.Errorf("replay of a bind that changed nothing: err=%v, want ErrApplied", err)
	}
	if _, err := s.Get(ctx, key("m2")); !errors.Is(err, binding.ErrNotFound) {
		t.Errorf("replay restored the binding: %v", err)
	}
	h := mustHistory(t, s, key("m"))
	if len(h) != 1 || h[0].Mark != "n-bind-A" {
		t.Errorf("history = %+v, want one entry carrying the mark", h)
	}
}

// testMarkOutlivesRebind is the attack of the black-box corpus: an old
// signed bind replayed after an unbind or a rebind must not restore it, and
// an old unbind must not remove a later binding.
func testMarkOutlivesRebind(t *testing.T, s binding.Store) {
	ctx := context.Background()
	apply := func(n binding.Notification) error {
		_, err := binding.ApplyNotification(ctx, s, typ, n, "huawei")
		return err
	}
	bindA := notification("r", "A", binding.ActionBind, "bind-A")
	unbindA := notification("r", "A", binding.ActionUnbind, "unbind-A")
	bindB := notification("r", "B", binding.ActionBind, "bind-B")
	for _, n := range []binding.Notification{bindA, unbindA, bindB} {
		if err := apply(n); err != nil {
			t.Fatalf("%s: %v", n.Mark, err)
		}
	}
	if err := apply(bindA); !errors.Is(err, binding.ErrApplied) {
		t.Errorf("old bind replayed after a rebind: %v", err)
	}
	if err := apply(unbindA); !errors.Is(err, binding.ErrApplied) {
		t.Errorf("old unbind replayed: %v", err)
	}
	if got := mustGet(t, s, key("r")); got.DomainID != "B" {
		t.Errorf("binding is %s, want B", got.DomainID)
	}
	if h := mustHistory(t, s, key("r")); len(h) != 3 {
		t.Errorf("history has %d entries, want 3", len(h))
	}
}

// testConcurrentNotifications runs conflicting binds, unbinds and rebinds
// of one account from many goroutines and checks that the binding, the
// index by domain and the history agree with one serial order: replaying
// the history from nothing gives each entry's precondition and the final
// state.
func testConcurrentNotifications(t *testing.T, s binding.Store) {
	ctx := context.Background()
	const workers, perWorker = 12, 10
	domainsUsed := []string{"A", "B", "C"}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range perWorker {
				d := domainsUsed[r.IntN(len(domainsUsed))]
				a := binding.ActionBind
				if r.IntN(2) == 0 {
					a = binding.ActionUnbind
				}
				n := notification("hot", d, a, fmt.Sprintf("w%d-%d", w, i))
				_, err := binding.ApplyNotification(ctx, s, typ, n, "huawei")
				if err != nil && !errors.Is(err, binding.ErrNotificationMismatch) {
					t.Errorf("apply %s: %v", n.Mark, err)
				}
			}
		}()
	}
	wg.Wait()
	h := mustHistory(t, s, key("hot"))
	var state *binding.Binding
	for i, ch := range h {
		if i > 0 && ch.Seq <= h[i-1].Seq {
			t.Errorf("history seq %d after %d", ch.Seq, h[i-1].Seq)
		}
		switch ch.Action {
		case binding.ActionBind:
			if state != nil && state.DomainID == ch.Binding.DomainID && state.DomainName == ch.Binding.DomainName {
				t.Errorf("entry %d binds %s, which was already bound", ch.Seq, ch.Binding.DomainID)
			}
			b := ch.Binding
			state = &b
		case binding.ActionUnbind:
			if state == nil || state.DomainID != ch.Binding.DomainID {
				t.Errorf("entry %d unbinds %s but the serial state is %+v", ch.Seq, ch.Binding.DomainID, state)
			}
			state = nil
		}
	}
	got, err := s.Get(ctx, key("hot"))
	switch {
	case state == nil && !errors.Is(err, binding.ErrNotFound):
		t.Errorf("history ends unbound, Get = %+v, %v", got, err)
	case state != nil && (err != nil || got.DomainID != state.DomainID):
		t.Errorf("history ends bound to %s, Get = %+v, %v", state.DomainID, got, err)
	}
	for _, d := range domainsUsed {
		keys := domains(t, s, d)
		want := state != nil && state.DomainID == d
		if (len(keys) == 1) != want || len(keys) > 1 {
			t.Errorf("index by domain %s names %v; bound there: %v", d, keys, want)
		}
	}
	// Every mark was recorded once: replaying any is refused.
	if _, err := binding.ApplyNotification(ctx, s, typ, notification("hot", "A", binding.ActionBind, "w0-0"), "huawei"); !errors.Is(err, binding.ErrApplied) && !errors.Is(err, binding.ErrNotificationMismatch) {
		t.Errorf("replay after the storm: %v", err)
	}
}

func testChangesFeed(t *testing.T, s binding.Store) {
	ctx := context.Background()
	for i := range 5 {
		mustPut(t, s, bnd(fmt.Sprintf("f%d", i), "d", ""), true)
	}
	if _, err := binding.Delete(ctx, s, key("f1"), binding.SourceOperator, "", nil); err != nil {
		t.Fatal(err)
	}
	all, err := s.Changes(ctx, 0, 100)
	if err != nil || len(all) != 6 {
		t.Fatalf("Changes(0) = %d entries, %v; want 6", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq <= all[i-1].Seq {
			t.Errorf("feed not in sequence order: %d after %d", all[i].Seq, all[i-1].Seq)
		}
	}
	if all[5].Action != binding.ActionUnbind || all[5].Binding.XAccountID != "f1" {
		t.Errorf("last change = %+v", all[5])
	}
	page, err := s.Changes(ctx, all[1].Seq, 2)
	if err != nil || len(page) != 2 || page[0].Seq != all[2].Seq || page[1].Seq != all[3].Seq {
		t.Errorf("Changes(after %d, 2) = %+v, %v", all[1].Seq, page, err)
	}
	if rest, err := s.Changes(ctx, all[5].Seq, 10); err != nil || len(rest) != 0 {
		t.Errorf("Changes after the last = %d, %v", len(rest), err)
	}
	for _, bad := range []int{0, -1, binding.MaxChangesLimit + 1} {
		if _, err := s.Changes(ctx, 0, bad); !errors.Is(err, binding.ErrInvalid) {
			t.Errorf("Changes limit %d: err=%v, want ErrInvalid", bad, err)
		}
	}
}

func testListAfter(t *testing.T, s binding.Store) {
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c", "d"} {
		mustPut(t, s, bnd(id, "dom", ""), true)
	}
	var got []string
	if err := s.List(ctx, key("b"), func(b binding.Binding) error {
		got = append(got, b.XAccountID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[c d]" {
		t.Errorf("List after b = %v, want [c d]", got)
	}
	got = nil
	if err := s.List(ctx, key("bb"), func(b binding.Binding) error {
		got = append(got, b.XAccountID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[c d]" {
		t.Errorf("List after a key that is not stored = %v, want [c d]", got)
	}
}

// testMigrateInto copies histories from a memory store into the backend
// (store migrate), twice: the second run finds everything in place.
func testMigrateInto(t *testing.T, s binding.Store) {
	if _, ok := s.(binding.AccountImporter); !ok {
		t.Skip("the backend does not import histories")
	}
	ctx := context.Background()
	src := memory.New(nil)
	defer src.Close()
	for i := range 5 {
		mustPut(t, src, bnd(fmt.Sprintf("mig%d", i), fmt.Sprintf("d%d", i), ""), true)
	}
	mustPut(t, src, bnd("mig0", "d9", "n"), true)
	if _, err := binding.Delete(ctx, src, key("mig1"), binding.SourceOperator, "op", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := binding.ApplyNotification(ctx, src, typ, notification("mig5", "dn", binding.ActionBind, "mig-mark"), "huawei"); err != nil {
		t.Fatal(err)
	}
	r, err := binding.Migrate(ctx, src, s, binding.MigrateOptions{Actor: "op"})
	if err != nil || r.Copied != 6 || r.Bindings != 5 {
		t.Fatalf("Migrate = %+v, %v", r, err)
	}
	if h := mustHistory(t, s, key("mig0")); len(h) != 2 || h[1].Binding.DomainID != "d9" {
		t.Errorf("history of mig0 = %+v", h)
	}
	if _, err := s.Get(ctx, key("mig1")); !errors.Is(err, binding.ErrNotFound) {
		t.Errorf("mig1 is bound after an imported unbind: %v", err)
	}
	if got := domains(t, s, "d9"); len(got) != 1 {
		t.Errorf("index by domain d9 = %v", got)
	}
	if _, err := binding.ApplyNotification(ctx, s, typ, notification("mig5", "dn", binding.ActionBind, "mig-mark"), "huawei"); !errors.Is(err, binding.ErrApplied) {
		t.Errorf("imported mark not kept: %v", err)
	}
	if r, err := binding.Migrate(ctx, src, s, binding.MigrateOptions{Actor: "op"}); err != nil || r.Same != 6 {
		t.Errorf("second Migrate = %+v, %v", r, err)
	}
}
