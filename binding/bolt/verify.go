package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"github.com/partneridp/partneridp/binding"
	"io"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the live file to w (a bbolt file that
// Open and VerifyFile accept) and returns its size. Writers are not blocked.
func (db *DB) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int64
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// Verify checks the live file: bbolt's page-level consistency check, then
// that the indexes agree with the bindings and the history is well formed.
// It runs in a write transaction (bbolt's check is only safe there while
// other writers run), so writes wait until it finishes.
func (db *DB) Verify(ctx context.Context) (binding.Report, error) {
	if err := ctx.Err(); err != nil {
		return binding.Report{}, err
	}
	tx, err := db.bolt.Begin(true)
	if err != nil {
		return binding.Report{}, err
	}
	defer tx.Rollback()
	r := verifyTx(tx)
	return r, r.Err()
}

// VerifyFile checks a store file that no process has open (for example a
// backup) without changing it. It refuses a file whose schema is not this
// build's, since it would not know that layout.
func VerifyFile(path string) (binding.Report, error) {
	bdb, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: DefaultTimeout})
	if err != nil {
		return binding.Report{}, openError(path, DefaultTimeout, err)
	}
	defer bdb.Close()
	var r binding.Report
	err = bdb.View(func(tx *bbolt.Tx) error {
		v, err := readSchemaVersion(tx)
		if err != nil {
			return err
		}
		if v != SchemaVersion {
			return fmt.Errorf("%w: the file has schema version %d and this partneridp verifies version %d; open it with Open first to migrate it, or use the matching partneridp", binding.ErrSchema, v, SchemaVersion)
		}
		r = verifyTx(tx)
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("store file %s: %w", path, err)
	}
	return r, r.Err()
}

func verifyTx(tx *bbolt.Tx) binding.Report {
	var r binding.Report
	for err := range tx.Check() {
		r.Problem("bbolt: %v", err)
	}
	v, err := readSchemaVersion(tx)
	if err != nil {
		r.Problem("%v", err)
		return r
	}
	r.SchemaVersion = v
	buckets := [][]byte{bucketBindings, bucketByDomain, bucketHistory, bucketHistoryByKey, bucketEphemeral, bucketEphExpiry}
	if v >= 2 {
		buckets = append(buckets, bucketSpent)
	}
	if v >= 3 {
		buckets = append(buckets, bucketMarks)
	}
	for _, name := range buckets {
		if tx.Bucket(name) == nil {
			r.Problem("bucket %s is missing", name)
		}
	}
	if !r.OK() {
		return r
	}
	verifyBindings(tx, &r)
	verifyHistory(tx, &r)
	verifyEphemeral(tx, &r)
	verifySpent(tx, &r)
	verifyMarks(tx, &r)
	return r
}

// verifyMarks checks that every applied mark names a history entry that
// carries it (or none, for an update that changed nothing).
func verifyMarks(tx *bbolt.Tx, r *binding.Report) {
	marks := tx.Bucket(bucketMarks)
	if marks == nil {
		return
	}
	hb := tx.Bucket(bucketHistory)
	_ = marks.ForEach(func(k, v []byte) error {
		if len(v) != 8 {
			r.Problem("applied mark %.40q has a value of %d bytes, not a sequence number", k, len(v))
			return nil
		}
		if binary.BigEndian.Uint64(v) == 0 {
			return nil
		}
		entry := hb.Get(v)
		var ch binding.Change
		if entry == nil || json.Unmarshal(entry, &ch) != nil || ch.Mark != string(k) {
			r.Problem("applied mark %.40q names history entry %d, which does not carry it", k, binary.BigEndian.Uint64(v))
		}
		return nil
	})
}

// verifyBindings checks that every binding decodes and has its domain index
// entry, and every index entry points at a binding with that domain.
func verifyBindings(tx *bbolt.Tx, r *binding.Report) {
	bk := tx.Bucket(bucketBindings)
	idx := tx.Bucket(bucketByDomain)
	_ = bk.ForEach(func(k, v []byte) error {
		r.Bindings++
		key, err := decodeKey(k)
		if err != nil {
			r.Problem("binding %q: %v", k, err)
			return nil
		}
		b := binding.Binding{Key: key}
		if err := decodeRecord(&b, v); err != nil {
			r.Problem("binding %s/%s: %v", key.XAccountType, key.XAccountID, err)
			return nil
		}
		if err := b.Validate(); err != nil {
			r.Problem("binding %s/%s: %v", key.XAccountType, key.XAccountID, err)
		}
		if idx.Get(domainIndexKey(b.DomainID, key)) == nil {
			r.Problem("binding %s/%s (domain %s) has no domain index entry", key.XAccountType, key.XAccountID, b.DomainID)
		}
		return nil
	})
	_ = idx.ForEach(func(ik, _ []byte) error {
		r.DomainIndex++
		i := bytes.IndexByte(ik, 0)
		if i < 0 {
			r.Problem("domain index entry %q has no separator", ik)
			return nil
		}
		domainID, rawKey := string(ik[:i]), ik[i+1:]
		v := bk.Get(rawKey)
		if v == nil {
			r.Problem("domain index entry %q points at no binding", ik)
			return nil
		}
		var b binding.Binding
		if err := decodeRecord(&b, v); err == nil && b.DomainID != domainID {
			r.Problem("domain index entry %q: the binding has domain %s", ik, b.DomainID)
		}
		return nil
	})
}

