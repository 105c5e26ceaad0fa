package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/partneridp/partneridp/binding"

	bbolt "go.etcd.io/bbolt"
)

// bucketCursors: cursor name → seq (8, big endian). Named positions in the
// Changes feed, e.g. the webhook deliverer's.
var bucketCursors = []byte("feed_cursors")

var _ binding.CursorStore = (*DB)(nil)

// migrateV4 adds the bucket of feed cursors.
func migrateV4(tx *bbolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(bucketCursors)
	return err
}

const maxCursorName = 256

func checkCursorName(name string) error {
	if name == "" || len(name) > maxCursorName {
		return fmt.Errorf("%w: cursor name must be 1 to %d bytes", binding.ErrInvalid, maxCursorName)
	}
	return nil
}

// Cursor: see binding.CursorStore.
func (db *DB) Cursor(ctx context.Context, name string) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := checkCursorName(name); err != nil {
		return 0, err
	}
	var seq uint64
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketCursors)
		if b == nil {
			return fmt.Errorf("%w: no %s bucket", binding.ErrCorrupt, bucketCursors)
		}
		v := b.Get([]byte(name))
		switch {
		case v == nil:
		case len(v) != 8:
			return fmt.Errorf("%w: cursor %q is %d bytes", binding.ErrCorrupt, name, len(v))
		default:
			seq = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		return 0, cursorErr(err)
	}
	return seq, nil
}

// SetCursor: see binding.CursorStore. It is durable when it returns.
func (db *DB) SetCursor(ctx context.Context, name string, seq uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkCursorName(name); err != nil {
		return err
	}
	err := db.bolt.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketCursors)
		if b == nil {
			return fmt.Errorf("%w: no %s bucket", binding.ErrCorrupt, bucketCursors)
		}
		return b.Put([]byte(name), binary.BigEndian.AppendUint64(nil, seq))
	})
	return cursorErr(err)
}

func cursorErr(err error) error {
	if err == nil || isBindingErr(err) {
		return err
	}
	return fmt.Errorf("%w: %v", binding.ErrUnavailable, err)
}

func isBindingErr(err error) bool {
	for _, e := range []error{binding.ErrCorrupt, binding.ErrInvalid, binding.ErrUnavailable} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
