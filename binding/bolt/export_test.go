package bolt

import (
	"time"

	bbolt "go.etcd.io/bbolt"
)

// Internals the external tests and benchmarks reach.
var (
	AppendKey      = appendKey
	BucketBindings = bucketBindings
)

// RawBolt is the DB's bbolt handle, for the raw-read baseline benchmark and
// for tests that damage a file on purpose.
func RawBolt(db *DB) *bbolt.DB { return db.bolt }

// UseUpdateForWrites makes every update commit one transaction per call,
// the baseline the Batch path is measured against.
func UseUpdateForWrites(db *DB) { db.write = db.bolt.Update }

// UseBatchOnlyForWrites sends every write through bbolt's Batch (no lone
// write fast path), with the given batch delay.
func UseBatchOnlyForWrites(db *DB, delay time.Duration) {
	db.bolt.MaxBatchDelay = delay
	db.write = db.bolt.Batch
}

// FailAfterBindingWrite makes the next updates fail inside their
// transaction, after the binding is written and before its history entry:
// the injected backend failure of the rollback test.
func FailAfterBindingWrite(db *DB, err error) { db.failAfterWrite = err }
