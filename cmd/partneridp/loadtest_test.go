//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/partneridp/partneridp/internal/loadtest"
)

// buildServerBinary builds this command into a temporary folder: the load
// test runs it as its `serve` child.
func buildServerBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH: cannot build the server binary")
	}
	bin := filepath.Join(t.TempDir(), "partneridp")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestLoadtestShortRun runs the command end to end against a freshly built
// server: flows complete with zero errors and the JSON report has every
// figure; the child is gone and the temporary folder removed afterwards.
func TestLoadtestShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs load for a few seconds")
	}
	bin := buildServerBinary(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Setenv("PARTNERIDP_LISTEN", "0.0.0.0:1") // must not reach the child

	var stdout, stderr lockedBuffer
	root := newRootCmd(&stdout, &stderr)
	root.SetArgs([]string{"loadtest", "--duration", "3s", "--warmup", "1s", "--concurrency", "4",
		"--accounts", "10", "--ceiling-samples", "50", "--server-binary", bin, "--json"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	runErr := root.ExecuteContext(ctx)
	var verdict *verdictError
	if runErr != nil && !errors.As(runErr, &verdict) {
		t.Fatalf("loadtest: %v\nstdout:\n%s\nstderr:\n%s", runErr, stdout.String(), stderr.String())
	}
	var rep loadtest.Report
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, stdout.String())
	}
	// A short run on a busy machine may miss the targets: then, and only
	// then, the command fails with exit status 3.
	if (verdict != nil) == rep.Pass || (verdict != nil && exitCode(runErr) != exitVerdict) {
		t.Errorf("pass = %v but the command returned %v (exit %d)", rep.Pass, runErr, exitCode(runErr))
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(stdout.String()), &raw); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"flows_completed", "flows_per_second", "latency_ms", "errors", "errors_by_reason",
		"server", "ceiling", "percent_of_ceiling", "load_generator_cpu_ms_per_flow", "timeline", "targets", "pass"} {
		if _, ok := raw[field]; !ok {
			t.Errorf("the JSON report has no %q", field)
		}
	}

	if rep.Errors != 0 || rep.WarmupErrors != 0 || len(rep.ErrorsByReason) != 0 {
		t.Errorf("errors: %d (+%d in warm-up): %v %v", rep.Errors, rep.WarmupErrors, rep.ErrorsByReason, rep.ErrorSamples)
	}
	if rep.Flows <= 0 || rep.FlowsPerSecond <= 0 {
		t.Errorf("flows %d, %.1f/s: want some", rep.Flows, rep.FlowsPerSecond)
	}
	if l := rep.LatencyMS; !(l.P50 > 0 && l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("latency percentiles out of order: %+v", l)
	}
	if c := rep.Ceiling; c.Samples != 50 || c.CPUMSPerResponse <= 0 || c.ResponsesPerSecond <= 0 || c.Counts == "" {
		t.Errorf("ceiling: %+v", c)
	}
	if rep.PercentOfCeiling <= 0 || rep.PercentOfCeiling > 100 {
		t.Errorf("percent of ceiling %.1f: want in (0, 100]", rep.PercentOfCeiling)
	}
	s := rep.Server
	if s.PID <= 0 || s.CPUMSFlow <= 0 || s.RSSStartMiB <= 0 || s.RSSEndMiB <= 0 || s.RSSPeakMiB < s.RSSEndMiB || s.ImpliedFPS <= 0 {
		t.Errorf("server figures: %+v", s)
	}
	if s.ExitCode != 0 {
		t.Errorf("the server exited with %d after SIGTERM, want 0", s.ExitCode)
	}
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") || strings.HasSuffix(s.URL, ":1") {
		t.Errorf("the server ran at %s: want a loopback address from the generated config", s.URL)
	}
	if rep.LoadGenCPUMS <= 0 || len(rep.Timeline) == 0 || len(rep.Targets) != 4 {
		t.Errorf("load generator CPU %.3f ms, %d timeline slices, %d targets", rep.LoadGenCPUMS, len(rep.Timeline), len(rep.Targets))
	}
	if !rep.Targets[2].Pass {
		t.Errorf("zero-errors target: %+v", rep.Targets[2])
	}
	if err := syscall.Kill(s.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the server process %d is still there after the run (kill -0: %v)", s.PID, err)
	}
	left, _ := os.ReadDir(tmp)
	for _, e := range left {
		if strings.HasPrefix(e.Name(), "partneridp-loadtest-") {
			t.Errorf("the temporary data folder %s was not removed", e.Name())
		}
	}
	if !strings.Contains(stderr.String(), "measuring for 3s") {
		t.Errorf("no progress on stderr:\n%s", stderr.String())
	}
}

