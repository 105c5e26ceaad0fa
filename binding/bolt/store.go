// Package bolt is the embedded binding backend: one bbolt file owned by one
// process, fsync'd on every acknowledged write. It is the default
// (store.type: bolt) and the only package that imports bbolt.
package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/partneridp/partneridp/binding"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrLocked: another process owns the store file. It is a
// binding.ErrUnavailable, so the HTTP edge answers 503.
var ErrLocked = fmt.Errorf("%w: store file is locked by another process", binding.ErrUnavailable)

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is zero. It is never infinite: a second process must fail
// clearly rather than hang.
const DefaultTimeout = 2 * time.Second

// DefaultMaxBatchDelay bounds how long a concurrent write waits for others
// to share its commit. bbolt's own default (10ms) is far longer than an
// fsync on current disks and caps a batch at one per 10ms; 500µs measured
// best here (BenchmarkNotificationWrites). Raise it for disks with slow
// fsync.
const DefaultMaxBatchDelay = 500 * time.Microsecond

// Options configure Open.
type Options struct {
	// Timeout bounds the wait for the file lock (DefaultTimeout when zero).
	Timeout time.Duration
	// Clock stamps bindings, history and ephemeral expiry (time.Now when nil).
	Clock func() time.Time
	// NoSync skips fsync on commit. For tests and benchmarks only: a
	// crash can lose acknowledged writes.
	NoSync bool
	// MaxBatchDelay is how long concurrent writes wait to be grouped into
	// one commit (DefaultMaxBatchDelay when zero).
	MaxBatchDelay time.Duration
	// NoFreelistSync: see bbolt (open then walks the file to rebuild the
	// freelist). Benchmarks only.
	NoFreelistSync bool
}

// DB is the embedded bbolt store. It implements Store; Ephemeral returns
// the single-use record store kept in the same file. One process owns the
// file at a time.
type DB struct {
	bolt  *bbolt.DB
	path  string
	clock func() time.Time
	// write runs a read-write transaction: writeGrouped normally; the
	// benchmarks swap in Update to measure what grouping buys.
	write   func(func(*bbolt.Tx) error) error
	writers atomic.Int32 // writes in progress, for writeGrouped
	// failAfterWrite, set by tests only, fails updates between the binding
	// write and the history entry.
	failAfterWrite error
}

// writeGrouped commits a lone write at once (bbolt's Update) and sends
// concurrent ones through bbolt's Batch, which groups them into one commit
// and one fsync. Batch alone would make every lone write wait out the batch
// delay. fn must be safe to run more than once (Batch may retry it).
func (db *DB) writeGrouped(fn func(*bbolt.Tx) error) error {
	defer db.writers.Add(-1)
	if db.writers.Add(1) == 1 {
		return db.bolt.Update(fn)
	}
	return db.bolt.Batch(fn)
}

var (
	_ binding.Store    = (*DB)(nil)
	_ binding.Backuper = (*DB)(nil)
	_ binding.Verifier = (*DB)(nil)
	_ binding.Pinger   = (*DB)(nil)

	_ binding.AccountImporter = (*DB)(nil)
	_ binding.BatchUpdater    = (*DB)(nil)
)

// Open opens (creating if needed) the store file at path and brings its
// schema up to date in one transaction. A file held by another process
// yields an error wrapping ErrLocked after opts.Timeout; a file written by a
// newer partneridp, or one that is not a partneridp store, yields ErrSchema.
func Open(path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: store path is empty", binding.ErrInvalid)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	bdb, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:      timeout,
		NoSync:       opts.NoSync,
		FreelistType: bbolt.FreelistMapType,
		// The freelist is written with every commit, so open reads it
		// instead of walking the whole file: with a million bindings the
		// walk took 0.6 s and put the whole file in the resident set
		// (BenchmarkScale). It costs a login's mark commit about 6 KB more
		// once the replay window is full (BenchmarkChurn).
		NoFreelistSync: opts.NoFreelistSync,
	})
	if err != nil {
		return nil, openError(path, timeout, err)
	}
	if err := bdb.Update(func(tx *bbolt.Tx) error {
		_, _, err := migrate(tx, migrations)
		return err
	}); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("store file %s: %w", path, err)
	}
	bdb.MaxBatchDelay = opts.MaxBatchDelay
	if bdb.MaxBatchDelay <= 0 {
		bdb.MaxBatchDelay = DefaultMaxBatchDelay
	}
	db := &DB{bolt: bdb, path: path, clock: clock}
	db.write = db.writeGrouped
	return db, nil
}

