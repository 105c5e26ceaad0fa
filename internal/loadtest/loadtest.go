//go:build linux

package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bolt"
	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/mockiam"
	"github.com/partneridp/partneridp/idp/samlreq"
	"github.com/partneridp/partneridp/internal/journey"
	"github.com/partneridp/partneridp/metadata"
)

// The store types a run's servers can use (store.type in their config).
const (
	StoreBolt = "bolt"
	StoreEtcd = "etcd"
)

// Server is one serve instance as the load test chooses it; the
// Deployment turns it into the command's config.
type Server struct {
	KeyDir       string // the development keys Deployment.Keys made
	DataDir      string // the store file and anything else of the server's
	Listen       string
	PublicURL    string
	MockURL      string // the mock Huawei IAM in Huawei's place
	PlatformURL  string // the handoff tokens' issuer; nothing runs there
	XAccountType string
	AuditLog     string // "": none
	// Store is StoreBolt (StorePath, or the default file in DataDir) or
	// StoreEtcd (EtcdEndpoints under EtcdPrefix).
	Store             string
	StorePath         string
	EtcdEndpoints     []string
	EtcdPrefix        string
	SessionSecretFile string // "": the bridge's own; instances sharing sessions need one
}

// Timings are the config's figures that say how long replay records live.
type Timings struct {
	ClockSkew  time.Duration // 0: samlreq.DefaultSkew
	SweepEvery time.Duration // 0: a minute
}

// Bridge is a bridge built in this process, for the SSO-core ceiling.
type Bridge struct {
	Handler     http.Handler
	Store       binding.Store
	MetadataXML []byte
	Close       func() error
}

// Deployment is what the load test needs of the command's wiring; the
// command knows how a config is written, a store opened and a bridge built.
type Deployment interface {
	// Keys makes the development keys in dir: the IdP's (files the config
	// names), and returns the mock's SP key and the platform's handoff key.
	Keys(dir string, now time.Time) (sp metadata.SigningKey, platform ed25519.PrivateKey, err error)
	// WriteConfig writes s as the config file `serve --config path` reads,
	// reads it back the way serve will, and returns its replay timings.
	WriteConfig(s Server, path string) (Timings, error)
	// OpenStore opens s's store.
	OpenStore(ctx context.Context, s Server) (binding.Store, error)
	// NewBridge builds s's bridge in this process.
	NewBridge(ctx context.Context, s Server) (*Bridge, error)
	// Serve serves h on ln in the background until stop is called.
	Serve(h http.Handler, ln net.Listener) (stop func() error)
	// ServerEnv is the environment the serve processes start with: this
	// process's, without what would override the written config.
	ServerEnv() []string
}

// Targets of issue 6, and the bounds of a run.
const (
	loadTargetCeilingShare = 0.70 // completed flows/s ÷ SSO-core ceiling
	loadTargetRSSGrowth    = 0.10 // last third vs middle third of the window
	loadMaxDuration        = time.Hour
	loadMaxWarmup          = 10 * time.Minute
	loadMaxConcurrency     = 256
	loadMaxAccounts        = 10000 // each mock generation seeds them all
	loadMaxInstances       = 8
	loadMaxCeilingSamples  = 5000 // the mock holds at most 10000 unanswered AuthnRequests
	loadReadyTimeout       = 20 * time.Second
	loadStopMargin         = 5 * time.Second  // after the servers' own grace: then SIGKILL
	loadFlowTimeout        = 15 * time.Second // the browser's client timeout bounds each request
	loadXAccountType       = "loadtest_IDP"
	loadPlatformURL        = "http://platform.loadtest.invalid" // no platform runs: a deferral is an error
	loadCeilingWarmup      = 20
	loadSampleEvery        = time.Second
	loadErrorPause         = 20 * time.Millisecond // after a failed flow
	// USER_HZ: the unit of utime and stime in /proc/<pid>/stat, 100 on
	// every Linux architecture Go supports.
	clockTicksPerSecond = 100
)

// ErrFailed is returned when any flow failed, the server died or
// did not stop cleanly; ErrOptions when an option is out of range.
var (
	ErrFailed       = errors.New("loadtest failed")
	ErrOptions      = errors.New("loadtest options are invalid")
	errServerExited = errors.New("the server exited during the run")
)

// Options are a run's settings; the command's flags set them.
type Options struct {
	// Deployment is the command's wiring of a bridge: config, store, keys.
	Deployment Deployment
	// ServerGrace is how long serve takes to stop after SIGTERM; a server
	// still running 5 s after it is killed.
	ServerGrace time.Duration

	Duration       time.Duration
	Warmup         time.Duration
	Concurrency    int
	DataDir        string // "": a temporary folder, removed at the end
	ServerBinary   string // "": this executable
	ReuseSession   bool
	Accounts       int
	CeilingSamples int
	CPUProfile     string // this process's CPU profile during the load; "": none
	// Store is the servers' store.type: bolt (one instance) or etcd
	// (Instances servers on the cluster at EtcdEndpoints, under a prefix
	// of their own that is deleted at the end).
	Store         string
	EtcdEndpoints []string
	Instances     int
	EtcdPID       int // etcd's process, sampled for its CPU and memory; 0: not sampled
	// ServerCPUs and GeneratorCPUs pin the servers and this process to
	// disjoint CPU sets (Linux CPU numbers), GOMAXPROCS set to match, so
	// neither takes the other's cores; empty: not pinned.
	ServerCPUs, GeneratorCPUs []int
	Progress                  io.Writer // progress lines; nil: none
}

// DefaultOptions are the flags' defaults, without a Deployment.
func DefaultOptions() Options {
	return Options{
		Duration:       30 * time.Second,
		Warmup:         5 * time.Second,
		Concurrency:    4 * runtime.GOMAXPROCS(0),
		Accounts:       100,
		CeilingSamples: 1000,
		Store:          StoreBolt,
		Instances:      1,
	}
}

// Validate checks every option and names each bad one.
func (o Options) Validate() error {
	var p []string
	if o.Duration <= 0 || o.Duration > loadMaxDuration {
		p = append(p, fmt.Sprintf("--duration %s: must be more than 0 and at most %s", o.Duration, loadMaxDuration))
	}
	if o.Warmup < 0 || o.Warmup > loadMaxWarmup {
		p = append(p, fmt.Sprintf("--warmup %s: must be between 0 and %s", o.Warmup, loadMaxWarmup))
	}
	if o.Concurrency < 1 || o.Concurrency > loadMaxConcurrency {
		p = append(p, fmt.Sprintf("--concurrency %d: must be between 1 and %d", o.Concurrency, loadMaxConcurrency))
	}
	if o.Accounts < 1 || o.Accounts > loadMaxAccounts {
		p = append(p, fmt.Sprintf("--accounts %d: must be between 1 and %d", o.Accounts, loadMaxAccounts))
	}
	if o.CeilingSamples < 10 || o.CeilingSamples > loadMaxCeilingSamples {
		p = append(p, fmt.Sprintf("--ceiling-samples %d: must be between 10 and %d", o.CeilingSamples, loadMaxCeilingSamples))
	}
	switch o.Store {
	case StoreBolt:
		if o.Instances != 1 {
			p = append(p, fmt.Sprintf("--instances %d: a bolt store belongs to one process; use --store etcd for several instances", o.Instances))
		}
	case StoreEtcd:
		if len(o.EtcdEndpoints) == 0 {
			p = append(p, "--store etcd: give the cluster with --etcd-endpoints (for example http://127.0.0.1:2379)")
		}
		if o.Instances < 1 || o.Instances > loadMaxInstances {
			p = append(p, fmt.Sprintf("--instances %d: must be between 1 and %d", o.Instances, loadMaxInstances))
		}
	default:
		p = append(p, fmt.Sprintf("--store %q: choose bolt or etcd", o.Store))
	}
	if (len(o.ServerCPUs) == 0) != (len(o.GeneratorCPUs) == 0) {
		p = append(p, "--server-cpus and --generator-cpus: give both (disjoint CPU sets) or neither")
	}
	for _, c := range o.ServerCPUs {
		if slices.Contains(o.GeneratorCPUs, c) {
			p = append(p, fmt.Sprintf("--server-cpus and --generator-cpus share CPU %d: give disjoint sets", c))
		}
	}
	for _, c := range append(slices.Clone(o.ServerCPUs), o.GeneratorCPUs...) {
		if c < 0 || c >= runtime.NumCPU() {
			p = append(p, fmt.Sprintf("CPU %d: this machine has CPUs 0 to %d", c, runtime.NumCPU()-1))
		}
	}
	if o.EtcdPID < 0 || (o.EtcdPID > 0 && o.Store != StoreEtcd) {
		p = append(p, fmt.Sprintf("--etcd-pid %d: a process ID, with --store etcd", o.EtcdPID))
	}
	if o.ServerBinary != "" {
		st, err := os.Stat(o.ServerBinary)
		switch {
		case err != nil:
			p = append(p, fmt.Sprintf("--server-binary: %v (build it with: go build -o partneridp ./cmd/partneridp)", err))
		case st.IsDir() || st.Mode().Perm()&0o111 == 0:
			p = append(p, fmt.Sprintf("--server-binary: %s is not an executable file", o.ServerBinary))
		}
	}
	if len(p) > 0 {
		return fmt.Errorf("%w:\n  - %s", ErrOptions, strings.Join(p, "\n  - "))
	}
	return nil
}

