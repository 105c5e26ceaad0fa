package bindingtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
)

// Clock is a settable clock for RunEphemeral.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// RunEphemeral checks every Ephemeral behaviour. open returns a new, empty
// store whose notion of now is clock (the suite moves it); open arranges any
// cleanup.
func RunEphemeral(t *testing.T, open func(t *testing.T, clock func() time.Time) binding.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e binding.Ephemeral, c *Clock, l binding.Limits)
	}{
		{"AddGetTake", testEphAddGetTake},
		{"AddExisting", testEphExists},
		{"Expiry", testEphExpiry},
		{"BucketsApart", testEphBuckets},
		{"Sweep", testEphSweep},
		{"Invalid", testEphInvalid},
		{"ConcurrentTakeOnce", testEphConcurrentTake},
		{"ConcurrentAddOnce", testEphConcurrentAdd},
		{"ContextCancelled", testEphCancelled},
		{"ValuesCopied", testEphCopies},
		{"Spend", testEphSpend},
		{"SpendSweep", testEphSpendSweep},
		{"SpendInvalid", testEphSpendInvalid},
		{"ConcurrentSpendOnce", testEphConcurrentSpend},
		{"SpendUpToDeclaredLimit", testEphSpendLimit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
			s := open(t, c.Now)
			l := s.Limits()
			if l.MaxSpendLifetime < time.Hour || l.MaxEphemeralValue < 4<<10 {
				t.Fatalf("declared limits %+v are below what the bridge needs (spend ≥ 1h, values ≥ 4 KiB)", l)
			}
			tc.fn(t, s.Ephemeral(), c, l)
		})
	}
}

var bg = context.Background()

func testEphAddGetTake(t *testing.T, e binding.Ephemeral, c *Clock, l binding.Limits) {
	exp := c.Now().Add(time.Minute)
	if err := e.Add(bg, "flows", "f1", []byte("flow-1"), exp); err != nil {
		t.Fatalf("Add: %v", err)
	}
	for i := range 2 {
		v, err := e.Get(bg, "flows", "f1")
		if err != nil || string(v) != "flow-1" {
			t.Fatalf("Get #%d = %q, %v", i+1, v, err)
		}
	}
	v, err := e.Take(bg, "flows", "f1")
	if err != nil || string(v) != "flow-1" {
		t.Fatalf("Take = %q, %v", v, err)
	}
	if _, err := e.Take(bg, "flows", "f1"); !errors.Is(err, binding.ErrNotFound) {
		t.Errorf("second Take: err=%v, want ErrNotFound", err)
	}
	if _, err := e.Get(bg, "flows", "f1"); !errors.Is(err, binding.ErrNotFound) {
		t.Errorf("Get after Take: err=%v, want ErrNotFound", err)
	}
	if _, err := e.Get(bg, "never", "x"); !errors.Is(err, binding.ErrNotFound) {
		t.Errorf("Get in an unused bucket: err=%v, want ErrNotFound", err)
	}
	// An empty value is a value.
	if err := e.Add(bg, "flows", "empty", nil, exp); err != nil {
		t.Fatal(err)
	}
	if v, err := e.Take(bg, "flows", "empty"); err != nil || len(v) != 0 {
		t.Errorf("Take of an empty value = %q, %v", v, err)
	}
}

func testEphExists(t *testing.T, e binding.Ephemeral, c *Clock, l binding.Limits) {
	exp := c.Now().Add(time.Minute)
	if err := e.Add(bg, "replay", "id-1", []byte("a"), exp); err != nil {
		t.Fatal(err)
	}
	if err := e.Add(bg, "replay", "id-1", []byte("b"), exp.Add(time.Hour)); !errors.Is(err, binding.ErrExists) {
		t.Errorf("Add of a held key: err=%v, want ErrExists", err)
	}
	if v, _ := e.Get(bg, "replay", "id-1"); string(v) != "a" {
		t.Errorf("refused Add replaced the value: %q", v)
	}
}