func openError(path string, timeout time.Duration, err error) error {
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fmt.Errorf("%w: %s (waited %s): only one partneridp process may own the store file; stop the other process or use another path",
			ErrLocked, path, timeout)
	}
	return fmt.Errorf("open store file %s: %w", path, err)
}

// Path is the store file's path.
func (db *DB) Path() string { return db.path }

// Close releases the file. Pending batched writes finish first.
func (db *DB) Close() error { return db.bolt.Close() }

func (db *DB) now() time.Time { return db.clock().UTC() }

// Get is the lookup of every SSO login, so it avoids closures and JSON.
func (db *DB) Get(ctx context.Context, k binding.Key) (binding.Binding, error) {
	if err := ctx.Err(); err != nil {
		return binding.Binding{}, err
	}
	if err := k.Validate(); err != nil {
		return binding.Binding{}, err
	}
	var buf [256]byte
	key := appendKey(buf[:0], k)
	tx, err := db.bolt.Begin(false)
	if err != nil {
		return binding.Binding{}, err
	}
	defer tx.Rollback()
	v := tx.Bucket(bucketBindings).Get(key)
	if v == nil {
		return binding.Binding{}, binding.ErrNotFound
	}
	b := binding.Binding{Key: k}
	if err := decodeRecord(&b, v); err != nil {
		return binding.Binding{}, err
	}
	return b, nil
}

// GetByDomainID returns the bindings of a Huawei account in key order.
func (db *DB) GetByDomainID(ctx context.Context, domainID string) ([]binding.Binding, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := binding.CheckDomainID(domainID); err != nil {
		return nil, err
	}
	var out []binding.Binding
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		bk := tx.Bucket(bucketBindings)
		prefix := domainPrefix(domainID)
		c := tx.Bucket(bucketByDomain).Cursor()
		for ik, _ := c.Seek(prefix); ik != nil && bytes.HasPrefix(ik, prefix); ik, _ = c.Next() {
			rawKey := ik[len(prefix):]
			k, err := decodeKey(rawKey)
			if err != nil {
				return err
			}
			v := bk.Get(rawKey)
			if v == nil {
				return fmt.Errorf("%w: domain index names %s/%s, which has no binding; run verify", binding.ErrCorrupt, k.XAccountType, k.XAccountID)
			}
			b := binding.Binding{Key: k}
			if err := decodeRecord(&b, v); err != nil {
				return err
			}
			out = append(out, b)
		}
		return nil
	})
	return out, err
}

// Update is the one write of bindings; see binding.Store. The mark check,
// decide, the binding, both indexes and the history entry are one bbolt
// transaction. decide may run more than once: Batch retries a failed
// batch's functions one by one.
func (db *DB) Update(ctx context.Context, k binding.Key, mark string, decide binding.Decide) (binding.Result, error) {
	if err := ctx.Err(); err != nil {
		return binding.Result{}, err
	}
	if err := k.Validate(); err != nil {
		return binding.Result{}, err
	}
	if err := binding.CheckMark(mark); err != nil {
		return binding.Result{}, err
	}
	now := db.now()
	var res binding.Result
	err := db.write(func(tx *bbolt.Tx) error {
		var err error
		res, err = updateTx(tx, k, mark, decide, now, db.failAfterWrite)
		return err
	})
	if err != nil {
		return binding.Result{}, err
	}
	return res, nil
}