// Report is what a run found; the JSON names are the machine interface.
type Report struct {
	Mode         string  `json:"mode"` // fresh-session | reuse-session
	Concurrency  int     `json:"concurrency"`
	Cores        int     `json:"cores"`
	WarmupS      float64 `json:"warmup_seconds"`
	DurationS    float64 `json:"duration_seconds"` // measured, shorter when interrupted
	Interrupted  bool    `json:"interrupted"`
	ServerBinary string  `json:"server_binary"`

	Ceiling CeilingReport `json:"ceiling"`

	Flows            int64             `json:"flows_completed"`
	FlowsPerSecond   float64           `json:"flows_per_second"`
	PercentOfCeiling float64           `json:"percent_of_ceiling"`
	LatencyMS        LatencyReport     `json:"latency_ms"`
	Errors           int64             `json:"errors"`
	WarmupErrors     int64             `json:"warmup_errors"`
	ErrorsByReason   map[string]int64  `json:"errors_by_reason"`
	ErrorSamples     map[string]string `json:"error_samples,omitempty"`

	Store         string       `json:"store"`
	Instances     int          `json:"instances"`
	Server        ServerReport `json:"server"` // all instances together
	Etcd          *EtcdReport  `json:"etcd,omitempty"`
	LoadGenCPUMS  float64      `json:"load_generator_cpu_ms_per_flow"`
	LoadGenCores  float64      `json:"load_generator_cpu_cores"`
	OtherCPUCores float64      `json:"other_processes_cpu_cores"` // the rest of the machine during the window

	Timeline []TimelineSlice `json:"timeline"`
	Targets  []TargetVerdict `json:"targets"`
	Pass     bool            `json:"pass"`
	Notes    []string        `json:"notes,omitempty"`
}

type CeilingReport struct {
	Samples int `json:"samples"`
	// CPUMSPerResponse is the mean of the timing before the load and the
	// one after it: a shared machine's speed drifts, and the two bracket
	// the window.
	CPUMSPerResponse   float64 `json:"cpu_ms_per_response"`
	BeforeCPUMS        float64 `json:"cpu_ms_per_response_before"`
	AfterCPUMS         float64 `json:"cpu_ms_per_response_after,omitempty"`
	WallMSPerResponse  float64 `json:"wall_ms_per_response"`
	ResponsesPerSecond float64 `json:"responses_per_second"`
	Counts             string  `json:"counts"`
}

type LatencyReport struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

type ServerReport struct {
	PID        int     `json:"pid"`  // the first instance
	PIDs       []int   `json:"pids"` // every instance; the figures are their sums
	URL        string  `json:"url"`
	CPUMSFlow  float64 `json:"cpu_ms_per_flow"`
	CPUCores   float64 `json:"cpu_cores"` // average use during the window
	ImpliedFPS float64 `json:"implied_flows_per_second"`
	// ImpliedPct is ImpliedFPS as a share of the ceiling: what the server
	// would reach with the cores to itself.
	ImpliedPct  float64 `json:"implied_percent_of_ceiling"`
	RSSStartMiB float64 `json:"rss_start_mib"`
	RSSEndMiB   float64 `json:"rss_end_mib"`
	RSSPeakMiB  float64 `json:"rss_peak_mib"` // VmHWM: the whole life of the process
	RSSGrowth   float64 `json:"rss_growth_percent"`
	// The resident set's parts: anonymous (heap, stacks) and file-backed
	// (mostly the store's memory map).
	AnonStartMiB float64 `json:"rss_anon_start_mib"`
	AnonEndMiB   float64 `json:"rss_anon_end_mib"`
	FileStartMiB float64 `json:"rss_file_start_mib"`
	FileEndMiB   float64 `json:"rss_file_end_mib"`
	AnonGrowth   float64 `json:"rss_anon_growth_percent"`
	AnonFlat     bool    `json:"rss_anon_flat"`
	FileGrowth   float64 `json:"rss_file_growth_percent"`
	// ReplayWindowS is how long after the load starts the store stops
	// growing (spent marks expire, their slot ends, the sweeper runs).
	ReplayWindowS float64 `json:"replay_window_seconds"`
	MemoryFlat    bool    `json:"memory_flat"`
	ExitCode      int     `json:"exit_code"`
	StopMS        float64 `json:"stop_ms"`
	Log           string  `json:"log,omitempty"` // kept only with --data-dir
}

// EtcdReport is the etcd server's share of the window (--etcd-pid).
type EtcdReport struct {
	PID         int     `json:"pid"`
	CPUMSFlow   float64 `json:"cpu_ms_per_flow"`
	CPUCores    float64 `json:"cpu_cores"`
	RSSStartMiB float64 `json:"rss_start_mib"`
	RSSEndMiB   float64 `json:"rss_end_mib"`
}

type TimelineSlice struct {
	FromS          float64 `json:"from_seconds"`
	ToS            float64 `json:"to_seconds"`
	FlowsPerSecond float64 `json:"flows_per_second"`
	P95MS          float64 `json:"p95_ms"`
	Errors         int64   `json:"errors"`
	RSSMiB         float64 `json:"rss_mib"`
	AnonMiB        float64 `json:"rss_anon_mib"`
	FileMiB        float64 `json:"rss_file_mib"`
	// ServerCPUMSFlow is the server's CPU time per flow completed between
	// the slice's first and last samples (0 when they are too few).
	ServerCPUMSFlow float64 `json:"server_cpu_ms_per_flow"`
}

type TargetVerdict struct {
	Name     string `json:"name"`
	Measured string `json:"measured"`
	Pass     bool   `json:"pass"`
}

// Run sets everything up, measures and tears down. The report is
// returned whenever a measurement was made, also with an error.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		return nil, fmt.Errorf("loadtest reads the server's memory and CPU from /proc, which is missing here: %w", err)
	}
	if o.ServerBinary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("loadtest: cannot find this executable to run as the server (give --server-binary): %w", err)
		}
		o.ServerBinary = exe
	}
	r := &loadRun{opts: o, progress: o.Progress}
	if r.progress == nil {
		r.progress = io.Discard
	}
	if len(o.GeneratorCPUs) > 0 {
		// This process: the load generator and the in-process ceiling.
		if err := r.pin(0, o.GeneratorCPUs); err != nil {
			return nil, err
		}
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(len(o.GeneratorCPUs)))
	}
	defer r.close()
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	r.logf("measuring the SSO-core ceiling in-process (%d responses)...", o.CeilingSamples)
	ceiling, err := r.measureCeiling(ctx)
	if err != nil {
		return nil, fmt.Errorf("loadtest: SSO-core ceiling: %w", err)
	}
	r.logf("  %.2f ms CPU per response: ceiling %.0f responses/s on %d cores", ceiling.CPUMSPerResponse, ceiling.ResponsesPerSecond, r.serverCores())
	if err := r.startServer(ctx); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFailed, err)
	}
	stopProfile, err := startCPUProfile(o.CPUProfile)
	if err != nil {
		return nil, err
	}
	// The load generator's garbage is not what is measured: collect less
	// often so more of the shared cores go to the flows.
	gcPercent := debug.SetGCPercent(400)
	rep, runErr := r.runLoad(ctx)
	debug.SetGCPercent(gcPercent)
	stopProfile()
	stopErr := r.stopServer()
	if rep == nil {
		if errors.Is(runErr, errServerExited) && stopErr != nil {
			runErr = nil // stopErr says the same, with the exit status and log
		}
		return nil, fmt.Errorf("%w: %w", ErrFailed, errors.Join(runErr, stopErr))
	}
	r.logf("measuring the SSO-core ceiling again after the load...")
	after, afterErr := r.measureCeiling(ctx)
	if afterErr == nil {
		ceiling = bracketCeiling(ceiling, after, r.serverCores())
	}
	rep.Ceiling = ceiling
	rep.Server.ExitCode, rep.Server.StopMS = r.exitCode, ms(r.stopTime)
	r.finishReport(rep)
	if afterErr != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the ceiling could not be measured again after the load (%v): the figure is the one from before", afterErr))
	}
	var failures []string
	if rep.Errors+rep.WarmupErrors > 0 {
		failures = append(failures, fmt.Sprintf("%d flow(s) failed", rep.Errors+rep.WarmupErrors))
	}
	if stopErr != nil {
		failures = append(failures, stopErr.Error())
	}
	if runErr != nil {
		failures = append(failures, runErr.Error())
	}
	if len(failures) > 0 {
		return rep, fmt.Errorf("%w: %s", ErrFailed, strings.Join(failures, "; "))
	}
	return rep, nil
}

