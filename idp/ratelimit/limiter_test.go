package ratelimit

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock for bucket arithmetic.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2027, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newLimiter(t testing.TB, perMinute, burst, maxClients int, clock *fakeClock) *Limiter {
	t.Helper()
	l, err := New(Config{PerMinute: perMinute, Burst: burst, MaxClients: maxClients, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// step is one Allow call after advancing the clock, with the expected answer.
type step struct {
	advance   time.Duration
	wantOK    bool
	wantRetry time.Duration
}

func TestBucketArithmetic(t *testing.T) {
	tests := []struct {
		name             string
		perMinute, burst int
		steps            []step
	}{
		{"burst then empty, one token per second", 60, 3, []step{
			{0, true, 0}, {0, true, 0}, {0, true, 0},
			{0, false, time.Second},
			{500 * time.Millisecond, false, 500 * time.Millisecond},
			{500 * time.Millisecond, true, 0},
			{0, false, time.Second},
		}},
		{"refill is capped at burst", 60, 2, []step{
			{0, true, 0}, {0, true, 0}, {0, false, time.Second},
			{10 * time.Minute, true, 0}, {0, true, 0}, {0, false, time.Second},
		}},
		{"slow rate: one a minute", 1, 1, []step{
			{0, true, 0},
			{0, false, time.Minute},
			{59 * time.Second, false, time.Second},
			{time.Second, true, 0},
		}},
		{"fast rate: two a second", 120, 1, []step{
			{0, true, 0},
			{0, false, 500 * time.Millisecond},
			{250 * time.Millisecond, false, 250 * time.Millisecond},
			{250 * time.Millisecond, true, 0},
		}},
		{"a clock that steps back earns nothing", 60, 1, []step{
			{0, true, 0},
			{-time.Hour, false, time.Second},
			{time.Hour, false, time.Second}, // back where it was: still nothing earned
			{time.Second, true, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			l := newLimiter(t, tt.perMinute, tt.burst, 100, clock)
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				ok, retry := l.Allow("198.51.100.7")
				if ok != s.wantOK || !closeTo(retry, s.wantRetry) {
					t.Fatalf("step %d: Allow = %v, %v; want %v, %v", i, ok, retry, s.wantOK, s.wantRetry)
				}
			}
		})
	}
}

// closeTo allows for float rounding of a nanosecond or two.
func closeTo(got, want time.Duration) bool {
	d := got - want
	return d >= -2 && d <= 2
}

func TestKeysAreIndependent(t *testing.T) {
	clock := newFakeClock()
	l := newLimiter(t, 60, 1, 100, clock)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("a refused on first request")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("a allowed past its burst")
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("b charged for a's requests")
	}
	st := l.Stats()
	if st.Allowed != 2 || st.Rejected != 1 || st.Tracked != 2 || st.Evicted != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	_, err := New(Config{PerMinute: 0, Burst: -1, MaxClients: 0})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig", err)
	}
	for _, field := range []string{"PerMinute 0", "Burst -1", "MaxClients 0"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error does not name %q: %v", field, err)
		}
	}
	if _, err := New(Config{PerMinute: 1, Burst: 1, MaxClients: 1}); err != nil {
		t.Errorf("smallest valid config refused: %v", err)
	}
}

// TestEvictionBoundsMemory sends 100k distinct client addresses through a
// limiter that may remember 1000, and checks the bound at every step.
func TestEvictionBoundsMemory(t *testing.T) {
	for _, maxClients := range []int{1, 63, 1000, 4096} {
		t.Run(fmt.Sprint(maxClients), func(t *testing.T) {
			clock := newFakeClock()
			l := newLimiter(t, 60, 5, maxClients, clock)
			const distinct = 100_000
			for i := 0; i < distinct; i++ {
				key := fmt.Sprintf("10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff)
				if ok, _ := l.Allow(key); !ok {
					t.Fatalf("new client %s refused", key)
				}
				if i%997 == 0 {
					if n := tracked(l); n > maxClients {
						t.Fatalf("after %d clients: %d buckets held, cap %d", i+1, n, maxClients)
					}
				}
			}
			st := l.Stats()
			if st.Tracked > maxClients || st.Tracked != tracked(l) {
				t.Fatalf("Tracked = %d (maps hold %d), cap %d", st.Tracked, tracked(l), maxClients)
			}
			if st.Evicted != uint64(distinct-st.Tracked) {
				t.Errorf("Evicted = %d, want %d", st.Evicted, distinct-st.Tracked)
			}
			if maxClients >= 1000 && st.Tracked < maxClients/2 {
				t.Errorf("only %d of %d slots used: the shards waste the cap", st.Tracked, maxClients)
			}
		})
	}
}

// tracked counts buckets through the lists as well as the maps, so that a
// list and map out of step would show.
func tracked(l *Limiter) int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		inList := 0
		for b := s.head; b != nil; b = b.next {
			inList++
		}
		if inList != len(s.buckets) || len(s.buckets) > s.cap {
			s.mu.Unlock()
			return -1 << 30
		}
		n += inList
		s.mu.Unlock()
	}
	return n
}

// TestEvictionDropsLeastRecentlySeen: a client that keeps coming back keeps
// its (empty) bucket while a flood of new addresses passes through.
func TestEvictionDropsLeastRecentlySeen(t *testing.T) {
	clock := newFakeClock()
	l := newLimiter(t, 1, 1, 1000, clock)
	const hot = "203.0.113.66"
	if ok, _ := l.Allow(hot); !ok {
		t.Fatal("hot client refused at first")
	}
	for i := 0; i < 50_000; i++ {
		l.Allow(fmt.Sprintf("2001:db8::%x", i))
		if ok, _ := l.Allow(hot); ok {
			t.Fatalf("after %d other clients the hot client's empty bucket was forgotten", i+1)
		}
	}
	// A client seen once long ago is forgotten: it starts with a full bucket.
	cold := "192.0.2.1"
	l.Allow(cold)
	if ok, _ := l.Allow(cold); ok {
		t.Fatal("cold client allowed past burst")
	}
	for i := 0; i < 5000; i++ {
		l.Allow(fmt.Sprintf("198.18.%d.%d", i>>8, i&0xff))
	}
	if ok, _ := l.Allow(cold); !ok {
		t.Fatal("cold client still remembered after 5000 newer clients with a cap of 1000")
	}
}

// TestConcurrentAllow: many goroutines on one key with a frozen clock get
// exactly the burst between them (run with -race).
func TestConcurrentAllow(t *testing.T) {
	clock := newFakeClock()
	l := newLimiter(t, 60, 50, 1000, clock)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if ok, _ := l.Allow("shared"); ok {
					allowed.Add(1)
				}
				l.Allow(fmt.Sprintf("own-%d-%d", g, i))
			}
		}(g)
	}
	wg.Wait()
	if got := allowed.Load(); got != 50 {
		t.Errorf("allowed %d requests on one key, want the burst of 50", got)
	}
}