func testEphExpiry(t *testing.T, e binding.Ephemeral, c *Clock, l binding.Limits) {
	if err := e.Add(bg, "flows", "f", []byte("v1"), c.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute - time.Nanosecond)
	if _, err := e.Get(bg, "flows", "f"); err != nil {
		t.Errorf("Get just before expiry: %v", err)
	}
	c.Advance(time.Nanosecond)
	if _, err := e.Get(bg, "flows", "f"); !errors.Is(err, binding.ErrNotFound) {
		t.Errorf("Get at expiry: err=%v, want ErrNotFound", err)
	}
	if _, err := e.Take(bg, "flows", "f"); !errors.Is(err, binding.ErrNotFound) {
		t.Errorf("Take at expiry: err=%v, want ErrNotFound", err)
	}
	// An expired key can be added again.
	if err := e.Add(bg, "flows", "f", []byte("v2"), c.Now().Add(time.Minute)); err != nil {
		t.Errorf("Add over an expired record: %v", err)
	}
	if err := e.Add(bg, "flows", "g", []byte("g"), c.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	c.Advance(2 * time.Second)
	if err := e.Add(bg, "flows", "g", []byte("g2"), c.Now().Add(time.Second)); err != nil {
		t.Errorf("Add over an expired, never taken record: %v", err)
	}
	if v, err := e.Take(bg, "flows", "g"); err != nil || string(v) != "g2" {
		t.Errorf("Take = %q, %v; want g2", v, err)
	}
}

func testEphBuckets(t *testing.T, e binding.Ephemeral, c *Clock, l binding.Limits) {
	exp := c.Now().Add(time.Minute)
	if err := e.Add(bg, "flows", "k", []byte("flow"), exp); err != nil {
		t.Fatal(err)
	}
	if err := e.Add(bg, "replay", "k", []byte("replay"), exp); err != nil {
		t.Errorf("same key in another bucket: %v", err)
	}
	if v, _ := e.Take(bg, "flows", "k"); string(v) != "flow" {
		t.Errorf("flows/k = %q", v)
	}
	if v, _ := e.Get(bg, "replay", "k"); string(v) != "replay" {
		t.Errorf("replay/k = %q after taking flows/k", v)
	}
}

func testEphSweep(t *testing.T, e binding.Ephemeral, c *Clock, l binding.Limits) {
	start := c.Now()
	for i := range 10 {
		if err := e.Add(bg, "flows", fmt.Sprintf("k%d", i), []byte("v"), start.Add(time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Add(bg, "replay", "r", []byte("v"), start.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Take(bg, "flows", "k0"); err != nil {
		t.Fatal(err)
	}
	c.Advance(4 * time.Minute)
	// Expired: r, k1..k3 (k3 expires exactly now); k0 was taken.
	n, err := e.Sweep(bg, c.Now())
	if err != nil || n != 4 {
		t.Errorf("Sweep = %d, %v; want 4 records", n, err)
	}
	if n, err := e.Sweep(bg, c.Now()); err != nil || n != 0 {
		t.Errorf("second Sweep = %d, %v; want 0", n, err)
	}
	for i := 4; i < 10; i++ {
		if _, err := e.Get(bg, "flows", fmt.Sprintf("k%d", i)); err != nil {
			t.Errorf("k%d swept too early: %v", i, err)
		}
	}
	if n, err := e.Sweep(bg, start.Add(time.Hour)); err != nil || n != 6 {
		t.Errorf("final Sweep = %d, %v; want 6", n, err)
	}
}

func testEphInvalid(t *testing.T, e binding.Ephemeral, c *Clock, l binding.Limits) {
	exp := c.Now().Add(time.Minute)
	cases := []struct {
		name        string
		bucket, key string
		value       []byte
		expires     time.Time
	}{
		{"empty bucket", "", "k", nil, exp},
		{"control in bucket", "a\nb", "k", nil, exp},
		{"empty key", "b", "", nil, exp},
		{"huge key", "b", strings.Repeat("k", 1<<16), nil, exp},
		{"expires now", "b", "k", nil, c.Now()},
		{"expired", "b", "k", nil, c.Now().Add(-time.Hour)},
		{"zero expiry", "b", "k", nil, time.Time{}},
	}
	for _, tc := range cases {
		if err := e.Add(bg, tc.bucket, tc.key, tc.value, tc.expires); !errors.Is(err, binding.ErrInvalid) {
			t.Errorf("Add(%s): err=%v, want ErrInvalid", tc.name, err)
		}
	}
	if _, err := e.Get(bg, "", "k"); !errors.Is(err, binding.ErrInvalid) {
		t.Errorf("Get with empty bucket: err=%v, want ErrInvalid", err)
	}
	if _, err := e.Take(bg, "b", ""); !errors.Is(err, binding.ErrInvalid) {
		t.Errorf("Take with empty key: err=%v, want ErrInvalid", err)
	}
	if n, err := e.Sweep(bg, c.Now().Add(100*time.Hour)); err != nil || n != 0 {
		t.Errorf("refused Adds stored %d records (err=%v)", n, err)
	}
}

func testEphConcurrentTake(t *testing.T, e binding.Ephemeral, c *Clock, l binding.Limits) {
	if err := e.Add(bg, "replay", "once", []byte("v"), c.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got := runConcurrently(32, func() error {
		_, err := e.Take(bg, "replay", "once")
		return err
	}, binding.ErrNotFound)
	if got != 1 {
		t.Errorf("32 concurrent Takes succeeded %d times, want exactly once", got)
	}
}

func testEphConcurrentAdd(t *testing.T, e binding.Ephemeral, c *Clock, l binding.Limits) {
	got := runConcurrently(32, func() error {
		return e.Add(bg, "replay", "req-id", []byte("v"), c.Now().Add(time.Minute))
	}, binding.ErrExists)
	if got != 1 {
		t.Errorf("32 concurrent Adds succeeded %d times, want exactly once", got)
	}
}

// runConcurrently runs fn n times at once and counts successes; any error
// other than expected fails the test.
func runConcurrently(n int, fn func() error, expected error) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	var other error
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := fn()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, expected):
				other = err
			}
		}()
	}
	wg.Wait()
	if other != nil {
		return -1000
	}
	return ok
}

func testEphCancelled(t *testing.T, e binding.Ephemeral, c *Clock, l binding.Limits) {
	ctx, cancel := context.WithCancel(bg)
	cancel()
	exp := c.Now().Add(time.Minute)
	if err := e.Add(ctx, "flows", "k", []byte("v"), exp); !errors.Is(err, context.Canceled) {
		t.Errorf("Add: err=%v, want context.Canceled", err)
	}
	if _, err := e.Get(bg, "flows", "k"); !errors.Is(err, binding.ErrNotFound) {
		t.Errorf("cancelled Add stored the record: %v", err)
	}
	if err := e.Add(bg, "flows", "k", []byte("v"), exp); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Get(ctx, "flows", "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get: err=%v, want context.Canceled", err)
	}
	if _, err := e.Take(ctx, "flows", "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Take: err=%v, want context.Canceled", err)
	}
	if _, err := e.Sweep(ctx, exp.Add(time.Hour)); !errors.Is(err, context.Canceled) {
		t.Errorf("Sweep: err=%v, want context.Canceled", err)
	}
	if _, err := e.Get(bg, "flows", "k"); err != nil {
		t.Errorf("cancelled Take or Sweep removed the record: %v", err)
	}
}

