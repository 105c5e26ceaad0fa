package ratelimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const benchClients = 4096

func benchKeys() []string {
	keys := make([]string, benchClients)
	for i := range keys {
		keys[i] = fmt.Sprintf("203.0.%d.%d", i>>8, i&0xff)
	}
	return keys
}

// BenchmarkAllow is Limiter.Allow from parallel goroutines over 4096
// clients, with the real clock. Compare with BenchmarkMapLookup from the
// same run.
func BenchmarkAllow(b *testing.B) {
	keys := benchKeys()
	l, err := New(Config{PerMinute: 120, Burst: 30, MaxClients: 100_000})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(7919))
		for pb.Next() {
			l.Allow(keys[i%len(keys)])
			i++
		}
	})
}

// BenchmarkAllowEvicting is Allow when every request is a new client and the
// limiter is full, so each one evicts.
func BenchmarkAllowEvicting(b *testing.B) {
	keys := benchKeys()
	l, err := New(Config{PerMinute: 120, Burst: 30, MaxClients: benchClients / 4})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(7919))
		for pb.Next() {
			l.Allow(keys[i%len(keys)])
			i++
		}
	})
}

// BenchmarkMapLookup is the baseline: a get from a map behind one
// sync.Mutex, with the same keys and the same parallelism, plus a clock
// read (Allow reads the clock once per call too).
func BenchmarkMapLookup(b *testing.B) {
	keys := benchKeys()
	var mu sync.Mutex
	m := make(map[string]time.Time, len(keys))
	for _, k := range keys {
		m[k] = time.Now()
	}
	var next atomic.Uint64
	var sink atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(7919))
		var n int64
		for pb.Next() {
			now := time.Now()
			mu.Lock()
			t := m[keys[i%len(keys)]]
			mu.Unlock()
			if now.After(t) {
				n++
			}
			i++
		}
		sink.Add(n)
	})
}
