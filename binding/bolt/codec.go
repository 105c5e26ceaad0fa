package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"github.com/partneridp/partneridp/binding"
	"time"
)

// Bucket names of the bbolt file. Renaming one needs a migration.
var (
	bucketMeta         = []byte("meta")
	bucketBindings     = []byte("bindings")           // key → binding record
	bucketByDomain     = []byte("bindings_by_domain") // domainID 0 key → empty
	bucketHistory      = []byte("history")            // seq (8 bytes) → Change JSON
	bucketHistoryByKey = []byte("history_by_key")     // key 0 seq → empty
	bucketEphemeral    = []byte("ephemeral")          // name → nested bucket: key → expiry(8) value
	bucketEphExpiry    = []byte("ephemeral_expiry")   // expiry(8) uvarint(len name) name key → empty
	bucketSpent        = []byte("spent")              // slot end (8) → nested bucket: uvarint(len name) name key → expiry(8)
	bucketMarks        = []byte("applied_marks")      // update mark → seq (8) of the history entry it made, 0 for none

	metaSchemaVersion = []byte("schema_version")
)

// appendKey encodes a Key as xaccount_type NUL xaccount_id. Validation
// forbids NUL in both parts, so the encoding is unambiguous and byte order
// is (type, id) order.
func appendKey(dst []byte, k binding.Key) []byte {
	dst = append(dst, k.XAccountType...)
	dst = append(dst, 0)
	return append(dst, k.XAccountID...)
}

func decodeKey(b []byte) (binding.Key, error) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return binding.Key{}, fmt.Errorf("%w: binding key %q has no separator", binding.ErrCorrupt, b)
	}
	k := binding.Key{XAccountType: string(b[:i]), XAccountID: string(b[i+1:])}
	if err := k.Validate(); err != nil {
		return binding.Key{}, fmt.Errorf("%w: binding key %q: %v", binding.ErrCorrupt, b, err)
	}
	return k, nil
}

// domainIndexKey is domainID NUL key: a prefix scan on domainID NUL finds
// every account bound to a domain.
func domainIndexKey(domainID string, k binding.Key) []byte {
	b := make([]byte, 0, len(domainID)+1+len(k.XAccountType)+1+len(k.XAccountID))
	b = append(b, domainID...)
	b = append(b, 0)
	return appendKey(b, k)
}

func domainPrefix(domainID string) []byte {
	return append([]byte(domainID), 0)
}

func historyIndexKey(k binding.Key, seq uint64) []byte {
	b := appendKey(make([]byte, 0, len(k.XAccountType)+len(k.XAccountID)+10), k)
	b = append(b, 0)
	return binary.BigEndian.AppendUint64(b, seq)
}

func historyPrefix(k binding.Key) []byte {
	return append(appendKey(nil, k), 0)
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

// Binding records are a small binary format rather than JSON: Get is the
// hot path of every SSO login and this keeps it close to a raw bbolt read.
//
//	format(1) uvarint-len domainID, uvarint-len domainName, uvarint-len source,
//	varint createdAt(unix ns), varint updatedAt(unix ns)
const recordFormat1 = 1

func encodeRecord(b binding.Binding) []byte {
	n := 1 + 3*binary.MaxVarintLen64 + len(b.DomainID) + len(b.DomainName) + len(b.Source) + 2*binary.MaxVarintLen64
	out := make([]byte, 0, n)
	out = append(out, recordFormat1)
	out = appendString(out, b.DomainID)
	out = appendString(out, b.DomainName)
	out = appendString(out, string(b.Source))
	out = binary.AppendVarint(out, b.CreatedAt.UnixNano())
	out = binary.AppendVarint(out, b.UpdatedAt.UnixNano())
	return out
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

var errRecord = fmt.Errorf("%w: binding record does not decode", binding.ErrCorrupt)

// decodeRecord fills the non-key fields of b. The strings share one copy of
// v (bbolt's memory is only valid inside the transaction).
func decodeRecord(b *binding.Binding, v []byte) error {
	if len(v) < 1 || v[0] != recordFormat1 {
		return errRecord
	}
	s := string(v)
	i := 1
	var fields [3]string
	for f := range fields {
		n, w := binary.Uvarint(v[i:])
		if w <= 0 || n > uint64(len(v)-i-w) {
			return errRecord
		}
		i += w
		fields[f] = s[i : i+int(n)]
		i += int(n)
	}
	created, w := binary.Varint(v[i:])
	if w <= 0 {
		return errRecord
	}
	i += w
	updated, w := binary.Varint(v[i:])
	if w <= 0 || i+w != len(v) {
		return errRecord
	}
	b.DomainID, b.DomainName, b.Source = fields[0], fields[1], binding.Source(fields[2])
	b.CreatedAt = time.Unix(0, created).UTC()
	b.UpdatedAt = time.Unix(0, updated).UTC()
	return nil
}

// Ephemeral records: expiry (unix ns, 8 bytes big-endian) then the value.
func encodeEphemeral(expires int64, value []byte) []byte {
	out := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(value)), uint64(expires))
	return append(out, value...)
}

func ephemeralExpiry(v []byte) (int64, bool) {
	if len(v) < 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(v)), true
}

func expiryIndexKey(expires int64, bucket, key string) []byte {
	b := make([]byte, 0, 8+binary.MaxVarintLen64+len(bucket)+len(key))
	b = binary.BigEndian.AppendUint64(b, uint64(expires))
	b = binary.AppendUvarint(b, uint64(len(bucket)))
	b = append(b, bucket...)
	return append(b, key...)
}

func decodeExpiryIndexKey(k []byte) (expires int64, bucket, key string, ok bool) {
	if len(k) < 9 {
		return 0, "", "", false
	}
	expires = int64(binary.BigEndian.Uint64(k))
	n, w := binary.Uvarint(k[8:])
	if w <= 0 || n > uint64(len(k)-8-w) {
		return 0, "", "", false
	}
	start := 8 + w
	return expires, string(k[start : start+int(n)]), string(k[start+int(n):]), true
}