// loadRun is one run's state: the data folder, the in-process mock, the
// child server and what was measured.
type loadRun struct {
	opts     Options
	progress io.Writer

	dir       string
	removeDir bool
	srv       Server // the first instance's; the others differ in Listen
	timings   Timings
	cfgPath   string
	logPath   string

	bridgeURL, mockURL, service string
	mocks                       *mockPool
	stopMock                    func() error
	minter                      *handoff.Minter
	accounts                    []string
	transport                   *http.Transport

	child       *exec.Cmd
	childLog    *os.File
	childDone   chan struct{} // closed when any instance exits
	childErr    error         // why the first to exit did
	primaryDone chan struct{}
	exitOnce    sync.Once
	extra       []*extraInstance // instances 2..N (--store etcd)
	extraLogs   []*os.File
	addrs       []string // every instance's listen address, the first's is bridgeURL's
	stopped     bool
	exitCode    int
	stopTime    time.Duration
}

func (r *loadRun) logf(format string, args ...any) {
	fmt.Fprintf(r.progress, format+"\n", args...)
}

// setup makes keys and config, starts the mock on loopback and seeds the
// accounts on both sides.
func (r *loadRun) setup(ctx context.Context) (err error) {
	if r.opts.DataDir == "" {
		if r.dir, err = os.MkdirTemp("", "partneridp-loadtest-*"); err != nil {
			return fmt.Errorf("loadtest: temporary data folder: %w", err)
		}
		r.removeDir = true
	} else {
		if r.dir, err = filepath.Abs(r.opts.DataDir); err != nil {
			return fmt.Errorf("--data-dir: %w", err)
		}
		if err := os.MkdirAll(r.dir, 0o700); err != nil {
			return fmt.Errorf("--data-dir: %w", err)
		}
	}
	now := time.Now()
	spKey, platformKey, err := r.opts.Deployment.Keys(r.dir, now)
	if err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}

	// The server's port is reserved and released here so its URL can go
	// in the config; the mock keeps its listener.
	for range r.opts.Instances {
		addr, err := freeLoopbackAddr()
		if err != nil {
			return err
		}
		r.addrs = append(r.addrs, addr)
	}
	bridgeAddr := r.addrs[0]
	mockLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("loadtest: listen for the mock: %w", err)
	}
	r.bridgeURL, r.mockURL = "http://"+bridgeAddr, "http://"+mockLn.Addr().String()
	r.service = r.mockURL + mockiam.PathConsole

	r.accounts = make([]string, r.opts.Accounts)
	for i := range r.accounts {
		r.accounts[i] = fmt.Sprintf("loadtest-%05d", i)
	}
	r.mocks, err = newMockPool(mockiam.Config{
		BaseURL: r.mockURL,
		Key:     spKey,
		IdPs: map[string]mockiam.IdPRegistration{loadXAccountType: {
			MetadataURL: r.bridgeURL + idp.PathMetadata, NotificationURL: r.bridgeURL + idp.PathBind,
		}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, r.accounts, loadMockGenerationFlows)
	if err != nil {
		mockLn.Close()
		return fmt.Errorf("loadtest: mock Huawei IAM: %w", err)
	}
	r.stopMock = r.opts.Deployment.Serve(r.mocks, mockLn)

	r.srv = Server{KeyDir: r.dir, DataDir: r.dir, Listen: bridgeAddr, PublicURL: r.bridgeURL, MockURL: r.mockURL,
		PlatformURL: loadPlatformURL, XAccountType: loadXAccountType, AuditLog: filepath.Join(r.dir, "audit.jsonl"), Store: StoreBolt}
	if r.opts.Store == StoreEtcd {
		if err := r.etcdConfig(); err != nil {
			return err
		}
	}
	if r.cfgPath, r.timings, err = r.writeConfig(r.srv, "partneridp-loadtest.yaml"); err != nil {
		return err
	}
	r.minter = &handoff.Minter{Issuer: loadPlatformURL, Audience: r.bridgeURL, Alg: handoff.AlgEdDSA, Key: platformKey}
	if err := r.seedAccounts(ctx); err != nil {
		return err
	}
	// Connections to the public address are spread over the instances,
	// as a load balancer without sticky sessions would.
	r.transport = loopbackTransport(r.opts.Concurrency, map[string][]string{bridgeAddr: r.addrs})
	return nil
}

// etcdConfig points the servers at the cluster, under a prefix of this
// run's own, with the one session key every instance must share.
func (r *loadRun) etcdConfig() error {
	secret := make([]byte, 32)
	if _, err := crand.Read(secret); err != nil {
		return err
	}
	path := filepath.Join(r.dir, "session.key")
	if err := os.WriteFile(path, secret, 0o600); err != nil {
		return fmt.Errorf("loadtest: session key: %w", err)
	}
	run := make([]byte, 6)
	if _, err := crand.Read(run); err != nil {
		return err
	}
	r.srv.SessionSecretFile = path
	r.srv.Store = StoreEtcd
	r.srv.EtcdEndpoints = r.opts.EtcdEndpoints
	r.srv.EtcdPrefix = "/partneridp-loadtest-" + hex.EncodeToString(run) + "/"
	return nil
}

// writeConfig writes s as the config file name in the data folder.
func (r *loadRun) writeConfig(s Server, name string) (string, Timings, error) {
	path := filepath.Join(r.dir, name)
	t, err := r.opts.Deployment.WriteConfig(s, path)
	if err != nil {
		return "", t, fmt.Errorf("loadtest: %w", err)
	}
	return path, t, nil
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("loadtest: find a free loopback port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// seedAccounts binds each test account in the server's store, to the
// Huawei account the mock holds for it, before the server owns the file.
func (r *loadRun) seedAccounts(ctx context.Context) error {
	db, err := r.opts.Deployment.OpenStore(ctx, r.srv)
	if err != nil {
		return fmt.Errorf("loadtest: seed bindings: %w", err)
	}
	defer db.Close()
	_, first := r.mocks.acquire()
	for _, id := range r.accounts {
		acct, ok := first.Account(loadXAccountType, id)
		if !ok {
			return fmt.Errorf("loadtest: the mock has no account for %s", id)
		}
		b := binding.Binding{
			Key:      binding.Key{XAccountType: loadXAccountType, XAccountID: id},
			DomainID: acct.Domain.ID, DomainName: acct.Domain.Name, Source: binding.SourceImport,
		}
		if _, err := binding.Put(ctx, db, b, "partneridp loadtest", nil); err != nil {
			return fmt.Errorf("loadtest: seed binding %s: %w", id, err)
		}
	}
	return nil
}

// The mock keeps every consumed ID and session for hours and prunes them by
// walking its maps at each login, so one instance slows down as a long run
// goes on: cost that belongs to neither the server nor Huawei. mockPool
// serves the mock's URL from generations of mocks with the same SP key,
// registration and accounts; a new generation takes over every
// loadMockGenerationFlows flows, and each flow stays on the generation it
// started with (its requests carry loadMockGenerationHeader), so every
// Response is still checked by the mock that sent its AuthnRequest.
const (
	loadMockGenerationFlows  = 2000
	loadMockGenerationHeader = "X-Partneridp-Loadtest-Mock"
	loadMockRetiredKept      = 8 // generations kept for flows still in flight
)

type mockPool struct {
	cfg      mockiam.Config
	accounts []string
	perGen   int

	mu      sync.Mutex
	gens    map[uint64]*mockGeneration
	current uint64
	started int // flows started on the current generation
}

type mockGeneration struct {
	iam     *mockiam.IAM
	handler http.Handler
}

func newMockPool(cfg mockiam.Config, accounts []string, perGen int) (*mockPool, error) {
	p := &mockPool{cfg: cfg, accounts: accounts, perGen: perGen, gens: map[uint64]*mockGeneration{}}
	g, err := p.newGeneration()
	if err != nil {
		return nil, err
	}
	p.gens[0] = g
	return p, nil
}

// newGeneration makes a mock with the pool's accounts bound.
func (p *mockPool) newGeneration() (*mockGeneration, error) {
	m, err := mockiam.New(p.cfg)
	if err != nil {
		return nil, err
	}
	for i, id := range p.accounts {
		if _, err := m.SeedAccount(loadXAccountType, id, fmt.Sprintf("loadtest_%05d", i)); err != nil {
			return nil, fmt.Errorf("seed mock account %s: %w", id, err)
		}
	}
	return &mockGeneration{iam: m, handler: m.Handler()}, nil
}

// acquire returns the generation a new flow runs on, starting the next
// one when the current has had its share.
func (p *mockPool) acquire() (uint64, *mockiam.IAM) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started >= p.perGen {
		// On failure the current one goes on: slower, still correct.
		if g, err := p.newGeneration(); err == nil {
			p.current++
			p.gens[p.current] = g
			p.started = 0
			delete(p.gens, p.current-loadMockRetiredKept-1)
		}
	}
	p.started++
	return p.current, p.gens[p.current].iam
}

// ServeHTTP routes a request to its flow's generation; requests without
// one (the server fetching SP metadata) go to the current generation.
func (p *mockPool) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	gen := p.current
	if v := r.Header.Get(loadMockGenerationHeader); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			gen = math.MaxUint64
		} else {
			gen = n
		}
	}
	g := p.gens[gen]
	p.mu.Unlock()
	if g == nil {
		http.Error(w, "loadtest: this flow's mock generation was retired: the flow took longer than "+strconv.Itoa(loadMockRetiredKept*loadMockGenerationFlows)+" others", http.StatusGone)
		return
	}
	g.handler.ServeHTTP(w, r)
}

