// Package ratelimit is the bridge's abuse limit: a token bucket per client
// IP with a hard cap on how many clients it remembers, the client-IP rule
// for requests that come through trusted reverse proxies, and an HTTP
// middleware that answers 429 with Retry-After.
package ratelimit

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"time"
)

// ErrConfig is wrapped by New for an unusable Config.
var ErrConfig = errors.New("rate limit configuration is invalid")

// Config sets the limit for every client.
type Config struct {
	// PerMinute is the sustained rate: tokens added per minute.
	PerMinute int
	// Burst is the bucket size: how many requests a client that was idle
	// may send at once.
	Burst int
	// MaxClients caps the buckets kept in memory. When full, the bucket
	// seen least recently is dropped to make room.
	MaxClients int
	// Clock is the time source; nil means time.Now.
	Clock func() time.Time
}

// Stats are running totals, for metrics.
type Stats struct {
	Allowed  uint64
	Rejected uint64
	Evicted  uint64 // buckets dropped to stay within MaxClients
	Tracked  int    // buckets held now
}

// Limiter holds one token bucket per key. It is safe for concurrent use.
//
// Keys are spread over shards, each with its own lock, map and
// least-recently-seen list, so that parallel requests rarely wait on each
// other. Each shard holds at most MaxClients/len(shards) buckets, so the
// total never exceeds MaxClients.
type Limiter struct {
	ratePerNano float64 // tokens per nanosecond
	burst       float64
	clock       func() time.Time
	seed        maphash.Seed
	shards      []shard
}

type shard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	cap     int
	// head is the most recently seen bucket, tail the least.
	head, tail *bucket
	stats      struct{ allowed, rejected, evicted uint64 }
	_          [40]byte // keep neighbouring shards' locks off one cache line
}

type bucket struct {
	key        string
	tokens     float64
	last       time.Time
	prev, next *bucket
}

// maxShards bounds the lock striping; more buys nothing on typical hosts.
const maxShards = 64

// New checks cfg and makes a Limiter. Every bad field is named at once.
func New(cfg Config) (*Limiter, error) {
	var problems []string
	if cfg.PerMinute < 1 {
		problems = append(problems, fmt.Sprintf("PerMinute %d: must be at least 1", cfg.PerMinute))
	}
	if cfg.Burst < 1 {
		problems = append(problems, fmt.Sprintf("Burst %d: must be at least 1", cfg.Burst))
	}
	if cfg.MaxClients < 1 {
		problems = append(problems, fmt.Sprintf("MaxClients %d: must be at least 1", cfg.MaxClients))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrConfig, strings.Join(problems, "; "))
	}
	clock := cfg.Clock
	if clock == nil {
		clock = time.Now
	}
	// A small cap gets fewer shards, so that each still holds a useful
	// number of buckets; the per-shard caps add up to at most MaxClients.
	n := maxShards
	for n > 1 && cfg.MaxClients/n < 64 {
		n /= 2
	}
	l := &Limiter{
		ratePerNano: float64(cfg.PerMinute) / float64(time.Minute),
		burst:       float64(cfg.Burst),
		clock:       clock,
		seed:        maphash.MakeSeed(),
		shards:      make([]shard, n),
	}
	for i := range l.shards {
		l.shards[i].cap = cfg.MaxClients / n
		l.shards[i].buckets = make(map[string]*bucket)
	}
	return l, nil
}

// Allow takes one token from key's bucket. When the bucket is empty it
// returns false and how long until a token is available.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	s := &l.shards[maphash.String(l.seed, key)&uint64(len(l.shards)-1)]
	now := l.clock()

	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[key]
	if b == nil {
		b = s.add(key)
		b.tokens = l.burst
		b.last = now
	} else {
		s.touch(b)
		l.refill(b, now)
	}
	if b.tokens >= 1 {
		b.tokens--
		s.stats.allowed++
		return true, 0
	}
	s.stats.rejected++
	wait := time.Duration(math.Ceil((1 - b.tokens) / l.ratePerNano))
	return false, wait
}

// refill adds the tokens earned since the bucket was last seen. A clock
// that steps back adds nothing rather than taking tokens away.
func (l *Limiter) refill(b *bucket, now time.Time) {
	elapsed := now.Sub(b.last)
	if elapsed <= 0 {
		return
	}
	b.tokens = math.Min(l.burst, b.tokens+float64(elapsed)*l.ratePerNano)
	b.last = now
}

// Stats sums the shards' totals.
func (l *Limiter) Stats() Stats {
	var st Stats
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		st.Allowed += s.stats.allowed
		st.Rejected += s.stats.rejected
		st.Evicted += s.stats.evicted
		st.Tracked += len(s.buckets)
		s.mu.Unlock()
	}
	return st
}

// add makes a bucket for key at the front of the list. A full shard first
// drops its least recently seen bucket and reuses it. Dropping a bucket that
// has refilled loses nothing; dropping one still draining forgives that
// client, which is the price of bounded memory (it takes MaxClients other
// addresses to push a client out).
func (s *shard) add(key string) *bucket {
	var b *bucket
	if len(s.buckets) >= s.cap && s.tail != nil {
		b = s.tail
		s.unlink(b)
		delete(s.buckets, b.key)
		s.stats.evicted++
		*b = bucket{}
	} else {
		b = new(bucket)
	}
	b.key = key
	s.buckets[key] = b
	s.pushFront(b)
	return b
}

func (s *shard) touch(b *bucket) {
	if s.head == b {
		return
	}
	s.unlink(b)
	s.pushFront(b)
}

func (s *shard) pushFront(b *bucket) {
	b.prev = nil
	b.next = s.head
	if s.head != nil {
		s.head.prev = b
	}
	s.head = b
	if s.tail == nil {
		s.tail = b
	}
}

func (s *shard) unlink(b *bucket) {
	if b.prev != nil {
		b.prev.next = b.next
	} else {
		s.head = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	} else {
		s.tail = b.prev
	}
	b.prev, b.next = nil, nil
}
