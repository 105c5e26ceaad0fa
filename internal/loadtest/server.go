//go:build linux

package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/partneridp/partneridp/idp"
)

// startServer runs `<binary> serve --config <file>` in its own process
// group (Ctrl-C reaches this process, which stops the server in order) and
// waits for /readyz.
func (r *loadRun) startServer(ctx context.Context) error {
	r.logPath = filepath.Join(r.dir, "serve.log")
	f, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("loadtest: server log: %w", err)
	}
	r.childLog = f
	cmd := exec.Command(r.opts.ServerBinary, "serve", "--config", r.cfgPath)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = r.childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("loadtest: start the server %s: %w", r.opts.ServerBinary, err)
	}
	if err := r.pin(cmd.Process.Pid, r.opts.ServerCPUs); err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	r.child, r.childDone, r.primaryDone = cmd, make(chan struct{}), make(chan struct{})
	go func() {
		err := cmd.Wait()
		r.exitOnce.Do(func() {
			r.childErr = err
			close(r.childDone)
		})
		close(r.primaryDone)
	}()
	r.logf("server %s serve (pid %d) at %s, mock Huawei IAM at %s, store %s", r.opts.ServerBinary, cmd.Process.Pid, r.bridgeURL, r.mockURL, r.opts.Store)
	if err := r.waitReady(ctx, r.addrs[0], r.logPath); err != nil {
		return err
	}
	for i, addr := range r.addrs[1:] {
		if err := r.startExtra(ctx, i+2, addr); err != nil {
			return err
		}
	}
	return nil
}

// startExtra starts instance n (2..N) on the same store and config but
// its own listen address.
func (r *loadRun) startExtra(ctx context.Context, n int, addr string) error {
	s := r.srv
	s.Listen = addr
	cfgPath, _, err := r.writeConfig(s, fmt.Sprintf("partneridp-loadtest-%d.yaml", n))
	if err != nil {
		return err
	}
	logPath := filepath.Join(r.dir, fmt.Sprintf("serve-%d.log", n))
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("loadtest: server log: %w", err)
	}
	r.extraLogs = append(r.extraLogs, f)
	cmd := exec.Command(r.opts.ServerBinary, "serve", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = r.childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("loadtest: start instance %d: %w", n, err)
	}
	if err := r.pin(cmd.Process.Pid, r.opts.ServerCPUs); err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	x := &extraInstance{cmd: cmd, done: make(chan struct{})}
	r.extra = append(r.extra, x)
	go func() {
		x.err = cmd.Wait()
		close(x.done)
		r.exitOnce.Do(func() {
			r.childErr = fmt.Errorf("instance %d exited (%v); its log:\n%s", n, x.err, tailFile(logPath, 20))
			close(r.childDone)
		})
	}()
	r.logf("instance %d: serve (pid %d) at %s", n, cmd.Process.Pid, addr)
	return r.waitReady(ctx, addr, logPath)
}

// extraInstance is a serve process beside the first.
type extraInstance struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's, once done is closed
}

// pids are every instance's process IDs.
func (r *loadRun) pids() []int {
	pids := []int{r.child.Process.Pid}
	for _, x := range r.extra {
		pids = append(pids, x.cmd.Process.Pid)
	}
	return pids
}

// waitReady waits until the instance at addr answers /readyz with 200.
func (r *loadRun) waitReady(ctx context.Context, addr, logPath string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(loadReadyTimeout)
	for {
		if code, err := httpStatus(ctx, client, "http://"+addr+idp.PathReadyz); err == nil && code == http.StatusOK {
			return nil
		}
		select {
		case <-r.childDone:
			return fmt.Errorf("loadtest: the server exited before it was ready (%v); its log:\n%s", r.childErr, tailFile(logPath, 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("loadtest: the server at %s was not ready within %s; its log:\n%s", addr, loadReadyTimeout, tailFile(logPath, 20))
		}
	}
}

func httpStatus(ctx context.Context, c *http.Client, u string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return resp.StatusCode, nil
}

func tailFile(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return "  (the log is empty)"
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return "  " + strings.Join(all, "\n  ")
}

// stopServer sends SIGTERM (serve finishes in-flight requests and closes
// the store), waits, and kills the server only when it overstays its grace.
func (r *loadRun) stopServer() error {
	if r.child == nil || r.stopped {
		return nil
	}
	r.stopped = true
	select {
	case <-r.childDone:
		// One instance ended on its own: stop the others, report it.
		for _, x := range r.extra {
			_ = x.cmd.Process.Kill()
			<-x.done
		}
		_ = r.child.Process.Kill()
		<-r.primaryDone
		r.exitCode = r.child.ProcessState.ExitCode()
		return fmt.Errorf("the server exited during the run (%v); its log:\n%s", r.childErr, tailFile(r.logPath, 20))
	default:
	}
	t0 := time.Now()
	for _, x := range r.extra {
		_ = x.cmd.Process.Signal(syscall.SIGTERM)
	}
	_ = r.child.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case <-r.primaryDone:
	case <-time.After(r.stopTimeout()):
		_ = r.child.Process.Kill()
		<-r.primaryDone
		err = fmt.Errorf("the server did not stop within %s of SIGTERM and was killed", r.stopTimeout())
	}
	r.exitCode = r.child.ProcessState.ExitCode()
	if err == nil && r.exitCode != 0 {
		err = fmt.Errorf("the server did not stop cleanly (exit status %d); its log:\n%s", r.exitCode, tailFile(r.logPath, 20))
	}
	for i, x := range r.extra {
		select {
		case <-x.done:
		case <-time.After(max(0, r.stopTimeout()-time.Since(t0))):
			_ = x.cmd.Process.Kill()
			<-x.done
			err = errors.Join(err, fmt.Errorf("instance %d did not stop within %s of SIGTERM and was killed", i+2, r.stopTimeout()))
			continue
		}
		if x.err != nil {
			err = errors.Join(err, fmt.Errorf("instance %d did not stop cleanly: %v", i+2, x.err))
		}
	}
	r.stopTime = time.Since(t0)
	return err
}

// stopTimeout is how long a server may take after SIGTERM before SIGKILL:
// serve's own grace and a margin.
func (r *loadRun) stopTimeout() time.Duration { return r.opts.ServerGrace + loadStopMargin }

// childEnv is the servers' environment: the Deployment's, and GOMAXPROCS matching their CPU set when pinned.
func (r *loadRun) childEnv() []string {
	env := r.opts.Deployment.ServerEnv()
	if n := len(r.opts.ServerCPUs); n > 0 {
		env = append(env, fmt.Sprintf("GOMAXPROCS=%d", n))
	}
	return env
}

// serverCores is how many cores the servers may use: their CPU set when
// pinned, else the machine's.
func (r *loadRun) serverCores() int {
	if n := len(r.opts.ServerCPUs); n > 0 {
		return n
	}
	return runtime.NumCPU()
}
