package binding

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Report is what Verify found.
type Report struct {
	SchemaVersion int
	Bindings      int // records in the bindings bucket
	DomainIndex   int // entries in the domain index
	History       int // history entries
	Ephemeral     int // ephemeral records, expired or not
	// Problems lists each inconsistency found (at most maxProblems); empty
	// when the file is sound.
	Problems []string
}

// OK says the file passed every check.
func (r Report) OK() bool { return len(r.Problems) == 0 }

const maxProblems = 100

func (r *Report) problem(format string, args ...any) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// err is nil for a sound file, else ErrCorrupt with the first problems.
func (r Report) err() error {
	if r.OK() {
		return nil
	}
	shown := r.Problems
	more := ""
	if len(shown) > 5 {
		more = fmt.Sprintf(" (and %d more)", len(shown)-5)
		shown = shown[:5]
	}
	return fmt.Errorf("%w: %d problem(s): %s%s; restore a backup or repair from history", ErrCorrupt, len(r.Problems), strings.Join(shown, "; "), more)
}

// Backup writes a consistent copy of the live file to w (a bbolt file that
// Open and VerifyFile accept) and returns its size. Writers are not blocked.
func (db *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := db.bolt.View(func(tx *bolt.Tx) error {
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
func (db *DB) Verify() (Report, error) {
	tx, err := db.bolt.Begin(true)
	if err != nil {
		return Report{}, err
	}
	defer tx.Rollback()
	r := verifyTx(tx)
	return r, r.err()
}

// VerifyFile checks a store file that no process has open (for example a
// backup) without changing it. It refuses a file whose schema is not this
// build's, since it would not know that layout.
func VerifyFile(path string) (Report, error) {
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: DefaultTimeout})
	if err != nil {
		return Report{}, openError(path, DefaultTimeout, err)
	}
	defer bdb.Close()
	var r Report
	err = bdb.View(func(tx *bolt.Tx) error {
		v, err := readSchemaVersion(tx)
		if err != nil {
			return err
		}
		if v != SchemaVersion {
			return fmt.Errorf("%w: the file has schema version %d and this partneridp verifies version %d; open it with Open first to migrate it, or use the matching partneridp", ErrSchema, v, SchemaVersion)
		}
		r = verifyTx(tx)
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("store file %s: %w", path, err)
	}
	return r, r.err()
}

func verifyTx(tx *bolt.Tx) Report {
	var r Report
	for err := range tx.Check() {
		r.problem("bbolt: %v", err)
	}
	v, err := readSchemaVersion(tx)
	if err != nil {
		r.problem("%v", err)
		return r
	}
	r.SchemaVersion = v
	buckets := [][]byte{bucketBindings, bucketByDomain, bucketHistory, bucketHistoryByKey, bucketEphemeral, bucketEphExpiry}
	if v >= 2 {
		buckets = append(buckets, bucketSpent)
	}
	for _, name := range buckets {
		if tx.Bucket(name) == nil {
			r.problem("bucket %s is missing", name)
		}
	}
	if !r.OK() {
		return r
	}
	verifyBindings(tx, &r)
	verifyHistory(tx, &r)
	verifyEphemeral(tx, &r)
	verifySpent(tx, &r)
	return r
}

// verifyBindings checks that every binding decodes and has its domain index
// entry, and every index entry points at a binding with that domain.
func verifyBindings(tx *bolt.Tx, r *Report) {
	bk := tx.Bucket(bucketBindings)
	idx := tx.Bucket(bucketByDomain)
	_ = bk.ForEach(func(k, v []byte) error {
		r.Bindings++
		key, err := decodeKey(k)
		if err != nil {
			r.problem("binding %q: %v", k, err)
			return nil
		}
		b := Binding{Key: key}
		if err := decodeRecord(&b, v); err != nil {
			r.problem("binding %s/%s: %v", key.XAccountType, key.XAccountID, err)
			return nil
		}
		if err := b.Validate(); err != nil {
			r.problem("binding %s/%s: %v", key.XAccountType, key.XAccountID, err)
		}
		if idx.Get(domainIndexKey(b.DomainID, key)) == nil {
			r.problem("binding %s/%s (domain %s) has no domain index entry", key.XAccountType, key.XAccountID, b.DomainID)
		}
		return nil
	})
	_ = idx.ForEach(func(ik, _ []byte) error {
		r.DomainIndex++
		i := bytes.IndexByte(ik, 0)
		if i < 0 {
			r.problem("domain index entry %q has no separator", ik)
			return nil
		}
		domainID, rawKey := string(ik[:i]), ik[i+1:]
		v := bk.Get(rawKey)
		if v == nil {
			r.problem("domain index entry %q points at no binding", ik)
			return nil
		}
		var b Binding
		if err := decodeRecord(&b, v); err == nil && b.DomainID != domainID {
			r.problem("domain index entry %q: the binding has domain %s", ik, b.DomainID)
		}
		return nil
	})
}

// verifyHistory checks that entries decode, sit under their own sequence
// number, are indexed under their account, and that each account's last
// change agrees with its current binding.
func verifyHistory(tx *bolt.Tx, r *Report) {
	hb := tx.Bucket(bucketHistory)
	hidx := tx.Bucket(bucketHistoryByKey)
	bk := tx.Bucket(bucketBindings)
	last := map[string]Change{}
	var maxSeq uint64
	_ = hb.ForEach(func(k, v []byte) error {
		r.History++
		if len(k) != 8 {
			r.problem("history key %x is not a sequence number", k)
			return nil
		}
		seq := binary.BigEndian.Uint64(k)
		maxSeq = max(maxSeq, seq)
		var c Change
		if err := json.Unmarshal(v, &c); err != nil {
			r.problem("history %d does not decode: %v", seq, err)
			return nil
		}
		if c.Seq != seq {
			r.problem("history %d holds sequence %d", seq, c.Seq)
		}
		if c.Action != ActionBind && c.Action != ActionUnbind {
			r.problem("history %d has action %q", seq, c.Action)
		}
		if err := c.Binding.Validate(); err != nil {
			r.problem("history %d: %v", seq, err)
			return nil
		}
		if hidx.Get(historyIndexKey(c.Binding.Key, seq)) == nil {
			r.problem("history %d is not in the index of %s/%s", seq, c.Binding.XAccountType, c.Binding.XAccountID)
		}
		last[string(appendKey(nil, c.Binding.Key))] = c
		return nil
	})
	if maxSeq > hb.Sequence() {
		r.problem("history sequence counter %d is behind entry %d", hb.Sequence(), maxSeq)
	}
	_ = hidx.ForEach(func(ik, _ []byte) error {
		if len(ik) < 10 || ik[len(ik)-9] != 0 {
			r.problem("history index entry %q is malformed", ik)
			return nil
		}
		rawKey, sk := ik[:len(ik)-9], ik[len(ik)-8:]
		v := hb.Get(sk)
		if v == nil {
			r.problem("history index entry %q points at no entry", ik)
			return nil
		}
		var c Change
		if err := json.Unmarshal(v, &c); err == nil && !bytes.Equal(appendKey(nil, c.Binding.Key), rawKey) {
			r.problem("history index entry %q points at another account's entry", ik)
		}
		return nil
	})
	// Put and Delete write the binding and its history entry in one
	// transaction, so the last change must describe the current state.
	_ = bk.ForEach(func(k, v []byte) error {
		c, ok := last[string(k)]
		var b Binding
		if decodeRecord(&b, v) != nil {
			return nil
		}
		switch {
		case !ok:
			r.problem("binding %q has no history", k)
		case c.Action != ActionBind || c.Binding.DomainID != b.DomainID || c.Binding.DomainName != b.DomainName:
			r.problem("binding %q does not match its last history entry %d", k, c.Seq)
		}
		delete(last, string(k))
		return nil
	})
	for k, c := range last {
		if c.Action == ActionBind {
			r.problem("history %d binds %q but there is no binding", c.Seq, k)
		}
	}
}

// verifyEphemeral checks that records and the expiry index agree.
func verifyEphemeral(tx *bolt.Tx, r *Report) {
	root := tx.Bucket(bucketEphemeral)
	exp := tx.Bucket(bucketEphExpiry)
	_ = root.ForEachBucket(func(name []byte) error {
		return root.Bucket(name).ForEach(func(k, v []byte) error {
			r.Ephemeral++
			e, ok := ephemeralExpiry(v)
			if !ok {
				r.problem("ephemeral record in %s (key of %d bytes) is too short", name, len(k))
				return nil
			}
			if exp.Get(expiryIndexKey(e, string(name), string(k))) == nil {
				r.problem("ephemeral record in %s (key of %d bytes, expires %s) is not in the expiry index", name, len(k), time.Unix(0, e).UTC().Format(time.RFC3339))
			}
			return nil
		})
	})
	_ = exp.ForEach(func(ik, _ []byte) error {
		e, bucket, key, ok := decodeExpiryIndexKey(ik)
		if !ok {
			r.problem("an ephemeral expiry index entry of %d bytes does not decode", len(ik))
			return nil
		}
		var v []byte
		if b := root.Bucket([]byte(bucket)); b != nil {
			v = b.Get([]byte(key))
		}
		if ve, ok := ephemeralExpiry(v); !ok || ve != e {
			r.problem("ephemeral expiry index entry for %s (key of %d bytes) points at no record with that expiry", bucket, len(key))
		}
		return nil
	})
}
