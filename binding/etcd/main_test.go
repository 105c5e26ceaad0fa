package etcd_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// server is the one embedded etcd of this test binary; subtests use their
// own prefixes.
var server *member

var prefixN atomic.Int64

func newPrefix() string { return fmt.Sprintf("/t%d/", prefixN.Add(1)) }

type member struct {
	name, dir      string
	client, peer   string
	cluster, state string
	tickMs, elecMs uint
	e              *embed.Etcd
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newMembers prepares n members of one cluster on loopback ports.
func newMembers(root string, n int) []*member {
	ms := make([]*member, n)
	var cl []string
	for i := range ms {
		m := &member{
			name:   fmt.Sprintf("m%d", i),
			dir:    filepath.Join(root, fmt.Sprintf("m%d", i)),
			client: fmt.Sprintf("http://127.0.0.1:%d", freePort()),
			peer:   fmt.Sprintf("http://127.0.0.1:%d", freePort()),
			tickMs: 50, elecMs: 500,
		}
		ms[i] = m
		cl = append(cl, m.name+"="+m.peer)
	}
	for _, m := range ms {
		m.cluster = strings.Join(cl, ",")
		m.state = "new"
	}
	return ms
}

func (m *member) start() error {
	cfg := embed.NewConfig()
	cfg.Name = m.name
	cfg.Dir = m.dir
	cu, _ := url.Parse(m.client)
	pu, _ := url.Parse(m.peer)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = m.cluster
	cfg.ClusterState = m.state
	cfg.TickMs, cfg.ElectionMs = m.tickMs, m.elecMs
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(filepath.Dir(m.dir), m.name+".log")}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	m.e = e
	return nil
}

func (m *member) ready(d time.Duration) error {
	select {
	case <-m.e.Server.ReadyNotify():
		return nil
	case err := <-m.e.Err():
		return err
	case <-time.After(d):
		return fmt.Errorf("etcd member %s not ready after %s", m.name, d)
	}
}

func (m *member) stop() {
	if m.e != nil {
		m.e.Close()
		m.e = nil
	}
}

// startCluster starts n members and waits until they serve.
func startCluster(root string, n int) ([]*member, error) {
	ms := newMembers(root, n)
	for _, m := range ms {
		if err := m.start(); err != nil {
			return nil, err
		}
	}
	for _, m := range ms {
		if err := m.ready(20 * time.Second); err != nil {
			return nil, err
		}
	}
	return ms, nil
}

// memberEnv, when set, makes this test binary run one etcd member (its
// fields separated by spaces) until killed: a separate process the
// frozen-leader test can SIGSTOP.
const memberEnv = "PARTNERIDP_TEST_ETCD_MEMBER"

func TestMain(m *testing.M) {
	if v := os.Getenv(memberEnv); v != "" {
		f := strings.Fields(v)
		mb := &member{name: f[0], dir: f[1], client: f[2], peer: f[3], cluster: f[4], state: "new", tickMs: 50, elecMs: 500}
		if err := mb.start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := <-mb.e.Err(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "partneridp-etcd-")
	if err != nil {
		panic(err)
	}
	ms, err := startCluster(dir, 1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start embedded etcd:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	server = ms[0]
	code := m.Run()
	server.stop()
	os.RemoveAll(dir)
	_ = context.Background
	os.Exit(code)
}
