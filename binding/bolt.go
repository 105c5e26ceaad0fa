package binding

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

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
}

// DB is the embedded bbolt store. It implements Store; Ephemeral returns
// the single-use record store kept in the same file. One process owns the
// file at a time.
type DB struct {
	bolt  *bolt.DB
	path  string
	clock func() time.Time
	// write runs a read-write transaction: writeGrouped normally; the
	// benchmarks swap in Update to measure what grouping buys.
	write   func(func(*bolt.Tx) error) error
	writers atomic.Int32 // writes in progress, for writeGrouped
}

// writeGrouped commits a lone write at once (bbolt's Update) and sends
// concurrent ones through bbolt's Batch, which groups them into one commit
// and one fsync. Batch alone would make every lone write wait out the batch
// delay. fn must be safe to run more than once (Batch may retry it).
func (db *DB) writeGrouped(fn func(*bolt.Tx) error) error {
	defer db.writers.Add(-1)
	if db.writers.Add(1) == 1 {
		return db.bolt.Update(fn)
	}
	return db.bolt.Batch(fn)
}

var _ Store = (*DB)(nil)

// Open opens (creating if needed) the store file at path and brings its
// schema up to date in one transaction. A file held by another process
// yields an error wrapping ErrLocked after opts.Timeout; a file written by a
// newer partneridp, or one that is not a partneridp store, yields ErrSchema.
func Open(path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: store path is empty", ErrInvalid)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      timeout,
		NoSync:       opts.NoSync,
		FreelistType: bolt.FreelistMapType,
		// The freelist of a store full of expiring replay entries runs to
		// many pages; writing it on every commit doubled the pages each
		// login's commit writes. Open rebuilds it by a scan instead (what
		// etcd does).
		NoFreelistSync: true,
	})
	if err != nil {
		return nil, openError(path, timeout, err)
	}
	if err := bdb.Update(func(tx *bolt.Tx) error {
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
func (db *DB) Get(ctx context.Context, k Key) (Binding, error) {
	if err := ctx.Err(); err != nil {
		return Binding{}, err
	}
	if err := k.Validate(); err != nil {
		return Binding{}, err
	}
	var buf [256]byte
	key := appendKey(buf[:0], k)
	tx, err := db.bolt.Begin(false)
	if err != nil {
		return Binding{}, err
	}
	defer tx.Rollback()
	v := tx.Bucket(bucketBindings).Get(key)
	if v == nil {
		return Binding{}, ErrNotFound
	}
	b := Binding{Key: k}
	if err := decodeRecord(&b, v); err != nil {
		return Binding{}, err
	}
	return b, nil
}

// GetByDomainID returns the bindings of a Huawei account in key order.
func (db *DB) GetByDomainID(ctx context.Context, domainID string) ([]Binding, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkText("domain_id", domainID, MaxDomainIDLen, true); err != nil {
		return nil, err
	}
	var out []Binding
	err := db.bolt.View(func(tx *bolt.Tx) error {
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
				return fmt.Errorf("%w: domain index names %s/%s, which has no binding; run verify", ErrCorrupt, k.XAccountType, k.XAccountID)
			}
			b := Binding{Key: k}
			if err := decodeRecord(&b, v); err != nil {
				return err
			}
			out = append(out, b)
		}
		return nil
	})
	return out, err
}

// Put creates or updates a binding; see Store. The store sets CreatedAt and
// UpdatedAt from its clock; the caller's values are ignored.
func (db *DB) Put(ctx context.Context, b Binding, actor string, extra json.RawMessage) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := b.Validate(); err != nil {
		return false, err
	}
	extra, err := normalizeExtra(actor, extra)
	if err != nil {
		return false, err
	}
	return db.writeChange(func(tx *bolt.Tx, now time.Time) (bool, error) {
		return putTx(tx, b, actor, extra, now)
	})
}

// writeChange runs fn in one write transaction and reports whether it changed
// anything. Batch may run fn more than once; each run starts from the
// transaction's state, so the result is that of the committed run.
func (db *DB) writeChange(fn func(tx *bolt.Tx, now time.Time) (bool, error)) (bool, error) {
	now := db.now()
	var changed bool
	err := db.write(func(tx *bolt.Tx) error {
		var err error
		changed, err = fn(tx, now)
		return err
	})
	if err != nil {
		return false, err
	}
	return changed, nil
}

