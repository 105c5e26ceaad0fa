// Package bindingtest is the conformance suite every binding.Store and
// binding.Ephemeral backend passes. A backend's test calls Run (and
// RunEphemeral) with a function that opens a new, empty store.
package bindingtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
)

// Run checks every Store behaviour. open returns a new, empty store for one
// subtest; Run closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) binding.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s binding.Store)
	}{
		{"Empty", testEmpty},
		{"PutGet", testPutGet},
		{"PutIdempotent", testPutIdempotent},
		{"UpdateDomain", testUpdateDomain},
		{"UpdateDomainNameOnly", testUpdateDomainName},
		{"Delete", testDelete},
		{"RebindAfterDelete", testRebind},
		{"GetByDomainID", testGetByDomainID},
		{"History", testHistory},
		{"ValidationStoresNothing", testValidation},
		{"LimitsAccepted", testLimits},
		{"ListOrder", testListOrder},
		{"ListStopsOnError", testListStop},
		{"Count", testCount},
		{"ConcurrentDifferentKeys", testConcurrentDifferent},
		{"ConcurrentSameBinding", testConcurrentSame},
		{"ConcurrentRebinds", testConcurrentRebinds},
		{"ConcurrentPutDelete", testConcurrentPutDelete},
		{"ContextCancelled", testCancelled},
		{"CallerSlicesNotRetained", testNoAliasing},
		{"UpdateSeesCurrent", testUpdateSeesCurrent},
		{"UpdateDecideErrorChangesNothing", testUpdateDecideError},
		{"MarkAppliedOnce", testMarkOnce},
		{"MarkOutlivesRebind", testMarkOutlivesRebind},
		{"ConcurrentNotificationsSerial", testConcurrentNotifications},
		{"ChangesFeed", testChangesFeed},
		{"ListAfter", testListAfter},
		{"MigrateInto", testMigrateInto},
		{"UpdateBatch", testUpdateBatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

const typ = "partner_IDP"

func key(id string) binding.Key { return binding.Key{XAccountType: typ, XAccountID: id} }

func bnd(id, domainID, domainName string) binding.Binding {
	return binding.Binding{Key: key(id), DomainID: domainID, DomainName: domainName, Source: binding.SourceOperator}
}

func mustPut(t *testing.T, s binding.Store, b binding.Binding, wantChanged bool) {
	t.Helper()
	changed, err := binding.Put(context.Background(), s, b, "tester", nil)
	if err != nil {
		t.Fatalf("Put(%+v): %v", b, err)
	}
	if changed != wantChanged {
		t.Fatalf("Put(%s → %s): changed=%v, want %v", b.XAccountID, b.DomainID, changed, wantChanged)
	}
}

func mustGet(t *testing.T, s binding.Store, k binding.Key) binding.Binding {
	t.Helper()
	b, err := s.Get(context.Background(), k)
	if err != nil {
		t.Fatalf("Get(%v): %v", k, err)
	}
	return b
}

func mustHistory(t *testing.T, s binding.Store, k binding.Key) []binding.Change {
	t.Helper()
	h, err := s.History(context.Background(), k)
	if err != nil {
		t.Fatalf("History(%v): %v", k, err)
	}
	return h
}

func mustCount(t *testing.T, s binding.Store) int {
	t.Helper()
	n, err := s.Count(context.Background())
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	return n
}

func listAll(t *testing.T, s binding.Store) []binding.Binding {
	t.Helper()
	var out []binding.Binding
	if err := s.List(context.Background(), binding.Key{}, func(b binding.Binding) error {
		out = append(out, b)
		return nil
	}); err != nil {
		t.Fatalf("List: %v", err)
	}
	return out
}

func domains(t *testing.T, s binding.Store, domainID string) []binding.Key {
	t.Helper()
	bs, err := s.GetByDomainID(context.Background(), domainID)
	if err != nil {
		t.Fatalf("GetByDomainID(%q): %v", domainID, err)
	}
	var ks []binding.Key
	for _, b := range bs {
		if b.DomainID != domainID {
			t.Errorf("GetByDomainID(%q) returned a binding of domain %q", domainID, b.DomainID)
		}
		ks = append(ks, b.Key)
	}
	return ks
}

// sameFields compares what the caller controls (times are the store's).
func sameFields(got, want binding.Binding) bool {
	return got.Key == want.Key && got.DomainID == want.DomainID && got.DomainName == want.DomainName && got.Source == want.Source
}

func testEmpty(t *testing.T, s binding.Store) {
	ctx := context.Background()
	if _, err := s.Get(ctx, key("nobody")); !errors.Is(err, binding.ErrNotFound) {
		t.Errorf("Get of a missing account: err=%v, want ErrNotFound", err)
	}
	if ks := domains(t, s, "no-domain"); len(ks) != 0 {
		t.Errorf("GetByDomainID on an empty store = %v", ks)
	}
	if h := mustHistory(t, s, key("nobody")); len(h) != 0 {
		t.Errorf("History of a missing account = %v", h)
	}
	if n := mustCount(t, s); n != 0 {
		t.Errorf("Count = %d, want 0", n)
	}
	if l := listAll(t, s); len(l) != 0 {
		t.Errorf("List = %v, want nothing", l)
	}
	changed, err := binding.Delete(ctx, s, key("nobody"), binding.SourceOperator, "tester", nil)
	if err != nil || changed {
		t.Errorf("Delete of a missing account: changed=%v err=%v, want false, nil", changed, err)
	}
	if h := mustHistory(t, s, key("nobody")); len(h) != 0 {
		t.Errorf("Delete of a missing account wrote history: %v", h)
	}
}

func testPutGet(t *testing.T, s binding.Store) {
	before := time.Now().Add(-time.Second)
	want := bnd("alice", "dom-1", "alice_hw")
	mustPut(t, s, want, true)
	got := mustGet(t, s, want.Key)
	if !sameFields(got, want) {
		t.Errorf("Get = %+v, want %+v", got, want)
	}
	if got.CreatedAt.IsZero() || !got.CreatedAt.Equal(got.UpdatedAt) {
		t.Errorf("new binding: CreatedAt=%v UpdatedAt=%v, want equal and set", got.CreatedAt, got.UpdatedAt)
	}
	if got.CreatedAt.Before(before) {
		t.Errorf("CreatedAt %v is before the test started", got.CreatedAt)
	}
	// Unicode identifiers round-trip.
	u := bnd("用户-ü-1", "域-1", "名字")
	mustPut(t, s, u, true)
	if got := mustGet(t, s, u.Key); !sameFields(got, u) {
		t.Errorf("Get = %+v, want %+v", got, u)
	}
	// A different xaccount_type is a different account.
	other := binding.Key{XAccountType: "other_IDP", XAccountID: "alice"}
	if _, err := s.Get(context.Background(), other); !errors.Is(err, binding.ErrNotFound) {
		t.Errorf("Get(%v) err=%v, want ErrNotFound", other, err)
	}
}

func testPutIdempotent(t *testing.T, s binding.Store) {
	ctx := context.Background()
	b := bnd("bob", "dom-b", "bob_hw")
	mustPut(t, s, b, true)
	first := mustGet(t, s, b.Key)
	// Same domain ID and name: no change, whatever the source or actor.
	again := b
	again.Source = binding.SourceNotification
	changed, err := binding.Put(ctx, s, again, "someone-else", json.RawMessage(`{"n":1}`))
	if err != nil || changed {
		t.Fatalf("repeated Put: changed=%v err=%v, want false, nil", changed, err)
	}
	got := mustGet(t, s, b.Key)
	if got.Source != b.Source || !got.UpdatedAt.Equal(first.UpdatedAt) {
		t.Errorf("repeated Put altered the binding: %+v, was %+v", got, first)
	}
	if h := mustHistory(t, s, b.Key); len(h) != 1 {
		t.Errorf("history has %d entries after a repeated Put, want 1", len(h))
	}
}

func testUpdateDomain(t *testing.T, s binding.Store) {
	b := bnd("carol", "dom-old", "carol_hw")
	mustPut(t, s, b, true)
	first := mustGet(t, s, b.Key)
	nb := bnd("carol", "dom-new", "carol_hw2")
	nb.Source = binding.SourceNotification
	mustPut(t, s, nb, true)
	got := mustGet(t, s, b.Key)
	if !sameFields(got, nb) {
		t.Errorf("after update Get = %+v, want %+v", got, nb)
	}
	if !got.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("update changed CreatedAt: %v → %v", first.CreatedAt, got.CreatedAt)
	}
	if got.UpdatedAt.Before(first.UpdatedAt) {
		t.Errorf("UpdatedAt went back: %v → %v", first.UpdatedAt, got.UpdatedAt)
	}
	if ks := domains(t, s, "dom-old"); len(ks) != 0 {
		t.Errorf("old domain still finds %v", ks)
	}
	if ks := domains(t, s, "dom-new"); !slices.Equal(ks, []binding.Key{b.Key}) {
		t.Errorf("new domain finds %v, want %v", ks, b.Key)
	}
	h := mustHistory(t, s, b.Key)
	if len(h) != 2 || h[0].Binding.DomainID != "dom-old" || h[1].Binding.DomainID != "dom-new" {
		t.Errorf("history = %+v, want binds to dom-old then dom-new", h)
	}
	if n := mustCount(t, s); n != 1 {
		t.Errorf("Count = %d, want 1", n)
	}
}

func testUpdateDomainName(t *testing.T, s binding.Store) {
	mustPut(t, s, bnd("dave", "dom-d", "dave_old"), true)
	mustPut(t, s, bnd("dave", "dom-d", "dave_new"), true)
	if got := mustGet(t, s, key("dave")); got.DomainName != "dave_new" {
		t.Errorf("DomainName = %q, want dave_new", got.DomainName)
	}
	if ks := domains(t, s, "dom-d"); len(ks) != 1 {
		t.Errorf("domain finds %v, want exactly dave once", ks)
	}
	if h := mustHistory(t, s, key("dave")); len(h) != 2 {
		t.Errorf("history has %d entries, want 2", len(h))
	}
}

func testDelete(t *testing.T, s binding.Store) {
	ctx := context.Background()
	b := bnd("erin", "dom-e", "erin_hw")
	mustPut(t, s, b, true)
	extra := json.RawMessage(`{"reason":"test"}`)
	changed, err := binding.Delete(ctx, s, b.Key, binding.SourceNotification, "huawei", extra)
	if err != nil || !changed {
		t.Fatalf("Delete: changed=%v err=%v, want true, nil", changed, err)
	}
	if _, err := s.Get(ctx, b.Key); !errors.Is(err, binding.ErrNotFound) {
		t.Errorf("Get after Delete: err=%v, want ErrNotFound", err)
	}
	if ks := domains(t, s, "dom-e"); len(ks) != 0 {
		t.Errorf("domain still finds %v after Delete", ks)
	}
	if n := mustCount(t, s); n != 0 {
		t.Errorf("Count = %d after Delete, want 0", n)
	}
	changed, err = binding.Delete(ctx, s, b.Key, binding.SourceNotification, "huawei", extra)
	if err != nil || changed {
		t.Errorf("second Delete: changed=%v err=%v, want false, nil", changed, err)
	}
	h := mustHistory(t, s, b.Key)
	if len(h) != 2 {
		t.Fatalf("history has %d entries, want bind+unbind", len(h))
	}
	u := h[1]
	if u.Action != binding.ActionUnbind || u.Source != binding.SourceNotification || u.Actor != "huawei" || !sameFields(u.Binding, b) {
		t.Errorf("unbind entry = %+v", u)
	}
	if !jsonEqual(u.Extra, extra) {
		t.Errorf("unbind Extra = %s, want %s", u.Extra, extra)
	}
}

func testRebind(t *testing.T, s binding.Store) {
	ctx := context.Background()
	b := bnd("frank", "dom-f", "")
	mustPut(t, s, b, true)
	if _, err := binding.Delete(ctx, s, b.Key, binding.SourceOperator, "op", nil); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, b, true)
	if got := mustGet(t, s, b.Key); !sameFields(got, b) {
		t.Errorf("Get = %+v, want %+v", got, b)
	}
	h := mustHistory(t, s, b.Key)
	acts := []binding.Action{}
	for _, c := range h {
		acts = append(acts, c.Action)
	}
	if !slices.Equal(acts, []binding.Action{binding.ActionBind, binding.ActionUnbind, binding.ActionBind}) {
		t.Errorf("history actions = %v", acts)
	}
}

