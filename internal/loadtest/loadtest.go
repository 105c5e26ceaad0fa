//go:build linux

package loadtest

import (
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/mockiam"
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
	// Keys makes (or reuses) the development keys in dir as the files the
	// config names: the IdP's, the mock's SP key and the platform's
	// handoff key; it returns the last two.
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

// Run sets everything up, measures and tears down, with progress lines on
// o.Progress. The report is returned whenever a measurement was made, also
// with an error; the caller prints it (Report.WriteText, or as JSON).
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
		IdPs: map[string]mockiam.IdPRegistration{XAccountType: {
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
		PlatformURL: PlatformURL, XAccountType: XAccountType, AuditLog: filepath.Join(r.dir, "audit.jsonl"), Store: StoreBolt}
	if r.opts.Store == StoreEtcd {
		if err := r.etcdConfig(); err != nil {
			return err
		}
	}
	if r.cfgPath, r.timings, err = r.writeConfig(r.srv, "partneridp-loadtest.yaml"); err != nil {
		return err
	}
	r.minter = &handoff.Minter{Issuer: PlatformURL, Audience: r.bridgeURL, Alg: handoff.AlgEdDSA, Key: platformKey}
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
		acct, ok := first.Account(XAccountType, id)
		if !ok {
			return fmt.Errorf("loadtest: the mock has no account for %s", id)
		}
		b := binding.Binding{
			Key:      binding.Key{XAccountType: XAccountType, XAccountID: id},
			DomainID: acct.Domain.ID, DomainName: acct.Domain.Name, Source: binding.SourceImport,
		}
		if _, err := binding.Put(ctx, db, b, "partneridp loadtest", nil); err != nil {
			return fmt.Errorf("loadtest: seed binding %s: %w", id, err)
		}
	}
	return nil
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
