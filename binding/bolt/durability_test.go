package bolt_test

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bolt"
)

var durabilityRounds = flag.Int("durability-rounds", 20, "kill-and-reopen rounds in TestDurabilityUnderKill")

const (
	childPathEnv  = "PARTNERIDP_BINDING_TEST_PATH"
	childRoundEnv = "PARTNERIDP_BINDING_TEST_ROUND"
	childWriters  = 4
	childType     = "dur_IDP"
)

// The writer child's protocol, one line per event on stdout:
//
//	ready
//	op <xaccount_id> <domain or ->   (about to write; "-" deletes)
//	ack <xaccount_id>                (that write returned nil: committed)
//
// Each account is written by one goroutine only, so an account has at most
// one op in flight.
func runWriterChild() int {
	path := os.Getenv(childPathEnv)
	round, _ := strconv.Atoi(os.Getenv(childRoundEnv))
	db, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		return 1
	}
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		os.Stdout.WriteString(fmt.Sprintf(format, args...) + "\n")
	}
	say("ready")
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range childWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				var id, domain string
				switch i % 3 {
				case 0: // a new account
					id, domain = fmt.Sprintf("w%d-r%d-i%d", w, round, i), fmt.Sprintf("d%d-%d", round, i)
				case 1: // rebind an account that lives across rounds
					id, domain = fmt.Sprintf("w%d-p%d", w, i%5), fmt.Sprintf("d%d-%d", round, i)
				case 2: // delete the account made two steps ago
					id, domain = fmt.Sprintf("w%d-r%d-i%d", w, round, i-2), "-"
				}
				say("op %s %s", id, domain)
				k := binding.Key{XAccountType: childType, XAccountID: id}
				if domain == "-" {
					_, err = binding.Delete(ctx, db, k, binding.SourceOperator, "child", nil)
				} else {
					_, err = binding.Put(ctx, db, binding.Binding{Key: k, DomainID: domain, Source: binding.SourceNotification}, "child", nil)
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, "child write:", err)
					os.Exit(1)
				}
				say("ack %s", id)
				_ = db.Ephemeral().Add(ctx, "replay", fmt.Sprintf("%s-%d", id, i), []byte("x"), time.Now().Add(time.Hour))
			}
		}()
	}
	wg.Wait()
	return 0
}

// accountState is what the parent knows of one account: the state of its
// last acknowledged write, and the state of a write begun but not
// acknowledged (either may be on disk after the kill).
type accountState struct {
	acked, pending string // domain ID, "-" for no binding, "" for none
}

// TestDurabilityUnderKill runs a child that writes bindings (fsync on) and
// acknowledges each committed write, SIGKILLs it at a random moment, reopens
// the file and checks that every acknowledged write is there and that Verify
// passes. The file carries over from round to round.
//
// SIGKILL tests crash consistency of the process, not power loss: the
// kernel still writes back what the child wrote.
func TestDurabilityUnderKill(t *testing.T) {
	rounds := *durabilityRounds
	if testing.Short() {
		rounds = min(rounds, 5)
	}
	path := filepath.Join(t.TempDir(), "durable.db")
	state := map[string]*accountState{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	totalAcks := 0
	for round := range rounds {
		kill := time.Duration(10+rng.IntN(240)) * time.Millisecond
		acks := runAndKill(t, path, round, kill, state)
		totalAcks += acks
		checkDurable(t, path, round, state)
		if t.Failed() {
			t.Fatalf("round %d (killed %s after ready, %d acks) failed", round, kill, acks)
		}
	}
	if totalAcks < rounds {
		t.Errorf("only %d acknowledged writes in %d rounds: the child hardly ran", totalAcks, rounds)
	}
	t.Logf("%d rounds, %d acknowledged writes, %d accounts seen", rounds, totalAcks, len(state))
}

func runAndKill(t *testing.T, path string, round int, after time.Duration, state map[string]*accountState) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=writer", childPathEnv+"="+path, childRoundEnv+"="+strconv.Itoa(round))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("round %d: child did not get ready: %q %s", round, lines.Text(), stderr.String())
	}
	timer := time.AfterFunc(after, func() { cmd.Process.Signal(syscall.SIGKILL) })
	defer timer.Stop()
	acks := 0
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		switch {
		case len(f) == 3 && f[0] == "op":
			st := state[f[1]]
			if st == nil {
				st = &accountState{}
				state[f[1]] = st
			}
			st.pending = f[2]
		case len(f) == 2 && f[0] == "ack":
			st := state[f[1]]
			st.acked, st.pending = st.pending, ""
			acks++
		default:
			t.Fatalf("round %d: child said %q", round, lines.Text())
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: child ended with %v, not SIGKILL: %s", round, err, stderr.String())
	}
	return acks
}

func checkDurable(t *testing.T, path string, round int, state map[string]*accountState) {
	t.Helper()
	ctx := context.Background()
	db, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("round %d: reopen after kill: %v", round, err)
	}
	defer db.Close()
	if r, err := db.Verify(context.Background()); err != nil {
		t.Fatalf("round %d: Verify after kill: %v (%+v)", round, err, r)
	}
	present := map[string]string{}
	if err := db.List(ctx, binding.Key{}, func(b binding.Binding) error {
		present[b.XAccountID] = b.DomainID
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for id, st := range state {
		got, ok := present[id]
		if !ok {
			got = "-"
		}
		acked := st.acked
		if acked == "" {
			acked = "-" // never acknowledged: absent unless the pending write landed
		}
		if got != acked && got != st.pending {
			t.Errorf("round %d: account %s is %q; acknowledged %q, in flight %q", round, id, got, st.acked, st.pending)
		}
		// What is on disk is now the acknowledged state for the next round.
		st.acked, st.pending = got, ""
	}
	for id := range present {
		if state[id] == nil {
			t.Errorf("round %d: account %s is stored but was never written", round, id)
		}
	}
}

// runHolderChild opens the store and holds it until stdin closes.
func runHolderChild() int {
	db, err := bolt.Open(os.Getenv(childPathEnv), bolt.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "holder open:", err)
		return 1
	}
	defer db.Close()
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// TestOpenLockedByAnotherProcess: a second process gets ErrLocked with a
// message saying what to do, and the file is usable once the owner dies.
func TestOpenLockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "held.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=holder", childPathEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	}()
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("holder said %q", line)
	}
	_, err = bolt.Open(path, bolt.Options{Timeout: 200 * time.Millisecond})
	if !errors.Is(err, bolt.ErrLocked) || !strings.Contains(err.Error(), "only one partneridp process may own the store file") {
		t.Fatalf("Open while another process owns the file: err=%v, want ErrLocked", err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	db, err := bolt.Open(path, bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("Open after the owner was killed: %v", err)
	}
	db.Close()
}