func testGetByDomainID(t *testing.T, s binding.Store) {
	shared := []binding.Binding{
		{Key: binding.Key{XAccountType: "b_IDP", XAccountID: "x"}, DomainID: "D", Source: binding.SourceImport},
		{Key: binding.Key{XAccountType: "a_IDP", XAccountID: "z"}, DomainID: "D", Source: binding.SourceImport},
		{Key: binding.Key{XAccountType: "a_IDP", XAccountID: "y"}, DomainID: "D", Source: binding.SourceImport},
	}
	for _, b := range shared {
		mustPut(t, s, b, true)
	}
	mustPut(t, s, bnd("solo", "E", ""), true)
	// Prefix of another domain ID must not match.
	mustPut(t, s, bnd("prefix", "DD", ""), true)
	want := []binding.Key{shared[2].Key, shared[1].Key, shared[0].Key}
	if got := domains(t, s, "D"); !slices.Equal(got, want) {
		t.Errorf("GetByDomainID(D) = %v, want %v (key order)", got, want)
	}
	if got := domains(t, s, "E"); !slices.Equal(got, []binding.Key{key("solo")}) {
		t.Errorf("GetByDomainID(E) = %v", got)
	}
	if got := domains(t, s, "none"); len(got) != 0 {
		t.Errorf("GetByDomainID(none) = %v", got)
	}
}