// UpdateBatch: see binding.BatchUpdater. One bbolt transaction, one
// fsync, for every item.
func (db *DB) UpdateBatch(ctx context.Context, items []binding.BatchItem) ([]binding.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, it := range items {
		if err := it.Key.Validate(); err != nil {
			return nil, err
		}
		if err := binding.CheckMark(it.Mark); err != nil {
			return nil, err
		}
	}
	now := db.now()
	results := make([]binding.Result, len(items))
	err := db.bolt.Update(func(tx *bbolt.Tx) error {
		// A batch comes in key order (import): pack its pages fuller.
		tx.Bucket(bucketBindings).FillPercent = 0.9
		tx.Bucket(bucketHistoryByKey).FillPercent = 0.9
		for i, it := range items {
			var err error
			if results[i], err = updateTx(tx, it.Key, it.Mark, it.Decide, now, db.failAfterWrite); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

func updateTx(tx *bbolt.Tx, k binding.Key, mark string, decide binding.Decide, now time.Time, failAfterWrite error) (binding.Result, error) {
	var marks *bbolt.Bucket
	if mark != "" {
		marks = tx.Bucket(bucketMarks)
		if marks.Get([]byte(mark)) != nil {
			return binding.Result{}, binding.MarkApplied(mark)
		}
	}
	bk := tx.Bucket(bucketBindings)
	key := appendKey(nil, k)
	var cur *binding.Binding
	if old := bk.Get(key); old != nil {
		prev := binding.Binding{Key: k}
		if err := decodeRecord(&prev, old); err != nil {
			return binding.Result{}, err
		}
		cur = &prev
	}
	st, err := binding.Apply(k, cur, mark, decide, now)
	if err != nil {
		return binding.Result{}, err
	}
	var seq uint64
	if st.Change != nil {
		if cur != nil {
			if err := tx.Bucket(bucketByDomain).Delete(domainIndexKey(cur.DomainID, k)); err != nil {
				return binding.Result{}, err
			}
		}
		if st.Delete {
			if err := bk.Delete(key); err != nil {
				return binding.Result{}, err
			}
		} else {
			if err := bk.Put(key, encodeRecord(*st.Next)); err != nil {
				return binding.Result{}, err
			}
			if err := tx.Bucket(bucketByDomain).Put(domainIndexKey(st.Next.DomainID, k), []byte{}); err != nil {
				return binding.Result{}, err
			}
		}
		if failAfterWrite != nil {
			return binding.Result{}, failAfterWrite
		}
		if seq, err = appendHistory(tx, *st.Change); err != nil {
			return binding.Result{}, err
		}
	}
	if marks != nil {
		// The mark names the history entry it made (0: it changed nothing).
		if err := marks.Put([]byte(mark), seqKey(seq)); err != nil {
			return binding.Result{}, err
		}
	}
	return st.Result, nil
}

func appendHistory(tx *bbolt.Tx, c binding.Change) (uint64, error) {
	hb := tx.Bucket(bucketHistory)
	hb.FillPercent = 1.0 // keys only ever grow: full pages, none split later
	seq, err := hb.NextSequence()
	if err != nil {
		return 0, err
	}
	c.Seq = seq
	v, err := json.Marshal(c)
	if err != nil {
		return 0, err
	}
	if err := hb.Put(seqKey(seq), v); err != nil {
		return 0, err
	}
	return seq, tx.Bucket(bucketHistoryByKey).Put(historyIndexKey(c.Binding.Key, seq), []byte{})
}

// listPage bounds how many bindings List reads per transaction. fn runs
// outside any transaction, so it may call the store (a write while a read
// transaction is open could deadlock on a file remap).
const listPage = 256

// List calls fn for every binding in key order. It is not a snapshot:
// bindings changed while it runs may or may not be seen.
func (db *DB) List(ctx context.Context, from binding.Key, fn func(binding.Binding) error) error {
	var after []byte
	if from != (binding.Key{}) {
		after = appendKey(nil, from)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page := make([]binding.Binding, 0, listPage)
		err := db.bolt.View(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucketBindings).Cursor()
			var k, v []byte
			if after == nil {
				k, v = c.First()
			} else {
				k, v = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(page) < listPage; k, v = c.Next() {
				key, err := decodeKey(k)
				if err != nil {
					return err
				}
				b := binding.Binding{Key: key}
				if err := decodeRecord(&b, v); err != nil {
					return err
				}
				page = append(page, b)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, b := range page {
			if err := fn(b); err != nil {
				return err
			}
		}
		if len(page) < listPage {
			return nil
		}
		after = appendKey(nil, page[len(page)-1].Key)
	}
}

// History returns the changes of one partner account, oldest first; an
// account never seen has an empty history.
func (db *DB) History(ctx context.Context, k binding.Key) ([]binding.Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := k.Validate(); err != nil {
		return nil, err
	}
	var out []binding.Change
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		hb := tx.Bucket(bucketHistory)
		prefix := historyPrefix(k)
		c := tx.Bucket(bucketHistoryByKey).Cursor()
		for ik, _ := c.Seek(prefix); ik != nil && bytes.HasPrefix(ik, prefix); ik, _ = c.Next() {
			sk := ik[len(prefix):]
			v := hb.Get(sk)
			if len(sk) != 8 || v == nil {
				return fmt.Errorf("%w: history index of %s/%s names a missing entry; run verify", binding.ErrCorrupt, k.XAccountType, k.XAccountID)
			}
			var ch binding.Change
			if err := json.Unmarshal(v, &ch); err != nil {
				return fmt.Errorf("%w: history entry does not decode: %v", binding.ErrCorrupt, err)
			}
			out = append(out, ch)
		}
		return nil
	})
	return out, err
}

// Count is the number of bindings.
func (db *DB) Count(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketBindings).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n, err
}

// Changes: see binding.Store. History keys are the sequence numbers.
func (db *DB) Changes(ctx context.Context, after uint64, limit int) ([]binding.Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := binding.CheckChangesLimit(limit); err != nil {
		return nil, err
	}
	var out []binding.Change
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketHistory).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var ch binding.Change
			if err := json.Unmarshal(v, &ch); err != nil {
				return fmt.Errorf("%w: history entry does not decode: %v", binding.ErrCorrupt, err)
			}
			out = append(out, ch)
		}
		return nil
	})
	return out, err
}