// generationTransport marks a browser's requests to the mock with the
// generation of the flow it is running.
type generationTransport struct {
	base     http.RoundTripper
	mockHost string
	gen      atomic.Uint64
}

func (t *generationTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != t.mockHost {
		return t.base.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.Header.Set(loadMockGenerationHeader, strconv.FormatUint(t.gen.Load(), 10))
	return t.base.RoundTrip(req)
}

// loopbackTransport keeps connections alive for every worker and refuses
// to dial anything but loopback.
func loopbackTransport(workers int, spread map[string][]string) *http.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	var next atomic.Uint64
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if to := spread[addr]; len(to) > 0 {
				addr = to[int(next.Add(1)-1)%len(to)]
			}
			host, _, err := net.SplitHostPort(addr)
			if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("loadtest dials loopback addresses only, not %q", addr)
			}
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        4 * workers,
		MaxIdleConnsPerHost: 2 * workers,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// loadBrowser is a browser whose requests to the mock go to the generation
// of the flow it runs.
type loadBrowser struct {
	*journey.Browser
	gen *generationTransport
}

func (r *loadRun) newBrowser() loadBrowser {
	gt := &generationTransport{base: r.transport, mockHost: hostOf(r.mockURL)}
	return loadBrowser{Browser: journey.NewBrowser(gt, hostOf(r.bridgeURL), hostOf(r.mockURL)), gen: gt}
}

func (r *loadRun) tokenFor(account string) (string, error) {
	return r.minter.Mint(account, map[string]any{
		handoff.ClaimName: "Load Test " + account, handoff.ClaimMobile: "86-13800000000", handoff.ClaimEmail: account + "@loadtest.invalid"})
}

// measureCeiling times the SSO core in this process before the server
// starts: an in-process bridge with the same config (its own store) answers
// signed AuthnRequests with a session cookie, the work of the idp package's
// BenchmarkSSOWithSession. CPU time is the process's, from getrusage.
func (r *loadRun) measureCeiling(ctx context.Context) (CeilingReport, error) {
	rep := CeilingReport{Samples: r.opts.CeilingSamples,
		Counts: "one bridge response to a signed AuthnRequest with a session cookie (query signature, inflate, checks, replay entry, flow record, session, signed Assertion, POST form): not the handoff, HTTP, rate limiter or audit log, nor the load generator's work"}
	dir := filepath.Join(r.dir, "ceiling")
	if err := os.RemoveAll(dir); err != nil {
		return rep, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	s := r.srv
	// The ceiling is the SSO core on a bolt file of its own whatever the
	// servers use, so bolt and etcd runs compare against the same figure.
	s.DataDir, s.StorePath, s.AuditLog = dir, filepath.Join(dir, "partneridp.db"), ""
	s.Store, s.SessionSecretFile = StoreBolt, ""
	b, err := r.opts.Deployment.NewBridge(ctx, s)
	if err != nil {
		return rep, err
	}
	defer b.Close()
	account := r.accounts[0]
	if _, err := binding.Put(ctx, b.Store, binding.Binding{Key: binding.Key{XAccountType: loadXAccountType, XAccountID: account},
		DomainID: strings.Repeat("0", 32), Source: binding.SourceImport}, "partneridp loadtest", nil); err != nil {
		return rep, err
	}
	// A mock of its own, with the same SP key and URL, signs the requests:
	// the shared one must not hold thousands of unanswered logins.
	metaFile := filepath.Join(dir, "idp-metadata.xml")
	if err := os.WriteFile(metaFile, b.MetadataXML, 0o600); err != nil {
		return rep, err
	}
	signer, err := mockiam.New(mockiam.Config{BaseURL: r.mockURL, Key: r.mocks.cfg.Key,
		IdPs:   map[string]mockiam.IdPRegistration{loadXAccountType: {MetadataFile: metaFile}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return rep, err
	}
	handler := b.Handler

	token, err := r.tokenFor(account)
	if err != nil {
		return rep, err
	}
	q := url.Values{handoff.FieldToken: {token}, handoff.FieldService: {r.service}}
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, r.bridgeURL+idp.PathHandoff+"?"+q.Encode(), nil))
	if w.Code != http.StatusFound {
		return rep, fmt.Errorf("the in-process bridge answered the handoff with HTTP %d, not 302", w.Code)
	}
	cookies := w.Result().Cookies()

	// Each request ID is single use: sign them all before timing.
	n := loadCeilingWarmup + r.opts.CeilingSamples
	targets := make([]string, n)
	signerHandler := signer.Handler()
	for i := range targets {
		w := httptest.NewRecorder()
		signerHandler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, signer.LoginURL(loadXAccountType, false, r.service), nil))
		if w.Code != http.StatusFound {
			return rep, fmt.Errorf("the mock answered its login link with HTTP %d, not 302: %s", w.Code, journey.Field(w.Body.String(), "detail"))
		}
		targets[i] = w.Header().Get("Location")
	}
	serve := func(target string) error {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "SAMLResponse") {
			return fmt.Errorf("the in-process bridge answered an AuthnRequest with HTTP %d, not its POST form (reason %q)", w.Code, journey.Field(w.Body.String(), "reason"))
		}
		return nil
	}
	for _, t := range targets[:loadCeilingWarmup] {
		if err := serve(t); err != nil {
			return rep, err
		}
	}
	runtime.GC()
	cpu0, wall0 := processCPU(), time.Now()
	for _, t := range targets[loadCeilingWarmup:] {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if err := serve(t); err != nil {
			return rep, err
		}
	}
	cpu, wall := processCPU()-cpu0, time.Since(wall0)
	rep.CPUMSPerResponse = ms(cpu) / float64(rep.Samples)
	rep.BeforeCPUMS = rep.CPUMSPerResponse
	rep.WallMSPerResponse = ms(wall) / float64(rep.Samples)
	if rep.CPUMSPerResponse <= 0 {
		return rep, errors.New("getrusage reported no CPU time for the responses")
	}
	rep.ResponsesPerSecond = float64(r.serverCores()) * 1000 / rep.CPUMSPerResponse
	return rep, nil
}

// replayHorizon is how long after the load starts the store stops growing:
// a spent mark lives until the later of IssueInstant + skew + margin (SAML
// request IDs) and exp + leeway (handoff tokens), then until its minute
// slot ends, then until the next sweep.
func (r *loadRun) replayHorizon() time.Duration {
	skew, sweep := r.timings.ClockSkew, r.timings.SweepEvery
	if skew <= 0 {
		skew = samlreq.DefaultSkew
	}
	if sweep <= 0 {
		sweep = time.Minute
	}
	keep := max(skew+samlreq.ReplayMargin, r.minterLifetime()+handoff.DefaultLeeway)
	return keep + bolt.SpendSlot + sweep
}

func (r *loadRun) minterLifetime() time.Duration {
	if r.minter.Lifetime > 0 {
		return r.minter.Lifetime
	}
	return handoff.DefaultMintLifetime
}

// bracketCeiling combines the timings before and after the load.
func bracketCeiling(before, after CeilingReport, cores int) CeilingReport {
	c := before
	c.BeforeCPUMS, c.AfterCPUMS = before.CPUMSPerResponse, after.CPUMSPerResponse
	c.CPUMSPerResponse = (before.CPUMSPerResponse + after.CPUMSPerResponse) / 2
	c.WallMSPerResponse = (before.WallMSPerResponse + after.WallMSPerResponse) / 2
	c.ResponsesPerSecond = float64(cores) * 1000 / c.CPUMSPerResponse
	return c
}

