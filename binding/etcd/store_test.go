package etcd_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bindingtest"
	"github.com/partneridp/partneridp/binding/etcd"
	"github.com/partneridp/partneridp/internal/etcdtest"
)

func open(t testing.TB, o etcd.Options) *etcd.Store {
	t.Helper()
	if o.Endpoints == nil {
		o.Endpoints = []string{server.Client}
	}
	if o.Prefix == "" {
		o.Prefix = newPrefix()
	}
	s, err := etcd.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func rawClient(t testing.TB, endpoints ...string) *clientv3.Client {
	t.Helper()
	if len(endpoints) == 0 {
		endpoints = []string{server.Client}
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	bindingtest.Run(t, func(t *testing.T) binding.Store { return open(t, etcd.Options{}) })
}

func TestEphemeralConformance(t *testing.T) {
	bindingtest.RunEphemeral(t, func(t *testing.T, clock func() time.Time) binding.Store {
		s := open(t, etcd.Options{Clock: clock})
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestVerifyAndPing(t *testing.T) {
	s := open(t, etcd.Options{})
	defer s.Close()
	ctx := context.Background()
	for i := range 5 {
		b := binding.Binding{Key: binding.Key{XAccountType: "t", XAccountID: fmt.Sprint(i)}, DomainID: "d" + fmt.Sprint(i%2), Source: binding.SourceImport}
		if _, err := binding.Put(ctx, s, b, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := binding.Delete(ctx, s, binding.Key{XAccountType: "t", XAccountID: "0"}, binding.SourceOperator, "", nil); err != nil {
		t.Fatal(err)
	}
	r, err := s.Verify(ctx)
	if err != nil || r.Bindings != 4 || r.DomainIndex != 4 || r.History != 6 {
		t.Fatalf("Verify = %+v, %v", r, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	var sb strings.Builder
	if n, err := s.Backup(ctx, &sb); err != nil || n == 0 || strings.Count(sb.String(), "\n") < 4 {
		t.Fatalf("Backup = %d, %v:\n%s", n, err, sb.String())
	}
	s.Close()
	if err := s.Ping(ctx); !errors.Is(err, binding.ErrUnavailable) {
		t.Errorf("Ping after Close: %v, want ErrUnavailable", err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	ep := fmt.Sprintf("http://127.0.0.1:%d", etcdtest.FreePort())
	start := time.Now()
	_, err := etcd.Open(context.Background(), etcd.Options{Endpoints: []string{ep}, DialTimeout: time.Second, RequestTimeout: time.Second})
	t.Logf("Open(%s) after %s: %v", ep, time.Since(start).Round(time.Millisecond), err)
	if !errors.Is(err, binding.ErrUnavailable) || !strings.Contains(err.Error(), ep) || !strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), "store.etcd.endpoints") {
		t.Fatalf("Open: %v, want ErrUnavailable naming %s and the fix", err, ep)
	}
}

func TestOpenSchema(t *testing.T) {
	c := rawClient(t)
	ctx := context.Background()
	p := newPrefix()
	if _, err := c.Put(ctx, p+"schema", "99"); err != nil {
		t.Fatal(err)
	}
	_, err := etcd.Open(ctx, etcd.Options{Endpoints: []string{server.Client}, Prefix: p})
	t.Logf("newer schema: %v", err)
	if !errors.Is(err, binding.ErrSchema) || !strings.Contains(err.Error(), `"99"`) {
		t.Errorf("Open on schema 99: %v, want ErrSchema", err)
	}
	p2 := newPrefix()
	if _, err := c.Put(ctx, p2+"something/else", "x"); err != nil {
		t.Fatal(err)
	}
	_, err = etcd.Open(ctx, etcd.Options{Endpoints: []string{server.Client}, Prefix: p2})
	t.Logf("foreign data: %v", err)
	if !errors.Is(err, binding.ErrSchema) {
		t.Errorf("Open on foreign data: %v, want ErrSchema", err)
	}
	// Reopening our own prefix works and keeps the data.
	p3 := newPrefix()
	s := open(t, etcd.Options{Prefix: p3})
	b := binding.Binding{Key: binding.Key{XAccountType: "t", XAccountID: "a"}, DomainID: "d", Source: binding.SourceImport}
	if _, err := binding.Put(ctx, s, b, "", nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, etcd.Options{Prefix: p3})
	defer s.Close()
	if _, err := s.Get(ctx, b.Key); err != nil {
		t.Errorf("Get after reopen: %v", err)
	}
}

func TestOpenWrongPassword(t *testing.T) {
	ms, err := etcdtest.StartCluster(t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer ms[0].Stop()
	ep := ms[0].Client
	c := rawClient(t, ep)
	ctx := context.Background()
	if _, err := c.RoleAdd(ctx, "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UserAdd(ctx, "root", "right-pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	o := etcd.Options{Endpoints: []string{ep}, Prefix: "/auth/", Username: "root", Password: "wrong", DialTimeout: 2 * time.Second, RequestTimeout: 2 * time.Second}
	_, err = etcd.Open(ctx, o)
	t.Logf("wrong password: %v", err)
	if err == nil || !strings.Contains(err.Error(), "credentials") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("Open with a wrong password: %v, want a credentials error (without the password)", err)
	}
	o.Password = ""
	o.Username = ""
	_, err = etcd.Open(ctx, o)
	t.Logf("no user: %v", err)
	if err == nil {
		t.Errorf("Open without credentials on an auth cluster succeeded")
	}
	o.Username, o.Password = "root", "right-pw"
	s, err := etcd.Open(ctx, o)
	if err != nil {
		t.Fatalf("Open with the right password: %v", err)
	}
	s.Close()
}

// TestLeaseExpiry: spent marks and flow records share one lease per slot;
// the key disappears when its slot's lease runs out, and the expiry in the
// value refuses an expired record before that.
func TestLeaseExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	p := newPrefix()
	s := open(t, etcd.Options{Prefix: p, Clock: clock, LeaseSlot: time.Second})
	defer s.Close()
	e := s.Ephemeral()
	ctx := context.Background()
	exp := clock().Add(1500 * time.Millisecond).Truncate(time.Second).Add(time.Second) // one slot
	for i := range 20 {
		if err := e.Spend(ctx, "replay", fmt.Sprint(i), exp.Add(-time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Add(ctx, "flows", "f", []byte("v"), exp); err != nil {
		t.Fatal(err)
	}
	c := rawClient(t)
	resp, err := c.Get(ctx, p+"s/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	leases := map[clientv3.LeaseID]bool{}
	for _, kv := range resp.Kvs {
		leases[clientv3.LeaseID(kv.Lease)] = true
	}
	if len(resp.Kvs) != 20 || len(leases) != 1 || leases[0] {
		t.Fatalf("20 spends in one slot: %d keys on %d leases %v, want one shared lease", len(resp.Kvs), len(leases), leases)
	}
	// The value check refuses what expired, before the lease removes it.
	advance(exp.Sub(clock()))
	if _, err := e.Get(ctx, "flows", "f"); !errors.Is(err, binding.ErrNotFound) {
		t.Errorf("Get of an expired record: %v, want ErrNotFound", err)
	}
	if r, _ := c.Get(ctx, p+"e/flows\x00f"); len(r.Kvs) != 1 {
		t.Errorf("record key gone before its lease ran out")
	}
	start := time.Now()
	for {
		r, err := c.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		r2, _ := c.Get(ctx, p+"s/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		r3, _ := c.Get(ctx, p+"e/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if r2.Count == 0 && r3.Count == 0 {
			t.Logf("lease removed the marks and record %s after the check (prefix keeps %d keys)", time.Since(start).Round(100*time.Millisecond), r.Count)
			break
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("keys still there after 15s: %d marks, %d records", r2.Count, r3.Count)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n, err := e.Sweep(ctx, clock()); err != nil || n != 0 {
		t.Errorf("Sweep after lease expiry = %d, %v; want 0", n, err)
	}
}

// TestLeaderStopped: a 3-member cluster; the leader is stopped during a
// stream of updates, then a second member (no quorum), which comes back.
// Updates fail only with ErrUnavailable, every acknowledged one is stored,
// and the same Store serves again without reopening.
func TestLeaderStopped(t *testing.T) {
	ms, err := etcdtest.StartCluster(t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, m := range ms {
			m.Stop()
		}
	}()
	var eps []string
	for _, m := range ms {
		eps = append(eps, m.Client)
	}
	ctx := context.Background()
	s, err := etcd.Open(ctx, etcd.Options{Endpoints: eps, Prefix: "/ha/", RequestTimeout: 700 * time.Millisecond,
		DialTimeout: time.Second, DialKeepAliveTime: time.Second, DialKeepAliveTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var (
		mu    sync.Mutex
		acked = map[binding.Key]string{}
		fails = map[string]int{}
		okN   int
		phase = "before"
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := binding.Key{XAccountType: "t", XAccountID: fmt.Sprintf("acct-%05d", i)}
			dom := fmt.Sprintf("dom-%d", i)
			_, err := binding.Put(ctx, s, binding.Binding{Key: k, DomainID: dom, Source: binding.SourceNotification}, "", nil)
			mu.Lock()
			if err == nil {
				acked[k] = dom
				okN++
			} else {
				if !errors.Is(err, binding.ErrUnavailable) {
					t.Errorf("update %d in phase %s: %v, want only ErrUnavailable", i, phase, err)
				}
				if fails[phase] == 0 {
					t.Logf("first failure in phase %q: %v", phase, err)
				}
				fails[phase]++
			}
			mu.Unlock()
		}
	}()
	setPhase := func(p string) int {
		mu.Lock()
		defer mu.Unlock()
		phase = p
		return okN
	}
	waitOK := func(after int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			mu.Lock()
			n := okN
			mu.Unlock()
			if n >= after+20 {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Errorf("no successful updates within %s", within)
	}
	waitOK(setPhase("before"), 10*time.Second)

	leader := -1
	for i, m := range ms {
		if m.E.Server.Leader() == m.E.Server.MemberID() {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no leader found")
	}
	t0 := time.Now()
	n := setPhase("leader stopped")
	ms[leader].Stop()
	waitOK(n, 15*time.Second)
	t.Logf("leader %s stopped: updates succeed again after %s", ms[leader].Name, time.Since(t0).Round(10*time.Millisecond))

	second := (leader + 1) % 3
	setPhase("no quorum")
	ms[second].Stop()
	time.Sleep(2 * time.Second)
	if err := s.Ping(ctx); !errors.Is(err, binding.ErrUnavailable) {
		t.Errorf("Ping without quorum: %v, want ErrUnavailable", err)
	}
	if _, err := s.Get(ctx, binding.Key{XAccountType: "t", XAccountID: "x"}); !errors.Is(err, binding.ErrUnavailable) {
		t.Errorf("Get without quorum: %v, want ErrUnavailable", err)
	}
	if err := ms[second].Start(); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	n = setPhase("quorum back")
	waitOK(n, 20*time.Second)
	t.Logf("quorum back: updates succeed again after %s, same Store", time.Since(t1).Round(10*time.Millisecond))
	close(stop)
	<-done

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d updates acknowledged; failures by phase (all ErrUnavailable): %v", okN, fails)
	if fails["no quorum"] == 0 {
		t.Errorf("no update failed without quorum")
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after recovery: %v", err)
	}
	lost := 0
	settle := time.Now().Add(15 * time.Second)
	for k, dom := range acked {
		b, err := getSettled(ctx, s, k, settle)
		if err != nil || b.DomainID != dom {
			lost++
			if lost < 5 {
				t.Errorf("acknowledged %s → %s: got %+v, %v", k.XAccountID, dom, b, err)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged updates lost", lost, len(acked))
	}
	if r, err := s.Verify(ctx); err != nil {
		t.Errorf("Verify after failover: %v", err)
	} else {
		t.Logf("Verify: %d bindings, %d history entries, no problems", r.Bindings, r.History)
	}
}

// TestTwoInstances: two Stores on one prefix (two bridge instances) write
// concurrently; compare-and-swap gives one serial history, and a mark or a
// flow record is used once across both.
func TestTwoInstances(t *testing.T) {
	p := newPrefix()
	a := open(t, etcd.Options{Prefix: p})
	defer a.Close()
	b := open(t, etcd.Options{Prefix: p})
	defer b.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	var spendOK, takeOK, errs atomic.Int64
	if err := a.Ephemeral().Add(ctx, "flows", "f1", []byte("flow"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := binding.Key{XAccountType: "t", XAccountID: fmt.Sprint("k", i%10)}
			if _, err := binding.Put(ctx, s, binding.Binding{Key: k, DomainID: fmt.Sprint("d", i), Source: binding.SourceImport}, "", nil); err != nil {
				t.Errorf("Put: %v", err)
				errs.Add(1)
			}
			if err := s.Ephemeral().Spend(ctx, "jti", "token-1", time.Now().Add(time.Minute)); err == nil {
				spendOK.Add(1)
			} else if !errors.Is(err, binding.ErrExists) {
				t.Errorf("Spend: %v", err)
			}
			if _, err := s.Ephemeral().Take(ctx, "flows", "f1"); err == nil {
				takeOK.Add(1)
			} else if !errors.Is(err, binding.ErrNotFound) {
				t.Errorf("Take: %v", err)
			}
		}()
	}
	wg.Wait()
	if spendOK.Load() != 1 || takeOK.Load() != 1 {
		t.Errorf("across two instances: %d Spends and %d Takes succeeded, want 1 each", spendOK.Load(), takeOK.Load())
	}
	chs, err := b.Changes(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(chs) != 40 {
		t.Errorf("%d history entries, want 40", len(chs))
	}
	for i, ch := range chs {
		if ch.Seq != uint64(i+1) {
			t.Fatalf("history entry %d has seq %d: not one serial order", i, ch.Seq)
		}
	}
	if r, err := a.Verify(ctx); err != nil || r.Bindings != 10 {
		t.Errorf("Verify = %+v, %v", r, err)
	}
}

func TestCursorConformance(t *testing.T) {
	bindingtest.RunCursor(t, func(t *testing.T) binding.Store { return open(t, etcd.Options{}) },
		func(t *testing.T, s binding.Store) binding.Store {
			prefix := s.(*etcd.Store).Prefix()
			s.Close()
			return open(t, etcd.Options{Prefix: prefix})
		})
}

// TestLead: of two stores on one prefix, one leads at a time; the other
// leads once the first releases.
func TestLead(t *testing.T) {
	a := open(t, etcd.Options{})
	b := open(t, etcd.Options{Prefix: a.Prefix()})
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	actx, release, err := a.Lead(ctx, "webhook/p")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	go func() {
		_, rel, err := b.Lead(ctx, "webhook/p")
		if err != nil {
			t.Error(err)
			return
		}
		got <- rel
	}()
	select {
	case <-got:
		t.Fatal("two leaders at once")
	case <-time.After(500 * time.Millisecond):
	}
	release()
	if actx.Err() == nil {
		t.Error("the released lead's context is still live")
	}
	select {
	case rel := <-got:
		rel()
	case <-time.After(10 * time.Second):
		t.Fatal("the second store did not lead after the first released")
	}
	if _, _, err := a.Lead(ctx, ""); !errors.Is(err, binding.ErrInvalid) {
		t.Errorf("empty name: %v", err)
	}
}

// TestOpenTLSMismatch: TLS settings against a member that speaks plain
// HTTP are refused at open, naming TLS; a CA file that is not a
// certificate is refused before dialing.
func TestOpenTLSMismatch(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	https := strings.Replace(server.Client, "http://", "https://", 1)
	_, err = etcd.Open(context.Background(), etcd.Options{Endpoints: []string{https}, Prefix: newPrefix(), CAFile: ca, DialTimeout: 2 * time.Second, RequestTimeout: 2 * time.Second})
	t.Logf("TLS to a plain member: %v", err)
	if err == nil || !strings.Contains(err.Error(), https) || !strings.Contains(err.Error(), "TLS handshake") {
		t.Errorf("Open with TLS against a plain-HTTP member: %v", err)
	}
	bad := filepath.Join(dir, "bad.crt")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = etcd.Open(context.Background(), etcd.Options{Endpoints: []string{https}, Prefix: newPrefix(), CAFile: bad, DialTimeout: 2 * time.Second})
	t.Logf("bad CA file: %v", err)
	if err == nil || !strings.Contains(err.Error(), "store.etcd.ca_file bad.crt holds no PEM certificate") {
		t.Errorf("Open with a CA file that is no certificate: %v", err)
	}
}

// getSettled reads k, retrying while the store answers ErrUnavailable,
// until deadline (one deadline for a whole check, not one per key).
func getSettled(ctx context.Context, s binding.Store, k binding.Key, deadline time.Time) (binding.Binding, error) {
	for {
		b, err := s.Get(ctx, k)
		if !errors.Is(err, binding.ErrUnavailable) || time.Now().After(deadline) {
			return b, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