func testEphCopies(t *testing.T, e binding.Ephemeral, c *Clock, l binding.Limits) {
	in := []byte("original")
	if err := e.Add(bg, "flows", "k", in, c.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	copy(in, "XXXXXXXX")
	v, err := e.Get(bg, "flows", "k")
	if err != nil || !bytes.Equal(v, []byte("original")) {
		t.Fatalf("Get = %q, %v; the store kept the caller's slice", v, err)
	}
	copy(v, "YYYYYYYY")
	if v, _ := e.Get(bg, "flows", "k"); string(v) != "original" {
		t.Errorf("changing a returned value changed the record: %q", v)
	}
}

func testEphSpend(t *testing.T, e binding.Ephemeral, c *Clock, l binding.Limits) {
	exp := c.Now().Add(4 * time.Minute)
	if err := e.Spend(bg, "replay", "id", exp); err != nil {
		t.Fatal(err)
	}
	if err := e.Spend(bg, "replay", "id", exp.Add(time.Minute)); !errors.Is(err, binding.ErrExists) {
		t.Errorf("second Spend: %v, want ErrExists", err)
	}
	if err := e.Spend(bg, "other", "id", exp); err != nil {
		t.Errorf("the same key in another bucket: %v", err)
	}
	// A mark is not a record: Get and Take do not see it, and a record
	// with the same name does not block it.
	if _, err := e.Get(bg, "replay", "id"); !errors.Is(err, binding.ErrNotFound) {
		t.Errorf("Get of a spent key: %v, want ErrNotFound", err)
	}
	// Live until its own expiry, though that falls inside a later minute
	// than now; expired after it, and then spendable again.
	c.Advance(4*time.Minute - time.Nanosecond)
	if err := e.Spend(bg, "replay", "id", c.Now().Add(time.Minute)); !errors.Is(err, binding.ErrExists) {
		t.Errorf("Spend just before expiry: %v, want ErrExists", err)
	}
	c.Advance(time.Nanosecond)
	if err := e.Spend(bg, "replay", "id", c.Now().Add(time.Minute)); err != nil {
		t.Errorf("Spend at expiry: %v, want success", err)
	}
	if err := e.Spend(bg, "replay", "id", c.Now().Add(time.Minute)); !errors.Is(err, binding.ErrExists) {
		t.Errorf("Spend of the renewed mark: %v, want ErrExists", err)
	}
}

func testEphSpendSweep(t *testing.T, e binding.Ephemeral, c *Clock, l binding.Limits) {
	start := c.Now()
	for i := range 10 {
		if err := e.Spend(bg, "replay", fmt.Sprintf("k%d", i), start.Add(time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Add(bg, "flows", "f", []byte("v"), start.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	c.Advance(4 * time.Minute)
	// Expired: f and k0..k3 (k3 expires exactly now).
	if n, err := e.Sweep(bg, c.Now()); err != nil || n != 5 {
		t.Errorf("Sweep = %d, %v; want 5", n, err)
	}
	if n, err := e.Sweep(bg, c.Now()); err != nil || n != 0 {
		t.Errorf("second Sweep = %d, %v; want 0", n, err)
	}
	for i := 4; i < 10; i++ {
		if err := e.Spend(bg, "replay", fmt.Sprintf("k%d", i), c.Now().Add(time.Hour)); !errors.Is(err, binding.ErrExists) {
			t.Errorf("k%d after the sweep: %v, want ErrExists", i, err)
		}
	}
	if n, err := e.Sweep(bg, start.Add(2*time.Hour)); err != nil || n != 6 {
		t.Errorf("final Sweep = %d, %v; want 6", n, err)
	}
}

func testEphSpendInvalid(t *testing.T, e binding.Ephemeral, c *Clock, l binding.Limits) {
	cases := []struct {
		name        string
		bucket, key string
		expires     time.Time
	}{
		{"empty bucket", "", "k", c.Now().Add(time.Minute)},
		{"empty key", "b", "", c.Now().Add(time.Minute)},
		{"huge key", "b", strings.Repeat("k", 1<<16), c.Now().Add(time.Minute)},
		{"expires now", "b", "k", c.Now()},
		{"expired", "b", "k", c.Now().Add(-time.Hour)},
		{"too far ahead", "b", "k", c.Now().Add(l.MaxSpendLifetime + time.Second)},
	}
	for _, tc := range cases {
		if err := e.Spend(bg, tc.bucket, tc.key, tc.expires); !errors.Is(err, binding.ErrInvalid) {
			t.Errorf("Spend(%s): err=%v, want ErrInvalid", tc.name, err)
		}
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if err := e.Spend(ctx, "b", "k", c.Now().Add(time.Minute)); !errors.Is(err, context.Canceled) {
		t.Errorf("Spend with a cancelled context: %v", err)
	}
	if n, err := e.Sweep(bg, c.Now().Add(100*time.Hour)); err != nil || n != 0 {
		t.Errorf("refused Spends stored %d marks (err=%v)", n, err)
	}
}

func testEphConcurrentSpend(t *testing.T, e binding.Ephemeral, c *Clock, l binding.Limits) {
	got := runConcurrently(32, func() error {
		return e.Spend(bg, "replay", "req-id", c.Now().Add(time.Minute))
	}, binding.ErrExists)
	if got != 1 {
		t.Errorf("32 concurrent Spends succeeded %d times, want exactly once", got)
	}
}

// testEphSpendLimit: the backend keeps the limits it declares: a mark at
// its longest lifetime is stored and holds until then; a value of the
// declared size is stored, one byte more is refused.
func testEphSpendLimit(t *testing.T, e binding.Ephemeral, c *Clock, l binding.Limits) {
	if err := e.Spend(bg, "replay", "long", c.Now().Add(l.MaxSpendLifetime)); err != nil {
		t.Fatalf("Spend at the declared MaxSpendLifetime %s: %v", l.MaxSpendLifetime, err)
	}
	c.Advance(l.MaxSpendLifetime - time.Second)
	if err := e.Spend(bg, "replay", "long", c.Now().Add(time.Minute)); !errors.Is(err, binding.ErrExists) {
		t.Errorf("mark expired before its declared lifetime: %v", err)
	}
	big := bytes.Repeat([]byte{'v'}, l.MaxEphemeralValue)
	if err := e.Add(bg, "flows", "big", big, c.Now().Add(time.Minute)); err != nil {
		t.Errorf("Add of the declared MaxEphemeralValue (%d bytes): %v", l.MaxEphemeralValue, err)
	}
	if err := e.Add(bg, "flows", "bigger", append(big, 'v'), c.Now().Add(time.Minute)); !errors.Is(err, binding.ErrInvalid) {
		t.Errorf("Add over the declared MaxEphemeralValue: err=%v, want ErrInvalid", err)
	}
}
