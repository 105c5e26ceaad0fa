package etcd_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/etcd"
)

func BenchmarkLookup(b *testing.B) {
	s := open(b, etcd.Options{})
	defer s.Close()
	ctx := context.Background()
	k := binding.Key{XAccountType: "t", XAccountID: "bench"}
	if _, err := binding.Put(ctx, s, binding.Binding{Key: k, DomainID: "d", Source: binding.SourceImport}, "", nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Get(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpdate(b *testing.B) {
	s := open(b, etcd.Options{})
	defer s.Close()
	ctx := context.Background()
	k := binding.Key{XAccountType: "t", XAccountID: "bench"}
	i := 0
	for b.Loop() {
		i++
		if _, err := binding.Put(ctx, s, binding.Binding{Key: k, DomainID: fmt.Sprint("d", i), Source: binding.SourceImport}, "", nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSpend(b *testing.B) {
	s := open(b, etcd.Options{})
	defer s.Close()
	ctx := context.Background()
	e := s.Ephemeral()
	i := 0
	for b.Loop() {
		i++
		if err := e.Spend(ctx, "replay", fmt.Sprint("id-", i), time.Now().Add(10*time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateParallel: updates of different accounts from parallel
// goroutines of one instance (serialized on the sequence key).
func BenchmarkUpdateParallel(b *testing.B) {
	s := open(b, etcd.Options{})
	defer s.Close()
	ctx := context.Background()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		id := n.Add(1)
		i := 0
		for pb.Next() {
			i++
			k := binding.Key{XAccountType: "t", XAccountID: fmt.Sprint("bench-", id)}
			if _, err := binding.Put(ctx, s, binding.Binding{Key: k, DomainID: fmt.Sprint("d", i), Source: binding.SourceImport}, "", nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
