package bolt_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bindingtest"
	"github.com/partneridp/partneridp/binding/bolt"
)

// openTemp opens a new store in the test's temp dir. fsync stays on: the
// suite must pass with the production settings.
func openTemp(t testing.TB, opts bolt.Options) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "bindings.db"), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

func TestBoltConformance(t *testing.T) {
	bindingtest.Run(t, func(t *testing.T) binding.Store {
		return openTemp(t, bolt.Options{})
	})
}

func TestBoltEphemeralConformance(t *testing.T) {
	bindingtest.RunEphemeral(t, func(t *testing.T, clock func() time.Time) binding.Store {
		db := openTemp(t, bolt.Options{Clock: clock})
		t.Cleanup(func() {
			if _, err := db.Verify(context.Background()); err != nil {
				t.Errorf("Verify after the test: %v", err)
			}
			db.Close()
		})
		return db
	})
}

// The conformance run leaves files whose indexes Verify must accept; this
// repeats a mixed workload and checks the report's counts.
func TestBoltVerifyCounts(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t, bolt.Options{})
	defer db.Close()
	for i, id := range []string{"a", "b", "c", "d"} {
		b := binding.Binding{Key: binding.Key{XAccountType: "t_IDP", XAccountID: id}, DomainID: "dom" + id, Source: binding.SourceImport}
		if _, err := binding.Put(ctx, db, b, "", nil); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			b.DomainID = "moved"
			if _, err := binding.Put(ctx, db, b, "", nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := binding.Delete(ctx, db, binding.Key{XAccountType: "t_IDP", XAccountID: "d"}, binding.SourceOperator, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Ephemeral().Add(ctx, "flows", "f", []byte("x"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.Ephemeral().Spend(ctx, "replay", "r", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	r, err := db.Verify(context.Background())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := binding.Report{SchemaVersion: bolt.SchemaVersion, Bindings: 3, DomainIndex: 3, History: 7, Ephemeral: 2}
	if r.SchemaVersion != want.SchemaVersion || r.Bindings != want.Bindings || r.DomainIndex != want.DomainIndex || r.History != want.History || r.Ephemeral != want.Ephemeral || !r.OK() {
		t.Errorf("Verify report = %+v, want %+v", r, want)
	}
}

// Each kind of damage Verify must notice, made with raw bbolt writes.
func TestBoltVerifyFindsDamage(t *testing.T) {
	ctx := context.Background()
	k := binding.Key{XAccountType: "t_IDP", XAccountID: "victim"}
	rawKey := bolt.AppendKey(nil, k)
	cases := []struct {
		name   string
		damage func(tx *bbolt.Tx) error
		want   string
	}{
		{"index entry removed", func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte("bindings_by_domain")).Delete(append([]byte("dom\x00"), rawKey...))
		}, "has no domain index entry"},
		{"dangling index entry", func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte("bindings_by_domain")).Put([]byte("dom\x00t_IDP\x00ghost"), []byte{})
		}, "points at no binding"},
		{"index names the wrong domain", func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte("bindings_by_domain")).Put(append([]byte("other\x00"), rawKey...), []byte{})
		}, "the binding has domain dom"},
		{"binding record garbled", func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte("bindings")).Put(rawKey, []byte{9, 9, 9})
		}, "does not decode"},
		{"binding without history", func(tx *bbolt.Tx) error {
			c := tx.Bucket([]byte("history")).Cursor()
			for hk, _ := c.First(); hk != nil; hk, _ = c.First() {
				if err := c.Delete(); err != nil {
					return err
				}
			}
			return nil
		}, "has no history"},
		{"history entry garbled", func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte("history")).Put(binary.BigEndian.AppendUint64(nil, 1), []byte("{"))
		}, "history 1 does not decode"},
		{"history index dangling", func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte("history_by_key")).Put(append(append(bytes.Clone(rawKey), 0), binary.BigEndian.AppendUint64(nil, 99)...), []byte{})
		}, "points at no entry"},
		{"ephemeral record unindexed", func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte("ephemeral_expiry")).ForEach(func(ik, _ []byte) error {
				return tx.Bucket([]byte("ephemeral_expiry")).Delete(ik)
			})
		}, "not in the expiry index"},
		{"spent mark in the wrong slot", func(tx *bbolt.Tx) error {
			slot, err := tx.Bucket([]byte("spent")).CreateBucket(binary.BigEndian.AppendUint64(nil, 60))
			if err != nil {
				return err
			}
			return slot.Put([]byte("\x06replaykey"), binary.BigEndian.AppendUint64(nil, uint64(time.Hour)))
		}, "is in slot"},
		{"spent mark garbled", func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte("spent")).ForEachBucket(func(name []byte) error {
				return tx.Bucket([]byte("spent")).Bucket(name).Put([]byte("\x06replayk"), []byte{1})
			})
		}, "not an expiry"},
		{"spent slot name garbled", func(tx *bbolt.Tx) error {
			_, err := tx.Bucket([]byte("spent")).CreateBucket([]byte("slot"))
			return err
		}, "not a slot name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := openTemp(t, bolt.Options{})
			defer db.Close()
			if _, err := binding.Put(ctx, db, binding.Binding{Key: k, DomainID: "dom", Source: binding.SourceImport}, "", nil); err != nil {
				t.Fatal(err)
			}
			if err := db.Ephemeral().Add(ctx, "flows", "f", []byte("x"), time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := db.Ephemeral().Spend(ctx, "replay", "r", time.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Verify(context.Background()); err != nil {
				t.Fatalf("Verify before damage: %v", err)
			}
			if err := bolt.RawBolt(db).Update(tc.damage); err != nil {
				t.Fatal(err)
			}
			r, err := db.Verify(context.Background())
			if !errors.Is(err, binding.ErrCorrupt) || r.OK() {
				t.Fatalf("Verify after damage: err=%v report=%+v, want ErrCorrupt", err, r)
			}
			if !strings.Contains(strings.Join(r.Problems, "\n"), tc.want) {
				t.Errorf("problems %q do not mention %q", r.Problems, tc.want)
			}
		})
	}
}

func TestOpenLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "owned.db")
	first, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	start := time.Now()
	_, err = bolt.Open(path, bolt.Options{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, bolt.ErrLocked) {
		t.Fatalf("second Open: err=%v, want ErrLocked", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("second Open waited %s", waited)
	}
	for _, want := range []string{"only one partneridp process may own the store file", "stop the other process or use another path", path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := bolt.VerifyFile(path); !errors.Is(err, bolt.ErrLocked) {
		t.Errorf("VerifyFile of an owned file: err=%v, want ErrLocked", err)
	}
}

func TestOpenRefusesForeignAndNewerFiles(t *testing.T) {
	dir := t.TempDir()
	newer := filepath.Join(dir, "newer.db")
	writeRaw(t, newer, func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return b.Put([]byte("schema_version"), binary.BigEndian.AppendUint64(nil, uint64(bolt.SchemaVersion+1)))
	})
	_, err := bolt.Open(newer, bolt.Options{})
	if !errors.Is(err, binding.ErrSchema) || !strings.Contains(err.Error(), "run a newer partneridp") {
		t.Errorf("Open of a newer file: err=%v, want ErrSchema asking for a newer partneridp", err)
	}

	foreign := filepath.Join(dir, "foreign.db")
	writeRaw(t, foreign, func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("someone_elses"))
		return err
	})
	_, err = bolt.Open(foreign, bolt.Options{})
	if !errors.Is(err, binding.ErrSchema) || !strings.Contains(err.Error(), "not a partneridp store") {
		t.Errorf("Open of a foreign bbolt file: err=%v, want ErrSchema", err)
	}

	notBolt := filepath.Join(dir, "text.db")
	if err := os.WriteFile(notBolt, bytes.Repeat([]byte("not a database\n"), 500), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := bolt.Open(notBolt, bolt.Options{}); err == nil {
		t.Error("Open of a text file succeeded")
	}
	if _, err := bolt.Open("", bolt.Options{}); !errors.Is(err, binding.ErrInvalid) {
		t.Errorf("Open(\"\"): err=%v, want ErrInvalid", err)
	}
}

