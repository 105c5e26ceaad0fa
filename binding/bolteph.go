package binding

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Limits of ephemeral records: flow records and replay entries are small.
const (
	MaxEphemeralBucketLen = 64
	MaxEphemeralKeyLen    = 1024
	MaxEphemeralValueLen  = 256 << 10
)

// EphemeralStore is the Ephemeral view of a DB: single-use expiring records
// in the same file (a separate type because Store and Ephemeral both name a
// method Get).
type EphemeralStore struct{ db *DB }

var _ Ephemeral = (*EphemeralStore)(nil)

// Ephemeral returns the flow/replay record store of this file.
func (db *DB) Ephemeral() *EphemeralStore { return &EphemeralStore{db: db} }

func checkEphemeralName(bucket, key string) error {
	if err := checkText("ephemeral bucket", bucket, MaxEphemeralBucketLen, true); err != nil {
		return err
	}
	if key == "" {
		return fmt.Errorf("%w: ephemeral key is empty", ErrInvalid)
	}
	if len(key) > MaxEphemeralKeyLen {
		return fmt.Errorf("%w: ephemeral key is %d bytes, more than the %d allowed", ErrInvalid, len(key), MaxEphemeralKeyLen)
	}
	return nil
}

// Add stores value under (bucket, key) until expires; ErrExists when an
// unexpired record holds the key. An expired one is replaced.
func (e *EphemeralStore) Add(ctx context.Context, bucket, key string, value []byte, expires time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkEphemeralName(bucket, key); err != nil {
		return err
	}
	if len(value) > MaxEphemeralValueLen {
		return fmt.Errorf("%w: ephemeral value is %d bytes, more than the %d allowed", ErrInvalid, len(value), MaxEphemeralValueLen)
	}
	nowT := e.db.now()
	if !expires.After(nowT) {
		return fmt.Errorf("%w: ephemeral record would expire at %s, not after now", ErrInvalid, expires.UTC().Format(time.RFC3339Nano))
	}
	if expires.After(maxExpiry) {
		return fmt.Errorf("%w: ephemeral record expiry %s is too far ahead", ErrInvalid, expires.UTC().Format(time.RFC3339))
	}
	now, exp := unixNano(nowT), unixNano(expires)
	record := encodeEphemeral(exp, value)
	var exists bool
	err := e.db.write(func(tx *bolt.Tx) error {
		exists = false
		b, err := tx.Bucket(bucketEphemeral).CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		if old := b.Get([]byte(key)); old != nil {
			oldExp, ok := ephemeralExpiry(old)
			if ok && oldExp > now {
				exists = true
				return nil
			}
			if ok {
				if err := tx.Bucket(bucketEphExpiry).Delete(expiryIndexKey(oldExp, bucket, key)); err != nil {
					return err
				}
			}
		}
		if err := b.Put([]byte(key), record); err != nil {
			return err
		}
		return tx.Bucket(bucketEphExpiry).Put(expiryIndexKey(exp, bucket, key), []byte{})
	})
	if err != nil {
		return err
	}
	if exists {
		return ErrExists
	}
	return nil
}

// Get returns an unexpired record without consuming it.
func (e *EphemeralStore) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkEphemeralName(bucket, key); err != nil {
		return nil, err
	}
	now := unixNano(e.db.now())
	var out []byte
	err := e.db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEphemeral).Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		v := b.Get([]byte(key))
		if exp, ok := ephemeralExpiry(v); ok && exp > now {
			out = bytes.Clone(v[8:])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, ErrNotFound
	}
	return out, nil
}

// Take returns an unexpired record and deletes it in the same transaction,
// so concurrent Takes of one key succeed exactly once.
func (e *EphemeralStore) Take(ctx context.Context, bucket, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkEphemeralName(bucket, key); err != nil {
		return nil, err
	}
	now := unixNano(e.db.now())
	var out []byte
	err := e.db.write(func(tx *bolt.Tx) error {
		out = nil
		b := tx.Bucket(bucketEphemeral).Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		v := b.Get([]byte(key))
		if v == nil {
			return nil
		}
		exp, ok := ephemeralExpiry(v)
		if ok && exp > now {
			out = bytes.Clone(v[8:])
		}
		if ok {
			if err := tx.Bucket(bucketEphExpiry).Delete(expiryIndexKey(exp, bucket, key)); err != nil {
				return err
			}
		}
		return b.Delete([]byte(key))
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, ErrNotFound
	}
	return out, nil
}

// maxExpiry keeps expiry within int64 nanoseconds.
var maxExpiry = time.Unix(0, 1<<62)

// unixNano is t in nanoseconds, clamped to the range the index orders.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, 0)):
		return 0
	case t.After(maxExpiry):
		return 1 << 62
	}
	return t.UnixNano()
}

// sweepChunk bounds one sweep transaction so logins are not held up behind
// a large backlog.
const sweepChunk = 1000

// Sweep deletes every record expired at now (expiry ≤ now) and says how many.
func (e *EphemeralStore) Sweep(ctx context.Context, now time.Time) (int, error) {
	cut := unixNano(now)
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n := 0
		err := e.db.bolt.Update(func(tx *bolt.Tx) error {
			n = 0
			root := tx.Bucket(bucketEphemeral)
			c := tx.Bucket(bucketEphExpiry).Cursor()
			for ik, _ := c.First(); ik != nil && n < sweepChunk; ik, _ = c.First() {
				exp, bucket, key, ok := decodeExpiryIndexKey(ik)
				if !ok {
					return fmt.Errorf("%w: an ephemeral expiry index entry does not decode; run verify", ErrCorrupt)
				}
				if exp > cut {
					break
				}
				if b := root.Bucket([]byte(bucket)); b != nil {
					// Only the record this index entry describes: a key
					// re-added with a later expiry has its own entry.
					if v := b.Get([]byte(key)); v != nil {
						if vexp, ok := ephemeralExpiry(v); ok && vexp == exp {
							if err := b.Delete([]byte(key)); err != nil {
								return err
							}
						}
					}
				}
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		total += n
		if err != nil {
			return total, err
		}
		if n < sweepChunk {
			break
		}
	}
	n, err := sweepSpent(ctx, e.db.bolt, cut)
	return total + n, err
}

// RunSweeper sweeps expired ephemeral records every interval until ctx
// ends (then it returns nil) or a sweep fails (then it returns the error).
func (db *DB) RunSweeper(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("%w: sweep interval must be positive, got %s", ErrInvalid, interval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	e := db.Ephemeral()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := e.Sweep(ctx, db.now()); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("sweep expired ephemeral records: %w", err)
			}
		}
	}
}