// TestLoadtestServerDies: a server binary that exits at once is reported
// with its log, and nothing is measured.
func TestLoadtestServerDies(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the ceiling first")
	}
	fake := filepath.Join(t.TempDir(), "fake-partneridp")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'fake server: cannot start' >&2\nexit 3\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	o := defaultLoadtestOptions()
	o.Duration, o.Warmup, o.ServerBinary, o.CeilingSamples, o.Accounts = time.Second, 0, fake, 10, 2
	o.DataDir = t.TempDir()
	rep, err := loadtest.Run(context.Background(), o)
	if err == nil || rep != nil {
		t.Fatalf("want an error and no report, got %v, %+v", err, rep)
	}
	if !errors.Is(err, loadtest.ErrFailed) || !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "fake server: cannot start") {
		t.Errorf("the error does not say the server died and why: %v", err)
	}
	for _, name := range []string{"partneridp-loadtest.yaml", "serve.log", demoIdPKeyName, mockSPKeyName, demoPlatformKeyName} {
		if _, err := os.Stat(filepath.Join(o.DataDir, name)); err != nil {
			t.Errorf("--data-dir should keep %s: %v", name, err)
		}
	}
}

// TestLoadtestServerKilled: a server that dies under load ends the run at
// once with an error that says so.
func TestLoadtestServerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs load")
	}
	bin := buildServerBinary(t)
	o := defaultLoadtestOptions()
	o.Duration, o.Warmup, o.ServerBinary, o.CeilingSamples, o.Accounts = 30*time.Second, 0, bin, 10, 2
	var progress lockedBuffer
	o.Progress = &progress
	type result struct {
		rep *loadtest.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := loadtest.Run(context.Background(), o)
		done <- result{rep, err}
	}()
	pidRE := regexp.MustCompile(`serve \(pid (\d+)\)`)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(progress.String(), "measuring for") {
		if time.Now().After(deadline) {
			t.Fatalf("the run did not start measuring:\n%s", progress.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	m := pidRE.FindStringSubmatch(progress.String())
	if m == nil {
		t.Fatalf("no server pid in the progress:\n%s", progress.String())
	}
	pid, _ := strconv.Atoi(m[1])
	time.Sleep(500 * time.Millisecond)
	killedAt := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-done:
		t.Logf("the run ended with: %v", res.err)
		if !errors.Is(res.err, loadtest.ErrFailed) || !strings.Contains(res.err.Error(), "exited during the run") {
			t.Errorf("want loadtest.ErrFailed saying the server exited, got %v", res.err)
		}
		if since := time.Since(killedAt); since > 10*time.Second {
			t.Errorf("the run went on for %s after the server died", since)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("the run did not end after the server was killed")
	}
}

// TestLoadtestGeneratedConfig: the config handed to serve loads, listens on
// loopback only and lifts the per-IP limit that a single client would hit.
func TestLoadtestGeneratedConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := loadBridgeConfig(loadtest.Server{KeyDir: dir, DataDir: dir, Listen: "127.0.0.1:18443", PublicURL: "http://127.0.0.1:18443",
		MockURL: "http://127.0.0.1:19443", PlatformURL: loadtest.PlatformURL, XAccountType: loadtest.XAccountType, AuditLog: filepath.Join(dir, "audit.jsonl")})
	path := filepath.Join(dir, "partneridp-loadtest.yaml")
	if _, err := writeLoadConfig(cfg, path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadConfig(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Listen != "127.0.0.1:18443" || got.PublicURL != "http://127.0.0.1:18443" || !got.Development {
		t.Errorf("listen %q, public_url %q, development %v", got.Listen, got.PublicURL, got.Development)
	}
	if got.Limits.PerIPPerMinute < 1<<20 || got.Log.AuditLog == "" || got.Huawei.XAccountType != loadtest.XAccountType {
		t.Errorf("limits %+v, audit log %q, xAccountType %q", got.Limits, got.Log.AuditLog, got.Huawei.XAccountType)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("config file mode: %v %v", st.Mode(), err)
	}
}

// TestLoadtestRefusesBadOptions: the command refuses before starting anything.
func TestLoadtestRefusesBadOptions(t *testing.T) {
	root := newRootCmd(&lockedBuffer{}, &lockedBuffer{})
	root.SetArgs([]string{"loadtest", "--duration", "0s"})
	if err := root.Execute(); !errors.Is(err, loadtest.ErrOptions) {
		t.Errorf("loadtest --duration 0s: want loadtest.ErrOptions, got %v", err)
	}
}

func TestWithoutConfigOverrides(t *testing.T) {
	got := withoutConfigOverrides([]string{"PATH=/bin", "PARTNERIDP_LISTEN=:1", "HOME=/h", "PARTNERIDP_STORE_PATH=x", "XPARTNERIDP_A=1"})
	want := []string{"PATH=/bin", "HOME=/h", "XPARTNERIDP_A=1"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %v, want %v", got, want)
	}
}