func putTx(tx *bolt.Tx, b Binding, actor string, extra json.RawMessage, now time.Time) (bool, error) {
	bk := tx.Bucket(bucketBindings)
	key := appendKey(nil, b.Key)
	stored := Binding{Key: b.Key, DomainID: b.DomainID, DomainName: b.DomainName, Source: b.Source, CreatedAt: now, UpdatedAt: now}
	if old := bk.Get(key); old != nil {
		var prev Binding
		if err := decodeRecord(&prev, old); err != nil {
			return false, err
		}
		if prev.DomainID == b.DomainID && prev.DomainName == b.DomainName {
			return false, nil
		}
		stored.CreatedAt = prev.CreatedAt
		if prev.DomainID != b.DomainID {
			if err := tx.Bucket(bucketByDomain).Delete(domainIndexKey(prev.DomainID, b.Key)); err != nil {
				return false, err
			}
		}
	}
	if err := bk.Put(key, encodeRecord(stored)); err != nil {
		return false, err
	}
	if err := tx.Bucket(bucketByDomain).Put(domainIndexKey(b.DomainID, b.Key), []byte{}); err != nil {
		return false, err
	}
	return true, appendHistory(tx, Change{Time: now, Action: ActionBind, Binding: stored, Source: b.Source, Actor: actor, Extra: extra})
}

// Delete removes a binding; see Store.
func (db *DB) Delete(ctx context.Context, k Key, src Source, actor string, extra json.RawMessage) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := k.Validate(); err != nil {
		return false, err
	}
	if err := src.Validate(); err != nil {
		return false, err
	}
	extra, err := normalizeExtra(actor, extra)
	if err != nil {
		return false, err
	}
	return db.writeChange(func(tx *bolt.Tx, now time.Time) (bool, error) {
		return deleteTx(tx, k, src, actor, extra, now)
	})
}

func deleteTx(tx *bolt.Tx, k Key, src Source, actor string, extra json.RawMessage, now time.Time) (bool, error) {
	bk := tx.Bucket(bucketBindings)
	key := appendKey(nil, k)
	old := bk.Get(key)
	if old == nil {
		return false, nil
	}
	prev := Binding{Key: k}
	if err := decodeRecord(&prev, old); err != nil {
		return false, err
	}
	if err := bk.Delete(key); err != nil {
		return false, err
	}
	if err := tx.Bucket(bucketByDomain).Delete(domainIndexKey(prev.DomainID, k)); err != nil {
		return false, err
	}
	return true, appendHistory(tx, Change{Time: now, Action: ActionUnbind, Binding: prev, Source: src, Actor: actor, Extra: extra})
}

func appendHistory(tx *bolt.Tx, c Change) error {
	hb := tx.Bucket(bucketHistory)
	seq, err := hb.NextSequence()
	if err != nil {
		return err
	}
	c.Seq = seq
	v, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := hb.Put(seqKey(seq), v); err != nil {
		return err
	}
	return tx.Bucket(bucketHistoryByKey).Put(historyIndexKey(c.Binding.Key, seq), []byte{})
}

// normalizeExtra validates the change info and keeps a compact private copy
// of extra (the caller's slice may be reused).
func normalizeExtra(actor string, extra json.RawMessage) (json.RawMessage, error) {
	if err := ValidateChangeInfo(actor, extra); err != nil {
		return nil, err
	}
	if extra == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, extra); err != nil {
		return nil, fmt.Errorf("%w: extra: %v", ErrInvalid, err)
	}
	return buf.Bytes(), nil
}

// listPage bounds how many bindings List reads per transaction. fn runs
// outside any transaction, so it may call the store (a write while a read
// transaction is open could deadlock on a file remap).
const listPage = 256

// List calls fn for every binding in key order. It is not a snapshot:
// bindings changed while it runs may or may not be seen.
func (db *DB) List(ctx context.Context, fn func(Binding) error) error {
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page := make([]Binding, 0, listPage)
		err := db.bolt.View(func(tx *bolt.Tx) error {
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
				b := Binding{Key: key}
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
func (db *DB) History(ctx context.Context, k Key) ([]Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := k.Validate(); err != nil {
		return nil, err
	}
	var out []Change
	err := db.bolt.View(func(tx *bolt.Tx) error {
		hb := tx.Bucket(bucketHistory)
		prefix := historyPrefix(k)
		c := tx.Bucket(bucketHistoryByKey).Cursor()
		for ik, _ := c.Seek(prefix); ik != nil && bytes.HasPrefix(ik, prefix); ik, _ = c.Next() {
			sk := ik[len(prefix):]
			v := hb.Get(sk)
			if len(sk) != 8 || v == nil {
				return fmt.Errorf("%w: history index of %s/%s names a missing entry; run verify", ErrCorrupt, k.XAccountType, k.XAccountID)
			}
			var ch Change
			if err := json.Unmarshal(v, &ch); err != nil {
				return fmt.Errorf("%w: history entry does not decode: %v", ErrCorrupt, err)
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
	err := db.bolt.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketBindings).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n, err
}
