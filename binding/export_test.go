package binding

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// Internals the external tests and benchmarks reach.
var (
	DecodeBindRequest = decodeBindRequest
	ParseImportLine   = parseImportLine
	AppendKey         = appendKey
	BucketBindings    = bucketBindings
)

// RawBolt is the DB's bbolt handle, for the raw-read baseline benchmark and
// for tests that damage a file on purpose.
func RawBolt(db *DB) *bolt.DB { return db.bolt }

// UseUpdateForWrites makes Put/Delete commit one transaction per call, the
// baseline the Batch path is measured against.
func UseUpdateForWrites(db *DB) { db.write = db.bolt.Update }

// UseBatchOnlyForWrites sends every write through bbolt's Batch (no lone
// write fast path), with the given batch delay.
func UseBatchOnlyForWrites(db *DB, delay time.Duration) {
	db.bolt.MaxBatchDelay = delay
	db.write = db.bolt.Batch
}
