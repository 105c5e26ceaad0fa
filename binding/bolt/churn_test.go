package bolt_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding/bolt"
)

// BenchmarkChurn measures the bytes each login's commit writes once the
// store holds a full replay window: two spent marks per login (the
// token's and the AuthnRequest's), each kept 6 minutes, at 400 logins per
// (fake) second, the sweeper dropping ended slots every minute. The
// window is filled first (without fsync; what is measured is what the
// commits write, from wchar), then b.N logins are measured.
func BenchmarkChurn(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("freelist-sync=%v", sync), func(b *testing.B) {
			var fake atomic.Int64
			fake.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
			clock := func() time.Time { return time.Unix(0, fake.Load()) }
			db, err := bolt.Open(filepath.Join(b.TempDir(), "churn.db"), bolt.Options{NoSync: true, Clock: clock, NoFreelistSync: !sync})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			eph := db.Ephemeral()
			ctx := context.Background()
			n := 0
			login := func() {
				now := clock()
				for _, kind := range []string{"jti", "req"} {
					if err := eph.Spend(ctx, kind, strconv.Itoa(n)+kind, now.Add(6*time.Minute)); err != nil {
						b.Fatal(err)
					}
				}
				n++
				fake.Add(int64(time.Second / 400))
				if n%(400*60) == 0 {
					if _, err := eph.Sweep(ctx, clock()); err != nil {
						b.Fatal(err)
					}
				}
			}
			for range 400 * 60 * 8 { // 8 minutes: the window is full and sweeping
				login()
			}
			w0 := wchar(b)
			b.ResetTimer()
			for range b.N {
				login()
			}
			b.StopTimer()
			b.ReportMetric(float64(wchar(b)-w0)/float64(2*b.N), "written-B/commit")
		})
	}
}

func wchar(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Skip("no /proc/self/io:", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
