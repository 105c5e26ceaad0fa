package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is an io.Writer a running command and the test share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runningCmd is a CLI command running in the background until its context
// is cancelled.
type runningCmd struct {
	stdout, stderr *lockedBuffer
	cancel         context.CancelFunc
	done           chan error
}

// startCLI runs the CLI with args in the background.
func startCLI(t *testing.T, args ...string) *runningCmd {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rc := &runningCmd{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, cancel: cancel, done: make(chan error, 1)}
	root := newRootCmd(rc.stdout, rc.stderr)
	root.SetArgs(args)
	go func() { rc.done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-rc.done:
		case <-time.After(10 * time.Second):
		}
	})
	return rc
}

// waitFor waits until stdout matches re and returns the first submatch (or
// the match), failing the test when the command ends or 30 s pass first.
func (rc *runningCmd) waitFor(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(rc.stdout.String()); m != nil {
			return m[len(m)-1]
		}
		select {
		case err := <-rc.done:
			rc.done <- err
			t.Fatalf("the command ended before printing %s: %v\nstdout:\n%s\nstderr:\n%s", re, err, rc.stdout, rc.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no %s within 30 s\nstdout:\n%s\nstderr:\n%s", re, rc.stdout, rc.stderr)
	return ""
}

// stop cancels the command's context (what SIGINT does) and returns its error.
func (rc *runningCmd) stop(t *testing.T) error {
	t.Helper()
	rc.cancel()
	select {
	case err := <-rc.done:
		rc.done <- err
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("the command did not stop within 15 s of its context ending")
		return nil
	}
}

// httpGet fetches a URL and returns status and body.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// httpGetErr fetches a URL and reports only whether it answered.
func httpGetErr(url string) (int, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// serveProcess is `partneridp serve` running as its own process.
type serveProcess struct {
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan error
	addr string // the public listener, from the "partneridp serving" log line
}

var servingAddrRE = regexp.MustCompile(`"msg":"partneridp serving","addr":"([^"]+)"`)

// startServeProcess runs bin serve --config cfgPath in dir (PARTNERIDP_*
// overrides dropped) and waits until it serves; it is stopped with
// SIGTERM (then SIGKILL) when the test ends.
func startServeProcess(t testing.TB, bin, cfgPath, dir string) *serveProcess {
	t.Helper()
	p := &serveProcess{logs: &lockedBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, "serve", "--config", cfgPath)
	p.cmd.Dir = dir
	p.cmd.Env = withoutConfigOverrides(os.Environ())
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
		}
	})
	p.addr = p.waitLog(t, servingAddrRE, 1)
	return p
}

// waitLog waits up to 30 s for the n-th match of re in the log and returns
// its last submatch; the test fails if serve ends first.
func (p *serveProcess) waitLog(t testing.TB, re *regexp.Regexp, n int) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindAllStringSubmatch(p.logs.String(), -1); len(m) >= n {
			return m[n-1][len(m[n-1])-1]
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("serve ended: %v\n%s", err, p.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("no %s (x%d) in the log within 30 s:\n%s", re, n, p.logs.String())
	return ""
}

// inProcessServe is serve running in this test process.
type inProcessServe struct {
	addr, admin string // the public and (when one is configured) admin listeners
	logs        *lockedBuffer
	cancel      context.CancelFunc
	done        chan error
}

// serveInProcess runs serve(cfg) and waits until it listens; it is
// stopped when the test ends (stop stops it earlier and returns its error).
func serveInProcess(t *testing.T, cfg *Config) *inProcessServe {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &inProcessServe{logs: &lockedBuffer{}, cancel: cancel, done: make(chan error, 1)}
	ready, admin := make(chan string, 1), make(chan string, 1)
	if cfg.Admin.Listen != "off" {
		adminReadyHook = func(a string) { admin <- a }
		t.Cleanup(func() { adminReadyHook = nil })
	}
	go func() { s.done <- serve(ctx, cfg, s.logs, ready) }()
	select {
	case s.addr = <-ready:
	case err := <-s.done:
		cancel()
		t.Fatalf("serve ended: %v\n%s", err, s.logs.String())
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	if cfg.Admin.Listen != "off" {
		select {
		case s.admin = <-admin:
		case <-time.After(20 * time.Second):
			t.Fatal("the admin listener did not start")
		}
	}
	t.Cleanup(func() { _ = s.stop() })
	return s
}

// stop cancels serve's context (SIGTERM) and returns what serve returned.
func (s *inProcessServe) stop() error {
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(40 * time.Second):
		return errors.New("serve did not stop within 40 s")
	}
}

// outputHas fails t for each wanted text that a command's output (named
// what, as in "stage output") lacks.
func outputHas(t testing.TB, what, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("%s lacks %q:\n%s", what, want, out)
		}
	}
}