func writeRaw(t *testing.T, path string, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	bdb, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	if err := bdb.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestOpenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "b.db")
	db, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := binding.Binding{Key: binding.Key{XAccountType: "t", XAccountID: "u"}, DomainID: "d", Source: binding.SourceImport}
	if _, err := binding.Put(ctx, db, b, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if got, err := db.Get(ctx, b.Key); err != nil || got.DomainID != "d" {
		t.Errorf("after reopen Get = %+v, %v", got, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("store file mode = %v, %v; want no group/other access", fi.Mode(), err)
	}
}

func TestBackupAndVerifyFile(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t, bolt.Options{})
	defer db.Close()
	for _, id := range []string{"x", "y", "z"} {
		if _, err := binding.Put(ctx, db, binding.Binding{Key: binding.Key{XAccountType: "t", XAccountID: id}, DomainID: "d-" + id, Source: binding.SourceImport}, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	// Writes keep going while the backup runs.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			binding.Put(ctx, db, binding.Binding{Key: binding.Key{XAccountType: "t", XAccountID: "live"}, DomainID: "d" + string(rune('a'+i)), Source: binding.SourceImport}, "", nil)
		}
	}()
	var buf bytes.Buffer
	n, err := db.Backup(context.Background(), &buf)
	<-done
	if err != nil || n != int64(buf.Len()) || n == 0 {
		t.Fatalf("Backup = %d, %v (buffer %d bytes)", n, err, buf.Len())
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := bolt.VerifyFile(path)
	if err != nil || r.Bindings < 3 {
		t.Fatalf("VerifyFile(backup) = %+v, %v", r, err)
	}
	restored, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if got, err := restored.Get(ctx, binding.Key{XAccountType: "t", XAccountID: "y"}); err != nil || got.DomainID != "d-y" {
		t.Errorf("restored Get = %+v, %v", got, err)
	}
	if _, err := bolt.VerifyFile(filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Error("VerifyFile of a missing file succeeded")
	}
}

func TestRunSweeper(t *testing.T) {
	var mu = make(chan time.Time, 1)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	mu <- now
	clock := func() time.Time { t := <-mu; mu <- t; return t }
	db := openTemp(t, bolt.Options{Clock: clock})
	defer db.Close()
	e := db.Ephemeral()
	ctx := context.Background()
	if err := e.Add(ctx, "replay", "old", []byte("x"), now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := e.Add(ctx, "replay", "new", []byte("x"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	<-mu
	mu <- now.Add(time.Minute)
	sctx, cancel := context.WithCancel(ctx)
	stopped := make(chan error)
	go func() { stopped <- binding.RunSweeper(sctx, db.Ephemeral(), 5*time.Millisecond, clock) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := db.Verify(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r.Ephemeral == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sweeper left %d records", r.Ephemeral)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-stopped; err != nil {
		t.Errorf("RunSweeper returned %v after cancel", err)
	}
	if _, err := e.Get(ctx, "replay", "new"); err != nil {
		t.Errorf("sweeper removed an unexpired record: %v", err)
	}
	if err := binding.RunSweeper(ctx, db.Ephemeral(), 0, clock); !errors.Is(err, binding.ErrInvalid) {
		t.Errorf("RunSweeper(0): err=%v, want ErrInvalid", err)
	}
}

// TestOpensReleaseFile opens a store file written by the release before the
// backend move (schema 2, testdata/store/v2-release.db, made with that
// release's Put, Delete, Add and Spend): every binding, index and history
// entry reads back, the file migrates to this schema and verifies.
func TestOpensReleaseFile(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "testdata", "store", "v2-release.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, bolt.Options{Clock: func() time.Time { return time.Date(2026, 12, 5, 12, 30, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatalf("Open of the release file: %v", err)
	}
	defer db.Close()
	ctx := context.Background()
	k := func(id string) binding.Key { return binding.Key{XAccountType: "shop_partner", XAccountID: id} }
	want := map[string]string{"alice": "d-alice-2", "bob": "d-bob-2", "carol": "d-shared", "dave": "d-shared"}
	for id, dom := range want {
		got, err := db.Get(ctx, k(id))
		if err != nil || got.DomainID != dom {
			t.Errorf("Get(%s) = %+v, %v; want domain %s", id, got, err, dom)
		}
	}
	if n, err := db.Count(ctx); err != nil || n != 4 {
		t.Errorf("Count = %d, %v; want 4", n, err)
	}
	if bs, err := db.GetByDomainID(ctx, "d-shared"); err != nil || len(bs) != 2 {
		t.Errorf("GetByDomainID(d-shared) = %+v, %v", bs, err)
	}
	h, err := db.History(ctx, k("bob"))
	if err != nil || len(h) != 3 || h[1].Action != binding.ActionUnbind {
		t.Errorf("History(bob) = %+v, %v; want bind, unbind, bind", h, err)
	}
	if h, _ := db.History(ctx, k("alice")); len(h) != 2 || string(h[0].Extra) != `{"note":"x"}` {
		t.Errorf("History(alice) = %+v", h)
	}
	if all, err := db.Changes(ctx, 0, 100); err != nil || len(all) != 7 {
		t.Errorf("Changes = %d entries, %v; want 7", len(all), err)
	}
	if v, err := db.Ephemeral().Get(ctx, "flows", "f1"); err != nil || string(v) != "v" {
		t.Errorf("flow record = %q, %v", v, err)
	}
	if err := db.Ephemeral().Spend(ctx, "replay", "k1", time.Date(2026, 12, 5, 12, 40, 0, 0, time.UTC)); !errors.Is(err, binding.ErrExists) {
		t.Errorf("spent mark of the release file: %v, want ErrExists", err)
	}
	r, err := db.Verify(ctx)
	if err != nil || r.SchemaVersion != bolt.SchemaVersion {
		t.Errorf("Verify = %+v, %v", r, err)
	}
}

// TestUpdateFailureRollsBack injects a backend failure between the binding
// write and its history entry: the store stays as it was, mark included.
func TestUpdateFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t, bolt.Options{})
	defer db.Close()
	k := binding.Key{XAccountType: "t", XAccountID: "u"}
	if _, err := binding.Put(ctx, db, binding.Binding{Key: k, DomainID: "d1", Source: binding.SourceOperator}, "", nil); err != nil {
		t.Fatal(err)
	}
	injected := errors.New("injected disk failure")
	bolt.FailAfterBindingWrite(db, injected)
	n := binding.Notification{DomainID: "d2", DomainName: "x", XUserID: "u", Action: binding.ActionBind, Mark: "m-1"}
	if _, err := binding.ApplyNotification(ctx, db, "t", n, "huawei"); !errors.Is(err, injected) {
		t.Fatalf("ApplyNotification = %v, want the injected failure", err)
	}
	if _, err := binding.Delete(ctx, db, k, binding.SourceOperator, "", nil); !errors.Is(err, injected) {
		t.Fatalf("Delete = %v, want the injected failure", err)
	}
	bolt.FailAfterBindingWrite(db, nil)
	if got, err := db.Get(ctx, k); err != nil || got.DomainID != "d1" {
		t.Errorf("after failed updates Get = %+v, %v", got, err)
	}
	if bs, _ := db.GetByDomainID(ctx, "d2"); len(bs) != 0 {
		t.Errorf("index by domain holds %+v", bs)
	}
	if h, _ := db.History(ctx, k); len(h) != 1 {
		t.Errorf("history has %d entries, want 1", len(h))
	}
	if _, err := binding.ApplyNotification(ctx, db, "t", n, "huawei"); err != nil {
		t.Errorf("the failed update's mark was kept: %v", err)
	}
	if _, err := db.Verify(ctx); err != nil {
		t.Error(err)
	}
}

// TestCompactFile: compaction after many writes keeps every binding, its
// history and the applied marks, leaves (almost) no free pages, and
// refuses a file that is open elsewhere.
func TestCompactFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := bolt.Open(path, bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for round := range 3 { // every round rebinds every account: the old pages are freed
		var lines strings.Builder
		for i := range 8000 {
			fmt.Fprintf(&lines, `{"xaccount_type":"t_IDP","xaccount_id":"c-%06d","domain_id":"%032x"}`+"\n", (i*7919)%8000, round*100000+i+1)
		}
		if _, err := binding.Import(ctx, db, strings.NewReader(lines.String()), binding.ImportOptions{Actor: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	n := binding.Notification{DomainID: "dom-x", DomainName: "hw", XUserID: "c-000001", Action: binding.ActionBind, Mark: "m-1"}
	if _, err := binding.ApplyNotification(ctx, db, "t_IDP", n, "huawei"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bolt.CompactFile(path, 100*time.Millisecond); err == nil {
		t.Fatal("compacted a file that is open")
	}
	freeBefore := bolt.RawBolt(db).Stats().FreePageN
	db.Close()
	// The file's size moves in bbolt's allocation steps; what compaction
	// is for is the free pages every commit would write out.
	if _, _, err := bolt.CompactFile(path, time.Second); err != nil {
		t.Fatalf("CompactFile: %v", err)
	}
	db, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if freeAfter := bolt.RawBolt(db).Stats().FreePageN; freeBefore < 100 || freeAfter >= freeBefore/10 {
		t.Errorf("free pages %d before compaction, %d after: want many, then few", freeBefore, freeAfter)
	}
	if c, err := db.Count(ctx); err != nil || c != 8000 {
		t.Fatalf("count after compaction: %d, %v", c, err)
	}
	if got, err := db.Get(ctx, binding.Key{XAccountType: "t_IDP", XAccountID: "c-000001"}); err != nil || got.DomainID != "dom-x" {
		t.Fatalf("rebound account after compaction: %+v, %v", got, err)
	}
	if _, err := binding.ApplyNotification(ctx, db, "t_IDP", n, "huawei"); !errors.Is(err, binding.ErrApplied) {
		t.Errorf("the applied mark did not survive compaction: %v", err)
	}
	if rep, err := db.Verify(ctx); err != nil || !rep.OK() {
		t.Errorf("verify after compaction: %+v, %v", rep, err)
	}
}