// processCPU is this process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startCPUProfile profiles this process until the returned func is called.
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

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

// close stops whatever is still running and removes a temporary folder.
func (r *loadRun) close() {
	if err := r.stopServer(); err != nil {
		r.logf("loadtest: %v", err)
	}
	if r.childLog != nil {
		r.childLog.Close()
	}
	for _, f := range r.extraLogs {
		f.Close()
	}
	if r.srv.Store == StoreEtcd {
		// The run's own prefix: nothing of it stays in the cluster.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if s, err := r.opts.Deployment.OpenStore(ctx, r.srv); err == nil {
			if d, ok := s.(interface{ Destroy(context.Context) error }); ok {
				_ = d.Destroy(ctx)
			}
			s.Close()
		}
		cancel()
	}
	if r.stopMock != nil {
		_ = r.stopMock()
	}
	if r.transport != nil {
		r.transport.CloseIdleConnections()
	}
	if r.removeDir && r.dir != "" {
		_ = os.RemoveAll(r.dir)
	}
}

// flowError is why one flow failed: Reason groups failures, Detail is one
// example (never a token or a SAML message).
type flowError struct {
	Reason string
	Detail string
}

// flowRecord is one finished flow, times relative to the load's start.
type flowRecord struct {
	End     time.Duration
	Latency time.Duration
	Err     *flowError
}

// collector gathers flow records from every worker.
type collector struct {
	mu      sync.Mutex
	records []flowRecord
}

func (c *collector) add(rec flowRecord) {
	c.mu.Lock()
	c.records = append(c.records, rec)
	c.mu.Unlock()
}

// counts are the flows that ended at or after from, good and failed.
func (c *collector) counts(from time.Duration) (ok, failed int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rec := range c.records {
		switch {
		case rec.End < from:
		case rec.Err != nil:
			failed++
		default:
			ok++
		}
	}
	return ok, failed
}

func (c *collector) snapshot() []flowRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]flowRecord(nil), c.records...)
}

// procSample is the server's memory at a moment of the load: the resident
// set and its two parts, anonymous (Go heap, stacks) and file-backed (the
// store's memory map and the binary).
type procSample struct {
	At       time.Duration
	RSSKiB   int64
	AnonKiB  int64
	FileKiB  int64
	CPUTicks int64 // the process's utime+stime; -1 when unread
}

// readGroupMemory is readProcMemory summed over the instances.
func readGroupMemory(pids []int) (procSample, error) {
	var sum procSample
	for _, pid := range pids {
		m, err := readProcMemory(pid)
		if err != nil {
			return sum, err
		}
		sum.RSSKiB += m.RSSKiB
		sum.AnonKiB += m.AnonKiB
		sum.FileKiB += m.FileKiB
	}
	return sum, nil
}

// readGroupCPUTicks is readProcCPUTicks summed over the instances.
func readGroupCPUTicks(pids []int) (int64, error) {
	var sum int64
	for _, pid := range pids {
		t, err := readProcCPUTicks(pid)
		if err != nil {
			return 0, err
		}
		sum += t
	}
	return sum, nil
}

// readProcMemory reads VmRSS, RssAnon and RssFile of /proc/<pid>/status.
func readProcMemory(pid int) (procSample, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, err
	}
	var s procSample
	for _, f := range []struct {
		name string
		to   *int64
	}{{"VmRSS", &s.RSSKiB}, {"RssAnon", &s.AnonKiB}, {"RssFile", &s.FileKiB}} {
		if *f.to, err = parseProcStatusKiB(data, f.name); err != nil {
			return s, err
		}
	}
	return s, nil
}

// runLoad drives the workers through warm-up and the measured window and
// samples the server once a second.
func (r *loadRun) runLoad(ctx context.Context) (*Report, error) {
	pids := r.pids()
	var col collector
	var stop atomic.Bool
	var next atomic.Uint64
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < r.opts.Concurrency; w++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			r.worker(ctx, worker, start, &stop, &next, &col)
		}(w)
	}

	var samplesMu sync.Mutex
	var samples []procSample
	sampleStop := make(chan struct{})
	sampleDone := make(chan struct{})
	go func() {
		defer close(sampleDone)
		t := time.NewTicker(loadSampleEvery)
		defer t.Stop()
		for {
			if m, err := readGroupMemory(pids); err == nil {
				m.At = time.Since(start)
				if m.CPUTicks, err = readGroupCPUTicks(pids); err != nil {
					m.CPUTicks = -1
				}
				samplesMu.Lock()
				samples = append(samples, m)
				samplesMu.Unlock()
			}
			select {
			case <-sampleStop:
				return
			case <-t.C:
			}
		}
	}()

	type snapshot struct {
		at          time.Duration
		serverTicks int64 // the server's CPU time
		busyTicks   int64 // every CPU's busy time
		self        time.Duration
		mem         procSample
		etcdTicks   int64
		etcdMem     procSample
	}
	take := func() (snapshot, error) {
		s := snapshot{at: time.Since(start), self: processCPU()}
		var err error
		if s.serverTicks, err = readGroupCPUTicks(pids); err != nil {
			return s, err
		}
		if r.opts.EtcdPID > 0 {
			if s.etcdTicks, err = readProcCPUTicks(r.opts.EtcdPID); err != nil {
				return s, fmt.Errorf("--etcd-pid %d: %w", r.opts.EtcdPID, err)
			}
			if s.etcdMem, err = readProcMemory(r.opts.EtcdPID); err != nil {
				return s, fmt.Errorf("--etcd-pid %d: %w", r.opts.EtcdPID, err)
			}
		}
		if s.busyTicks, _, err = readSystemCPUTicks(); err != nil {
			return s, err
		}
		s.mem, err = readGroupMemory(pids)
		return s, err
	}

	interrupted := false
	wait := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			interrupted = true
			return false
		case <-r.childDone:
			return false
		case <-time.After(d):
			return true
		}
	}
	var startSnap, endSnap snapshot
	var snapErr error
	r.logf("warming up for %s with %d workers...", r.opts.Warmup, r.opts.Concurrency)
	ok := wait(r.opts.Warmup)
	measured := ok
	if ok {
		startSnap, snapErr = take()
		r.logf("measuring for %s...", r.opts.Duration)
		ok = r.waitMeasuring(ctx, wait, start, startSnap.at, &col, pids)
	}
	endSnap, endErr := take()
	stop.Store(true)
	wg.Wait()
	close(sampleStop)
	<-sampleDone
	if snapErr == nil {
		snapErr = endErr
	}
	select {
	case <-r.childDone:
		return nil, errServerExited // stopServer says why, with its log
	default:
	}
	if !measured {
		return nil, fmt.Errorf("loadtest: interrupted during warm-up: %w", ctx.Err())
	}
	if snapErr != nil {
		return nil, fmt.Errorf("loadtest: reading the server's /proc entries: %w", snapErr)
	}
	// The kernel updates VmHWM lazily: it can read below the current VmRSS.
	var peak int64
	for _, pid := range pids {
		hwm, _ := ReadProcStatusKiB(pid, "VmHWM")
		rss, _ := ReadProcStatusKiB(pid, "VmRSS")
		peak += max(hwm, rss)
	}
	peak = max(peak, endSnap.mem.RSSKiB)

	rep := &Report{
		Mode:         "fresh-session",
		Concurrency:  r.opts.Concurrency,
		Cores:        r.serverCores(),
		WarmupS:      r.opts.Warmup.Seconds(),
		Interrupted:  interrupted,
		ServerBinary: r.opts.ServerBinary,
	}
	if r.opts.ReuseSession {
		rep.Mode = "reuse-session"
	}
	window := endSnap.at - startSnap.at
	rep.DurationS = window.Seconds()
	records := col.snapshot()
	summarizeFlows(rep, records, startSnap.at, endSnap.at)

	rep.Server.PID, rep.Server.PIDs, rep.Server.URL = pids[0], pids, r.bridgeURL
	rep.Store, rep.Instances = r.opts.Store, len(pids)
	serverCPU := time.Duration(endSnap.serverTicks-startSnap.serverTicks) * time.Second / clockTicksPerSecond
	if r.opts.EtcdPID > 0 {
		etcdCPU := time.Duration(endSnap.etcdTicks-startSnap.etcdTicks) * time.Second / clockTicksPerSecond
		e := &EtcdReport{PID: r.opts.EtcdPID, RSSStartMiB: mib(startSnap.etcdMem.RSSKiB), RSSEndMiB: mib(endSnap.etcdMem.RSSKiB)}
		if rep.Flows > 0 {
			e.CPUMSFlow = ms(etcdCPU) / float64(rep.Flows)
		}
		if window > 0 {
			e.CPUCores = etcdCPU.Seconds() / window.Seconds()
		}
		rep.Etcd = e
	}
	selfCPU := endSnap.self - startSnap.self
	machineBusy := time.Duration(endSnap.busyTicks-startSnap.busyTicks) * time.Second / clockTicksPerSecond
	if rep.Flows > 0 {
		rep.Server.CPUMSFlow = ms(serverCPU) / float64(rep.Flows)
		rep.LoadGenCPUMS = ms(selfCPU) / float64(rep.Flows)
	}
	if window > 0 {
		rep.Server.CPUCores = serverCPU.Seconds() / window.Seconds()
		rep.LoadGenCores = selfCPU.Seconds() / window.Seconds()
		rep.OtherCPUCores = math.Max(0, (machineBusy-serverCPU-selfCPU).Seconds()/window.Seconds())
	}
	rep.Server.RSSStartMiB, rep.Server.RSSEndMiB, rep.Server.RSSPeakMiB = mib(startSnap.mem.RSSKiB), mib(endSnap.mem.RSSKiB), mib(peak)
	rep.Server.AnonStartMiB, rep.Server.AnonEndMiB = mib(startSnap.mem.AnonKiB), mib(endSnap.mem.AnonKiB)
	rep.Server.FileStartMiB, rep.Server.FileEndMiB = mib(startSnap.mem.FileKiB), mib(endSnap.mem.FileKiB)
	samplesMu.Lock()
	inWindow := samplesBetween(samples, startSnap.at, endSnap.at)
	samplesMu.Unlock()
	rep.Server.RSSGrowth, rep.Server.MemoryFlat = memoryGrowth(inWindow, rssOf)
	rep.Server.AnonGrowth, rep.Server.AnonFlat = memoryGrowth(inWindow, anonOf)
	rep.Server.FileGrowth, _ = memoryGrowth(inWindow, fileOf)
	rep.Server.ReplayWindowS = r.replayHorizon().Seconds()
	samplesMu.Lock()
	rep.Timeline = timeline(records, samples, startSnap.at, endSnap.at, 10)
	samplesMu.Unlock()
	if !r.removeDir {
		rep.Server.Log = r.logPath
	}
	select {
	case <-r.childDone:
		return rep, fmt.Errorf("the server exited during the run (%v)", r.childErr)
	default:
	}
	if interrupted {
		return rep, fmt.Errorf("interrupted after %.0f s of measurement", window.Seconds())
	}
	return rep, nil
}

