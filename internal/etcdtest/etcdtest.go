// Package etcdtest starts etcd members on loopback for tests: the real
// etcd server (go.etcd.io/etcd/server/v3/embed, the version the client is
// pinned to), in this process or, through RunMemberFromEnv, as a child
// process a test can SIGSTOP or SIGKILL. Test code only.
package etcdtest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Member is one etcd member of a loopback cluster.
type Member struct {
	Name, Dir       string
	Client, Peer    string // URLs
	Cluster         string // the initial-cluster string
	TickMs, ElectMs uint
	// Compaction, when set, is the periodic auto-compaction retention
	// (as etcd's --auto-compaction-retention), for long runs.
	Compaction time.Duration
	E          *embed.Etcd
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// NewMembers prepares n members of one cluster on loopback ports, with a
// short election timeout (tests wait for failover).
func NewMembers(root string, n int) []*Member {
	ms := make([]*Member, n)
	var cl []string
	for i := range ms {
		m := &Member{
			Name:   fmt.Sprintf("m%d", i),
			Dir:    filepath.Join(root, fmt.Sprintf("m%d", i)),
			Client: fmt.Sprintf("http://127.0.0.1:%d", FreePort()),
			Peer:   fmt.Sprintf("http://127.0.0.1:%d", FreePort()),
			TickMs: 50, ElectMs: 500,
		}
		ms[i] = m
		cl = append(cl, m.Name+"="+m.Peer)
	}
	for _, m := range ms {
		m.Cluster = strings.Join(cl, ",")
	}
	return ms
}

// Start starts the member in this process (again, after Stop: its data
// directory is kept).
func (m *Member) Start() error {
	if err := os.MkdirAll(filepath.Dir(m.Dir), 0o700); err != nil {
		return err
	}
	cfg := embed.NewConfig()
	cfg.Name = m.Name
	cfg.Dir = m.Dir
	cu, _ := url.Parse(m.Client)
	pu, _ := url.Parse(m.Peer)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = m.Cluster
	cfg.ClusterState = "new"
	cfg.TickMs, cfg.ElectionMs = m.TickMs, m.ElectMs
	if m.Compaction > 0 {
		cfg.AutoCompactionMode, cfg.AutoCompactionRetention = "periodic", m.Compaction.String()
	}
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(filepath.Dir(m.Dir), m.Name+".log")}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	m.E = e
	return nil
}

// Ready waits until the member serves.
func (m *Member) Ready(d time.Duration) error {
	select {
	case <-m.E.Server.ReadyNotify():
		return nil
	case err := <-m.E.Err():
		return err
	case <-time.After(d):
		return fmt.Errorf("etcd member %s not ready after %s", m.Name, d)
	}
}

// Stop stops a member started in this process.
func (m *Member) Stop() {
	if m.E != nil {
		m.E.Close()
		m.E = nil
	}
}

// IsLeader says whether this in-process member leads the cluster.
func (m *Member) IsLeader() bool {
	return m.E != nil && m.E.Server.Leader() == m.E.Server.MemberID()
}

// StartCluster starts n members in this process and waits until they serve.
func StartCluster(root string, n int) ([]*Member, error) {
	ms := NewMembers(root, n)
	for _, m := range ms {
		if err := m.Start(); err != nil {
			return nil, err
		}
	}
	for _, m := range ms {
		if err := m.Ready(20 * time.Second); err != nil {
			return nil, err
		}
	}
	return ms, nil
}

// MemberEnv, set to Env(), makes a test binary that calls RunMemberFromEnv
// in TestMain run one member until killed.
const MemberEnv = "PARTNERIDP_TEST_ETCD_MEMBER"

// Env is the MemberEnv value that runs m in a child process.
func (m *Member) Env() string {
	return fmt.Sprintf("%s=%s %s %s %s %s", MemberEnv, m.Name, m.Dir, m.Client, m.Peer, m.Cluster)
}

// RunMemberFromEnv runs the member MemberEnv describes and never returns;
// without MemberEnv it returns at once.
func RunMemberFromEnv() {
	v := os.Getenv(MemberEnv)
	if v == "" {
		return
	}
	f := strings.Fields(v)
	m := &Member{Name: f[0], Dir: f[1], Client: f[2], Peer: f[3], Cluster: f[4], TickMs: 50, ElectMs: 500}
	if err := m.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := <-m.E.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(1)
}