func testHistory(t *testing.T, s binding.Store) {
	ctx := context.Background()
	k := key("gina")
	steps := []struct {
		put    *binding.Binding
		del    bool
		src    binding.Source
		actor  string
		extra  string
		action binding.Action
		domain string
	}{
		{put: &binding.Binding{Key: k, DomainID: "g1", DomainName: "n1", Source: binding.SourceImport}, actor: "importer", extra: `{"file":"a.jsonl"}`, action: binding.ActionBind, domain: "g1"},
		{put: &binding.Binding{Key: k, DomainID: "g2", DomainName: "n2", Source: binding.SourceNotification}, actor: "huawei", extra: `{"extraField":[1,2]}`, action: binding.ActionBind, domain: "g2"},
		{del: true, src: binding.SourceOperator, actor: "ops", action: binding.ActionUnbind, domain: "g2"},
		{put: &binding.Binding{Key: k, DomainID: "g3", Source: binding.SourceOperator}, actor: "ops", action: binding.ActionBind, domain: "g3"},
	}
	// Another account's changes interleave and must not show up.
	for i, st := range steps {
		var extra json.RawMessage
		if st.extra != "" {
			extra = json.RawMessage(st.extra)
		}
		if st.del {
			if _, err := binding.Delete(ctx, s, k, st.src, st.actor, extra); err != nil {
				t.Fatal(err)
			}
		} else if _, err := binding.Put(ctx, s, *st.put, st.actor, extra); err != nil {
			t.Fatal(err)
		}
		mustPut(t, s, bnd("other", fmt.Sprintf("o%d", i), ""), true)
	}
	h := mustHistory(t, s, k)
	if len(h) != len(steps) {
		t.Fatalf("history has %d entries, want %d", len(h), len(steps))
	}
	for i, c := range h {
		st := steps[i]
		if c.Binding.Key != k {
			t.Errorf("entry %d is for %v", i, c.Binding.Key)
		}
		if c.Action != st.action || c.Binding.DomainID != st.domain || c.Actor != st.actor {
			t.Errorf("entry %d = %s %s by %s, want %s %s by %s", i, c.Action, c.Binding.DomainID, c.Actor, st.action, st.domain, st.actor)
		}
		wantSrc := st.src
		if st.put != nil {
			wantSrc = st.put.Source
		}
		if c.Source != wantSrc {
			t.Errorf("entry %d Source = %q, want %q", i, c.Source, wantSrc)
		}
		if st.extra == "" && len(c.Extra) != 0 {
			t.Errorf("entry %d Extra = %s, want none", i, c.Extra)
		}
		if st.extra != "" && !jsonEqual(c.Extra, json.RawMessage(st.extra)) {
			t.Errorf("entry %d Extra = %s, want %s", i, c.Extra, st.extra)
		}
		if c.Time.IsZero() {
			t.Errorf("entry %d has no time", i)
		}
		if i > 0 {
			if c.Seq <= h[i-1].Seq {
				t.Errorf("entry %d Seq %d not after %d", i, c.Seq, h[i-1].Seq)
			}
			if c.Time.Before(h[i-1].Time) {
				t.Errorf("entry %d Time %v before %v", i, c.Time, h[i-1].Time)
			}
		}
	}
	if oh := mustHistory(t, s, key("other")); len(oh) != len(steps) {
		t.Errorf("other account has %d entries, want %d", len(oh), len(steps))
	}
}