// waitMeasuring waits out the window, printing progress every 30 s.
func (r *loadRun) waitMeasuring(ctx context.Context, wait func(time.Duration) bool, start time.Time, from time.Duration, col *collector, pids []int) bool {
	end := from + r.opts.Duration
	const every = 30 * time.Second
	for {
		left := end - time.Since(start)
		if left <= 0 {
			return true
		}
		if !wait(min(left, every)) {
			return false
		}
		at := time.Since(start)
		if at >= end {
			return true
		}
		ok, failed := col.counts(from)
		m, _ := readGroupMemory(pids)
		r.logf("  %4.0f s: %d flows (%.1f/s), %d errors, server RSS %.1f MiB (anon %.1f, file %.1f)", (at - from).Seconds(), ok, float64(ok)/(at-from).Seconds(), failed, mib(m.RSSKiB), mib(m.AnonKiB), mib(m.FileKiB))
	}
}

// worker runs flows until stop. In fresh-session mode every flow has a new
// cookie jar and starts with a handoff; with --reuse-session the worker's
// first flow makes the bridge session and later ones start at Huawei.
func (r *loadRun) worker(ctx context.Context, worker int, start time.Time, stop *atomic.Bool, next *atomic.Uint64, col *collector) {
	var b loadBrowser
	account := r.accounts[worker%len(r.accounts)]
	for !stop.Load() && ctx.Err() == nil {
		viaHandoff := true
		if r.opts.ReuseSession {
			viaHandoff = b.Browser == nil
			if b.Browser == nil {
				b = r.newBrowser()
			}
		} else {
			b = r.newBrowser()
			account = r.accounts[int(next.Add(1)-1)%len(r.accounts)]
		}
		gen, mock := r.mocks.acquire()
		b.gen.gen.Store(gen)
		t0 := time.Now()
		fe := r.flow(ctx, b.Browser, mock, account, viaHandoff)
		if ctx.Err() != nil {
			return // cut short by Ctrl-C: not the server's failure
		}
		col.add(flowRecord{End: time.Since(start), Latency: time.Since(t0), Err: fe})
		if fe != nil {
			if r.opts.ReuseSession {
				b = loadBrowser{} // start again with a handoff
			}
			// A refusing server answers fast: pause so failures cannot pile
			// up records by the million.
			time.Sleep(loadErrorPause)
		}
	}
}

// flow runs one SSO flow as a browser and checks each hop.
func (r *loadRun) flow(ctx context.Context, b *journey.Browser, mock *mockiam.IAM, account string, viaHandoff bool) *flowError {
	ctx, cancel := context.WithTimeout(ctx, 2*loadFlowTimeout)
	defer cancel()
	var p *journey.Page
	var err error
	if viaHandoff {
		token, terr := r.tokenFor(account)
		if terr != nil {
			return &flowError{"mint handoff token", terr.Error()}
		}
		q := url.Values{handoff.FieldToken: {token}, handoff.FieldService: {r.service}}
		p, err = b.Get(ctx, r.bridgeURL+idp.PathHandoff+"?"+q.Encode())
	} else {
		p, err = b.Get(ctx, mock.LoginURL(loadXAccountType, false, r.service))
	}
	if err != nil {
		return &flowError{"to the POST form: transport error", err.Error()}
	}
	if fe := r.checkLoginLink(p, viaHandoff); fe != nil {
		return fe
	}
	form, found := journey.FindForm(p, "saml-post")
	if p.Status != http.StatusOK || !found {
		return &flowError{"no POST form: " + r.where(p), p.Describe()}
	}
	if form.Action != mock.ACSURL() {
		return &flowError{"the POST form goes elsewhere than the mock's ACS", "action " + form.Action}
	}
	p, err = b.Submit(ctx, form)
	if err != nil {
		return &flowError{"to the mock ACS: transport error", err.Error()}
	}
	if p.Status != http.StatusOK || journey.Field(p.Body, "verdict") != "accepted" {
		reason := journey.Field(p.Body, "reason")
		if reason == "" {
			reason = "HTTP " + strconv.Itoa(p.Status)
		}
		return &flowError{"mock ACS refused: " + reason, p.Describe()}
	}
	if got := journey.Field(p.Body, "xuserid"); got != account {
		return &flowError{"mock console shows another user", fmt.Sprintf("xUserId %q, want %q", got, account)}
	}
	return nil
}

// checkLoginLink checks that the bridge sent the browser to the mock's
// login link with isFirstLogin=false: every account is bound.
func (r *loadRun) checkLoginLink(p *journey.Page, viaHandoff bool) *flowError {
	if !viaHandoff {
		return nil
	}
	var link *url.URL
	for _, u := range p.Chain {
		if u.Host == hostOf(r.mockURL) && u.Path == mockiam.PathLogin {
			link = u
		}
	}
	if link == nil {
		return &flowError{"handoff did not reach the login link: " + r.where(p), p.Describe()}
	}
	if first := link.Query().Get("isFirstLogin"); first != "false" {
		return &flowError{"login link has isFirstLogin=" + first + " for a bound account", link.Redacted()}
	}
	return nil
}

// where names the page a flow stopped on, stably enough to group by.
func (r *loadRun) where(p *journey.Page) string {
	who := "other host"
	switch p.URL.Host {
	case hostOf(r.bridgeURL):
		who = "bridge"
	case hostOf(r.mockURL):
		who = "mock"
	}
	s := fmt.Sprintf("HTTP %d at %s %s", p.Status, who, p.URL.Path)
	if reason := journey.Field(p.Body, "reason"); reason != "" {
		s += " (" + reason + ")"
	}
	return s
}

// summarizeFlows fills throughput, latency and errors from the records.
// A flow counts in the window when it ended inside it; errors also count
// after it (in-flight flows finishing), and warm-up errors separately.
func summarizeFlows(rep *Report, records []flowRecord, from, to time.Duration) {
	rep.ErrorsByReason = map[string]int64{}
	rep.ErrorSamples = map[string]string{}
	var lat []time.Duration
	for _, rec := range records {
		if rec.Err != nil {
			if rec.End < from {
				rep.WarmupErrors++
			} else {
				rep.Errors++
			}
			rep.ErrorsByReason[rec.Err.Reason]++
			if _, ok := rep.ErrorSamples[rec.Err.Reason]; !ok {
				rep.ErrorSamples[rec.Err.Reason] = rec.Err.Detail
			}
			continue
		}
		if rec.End >= from && rec.End < to {
			lat = append(lat, rec.Latency)
		}
	}
	rep.Flows = int64(len(lat))
	if to > from {
		rep.FlowsPerSecond = float64(rep.Flows) / (to - from).Seconds()
	}
	rep.LatencyMS = latencies(lat)
}

