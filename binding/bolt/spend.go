package bolt

import (
	"context"
	"encoding/binary"
	"fmt"
	"github.com/partneridp/partneridp/binding"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// Spent marks (replay entries) live apart from the other ephemeral records,
// in one nested bucket per minute of expiry ("slot"), so that a mark is one
// Put in one small bucket and expiry is dropping whole slots: no expiry
// index to keep in step, and about half the pages written per login.
const (
	// SpendSlot is the width of a slot.
	SpendSlot = time.Minute
	// MaxSpendLifetime bounds how far ahead a mark may expire, which bounds
	// the slots a lookup visits. It is above the longest handoff token
	// lifetime the verifier accepts (1 h) plus leeway, and above the
	// longest SAML replay window (twice the largest clock skew plus margin).
	MaxSpendLifetime = 2 * time.Hour
)

// slotName is the slot holding marks that expire at exp (Unix ns): the end
// of its minute, as 8 big-endian bytes of Unix seconds, so slots sort by
// time and a slot is wholly expired once now reaches its name.
func slotName(exp int64) []byte {
	width := int64(SpendSlot / time.Nanosecond)
	end := (exp + width - 1) / width * width
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(end/int64(time.Second)))
}

func slotEnd(name []byte) (int64, bool) {
	if len(name) != 8 {
		return 0, false
	}
	s := binary.BigEndian.Uint64(name)
	if s > 1<<62/uint64(time.Second) {
		return 0, false
	}
	return int64(s) * int64(time.Second), true
}

// spendKey is the key of a mark inside its slot: the bucket name with its
// length, then the key, so marks of different buckets never meet.
func spendKey(bucket, key string) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+len(bucket)+len(key))
	b = binary.AppendUvarint(b, uint64(len(bucket)))
	b = append(b, bucket...)
	return append(b, key...)
}

// Spend marks (bucket, key) as used until expires. It returns ErrExists
// when an unexpired mark already holds the key; concurrent Spends of one
// key succeed exactly once. Marks hold no value: Get and Take do not see
// them, and Sweep removes them once expired.
func (e *EphemeralStore) Spend(ctx context.Context, bucket, key string, expires time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	nowT := e.db.now()
	if err := binding.CheckSpend(e.db.Limits(), bucket, key, nowT, expires); err != nil {
		return err
	}
	now, exp := unixNano(nowT), unixNano(expires)
	k := spendKey(bucket, key)
	var exists bool
	err := e.db.write(func(tx *bbolt.Tx) error {
		exists = false
		root := tx.Bucket(bucketSpent)
		// A live mark sits in a slot that ends after now; slots are few
		// (MaxSpendLifetime / SpendSlot at most) and sorted by end.
		c := root.Cursor()
		for name, _ := c.Seek(slotName(now + 1)); name != nil; name, _ = c.Next() {
			b := root.Bucket(name)
			if b == nil {
				continue
			}
			if v := b.Get(k); v != nil {
				if old, ok := ephemeralExpiry(v); ok && old > now {
					exists = true
					return nil
				}
			}
		}
		slot, err := root.CreateBucketIfNotExists(slotName(exp))
		if err != nil {
			return err
		}
		return slot.Put(k, binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(exp)))
	})
	if err != nil {
		return err
	}
	if exists {
		return binding.ErrExists
	}
	return nil
}

// sweepSpent drops the slots that ended at or before cut and says how many
// marks they held.
func sweepSpent(ctx context.Context, db *bbolt.DB, cut int64) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var name []byte
		n := 0
		err := db.Update(func(tx *bbolt.Tx) error {
			root := tx.Bucket(bucketSpent)
			k, v := root.Cursor().First()
			if k == nil {
				return nil
			}
			end, ok := slotEnd(k)
			if !ok || v != nil {
				return fmt.Errorf("%w: a spent-mark slot name does not decode; run verify", binding.ErrCorrupt)
			}
			if end > cut {
				return nil
			}
			name = k
			n = root.Bucket(k).Stats().KeyN
			return root.DeleteBucket(k)
		})
		if err != nil {
			return total, err
		}
		if name == nil {
			return total, nil
		}
		total += n
	}
}

// verifySpent checks that every mark sits in the slot its expiry names.
func verifySpent(tx *bbolt.Tx, r *binding.Report) {
	root := tx.Bucket(bucketSpent)
	if root == nil {
		return // a version 1 file, checked without migrating
	}
	_ = root.ForEach(func(name, v []byte) error {
		if _, ok := slotEnd(name); !ok || v != nil {
			r.Problem("spent-mark slot %x is not a slot name", name)
			return nil
		}
		return root.Bucket(name).ForEach(func(k, v []byte) error {
			r.Ephemeral++
			exp, ok := ephemeralExpiry(v)
			if !ok || len(v) != 8 {
				r.Problem("spent mark in slot %x (key of %d bytes) has a value of %d bytes, not an expiry", name, len(k), len(v))
				return nil
			}
			if string(slotName(exp)) != string(name) {
				r.Problem("spent mark expiring %s is in slot %x, not %x", time.Unix(0, exp).UTC().Format(time.RFC3339), name, slotName(exp))
			}
			return nil
		})
	})
}