// verifyHistory checks that entries decode, sit under their own sequence
// number, are indexed under their account, and that each account's last
// change agrees with its current binding.
func verifyHistory(tx *bbolt.Tx, r *binding.Report) {
	hb := tx.Bucket(bucketHistory)
	hidx := tx.Bucket(bucketHistoryByKey)
	bk := tx.Bucket(bucketBindings)
	last := map[string]binding.Change{}
	var maxSeq uint64
	_ = hb.ForEach(func(k, v []byte) error {
		r.History++
		if len(k) != 8 {
			r.Problem("history key %x is not a sequence number", k)
			return nil
		}
		seq := binary.BigEndian.Uint64(k)
		maxSeq = max(maxSeq, seq)
		var c binding.Change
		if err := json.Unmarshal(v, &c); err != nil {
			r.Problem("history %d does not decode: %v", seq, err)
			return nil
		}
		if c.Seq != seq {
			r.Problem("history %d holds sequence %d", seq, c.Seq)
		}
		if c.Action != binding.ActionBind && c.Action != binding.ActionUnbind {
			r.Problem("history %d has action %q", seq, c.Action)
		}
		if err := c.Binding.Validate(); err != nil {
			r.Problem("history %d: %v", seq, err)
			return nil
		}
		if hidx.Get(historyIndexKey(c.Binding.Key, seq)) == nil {
			r.Problem("history %d is not in the index of %s/%s", seq, c.Binding.XAccountType, c.Binding.XAccountID)
		}
		last[string(appendKey(nil, c.Binding.Key))] = c
		return nil
	})
	if maxSeq > hb.Sequence() {
		r.Problem("history sequence counter %d is behind entry %d", hb.Sequence(), maxSeq)
	}
	_ = hidx.ForEach(func(ik, _ []byte) error {
		if len(ik) < 10 || ik[len(ik)-9] != 0 {
			r.Problem("history index entry %q is malformed", ik)
			return nil
		}
		rawKey, sk := ik[:len(ik)-9], ik[len(ik)-8:]
		v := hb.Get(sk)
		if v == nil {
			r.Problem("history index entry %q points at no entry", ik)
			return nil
		}
		var c binding.Change
		if err := json.Unmarshal(v, &c); err == nil && !bytes.Equal(appendKey(nil, c.Binding.Key), rawKey) {
			r.Problem("history index entry %q points at another account's entry", ik)
		}
		return nil
	})
	// Put and Delete write the binding and its history entry in one
	// transaction, so the last change must describe the current state.
	_ = bk.ForEach(func(k, v []byte) error {
		c, ok := last[string(k)]
		var b binding.Binding
		if decodeRecord(&b, v) != nil {
			return nil
		}
		switch {
		case !ok:
			r.Problem("binding %q has no history", k)
		case c.Action != binding.ActionBind || c.Binding.DomainID != b.DomainID || c.Binding.DomainName != b.DomainName:
			r.Problem("binding %q does not match its last history entry %d", k, c.Seq)
		}
		delete(last, string(k))
		return nil
	})
	for k, c := range last {
		if c.Action == binding.ActionBind {
			r.Problem("history %d binds %q but there is no binding", c.Seq, k)
		}
	}
}

// verifyEphemeral checks that records and the expiry index agree.
func verifyEphemeral(tx *bbolt.Tx, r *binding.Report) {
	root := tx.Bucket(bucketEphemeral)
	exp := tx.Bucket(bucketEphExpiry)
	_ = root.ForEachBucket(func(name []byte) error {
		return root.Bucket(name).ForEach(func(k, v []byte) error {
			r.Ephemeral++
			e, ok := ephemeralExpiry(v)
			if !ok {
				r.Problem("ephemeral record in %s (key of %d bytes) is too short", name, len(k))
				return nil
			}
			if exp.Get(expiryIndexKey(e, string(name), string(k))) == nil {
				r.Problem("ephemeral record in %s (key of %d bytes, expires %s) is not in the expiry index", name, len(k), time.Unix(0, e).UTC().Format(time.RFC3339))
			}
			return nil
		})
	})
	_ = exp.ForEach(func(ik, _ []byte) error {
		e, bucket, key, ok := decodeExpiryIndexKey(ik)
		if !ok {
			r.Problem("an ephemeral expiry index entry of %d bytes does not decode", len(ik))
			return nil
		}
		var v []byte
		if b := root.Bucket([]byte(bucket)); b != nil {
			v = b.Get([]byte(key))
		}
		if ve, ok := ephemeralExpiry(v); !ok || ve != e {
			r.Problem("ephemeral expiry index entry for %s (key of %d bytes) points at no record with that expiry", bucket, len(key))
		}
		return nil
	})
}
