package binding

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The migration path, with a made-up version 2 on top of the real table.
func TestMigrations(t *testing.T) {
	bdb, err := bolt.Open(filepath.Join(t.TempDir(), "m.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	run := func(table []migration) (from, to int, err error) {
		err = bdb.Update(func(tx *bolt.Tx) error {
			from, to, err = migrate(tx, table)
			return err
		})
		return
	}
	version := func() int {
		var v int
		bdb.View(func(tx *bolt.Tx) error {
			v, _ = readSchemaVersion(tx)
			return nil
		})
		return v
	}

	// A new file goes to the current version.
	if from, to, err := run(migrations); err != nil || from != 0 || to != SchemaVersion {
		t.Fatalf("fresh file: %d → %d, %v", from, to, err)
	}

	v2runs := 0
	v2 := append(append([]migration{}, migrations...), migration{to: 2, name: "test: add marker", run: func(tx *bolt.Tx) error {
		v2runs++
		_, err := tx.CreateBucket([]byte("v2_marker"))
		return err
	}})
	failing := append(append([]migration{}, migrations...), migration{to: 2, name: "test: fails half way", run: func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket([]byte("half_done")); err != nil {
			return err
		}
		return errors.New("boom")
	}})

	// A failing step leaves the file as it was.
	if _, _, err := run(failing); err == nil || version() != 1 {
		t.Fatalf("failing migration: err=%v, version %d; want an error and version 1", err, version())
	}
	bdb.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("half_done")) != nil {
			t.Error("a failed migration left a bucket behind")
		}
		return nil
	})

	// Only the pending step runs, once.
	if from, to, err := run(v2); err != nil || from != 1 || to != 2 || v2runs != 1 {
		t.Fatalf("1 → 2: %d → %d, %v, step ran %d times", from, to, err, v2runs)
	}
	if from, to, err := run(v2); err != nil || from != 2 || to != 2 || v2runs != 1 {
		t.Fatalf("already at 2: %d → %d, %v, step ran %d times", from, to, err, v2runs)
	}
	// This build (version 1) refuses the version-2 file.
	if _, _, err := run(migrations); !errors.Is(err, ErrSchema) {
		t.Fatalf("older code on a newer file: err=%v, want ErrSchema", err)
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
	good := encodeRecord(Binding{DomainID: "d", DomainName: "n", Source: SourceImport, CreatedAt: time.Unix(1, 2), UpdatedAt: time.Unix(3, 4)})
	var b Binding
	if err := decodeRecord(&b, good); err != nil || b.DomainID != "d" || b.DomainName != "n" || b.Source != SourceImport || !b.UpdatedAt.Equal(time.Unix(3, 4)) {
		t.Fatalf("decode good: %+v, %v", b, err)
	}
	for i := range len(good) {
		if err := decodeRecord(&b, good[:i]); !errors.Is(err, ErrCorrupt) {
			t.Errorf("truncated to %d bytes: err=%v", i, err)
		}
	}
	if err := decodeRecord(&b, append(good, 0)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("trailing byte: err=%v", err)
	}
	bad := append([]byte{}, good...)
	bad[1] = 0xff // length beyond the value
	if err := decodeRecord(&b, bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("oversized length: err=%v", err)
	}
}
