package etcd_test

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/partneridp/partneridp/internal/etcdtest"
)

// server is the one embedded etcd of this test binary; subtests use their
// own prefixes.
var server *etcdtest.Member

var prefixN atomic.Int64

func newPrefix() string { return fmt.Sprintf("/t%d/", prefixN.Add(1)) }

func TestMain(m *testing.M) {
	etcdtest.RunMemberFromEnv()
	dir, err := os.MkdirTemp("", "partneridp-etcd-")
	if err != nil {
		panic(err)
	}
	ms, err := etcdtest.StartCluster(dir, 1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start embedded etcd:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	server = ms[0]
	code := m.Run()
	server.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}
