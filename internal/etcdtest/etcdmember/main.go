// Command etcdmember runs one etcd member on loopback (the embedded etcd
// server of the version the client is pinned to) until interrupted: for
// local load runs (`partneridp loadtest --store etcd`) where no etcd is
// installed. Not for production: use a real cluster.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/partneridp/partneridp/internal/etcdtest"
)

func main() {
	dir := flag.String("dir", "", "data folder (required)")
	compaction := flag.Duration("auto-compaction", 5*time.Minute, "periodic auto-compaction retention, as a production cluster should run")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "etcdmember: --dir is required")
		os.Exit(64)
	}
	m := etcdtest.NewMembers(*dir, 1)[0]
	m.Compaction = *compaction
	if err := m.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "etcdmember:", err)
		os.Exit(1)
	}
	if err := m.Ready(30 * time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "etcdmember:", err)
		os.Exit(1)
	}
	fmt.Printf("etcd member serving at %s (pid %d)\n", m.Client, os.Getpid())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case <-sig:
	case err := <-m.E.Err():
		fmt.Fprintln(os.Stderr, "etcdmember:", err)
	}
	m.Stop()
}
