package bolt_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bolt"
)

const lookupAccounts = 10000

var lookup struct {
	once sync.Once
	db   *bolt.DB
	keys []binding.Key
	err  error
}

// lookupDB is one store of lookupAccounts bindings shared by the read
// benchmarks (filled once per test binary, without fsync to keep setup
// short: reads do not depend on it). TestMain removes it.
func lookupDB(b *testing.B) (*bolt.DB, []binding.Key) {
	b.Helper()
	lookup.once.Do(func() {
		var db *bolt.DB
		db, lookup.err = bolt.Open(filepath.Join(sharedTempDir(), "lookup.db"), bolt.Options{NoSync: true})
		if lookup.err != nil {
			return
		}
		bolt.UseUpdateForWrites(db)
		keys := make([]binding.Key, lookupAccounts)
		ctx := context.Background()
		for i := range keys {
			keys[i] = binding.Key{XAccountType: "partner_IDP", XAccountID: fmt.Sprintf("customer-%08d", i*7919)}
			bd := binding.Binding{Key: keys[i], DomainID: fmt.Sprintf("0a1b2c3d4e5f%020d", i), DomainName: fmt.Sprintf("hw_user_%d", i), Source: binding.SourceImport}
			if _, lookup.err = binding.Put(ctx, db, bd, "bench", nil); lookup.err != nil {
				return
			}
		}
		lookup.db, lookup.keys = db, keys
	})
	if lookup.err != nil {
		b.Fatal(lookup.err)
	}
	return lookup.db, lookup.keys
}

// BenchmarkLookup is Store.Get by xaccount_id, the lookup of every SSO
// login. Compare with BenchmarkRawBoltGet from the same run.
func BenchmarkLookup(b *testing.B) {
	db, keys := lookupDB(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := db.Get(ctx, keys[i%len(keys)])
		if err != nil || got.DomainID == "" {
			b.Fatalf("Get: %+v, %v", got, err)
		}
	}
}

// BenchmarkRawBoltGet is the floor: a bare bbolt read transaction and Get of
// the same encoded keys in the same file, without decoding or copying.
func BenchmarkRawBoltGet(b *testing.B) {
	db, keys := lookupDB(b)
	raw := make([][]byte, len(keys))
	for i, k := range keys {
		raw[i] = bolt.AppendKey(nil, k)
	}
	bdb := bolt.RawBolt(db)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tx, err := bdb.Begin(false)
		if err != nil {
			b.Fatal(err)
		}
		if v := tx.Bucket(bolt.BucketBindings).Get(raw[i%len(raw)]); v == nil {
			b.Fatal("key missing")
		}
		tx.Rollback()
	}
}

// BenchmarkNotificationWrites applies bind notifications (a Put of a new
// account each, then the Get ApplyNotification does) from 1, 8 and 64
// concurrent writers, fsync on. Modes: grouped is the store as shipped (a
// lone write commits at once, concurrent ones go through bbolt's Batch);
// batch sends every write through Batch; update commits one transaction per
// write; grouped-nomark is grouped without the applied-once mark, which
// isolates the cost of the mark bucket from the cost of the store seam.
func BenchmarkNotificationWrites(b *testing.B) {
	for _, mode := range []string{"grouped", "grouped-nomark", "batch", "update"} {
		for _, writers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("mode=%s/writers=%d", mode, writers), func(b *testing.B) {
				db := openTemp(b, bolt.Options{})
				b.Cleanup(func() { db.Close() })
				switch mode {
				case "batch":
					bolt.UseBatchOnlyForWrites(db, bolt.DefaultMaxBatchDelay)
				case "update":
					bolt.UseUpdateForWrites(db)
				}
				ctx := context.Background()
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for w := range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1) - 1
							if i >= int64(b.N) {
								return
							}
							n := binding.Notification{DomainID: fmt.Sprintf("dom-%d", i), DomainName: "hw", XUserID: fmt.Sprintf("w%d-u%d", w, i), Action: binding.ActionBind, Mark: fmt.Sprintf("bench-%d", i)}
							if mode == "grouped-nomark" {
								n.Mark = ""
							}
							if _, err := binding.ApplyNotification(ctx, db, "partner_IDP", n, "huawei"); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
			})
		}
	}
}