// latencies are the percentiles of d (nearest rank), in milliseconds.
func latencies(d []time.Duration) LatencyReport {
	if len(d) == 0 {
		return LatencyReport{}
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	return LatencyReport{
		P50: ms(percentile(s, 50)), P95: ms(percentile(s, 95)), P99: ms(percentile(s, 99)),
		Max: ms(s[len(s)-1]), Mean: ms(sum / time.Duration(len(s))),
	}
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

func samplesBetween(s []procSample, from, to time.Duration) []procSample {
	var out []procSample
	for _, v := range s {
		if v.At >= from && v.At <= to {
			out = append(out, v)
		}
	}
	return out
}

// Parts of a procSample that flatness is judged on.
func rssOf(s procSample) int64  { return s.RSSKiB }
func anonOf(s procSample) int64 { return s.AnonKiB }
func fileOf(s procSample) int64 { return s.FileKiB }

// memoryGrowth compares the mean of part over the last third of the window
// with the middle third (the first third still holds warm-up growth):
// growth in percent, flat when below the target. Fewer than 3 samples
// cannot tell growth and count as flat with 0 %.
func memoryGrowth(s []procSample, part func(procSample) int64) (growthPct float64, flat bool) {
	if len(s) < 3 {
		return 0, true
	}
	third := len(s) / 3
	middle, last := meanOf(s[third:2*third], part), meanOf(s[len(s)-third:], part)
	if middle <= 0 {
		return 0, false
	}
	growth := (last - middle) / middle
	return 100 * growth, growth < loadTargetRSSGrowth
}

// meanOf is the mean of part over s, in KiB.
func meanOf(s []procSample, part func(procSample) int64) float64 {
	if len(s) == 0 {
		return 0
	}
	var sum float64
	for _, v := range s {
		sum += float64(part(v))
	}
	return sum / float64(len(s))
}

// timeline cuts the window into n slices: throughput, p95 and RSS of each.
func timeline(records []flowRecord, samples []procSample, from, to time.Duration, n int) []TimelineSlice {
	if to <= from {
		return nil
	}
	n = max(1, min(n, int((to-from)/time.Second)))
	width := (to - from) / time.Duration(n)
	out := make([]TimelineSlice, n)
	lat := make([][]time.Duration, n)
	for i := range out {
		out[i].FromS = (time.Duration(i) * width).Seconds()
		out[i].ToS = (time.Duration(i+1) * width).Seconds()
	}
	slot := func(at time.Duration) int {
		if at < from || at >= to {
			return -1
		}
		return min(int((at-from)/width), n-1)
	}
	for _, rec := range records {
		i := slot(rec.End)
		switch {
		case i < 0:
		case rec.Err != nil:
			out[i].Errors++
		default:
			lat[i] = append(lat[i], rec.Latency)
		}
	}
	// Each slice's samples, led by the last one before it: CPU time is a
	// difference, so a slice with one sample of its own still has two. A
	// slice without a sample of its own (slices narrower than the sampling
	// interval) reads the memory of the one before.
	rss := make([][]procSample, n)
	for i := range rss {
		start := from + time.Duration(i)*width
		for j := len(samples) - 1; j >= 0; j-- {
			if samples[j].At < start {
				rss[i] = append(rss[i], samples[j])
				break
			}
		}
	}
	for _, s := range samples {
		if i := slot(s.At); i >= 0 {
			rss[i] = append(rss[i], s)
		}
	}
	for i := range out {
		out[i].ServerCPUMSFlow = cpuPerFlow(records, rss[i])
		if len(rss[i]) > 1 {
			rss[i] = rss[i][1:] // memory: the slice's own samples
		}
		out[i].FlowsPerSecond = float64(len(lat[i])) / width.Seconds()
		out[i].P95MS = latencies(lat[i]).P95
		out[i].RSSMiB = meanOf(rss[i], rssOf) / 1024
		out[i].AnonMiB = meanOf(rss[i], anonOf) / 1024
		out[i].FileMiB = meanOf(rss[i], fileOf) / 1024
	}
	return out
}

// cpuPerFlow is the server's CPU time between the first and last of
// samples, per flow completed in between; 0 when it cannot be told.
func cpuPerFlow(records []flowRecord, samples []procSample) float64 {
	if len(samples) < 2 {
		return 0
	}
	first, last := samples[0], samples[len(samples)-1]
	if first.CPUTicks < 0 || last.CPUTicks < first.CPUTicks || last.At <= first.At {
		return 0
	}
	flows := 0
	for _, rec := range records {
		if rec.Err == nil && rec.End >= first.At && rec.End < last.At {
			flows++
		}
	}
	if flows == 0 {
		return 0
	}
	cpu := time.Duration(last.CPUTicks-first.CPUTicks) * time.Second / clockTicksPerSecond
	return ms(cpu) / float64(flows)
}

// finishReport adds what follows from the ceiling and sets the verdicts.
func (r *loadRun) finishReport(rep *Report) {
	c := rep.Ceiling.ResponsesPerSecond
	if c > 0 {
		rep.PercentOfCeiling = 100 * rep.FlowsPerSecond / c
	}
	if rep.Server.CPUMSFlow > 0 {
		rep.Server.ImpliedFPS = float64(rep.Cores) * 1000 / rep.Server.CPUMSFlow
		if c > 0 {
			rep.Server.ImpliedPct = 100 * rep.Server.ImpliedFPS / c
		}
	}
	rep.Targets = []TargetVerdict{
		{Name: fmt.Sprintf("completed flows/s >= %.0f %% of the SSO-core ceiling", 100*loadTargetCeilingShare),
			Measured: fmt.Sprintf("%.1f %%", rep.PercentOfCeiling), Pass: rep.PercentOfCeiling >= 100*loadTargetCeilingShare},
		{Name: fmt.Sprintf("server side: cores / server CPU per flow >= %.0f %% of the ceiling", 100*loadTargetCeilingShare),
			Measured: fmt.Sprintf("%.1f %%", rep.Server.ImpliedPct), Pass: rep.Server.ImpliedPct >= 100*loadTargetCeilingShare},
		{Name: "zero errors", Measured: strconv.FormatInt(rep.Errors+rep.WarmupErrors, 10), Pass: rep.Errors+rep.WarmupErrors == 0 && rep.Flows > 0},
		{Name: fmt.Sprintf("flat memory (RSS last third vs middle third < %.0f %%)", 100*loadTargetRSSGrowth),
			Measured: fmt.Sprintf("%+.1f %%", rep.Server.RSSGrowth), Pass: rep.Server.MemoryFlat},
	}
	rep.Pass = !rep.Interrupted
	for _, t := range rep.Targets {
		rep.Pass = rep.Pass && t.Pass
	}
	if !rep.Targets[0].Pass && rep.Flows > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the completed rate is bound by the load generator, which shares the %d cores: it used %.2f cores (%.2f ms per flow: the mock signing each AuthnRequest, checking each Response, and the browsers), the server %.2f; the ceiling counts neither the load generator nor the server's work beyond the SSO core",
			rep.Cores, rep.LoadGenCores, rep.LoadGenCPUMS, rep.Server.CPUCores))
	}
	if sv := rep.Server; !sv.MemoryFlat && sv.AnonFlat {
		note := fmt.Sprintf("the growth is file-backed (%+.1f %%; anonymous memory %+.1f %%): the store's memory map, which grows while it fills with replay records; the store stops growing %.0f s after the load starts, when the first spent marks expire and are swept", sv.FileGrowth, sv.AnonGrowth, sv.ReplayWindowS)
		if rep.WarmupS < sv.ReplayWindowS {
			note += fmt.Sprintf(", longer than the %.0f s warm-up: measure at steady state with --warmup %.0fs or more", rep.WarmupS, sv.ReplayWindowS)
		}
		rep.Notes = append(rep.Notes, note)
	}
}

