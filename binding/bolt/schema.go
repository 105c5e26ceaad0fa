package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/partneridp/partneridp/binding"

	bbolt "go.etcd.io/bbolt"
)

// A migration takes the file from schema version to-1 to to. Open runs every
// pending one, in order, in a single transaction: a failure leaves the file
// as it was.
type migration struct {
	to   int
	name string
	run  func(tx *bbolt.Tx) error
}

// migrations is the schema history; SchemaVersion is its length. Append,
// never edit: files in the field are at every earlier version.
var migrations = []migration{
	{to: 1, name: "create bindings, indexes, history, ephemeral buckets", run: migrateV1},
	{to: 2, name: "create the spent-mark bucket", run: migrateV2},
	{to: 3, name: "create the applied-mark bucket", run: migrateV3},
	{to: 4, name: "create the feed-cursor bucket", run: migrateV4},
}

// SchemaVersion is the store file schema this build writes.
var SchemaVersion = len(migrations)

func migrateV1(tx *bbolt.Tx) error {
	for _, name := range [][]byte{bucketBindings, bucketByDomain, bucketHistory, bucketHistoryByKey, bucketEphemeral, bucketEphExpiry} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrateV2 adds the per-minute slots of spent marks. Replay entries
// written by version 1 as ephemeral records stay where they are until they
// expire.
func migrateV2(tx *bbolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(bucketSpent)
	return err
}

// migrateV3 adds the permanent marks of applied updates (bind
// notifications), so an exact replay never changes a binding.
func migrateV3(tx *bbolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(bucketMarks)
	return err
}

// migrate brings tx's file to the last version of table and reports the
// versions before and after.
func migrate(tx *bbolt.Tx, table []migration) (from, to int, err error) {
	for i, m := range table {
		if m.to != i+1 {
			return 0, 0, fmt.Errorf("migration table is broken: entry %d goes to version %d", i, m.to)
		}
	}
	from, err = readSchemaVersion(tx)
	if err != nil {
		return 0, 0, err
	}
	if from > len(table) {
		return from, from, fmt.Errorf("%w: the file has schema version %d but this partneridp knows versions up to %d; run a newer partneridp, or restore a backup made by this version",
			binding.ErrSchema, from, len(table))
	}
	if from == len(table) {
		return from, from, nil
	}
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return from, from, err
	}
	for _, m := range table[from:] {
		if err := m.run(tx); err != nil {
			return from, from, fmt.Errorf("schema migration to version %d (%s): %w", m.to, m.name, err)
		}
	}
	to = len(table)
	if err := meta.Put(metaSchemaVersion, binary.BigEndian.AppendUint64(nil, uint64(to))); err != nil {
		return from, from, err
	}
	return from, to, nil
}

// readSchemaVersion is 0 for an empty file; a file with buckets but no
// version is someone else's bbolt file and is refused.
func readSchemaVersion(tx *bbolt.Tx) (int, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		foreign := ""
		_ = tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			foreign = string(name)
			return errors.New("stop")
		})
		if foreign != "" {
			return 0, fmt.Errorf("%w: the file is not a partneridp store (it has a bucket %.40q but no schema version); use another path", binding.ErrSchema, foreign)
		}
		return 0, nil
	}
	v := meta.Get(metaSchemaVersion)
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: the schema version record is damaged; restore a backup", binding.ErrSchema)
	}
	n := binary.BigEndian.Uint64(v)
	if n > 1<<20 {
		return 0, fmt.Errorf("%w: the schema version record holds %d; restore a backup", binding.ErrSchema, n)
	}
	return int(n), nil
}