func testValidation(t *testing.T, s binding.Store) {
	ctx := context.Background()
	good := bnd("valid", "dom", "name")
	with := func(f func(b *binding.Binding)) binding.Binding {
		b := good
		f(&b)
		return b
	}
	puts := []struct {
		name  string
		b     binding.Binding
		actor string
		extra json.RawMessage
	}{
		{"empty type", with(func(b *binding.Binding) { b.XAccountType = "" }), "", nil},
		{"long type", with(func(b *binding.Binding) { b.XAccountType = strings.Repeat("t", 65) }), "", nil},
		{"empty id", with(func(b *binding.Binding) { b.XAccountID = "" }), "", nil},
		{"long id", with(func(b *binding.Binding) { b.XAccountID = strings.Repeat("i", 129) }), "", nil},
		{"long id in characters", with(func(b *binding.Binding) { b.XAccountID = strings.Repeat("用", 129) }), "", nil},
		{"newline in id", with(func(b *binding.Binding) { b.XAccountID = "a\nb" }), "", nil},
		{"NUL in type", with(func(b *binding.Binding) { b.XAccountType = "a\x00b" }), "", nil},
		{"DEL in id", with(func(b *binding.Binding) { b.XAccountID = "a\x7fb" }), "", nil},
		{"C1 control in id", with(func(b *binding.Binding) { b.XAccountID = "a\u0085b" }), "", nil},
		{"invalid UTF-8 in id", with(func(b *binding.Binding) { b.XAccountID = "a\xffb" }), "", nil},
		{"empty domain", with(func(b *binding.Binding) { b.DomainID = "" }), "", nil},
		{"long domain", with(func(b *binding.Binding) { b.DomainID = strings.Repeat("d", 129) }), "", nil},
		{"tab in domain", with(func(b *binding.Binding) { b.DomainID = "d\td" }), "", nil},
		{"long domain name", with(func(b *binding.Binding) { b.DomainName = strings.Repeat("n", 65) }), "", nil},
		{"control in domain name", with(func(b *binding.Binding) { b.DomainName = "n\rn" }), "", nil},
		{"empty source", with(func(b *binding.Binding) { b.Source = "" }), "", nil},
		{"unknown source", with(func(b *binding.Binding) { b.Source = "magic" }), "", nil},
		{"control in actor", good, "ac\x1btor", nil},
		{"long actor", good, strings.Repeat("a", 257), nil},
		{"extra not JSON", good, "", json.RawMessage(`{"a":`)},
		{"extra two values", good, "", json.RawMessage(`{} {}`)},
	}
	for _, tc := range puts {
		changed, err := binding.Put(ctx, s, tc.b, tc.actor, tc.extra)
		if !errors.Is(err, binding.ErrInvalid) || changed {
			t.Errorf("Put(%s): changed=%v err=%v, want ErrInvalid", tc.name, changed, err)
		}
	}
	if n := mustCount(t, s); n != 0 {
		t.Errorf("invalid Puts stored %d bindings", n)
	}
	if l := listAll(t, s); len(l) != 0 {
		t.Errorf("invalid Puts listed %v", l)
	}
	if h := mustHistory(t, s, good.Key); len(h) != 0 {
		t.Errorf("invalid Puts wrote history %v", h)
	}

	mustPut(t, s, good, true)
	badKeys := []binding.Key{{XAccountType: "", XAccountID: "x"}, {XAccountType: typ, XAccountID: ""}, {XAccountType: typ, XAccountID: "a\x00"}}
	for _, k := range badKeys {
		if _, err := s.Get(ctx, k); !errors.Is(err, binding.ErrInvalid) {
			t.Errorf("Get(%q): err=%v, want ErrInvalid", k, err)
		}
		if _, err := s.History(ctx, k); !errors.Is(err, binding.ErrInvalid) {
			t.Errorf("History(%q): err=%v, want ErrInvalid", k, err)
		}
		if _, err := binding.Delete(ctx, s, k, binding.SourceOperator, "", nil); !errors.Is(err, binding.ErrInvalid) {
			t.Errorf("Delete(%q): err=%v, want ErrInvalid", k, err)
		}
	}
	if _, err := binding.Delete(ctx, s, good.Key, "", "", nil); !errors.Is(err, binding.ErrInvalid) {
		t.Errorf("Delete with empty source: err=%v, want ErrInvalid", err)
	}
	if _, err := binding.Delete(ctx, s, good.Key, binding.SourceOperator, "", json.RawMessage(`nope`)); !errors.Is(err, binding.ErrInvalid) {
		t.Errorf("Delete with bad extra: err=%v, want ErrInvalid", err)
	}
	if _, err := s.GetByDomainID(ctx, ""); !errors.Is(err, binding.ErrInvalid) {
		t.Errorf("GetByDomainID(\"\"): err=%v, want ErrInvalid", err)
	}
	if _, err := s.Get(ctx, good.Key); err != nil {
		t.Errorf("refused Deletes removed the binding: %v", err)
	}
	if h := mustHistory(t, s, good.Key); len(h) != 1 {
		t.Errorf("refused Deletes wrote history: %d entries", len(h))
	}
}

