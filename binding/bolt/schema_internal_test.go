package bolt

import (
	"errors"
	"github.com/partneridp/partneridp/binding"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// The migration path: the real table from version 1, then a made-up next
// version on top of it.
func TestMigrations(t *testing.T) {
	bdb, err := bbolt.Open(filepath.Join(t.TempDir(), "m.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	run := func(table []migration) (from, to int, err error) {
		err = bdb.Update(func(tx *bbolt.Tx) error {
			from, to, err = migrate(tx, table)
			return err
		})
		return
	}
	version := func() int {
		var v int
		bdb.View(func(tx *bbolt.Tx) error {
			v, _ = readSchemaVersion(tx)
			return nil
		})
		return v
	}

	// A file made by the first version is brought up to the current one,
	// keeping what it holds.
	if from, to, err := run(migrations[:1]); err != nil || from != 0 || to != 1 {
		t.Fatalf("fresh file with the version 1 table: %d → %d, %v", from, to, err)
	}
	bdb.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketBindings).Put([]byte("k"), []byte("v")) })
	if from, to, err := run(migrations); err != nil || from != 1 || to != SchemaVersion {
		t.Fatalf("version 1 file: %d → %d, %v", from, to, err)
	}
	bdb.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketSpent) == nil || string(tx.Bucket(bucketBindings).Get([]byte("k"))) != "v" {
			t.Error("migrating from version 1 lost data or did not add the spent-mark bucket")
		}
		return nil
	})

	// A made-up next version on top of the real table.
	n := SchemaVersion
	nextRuns := 0
	next := append(append([]migration{}, migrations...), migration{to: n + 1, name: "test: add marker", run: func(tx *bbolt.Tx) error {
		nextRuns++
		_, err := tx.CreateBucket([]byte("next_marker"))
		return err
	}})
	failing := append(append([]migration{}, migrations...), migration{to: n + 1, name: "test: fails half way", run: func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucket([]byte("half_done")); err != nil {
			return err
		}
		return errors.New("boom")
	}})

	// A failing step leaves the file as it was.
	if _, _, err := run(failing); err == nil || version() != n {
		t.Fatalf("failing migration: err=%v, version %d; want an error and version %d", err, version(), n)
	}
	bdb.View(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte("half_done")) != nil {
			t.Error("a failed migration left a bucket behind")
		}
		return nil
	})

	// Only the pending step runs, once.
	if from, to, err := run(next); err != nil || from != n || to != n+1 || nextRuns != 1 {
		t.Fatalf("%d → %d: %d → %d, %v, step ran %d times", n, n+1, from, to, err, nextRuns)
	}
	if from, to, err := run(next); err != nil || from != n+1 || to != n+1 || nextRuns != 1 {
		t.Fatalf("already at %d: %d → %d, %v, step ran %d times", n+1, from, to, err, nextRuns)
	}
	// This build refuses the newer file.
	if _, _, err := run(migrations); !errors.Is(err, binding.ErrSchema) {
		t.Fatalf("older code on a newer file: err=%v, want binding.ErrSchema", err)
	}
	// A table with a gap is a programming error caught before any change.
	gap := []migration{{to: 1, run: migrateV1}, {to: 3, run: migrateV1}}
	if _, _, err := run(gap); err == nil {
		t.Error("a migration table with a gap was accepted")
	}
}

// The record codec refuses truncated and garbled values instead of
// panicking.
func TestDecodeRecordDamage(t *testing.T) {
	good := encodeRecord(binding.Binding{DomainID: "d", DomainName: "n", Source: binding.SourceImport, CreatedAt: time.Unix(1, 2), UpdatedAt: time.Unix(3, 4)})
	var b binding.Binding
	if err := decodeRecord(&b, good); err != nil || b.DomainID != "d" || b.DomainName != "n" || b.Source != binding.SourceImport || !b.UpdatedAt.Equal(time.Unix(3, 4)) {
		t.Fatalf("decode good: %+v, %v", b, err)
	}
	for i := range len(good) {
		if err := decodeRecord(&b, good[:i]); !errors.Is(err, binding.ErrCorrupt) {
			t.Errorf("truncated to %d bytes: err=%v", i, err)
		}
	}
	if err := decodeRecord(&b, append(good, 0)); !errors.Is(err, binding.ErrCorrupt) {
		t.Errorf("trailing byte: err=%v", err)
	}
	bad := append([]byte{}, good...)
	bad[1] = 0xff // length beyond the value
	if err := decodeRecord(&b, bad); !errors.Is(err, binding.ErrCorrupt) {
		t.Errorf("oversized length: err=%v", err)
	}
}
