package bolt_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bolt"
)

// BenchmarkScale imports PARTNERIDP_SCALE bindings (default 100000) from
// generated JSON Lines into a new store file with fsync on, as `bindings
// import` does, then closes and reopens it. It reports the import's time
// and bytes written (/proc/self/io), the file's bytes per binding, the open
// time with the file in the page cache, and what opening added to this
// process's resident set. Run with -benchtime 1x.
func BenchmarkScale(b *testing.B) {
	n := 100000
	if v := os.Getenv("PARTNERIDP_SCALE"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("PARTNERIDP_SCALE=%q: want a positive count", v)
		}
	}
	var lines bytes.Buffer
	for i := range n {
		fmt.Fprintf(&lines, `{"xaccount_type":"partner_IDP","xaccount_id":"customer-%08d","domain_id":"%032x","domain_name":"hw_user_%d"}`+"\n", (i*7919)%n, i+1, i)
	}
	for range b.N {
		path := filepath.Join(b.TempDir(), "scale.db")
		db, err := bolt.Open(path, bolt.Options{})
		if err != nil {
			b.Fatal(err)
		}
		w0 := writeBytes(b)
		t0 := time.Now()
		rep, err := binding.Import(context.Background(), db, bytes.NewReader(lines.Bytes()), binding.ImportOptions{Actor: "scale"})
		if err != nil || rep.Stored != n {
			b.Fatalf("import: %+v, %v", rep, err)
		}
		importTime := time.Since(t0)
		written := writeBytes(b) - w0
		db.Close()
		st, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		rss0 := rssKiB(b)
		t1 := time.Now()
		db, err = bolt.Open(path, bolt.Options{})
		if err != nil {
			b.Fatal(err)
		}
		openTime := time.Since(t1)
		rss1 := rssKiB(b)
		if _, err := db.Get(context.Background(), binding.Key{XAccountType: "partner_IDP", XAccountID: "customer-00000001"}); err != nil {
			b.Fatal(err)
		}
		db.Close()
		b.ReportMetric(importTime.Seconds(), "import-s")
		b.ReportMetric(float64(written)/float64(n), "written-B/binding")
		b.ReportMetric(float64(written)/(1<<20), "written-MiB")
		b.ReportMetric(float64(st.Size())/float64(n), "file-B/binding")
		b.ReportMetric(openTime.Seconds()*1000, "open-ms")
		b.ReportMetric(float64(rss1-rss0)/1024, "open-RSS-MiB")
	}
}

func writeBytes(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Skip("no /proc/self/io:", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Skip("no write_bytes in /proc/self/io")
	return 0
}

func rssKiB(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status:", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
