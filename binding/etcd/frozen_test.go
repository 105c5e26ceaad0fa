package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/etcd"
	"github.com/partneridp/partneridp/internal/etcdtest"
)

// TestFrozenLeader: three members as separate processes; the leader is
// frozen with SIGSTOP (a long GC pause, a half-open network) during a stream
// of updates. Keepalive and the request deadline move the client to the
// live members: updates fail only with ErrUnavailable, succeed again while
// the leader is still frozen, and nothing acknowledged is lost.
func TestFrozenLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd processes")
	}
	ms := etcdtest.NewMembers(t.TempDir(), 3)
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGCONT)
			p.Process.Kill()
			p.Wait()
		}
	}()
	var eps []string
	for _, m := range ms {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), m.Env())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
		eps = append(eps, m.Client)
	}
	ctx := context.Background()
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	leader := -1
	for start := time.Now(); leader < 0; time.Sleep(100 * time.Millisecond) {
		if time.Since(start) > 20*time.Second {
			t.Fatal("cluster processes not serving after 20s")
		}
		for i, ep := range eps {
			cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			st, err := c.Status(cctx, ep)
			cancel()
			if err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId {
				leader = i
			}
		}
	}
	s, err := etcd.Open(ctx, etcd.Options{Endpoints: eps, Prefix: "/frozen/", RequestTimeout: 700 * time.Millisecond,
		DialTimeout: time.Second, DialKeepAliveTime: time.Second, DialKeepAliveTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var (
		mu      sync.Mutex
		acked   = map[binding.Key]string{}
		fails   int
		okAfter int
		frozen  bool
	)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := binding.Key{XAccountType: "t", XAccountID: fmt.Sprintf("a%05d", i)}
			dom := fmt.Sprint("d", i)
			_, err := binding.Put(ctx, s, binding.Binding{Key: k, DomainID: dom, Source: binding.SourceNotification}, "", nil)
			mu.Lock()
			if err == nil {
				acked[k] = dom
				if frozen {
					okAfter++
				}
			} else {
				if fails == 0 {
					t.Logf("first failure: %v", err)
				}
				fails++
				if !errors.Is(err, binding.ErrUnavailable) {
					t.Errorf("update %d: %v, want only ErrUnavailable", i, err)
				}
			}
			mu.Unlock()
		}
	}()
	time.Sleep(time.Second)
	mu.Lock()
	frozen = true
	mu.Unlock()
	t0 := time.Now()
	if err := procs[leader].Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := okAfter
		mu.Unlock()
		if n >= 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d updates succeeded within 15s of freezing the leader", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("leader %s frozen: 50 updates succeeded %s later, %d failed (ErrUnavailable)", ms[leader].Name, time.Since(t0).Round(10*time.Millisecond), fails)
	time.Sleep(time.Second)
	procs[leader].Process.Signal(syscall.SIGCONT)
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	// The thawed leader may call an election of its own; reads then fail
	// with ErrUnavailable for a moment. That is availability, not loss: each
	// read is retried until the cluster answers, and then must be right.
	settle := time.Now().Add(15 * time.Second)
	for k, dom := range acked {
		b, err := getSettled(ctx, s, k, settle)
		if err != nil || b.DomainID != dom {
			t.Errorf("acknowledged %s → %s: got %+v, %v", k.XAccountID, dom, b, err)
		}
	}
	t.Logf("%d acknowledged updates all present; %d failed", len(acked), fails)
}