// Limits: see binding.Limits.
func (db *DB) Limits() binding.Limits {
	return binding.Limits{MaxSpendLifetime: MaxSpendLifetime, MaxEphemeralValue: binding.DefaultMaxEphemeralValue}
}

// Ping says the file is open: a bbolt store serves while its process runs.
func (db *DB) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.View(func(*bbolt.Tx) error { return nil })
}

// ImportAccount: see binding.AccountImporter. One transaction.
func (db *DB) ImportAccount(ctx context.Context, k binding.Key, history []binding.Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	final, err := binding.CheckImportedHistory(k, history)
	if err != nil {
		return err
	}
	return db.write(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketHistoryByKey).Cursor()
		prefix := historyPrefix(k)
		if ik, _ := c.Seek(prefix); ik != nil && bytes.HasPrefix(ik, prefix) {
			return fmt.Errorf("%w: %s/%s already has a history here", binding.ErrExists, k.XAccountType, k.XAccountID)
		}
		bk := tx.Bucket(bucketBindings)
		key := appendKey(nil, k)
		if old := bk.Get(key); old != nil {
			return fmt.Errorf("%w: %s/%s is bound here without a history; run verify", binding.ErrCorrupt, k.XAccountType, k.XAccountID)
		}
		for _, ch := range history {
			seq, err := appendHistory(tx, ch)
			if err != nil {
				return err
			}
			if ch.Mark != "" {
				if err := tx.Bucket(bucketMarks).Put([]byte(ch.Mark), seqKey(seq)); err != nil {
					return err
				}
			}
		}
		if final == nil {
			return nil
		}
		if err := bk.Put(key, encodeRecord(*final)); err != nil {
			return err
		}
		return tx.Bucket(bucketByDomain).Put(domainIndexKey(final.DomainID, k), []byte{})
	})
}