// WriteText prints the report as tables.
func (rep *Report) WriteText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	pf := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	mode := "fresh cookie jar and handoff per flow"
	if rep.Mode == "reuse-session" {
		mode = "one bridge session per worker (flows start at the login link)"
	}
	pf("partneridp loadtest: %.0f s measured after %.0f s warm-up, %d workers, %s, %d cores", rep.DurationS, rep.WarmupS, rep.Concurrency, mode, rep.Cores)
	if rep.Interrupted {
		pf("INTERRUPTED: the figures cover the part that ran")
	}
	pf("")
	pf("SSO-core ceiling (in-process, before and after the load)")
	pf("  CPU per response\t%.3f ms\t(%d responses each time: %.3f before, %.3f after; wall %.3f ms each)", rep.Ceiling.CPUMSPerResponse, rep.Ceiling.Samples, rep.Ceiling.BeforeCPUMS, rep.Ceiling.AfterCPUMS, rep.Ceiling.WallMSPerResponse)
	pf("  ceiling\t%.1f responses/s\t(%d cores ÷ CPU per response)", rep.Ceiling.ResponsesPerSecond, rep.Cores)
	pf("  counts\t%s", rep.Ceiling.Counts)
	pf("")
	pf("flows (handoff -> login link -> signed AuthnRequest -> signed Response -> strict check at the mock ACS)")
	pf("  completed\t%d", rep.Flows)
	pf("  throughput\t%.1f flows/s\t= %.1f %% of the ceiling", rep.FlowsPerSecond, rep.PercentOfCeiling)
	pf("  latency p50/p95/p99/max\t%.1f / %.1f / %.1f / %.1f ms\t(mean %.1f ms)", rep.LatencyMS.P50, rep.LatencyMS.P95, rep.LatencyMS.P99, rep.LatencyMS.Max, rep.LatencyMS.Mean)
	pf("  errors\t%d\t(+%d during warm-up)", rep.Errors, rep.WarmupErrors)
	for _, reason := range slices.Sorted(maps.Keys(rep.ErrorsByReason)) {
		pf("    %d x %s\te.g. %s", rep.ErrorsByReason[reason], reason, rep.ErrorSamples[reason])
	}
	pf("")
	if rep.Instances > 1 {
		pf("servers (%d child processes on store %s, pids %v, public URL %s; figures are their sums)", rep.Instances, rep.Store, rep.Server.PIDs, rep.Server.URL)
	} else {
		pf("server (child process pid %d, %s, store %s)", rep.Server.PID, rep.Server.URL, rep.Store)
	}
	pf("  CPU per flow\t%.3f ms\t(%.2f cores busy on average)", rep.Server.CPUMSFlow, rep.Server.CPUCores)
	pf("  with the cores to itself\t%.1f flows/s\t= %.1f %% of the ceiling (%d cores ÷ server CPU per flow)", rep.Server.ImpliedFPS, rep.Server.ImpliedPct, rep.Cores)
	pf("  RSS start/end/peak\t%.1f / %.1f / %.1f MiB\t(peak = VmHWM over the process's life)", rep.Server.RSSStartMiB, rep.Server.RSSEndMiB, rep.Server.RSSPeakMiB)
	pf("    anonymous start/end\t%.1f / %.1f MiB\t(Go heap, stacks)", rep.Server.AnonStartMiB, rep.Server.AnonEndMiB)
	pf("    file-backed start/end\t%.1f / %.1f MiB\t(the store's memory map, the binary)", rep.Server.FileStartMiB, rep.Server.FileEndMiB)
	flat := "flat"
	if !rep.Server.MemoryFlat {
		flat = "GROWING"
	}
	pf("  RSS last third vs middle\t%+.1f %%\t%s (anonymous %+.1f %%, file-backed %+.1f %%)", rep.Server.RSSGrowth, flat, rep.Server.AnonGrowth, rep.Server.FileGrowth)
	pf("  stopped\tSIGTERM -> exit code %d after %.0f ms", rep.Server.ExitCode, rep.Server.StopMS)
	if e := rep.Etcd; e != nil {
		pf("etcd (pid %d)", e.PID)
		pf("  CPU per flow\t%.3f ms\t(%.2f cores busy on average)", e.CPUMSFlow, e.CPUCores)
		pf("  RSS start/end\t%.1f / %.1f MiB", e.RSSStartMiB, e.RSSEndMiB)
	}
	if rep.Server.Log != "" {
		pf("  log\t%s", rep.Server.Log)
	}
	pf("load generator (this process: mock Huawei IAM and browsers)")
	pf("  CPU per flow\t%.3f ms\t(%.2f cores busy on average)", rep.LoadGenCPUMS, rep.LoadGenCores)
	pf("other processes on the machine\t%.2f cores busy on average during the window", rep.OtherCPUCores)
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "from s\tto s\tflows/s\tp95 ms\terrors\tserver CPU ms/flow\tRSS MiB\tanon\tfile\t")
	for _, s := range rep.Timeline {
		fmt.Fprintf(tw, "%.0f\t%.0f\t%.1f\t%.1f\t%d\t%.3f\t%.1f\t%.1f\t%.1f\t\n", s.FromS, s.ToS, s.FlowsPerSecond, s.P95MS, s.Errors, s.ServerCPUMSFlow, s.RSSMiB, s.AnonMiB, s.FileMiB)
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "targets")
	for _, t := range rep.Targets {
		verdict := "PASS"
		if !t.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", t.Name, t.Measured, verdict)
	}
	tw.Flush()
	verdict := "PASS"
	if !rep.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "verdict: %s\n", verdict)
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

// ReadProcStatusKiB reads a "<field>: <n> kB" line of /proc/<pid>/status.
func ReadProcStatusKiB(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStatusKiB(data, field)
}

// errProcFormat is returned for a /proc file that is not as documented in
// proc(5).
var errProcFormat = errors.New("unexpected /proc format")

// maxProcValue bounds each number read from /proc so that sums of them
// cannot overflow: 2^48 ticks at 100 Hz are 89,000 years of CPU time.
const maxProcValue = 1 << 48

func parseProcValue(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0 && n <= maxProcValue
}

// parseProcStatusKiB finds "<field>:" in /proc/<pid>/status and returns its
// value in KiB.
func parseProcStatusKiB(data []byte, field string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("%w: %s is %q, want \"<n> kB\"", errProcFormat, field, strings.TrimSpace(rest))
		}
		n, ok := parseProcValue(fields[0])
		if !ok {
			return 0, fmt.Errorf("%w: %s value %q is not a size", errProcFormat, field, fields[0])
		}
		return n, nil
	}
	return 0, fmt.Errorf("%w: no %s line", errProcFormat, field)
}

// readProcCPUTicks is utime+stime of /proc/<pid>/stat, in clock ticks.
func readProcCPUTicks(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStatCPUTicks(data)
}

// parseProcStatCPUTicks reads utime and stime (fields 14 and 15) of
// /proc/<pid>/stat. The command name (field 2) is in parentheses and may
// hold spaces and parentheses itself, so fields are counted after the last
// ')'.
func parseProcStatCPUTicks(data []byte) (int64, error) {
	s := string(data)
	end := strings.LastIndexByte(s, ')')
	if end < 0 || !strings.Contains(s[:end], "(") {
		return 0, fmt.Errorf("%w: /proc/<pid>/stat has no (comm) field", errProcFormat)
	}
	fields := strings.Fields(s[end+1:])
	// fields[0] is field 3 (state): utime is field 14, stime 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("%w: /proc/<pid>/stat has %d fields after (comm), want at least 13", errProcFormat, len(fields))
	}
	var total int64
	for _, f := range fields[11:13] {
		n, ok := parseProcValue(f)
		if !ok {
			return 0, fmt.Errorf("%w: CPU time %q is not a tick count", errProcFormat, f)
		}
		total += n
	}
	return total, nil
}

// readSystemCPUTicks is the busy and total time of all CPUs from /proc/stat.
func readSystemCPUTicks() (busy, total int64, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	return parseSystemCPUTicks(data)
}

// parseSystemCPUTicks reads the first "cpu " line of /proc/stat: user nice
// system idle iowait irq softirq steal ...; idle and iowait are not busy.
// guest time is already inside user, so only the first eight count.
func parseSystemCPUTicks(data []byte) (busy, total int64, err error) {
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, fmt.Errorf("%w: /proc/stat does not start with a \"cpu\" line", errProcFormat)
	}
	for i, f := range fields[1:min(len(fields), 9)] {
		n, ok := parseProcValue(f)
		if !ok {
			return 0, 0, fmt.Errorf("%w: /proc/stat cpu value %q is not a tick count", errProcFormat, f)
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, nil
}

// pin restricts a process (0: this one) to cpus; no cpus: nothing.
func (r *loadRun) pin(pid int, cpus []int) error {
	if len(cpus) == 0 {
		return nil
	}
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(pid, &set); err != nil {
		return fmt.Errorf("loadtest: pin pid %d to CPUs %v: %w", pid, cpus, err)
	}
	return nil
}

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

func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	return u.Host
}
