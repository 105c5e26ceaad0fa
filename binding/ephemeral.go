package binding

import (
	"fmt"
	"time"
)

// Limits of ephemeral records that every backend shares: flow records and
// replay marks are small.
const (
	MaxEphemeralBucketLen = 64
	MaxEphemeralKeyLen    = 1024
	// DefaultMaxEphemeralValue is the value cap of the embedded backends;
	// a backend may declare a smaller one in its Limits.
	DefaultMaxEphemeralValue = 256 << 10
)

// CheckEphemeralName validates a bucket and key of an ephemeral record.
func CheckEphemeralName(bucket, key string) error {
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

// MaxExpiry keeps expiry within int64 nanoseconds.
var MaxExpiry = time.Unix(0, 1<<62)

// CheckAdd validates an Add against a backend's limits at now.
func CheckAdd(l Limits, bucket, key string, value []byte, now, expires time.Time) error {
	if err := CheckEphemeralName(bucket, key); err != nil {
		return err
	}
	if len(value) > l.MaxEphemeralValue {
		return fmt.Errorf("%w: ephemeral value is %d bytes, more than the %d allowed", ErrInvalid, len(value), l.MaxEphemeralValue)
	}
	if !expires.After(now) {
		return fmt.Errorf("%w: ephemeral record would expire at %s, not after now", ErrInvalid, expires.UTC().Format(time.RFC3339Nano))
	}
	if expires.After(MaxExpiry) {
		return fmt.Errorf("%w: ephemeral record expiry %s is too far ahead", ErrInvalid, expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// CheckSpend validates a Spend against a backend's limits at now.
func CheckSpend(l Limits, bucket, key string, now, expires time.Time) error {
	if err := CheckEphemeralName(bucket, key); err != nil {
		return err
	}
	if !expires.After(now) {
		return fmt.Errorf("%w: spent mark would expire at %s, not after now", ErrInvalid, expires.UTC().Format(time.RFC3339Nano))
	}
	if expires.Sub(now) > l.MaxSpendLifetime {
		return fmt.Errorf("%w: spent mark expiry %s is more than %s ahead (the store's longest spend lifetime)", ErrInvalid, expires.UTC().Format(time.RFC3339), l.MaxSpendLifetime)
	}
	return nil
}
