//go:build linux

package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/internal/loadtest"
	"github.com/partneridp/partneridp/metadata"
)

// defaultLoadtestOptions are the flags' defaults with this command's
// wiring: serve's config, stores and bridge.
func defaultLoadtestOptions() loadtest.Options {
	o := loadtest.DefaultOptions()
	o.Deployment = loadtestDeployment{}
	o.ServerGrace = shutdownGrace
	return o
}

func newLoadtestCmd() *cobra.Command {
	o := defaultLoadtestOptions()
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "loadtest",
		Short: "Run complete SSO flows against a `serve` child process and report throughput, latency, errors and memory",
		Long: `Start 'partneridp serve' as a child process on 127.0.0.1 with development keys
and a bridge config written to --data-dir, put the mock Huawei IAM in Huawei's
place inside this process, and run complete SSO flows against the server for
--duration after --warmup. Each flow is what a browser does:

  mint a handoff token (the platform) -> GET /sso/huawei on the bridge ->
  302 to the mock's login link -> the mock signs an AuthnRequest -> 302 to the
  bridge's /saml/sso -> the bridge answers with its POST form -> POST the signed
  Response to the mock's ACS, which checks it strictly (any refusal is an error).

The accounts are pre-bound (mock accounts and bridge bindings), so every flow
takes the "already bound" path (isFirstLogin=false). Each flow uses a fresh
cookie jar; --reuse-session gives each worker one bridge session and starts
its later flows at Huawei's login link instead (the SSO core alone).

Before and after the load, the SSO core's cost is measured in this
process (the mean of the two is used: a shared machine's speed drifts): the
bridge's handler answering signed AuthnRequests with a session cookie, as
BenchmarkSSOWithSession does. ceiling = cores / CPU time per response. The
ceiling counts one bridge response only: not the handoff request, HTTP, the
rate limiter or the audit log, and not the load generator's own work (the
mock signing each AuthnRequest and verifying each Response), which shares the
same cores. So the report also gives the server's own CPU time per flow
(from /proc) and what it implies.

The report: flows completed, flows/s, latency p50/p95/p99/max, errors by
reason, server CPU ms/flow, server RSS at start/end/peak of the window with a
flatness verdict (last third vs middle third; anonymous and file-backed
parts apart), ceiling and % of ceiling, a timeline (flows/s, p95, errors,
server CPU per flow and RSS per slice), and PASS/FAIL against the targets
(>= 70 % of the ceiling, zero errors, flat memory). The exit status is
non-zero when any flow failed or the server did not run and stop cleanly.
Linux only (it reads /proc).

The store keeps each AuthnRequest ID until IssueInstant + idp.clock_skew
+ 1 minute, in per-minute slots that the sweeper (store.sweep_interval)
drops once they end: about 6 minutes with the defaults. The server's
memory grows while that window fills; to judge flat memory at steady
state, use --warmup 6m or more.

The mock keeps used IDs for hours, so a new mock generation (same key, URL
and accounts) takes over every 2000 flows; each flow stays on the generation
that sent its AuthnRequest.`,
		Example: `  go build -o /tmp/partneridp ./cmd/partneridp && /tmp/partneridp loadtest --duration 5m
  partneridp loadtest --duration 30s --concurrency 8 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o.Progress = cmd.ErrOrStderr() // the report alone goes to stdout
			rep, err := loadtest.Run(ctx, o)
			if rep != nil {
				if asJSON {
					enc := json.NewEncoder(cmd.OutOrStdout())
					enc.SetIndent("", "  ")
					if jerr := enc.Encode(rep); jerr != nil {
						return errors.Join(err, jerr)
					}
				} else {
					rep.WriteText(cmd.OutOrStdout())
				}
				if err == nil && !rep.Pass {
					// Exit status 3: the run worked, the targets were not met.
					return &verdictError{msg: "loadtest: verdict FAIL (see the targets in the report; exit status 3)"}
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.Duration, "duration", o.Duration, "how long to measure (at most 1h)")
	f.DurationVar(&o.Warmup, "warmup", o.Warmup, "load before measuring, not counted")
	f.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "concurrent browsers (default 4 x GOMAXPROCS, enough to keep both the server and the load generator busy)")
	f.StringVar(&o.DataDir, "data-dir", "", "folder for keys, config, store and server log (default: a temporary folder, removed at the end)")
	f.StringVar(&o.ServerBinary, "server-binary", "", "the partneridp binary to run as 'serve' (default: this executable)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&o.ReuseSession, "reuse-session", false, "one bridge session per worker; later flows start at Huawei's login link")
	f.IntVar(&o.Accounts, "accounts", o.Accounts, "pre-bound partner accounts the flows cycle through")
	f.IntVar(&o.CeilingSamples, "ceiling-samples", o.CeilingSamples, "responses timed for the SSO-core ceiling")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write the load generator's CPU profile (warm-up and window) to this file")
	f.StringVar(&o.Store, "store", o.Store, "the servers' store: bolt (one instance) or etcd (see --etcd-endpoints, --instances)")
	f.StringSliceVar(&o.EtcdEndpoints, "etcd-endpoints", nil, "etcd client URLs for --store etcd; the run writes under a prefix of its own and deletes it at the end")
	f.IntVar(&o.Instances, "instances", o.Instances, "serve processes on the one etcd cluster; connections are spread over them, so a flow's requests meet several instances")
	f.IntVar(&o.EtcdPID, "etcd-pid", 0, "the etcd server's process ID on this machine: its CPU per flow and memory are reported too")
	f.IntSliceVar(&o.ServerCPUs, "server-cpus", nil, "pin the servers to these CPUs (with GOMAXPROCS to match), e.g. 1; needs --generator-cpus")
	f.IntSliceVar(&o.GeneratorCPUs, "generator-cpus", nil, "pin this load generator to these CPUs, disjoint from --server-cpus, e.g. 0")
	return cmd
}

// loadtestDeployment is the load test's view of this command's wiring.
type loadtestDeployment struct{}

func (loadtestDeployment) Keys(dir string, now time.Time) (metadata.SigningKey, ed25519.PrivateKey, error) {
	if _, _, err := devKeyPair(dir, demoIdPKeyName, demoIdPCertName, "partneridp loadtest IdP", now); err != nil {
		return metadata.SigningKey{}, nil, fmt.Errorf("IdP signing key: %w", err)
	}
	spKey, _, err := devKeyPair(dir, mockSPKeyName, mockSPCertName, "mock-huawei-iam", now)
	if err != nil {
		return spKey, nil, fmt.Errorf("mock Huawei IAM key: %w", err)
	}
	platformKey, err := devEd25519Key(dir, demoPlatformKeyName, demoPlatformPubName)
	if err != nil {
		return spKey, nil, fmt.Errorf("platform key: %w", err)
	}
	return spKey, platformKey, nil
}

func (loadtestDeployment) WriteConfig(s loadtest.Server, path string) (loadtest.Timings, error) {
	cfg, err := writeLoadConfig(loadBridgeConfig(s), path)
	if err != nil {
		return loadtest.Timings{}, err
	}
	return loadtest.Timings{ClockSkew: cfg.IdP.ClockSkew.Duration, SweepEvery: cfg.Store.SweepEvery.Duration}, nil
}

func (loadtestDeployment) OpenStore(ctx context.Context, s loadtest.Server) (binding.Store, error) {
	return openStore(ctx, loadBridgeConfig(s), storeOpen{})
}

func (loadtestDeployment) NewBridge(ctx context.Context, s loadtest.Server) (*loadtest.Bridge, error) {
	b, err := newBridge(ctx, loadBridgeConfig(s), bridgeOptions{})
	if err != nil {
		return nil, err
	}
	return &loadtest.Bridge{Handler: b.server.Handler(), Store: b.store, MetadataXML: b.metadataXML, Close: b.Close}, nil
}

func (loadtestDeployment) Serve(h http.Handler, ln net.Listener) func() error {
	g := newServerGroup()
	g.start(servedListener{srv: newHTTPServer(h, slog.New(slog.NewTextHandler(io.Discard, nil))), ln: ln})
	return g.shutdown
}

func (loadtestDeployment) ServerEnv() []string { return withoutConfigOverrides(os.Environ()) }

// withoutConfigOverrides drops PARTNERIDP_* variables: they would replace
// values of the generated config in the child.
func withoutConfigOverrides(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PARTNERIDP_") {
			out = append(out, kv)
		}
	}
	return out
}

// loadBridgeConfig is the demo's bridge config with what a load test needs:
// the reserved loopback address, limits that a single client IP cannot
// hit, JSON logs and the audit log on, as in production.
func loadBridgeConfig(s loadtest.Server) *Config {
	cfg := demoBridgeConfig(s.KeyDir, s.XAccountType, s.PublicURL, s.MockURL, s.PlatformURL, nil)
	cfg.DataDir = s.DataDir
	cfg.Listen = s.Listen
	cfg.Admin.Listen = "127.0.0.1:0" // metrics are not read; any free port, so runs never collide
	cfg.Log = LogConfig{Format: "json", Level: "info", AuditLog: s.AuditLog}
	// Every flow comes from 127.0.0.1: the per-IP limit would measure the
	// limiter, not the bridge.
	cfg.Limits = LimitsConfig{PerIPPerMinute: 1 << 30, Burst: 1 << 20, MaxClients: 1000}
	cfg.Store.Path = s.StorePath
	if cfg.Store.Path == "" {
		cfg.Store.Path = filepath.Join(s.DataDir, "partneridp.db") // the default file, in this server's data dir
	}
	if s.Store == loadtest.StoreEtcd {
		cfg.Store.Type = storeEtcd
		cfg.Store.Etcd.Endpoints = s.EtcdEndpoints
		cfg.Store.Etcd.Prefix = s.EtcdPrefix
	}
	cfg.Session.SecretFile = s.SessionSecretFile
	return cfg
}

// writeLoadConfig writes cfg as YAML and reads it back the way serve will,
// so a config that serve would refuse fails here with its problems listed.
func writeLoadConfig(cfg *Config, path string) (*Config, error) {
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("bridge config: %w", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, fmt.Errorf("bridge config: %w", err)
	}
	loaded, err := LoadConfig(path, nil)
	if err != nil {
		return nil, fmt.Errorf("the generated bridge config does not load: %w", err)
	}
	return loaded, nil
}
