package bolt

import (
	"bytes"
	"context"
	"fmt"
	"github.com/partneridp/partneridp/binding"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// EphemeralStore is the Ephemeral view of a DB: single-use expiring records
// in the same file (a separate type because Store and Ephemeral both name a
// method Get).
type EphemeralStore struct{ db *DB }

var _ binding.Ephemeral = (*EphemeralStore)(nil)

// Ephemeral returns the flow/replay record store of this file.
func (db *DB) Ephemeral() binding.Ephemeral { return &EphemeralStore{db: db} }

// Add stores value under (bucket, key) until expires; ErrExists when an
// unexpired record holds the key. An expired one is replaced.
func (e *EphemeralStore) Add(ctx context.Context, bucket, key string, value []byte, expires time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	nowT := e.db.now()
	if err := binding.CheckAdd(e.db.Limits(), bucket, key, value, nowT, expires); err != nil {
		return err
	}
	now, exp := unixNano(nowT), unixNano(expires)
	record := encodeEphemeral(exp, value)
	var exists bool
	err := e.db.write(func(tx *bbolt.Tx) error {
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
		return binding.ErrExists
	}
	return nil
}

// Get returns an unexpired record without consuming it.
func (e *EphemeralStore) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := binding.CheckEphemeralName(bucket, key); err != nil {
		return nil, err
	}
	now := unixNano(e.db.now())
	var out []byte
	err := e.db.bolt.View(func(tx *bbolt.Tx) error {
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
		return nil, binding.ErrNotFound
	}
	return out, nil
}

// Take returns an unexpired record and deletes it in the same transaction,
// so concurrent Takes of one key succeed exactly once.
func (e *EphemeralStore) Take(ctx context.Context, bucket, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := binding.CheckEphemeralName(bucket, key); err != nil {
		return nil, err
	}
	now := unixNano(e.db.now())
	var out []byte
	err := e.db.write(func(tx *bbolt.Tx) error {
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
		return nil, binding.ErrNotFound
	}
	return out, nil
}

// unixNano is t in nanoseconds, clamped to the range the index orders.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, 0)):
		return 0
	case t.After(binding.MaxExpiry):
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
		err := e.db.bolt.Update(func(tx *bbolt.Tx) error {
			n = 0
			root := tx.Bucket(bucketEphemeral)
			c := tx.Bucket(bucketEphExpiry).Cursor()
			for ik, _ := c.First(); ik != nil && n < sweepChunk; ik, _ = c.First() {
				exp, bucket, key, ok := decodeExpiryIndexKey(ik)
				if !ok {
					return fmt.Errorf("%w: an ephemeral expiry index entry does not decode; run verify", binding.ErrCorrupt)
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
