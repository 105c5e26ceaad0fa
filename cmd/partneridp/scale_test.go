package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/internal/loadtest"
)

// BenchmarkServeMillion is the operator's view of a large store, with real
// processes: `bindings import` of PARTNERIDP_SCALE generated bindings
// (default 100000) into a new bolt file (time, bytes written, peak memory),
// then `serve` on that file (time to ready, resident memory once ready).
// Run with -benchtime 1x.
func BenchmarkServeMillion(b *testing.B) {
	n := 100000
	if v := os.Getenv("PARTNERIDP_SCALE"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("PARTNERIDP_SCALE=%q: want a positive count", v)
		}
	}
	bin := haServerBinary(b)
	for range b.N {
		_, dir := serveConfig(b, "store: {path: big.db}\n")
		lines := filepath.Join(dir, "customers.jsonl")
		f, err := os.Create(lines)
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriter(f)
		for i := range n {
			fmt.Fprintf(w, `{"xaccount_id":"customer-%08d","domain_id":"%032x","domain_name":"hw_user_%d"}`+"\n", (i*7919)%n, i+1, i)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		cfgPath := filepath.Join(dir, "partneridp.yaml")

		imp := exec.Command(bin, "bindings", "import", lines, "--quiet", "--config", cfgPath)
		imp.Env = withoutConfigOverrides(os.Environ())
		t0 := time.Now()
		if out, err := imp.CombinedOutput(); err != nil {
			b.Fatalf("import: %v\n%s", err, out)
		}
		importTime := time.Since(t0)
		ru := imp.ProcessState.SysUsage().(*syscall.Rusage)
		st, err := os.Stat(filepath.Join(dir, "big.db"))
		if err != nil {
			b.Fatal(err)
		}

		t1 := time.Now()
		srv := startServeProcess(b, bin, cfgPath, dir)
		for time.Since(t1) < 60*time.Second {
			if code, err := httpGetErr("http://" + srv.addr + idp.PathReadyz); err == nil && code == 200 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		ready := time.Since(t1)
		rss, err := loadtest.ReadProcStatusKiB(srv.cmd.Process.Pid, "VmRSS")
		if err != nil {
			b.Fatalf("serve's memory: %v", err)
		}
		b.ReportMetric(importTime.Seconds(), "import-s")
		b.ReportMetric(float64(ru.Oublock*512)/(1<<20), "import-written-MiB")
		b.ReportMetric(float64(ru.Maxrss)/1024, "import-maxrss-MiB")
		b.ReportMetric(float64(st.Size())/float64(n), "file-B/binding")
		b.ReportMetric(ready.Seconds()*1000, "serve-ready-ms")
		b.ReportMetric(float64(rss)/1024, "serve-rss-MiB")
	}
}