func testLimits(t *testing.T, s binding.Store) {
	b := binding.Binding{
		Key:        binding.Key{XAccountType: strings.Repeat("t", 64), XAccountID: strings.Repeat("用", 128)},
		DomainID:   strings.Repeat("d", 128),
		DomainName: strings.Repeat("é", 64),
		Source:     binding.SourceImport,
	}
	changed, err := binding.Put(context.Background(), s, b, strings.Repeat("a", 256), json.RawMessage(`{"k":"v"}`))
	if err != nil || !changed {
		t.Fatalf("Put at the limits: changed=%v err=%v", changed, err)
	}
	if got := mustGet(t, s, b.Key); !sameFields(got, b) {
		t.Errorf("Get = %+v, want %+v", got, b)
	}
}

func testListOrder(t *testing.T, s binding.Store) {
	// More than a few hundred, so paging backends cross a page boundary.
	var want []binding.Key
	for _, tp := range []string{"b_IDP", "a_IDP", "a"} {
		for i := range 150 {
			want = append(want, binding.Key{XAccountType: tp, XAccountID: fmt.Sprintf("u%03d", i)})
		}
	}
	put := slices.Clone(want)
	rand.Shuffle(len(put), func(i, j int) { put[i], put[j] = put[j], put[i] })
	putConcurrently(t, s, len(put), func(i int) binding.Binding {
		return binding.Binding{Key: put[i], DomainID: "dom-" + put[i].XAccountID, Source: binding.SourceImport}
	})
	slices.SortFunc(want, func(a, b binding.Key) int {
		if c := strings.Compare(a.XAccountType, b.XAccountType); c != 0 {
			return c
		}
		return strings.Compare(a.XAccountID, b.XAccountID)
	})
	var got []binding.Key
	for _, b := range listAll(t, s) {
		got = append(got, b.Key)
		if b.DomainID != "dom-"+b.XAccountID {
			t.Errorf("List gave %v with domain %s", b.Key, b.DomainID)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("List returned %d keys not in (xaccount_type, xaccount_id) order; first: %v", len(got), got[:min(5, len(got))])
	}
}

func testListStop(t *testing.T, s binding.Store) {
	for i := range 5 {
		mustPut(t, s, bnd(fmt.Sprintf("l%d", i), "d", ""), true)
	}
	stop := errors.New("stop here")
	calls := 0
	err := s.List(context.Background(), binding.Key{}, func(binding.Binding) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Errorf("List: err=%v after %d calls, want fn's error after 2", err, calls)
	}
}

func testCount(t *testing.T, s binding.Store) {
	ctx := context.Background()
	for i := range 10 {
		mustPut(t, s, bnd(fmt.Sprintf("c%d", i), "d", ""), true)
	}
	mustPut(t, s, bnd("c0", "d", ""), false)
	mustPut(t, s, bnd("c1", "d2", ""), true)
	for i := range 3 {
		if _, err := binding.Delete(ctx, s, key(fmt.Sprintf("c%d", i)), binding.SourceOperator, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := mustCount(t, s); n != 7 {
		t.Errorf("Count = %d, want 7", n)
	}
}

// putConcurrently puts n bindings from 16 goroutines.
func putConcurrently(t *testing.T, s binding.Store, n int, b func(i int) binding.Binding) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if _, err := binding.Put(context.Background(), s, b(i), "c", nil); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Put: %v", err)
	}
}

func testConcurrentDifferent(t *testing.T, s binding.Store) {
	const n = 320
	putConcurrently(t, s, n, func(i int) binding.Binding { return bnd(fmt.Sprintf("k%03d", i), fmt.Sprintf("d%d", i%7), "") })
	if c := mustCount(t, s); c != n {
		t.Errorf("Count = %d, want %d", c, n)
	}
	for i := 0; i < n; i += 37 {
		k := key(fmt.Sprintf("k%03d", i))
		if got := mustGet(t, s, k); got.DomainID != fmt.Sprintf("d%d", i%7) {
			t.Errorf("%v has domain %s", k, got.DomainID)
		}
		if h := mustHistory(t, s, k); len(h) != 1 {
			t.Errorf("%v has %d history entries, want 1", k, len(h))
		}
	}
	total := 0
	for d := range 7 {
		total += len(domains(t, s, fmt.Sprintf("d%d", d)))
	}
	if total != n {
		t.Errorf("domain lookups find %d bindings, want %d", total, n)
	}
}

func testConcurrentSame(t *testing.T, s binding.Store) {
	const n = 32
	b := bnd("same", "dom-same", "n")
	var changes sync.WaitGroup
	results := make(chan bool, n)
	for range n {
		changes.Add(1)
		go func() {
			defer changes.Done()
			changed, err := binding.Put(context.Background(), s, b, "c", nil)
			if err != nil {
				t.Errorf("Put: %v", err)
			}
			results <- changed
		}()
	}
	changes.Wait()
	close(results)
	count := 0
	for c := range results {
		if c {
			count++
		}
	}
	if count != 1 {
		t.Errorf("%d concurrent identical Puts reported %d changes, want 1", n, count)
	}
	if h := mustHistory(t, s, b.Key); len(h) != 1 {
		t.Errorf("history has %d entries, want 1", len(h))
	}
}

func testConcurrentRebinds(t *testing.T, s binding.Store) {
	k := key("contested")
	changedCount := countConcurrentChanges(t, 24, func(i int) (bool, error) {
		return binding.Put(context.Background(), s, bnd(k.XAccountID, fmt.Sprintf("d%d", i%6), ""), "c", nil)
	})
	checkLastChange(t, s, k, changedCount)
}

func testConcurrentPutDelete(t *testing.T, s binding.Store) {
	k := key("flapping")
	changedCount := countConcurrentChanges(t, 24, func(i int) (bool, error) {
		if i%2 == 0 {
			return binding.Put(context.Background(), s, bnd(k.XAccountID, "d", ""), "c", nil)
		}
		return binding.Delete(context.Background(), s, k, binding.SourceOperator, "c", nil)
	})
	checkLastChange(t, s, k, changedCount)
}

// countConcurrentChanges runs write(0)…write(n-1) at once and counts the
// writes that report a change.
func countConcurrentChanges(t *testing.T, n int, write func(i int) (bool, error)) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	changedCount := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			changed, err := write(i)
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
			if changed {
				mu.Lock()
				changedCount++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return changedCount
}

// checkLastChange: one history entry per reported change, and the current
// state is what the last entry says.
func checkLastChange(t *testing.T, s binding.Store, k binding.Key, changes int) {
	t.Helper()
	h := mustHistory(t, s, k)
	if len(h) != changes {
		t.Fatalf("history has %d entries but %d writes reported a change", len(h), changes)
	}
	last := h[len(h)-1]
	got, err := s.Get(context.Background(), k)
	switch last.Action {
	case binding.ActionBind:
		if err != nil || got.DomainID != last.Binding.DomainID {
			t.Errorf("last change binds %s but Get = %+v, %v", last.Binding.DomainID, got, err)
		}
	case binding.ActionUnbind:
		if !errors.Is(err, binding.ErrNotFound) {
			t.Errorf("last change unbinds but Get = %+v, %v", got, err)
		}
	}
	for i := 1; i < len(h); i++ {
		if h[i].Action == binding.ActionBind && h[i-1].Action == binding.ActionBind && h[i].Binding.DomainID == h[i-1].Binding.DomainID {
			t.Errorf("history %d repeats the bind of %d", h[i].Seq, h[i-1].Seq)
		}
		if h[i].Action == binding.ActionUnbind && h[i-1].Action == binding.ActionUnbind {
			t.Errorf("history %d repeats the unbind of %d", h[i].Seq, h[i-1].Seq)
		}
	}
}

func testCancelled(t *testing.T, s binding.Store) {
	mustPut(t, s, bnd("kept", "dom", ""), true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := bnd("new", "dom", "")
	if _, err := binding.Put(ctx, s, b, "", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Put: err=%v, want context.Canceled", err)
	}
	if _, err := binding.Delete(ctx, s, key("kept"), binding.SourceOperator, "", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete: err=%v, want context.Canceled", err)
	}
	if _, err := s.Get(ctx, key("kept")); !errors.Is(err, context.Canceled) {
		t.Errorf("Get: err=%v, want context.Canceled", err)
	}
	if _, err := s.GetByDomainID(ctx, "dom"); !errors.Is(err, context.Canceled) {
		t.Errorf("GetByDomainID: err=%v, want context.Canceled", err)
	}
	if _, err := s.History(ctx, key("kept")); !errors.Is(err, context.Canceled) {
		t.Errorf("History: err=%v, want context.Canceled", err)
	}
	if _, err := s.Count(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Count: err=%v, want context.Canceled", err)
	}
	if err := s.List(ctx, binding.Key{}, func(binding.Binding) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("List: err=%v, want context.Canceled", err)
	}
	if _, err := s.Get(context.Background(), b.Key); !errors.Is(err, binding.ErrNotFound) {
		t.Errorf("cancelled Put stored %v (err=%v)", b.Key, err)
	}
	if _, err := s.Get(context.Background(), key("kept")); err != nil {
		t.Errorf("cancelled Delete removed the binding: %v", err)
	}
}

func testNoAliasing(t *testing.T, s binding.Store) {
	extra := []byte(`{"a":"b"}`)
	if _, err := binding.Put(context.Background(), s, bnd("alias", "d", ""), "", extra); err != nil {
		t.Fatal(err)
	}
	copy(extra, `{"x":"y"}`)
	h := mustHistory(t, s, key("alias"))
	if len(h) != 1 || !jsonEqual(h[0].Extra, json.RawMessage(`{"a":"b"}`)) {
		t.Errorf("history Extra changed with the caller's slice: %s", h[0].Extra)
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}
