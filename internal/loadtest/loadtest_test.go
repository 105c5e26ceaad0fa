//go:build linux

package loadtest

import (
	"context"
	"crypto/rand"
	"crypto/x509/pkix"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/partneridp/partneridp/idp/mockiam"
	"github.com/partneridp/partneridp/internal/journey"
	"github.com/partneridp/partneridp/metadata"
)

func TestLoadtestOptionsValidate(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	notExec := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(notExec, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*Options)
		want   string // "" : valid
	}{
		{"defaults", func(*Options) {}, ""},
		{"this executable", func(o *Options) { o.ServerBinary = exe }, ""},
		{"zero duration", func(o *Options) { o.Duration = 0 }, "--duration"},
		{"duration over an hour", func(o *Options) { o.Duration = 2 * time.Hour }, "--duration"},
		{"negative warmup", func(o *Options) { o.Warmup = -time.Second }, "--warmup"},
		{"no workers", func(o *Options) { o.Concurrency = 0 }, "--concurrency"},
		{"too many workers", func(o *Options) { o.Concurrency = loadMaxConcurrency + 1 }, "--concurrency"},
		{"no accounts", func(o *Options) { o.Accounts = 0 }, "--accounts"},
		{"too few ceiling samples", func(o *Options) { o.CeilingSamples = 9 }, "--ceiling-samples"},
		{"more ceiling samples than the mock holds", func(o *Options) { o.CeilingSamples = loadMaxCeilingSamples + 1 }, "--ceiling-samples"},
		{"too many accounts", func(o *Options) { o.Accounts = loadMaxAccounts + 1 }, "--accounts"},
		{"missing binary", func(o *Options) { o.ServerBinary = filepath.Join(t.TempDir(), "none") }, "--server-binary"},
		{"binary not executable", func(o *Options) { o.ServerBinary = notExec }, "not an executable"},
		{"folder as binary", func(o *Options) { o.ServerBinary = t.TempDir() }, "not an executable"},
		{"etcd", func(o *Options) {
			o.Store, o.EtcdEndpoints, o.Instances = StoreEtcd, []string{"http://127.0.0.1:2379"}, 3
		}, ""},
		{"unknown store", func(o *Options) { o.Store = "redis" }, "--store"},
		{"several instances on bolt", func(o *Options) { o.Instances = 2 }, "--instances"},
		{"etcd without endpoints", func(o *Options) { o.Store = StoreEtcd }, "--etcd-endpoints"},
		{"too many instances", func(o *Options) {
			o.Store, o.EtcdEndpoints, o.Instances = StoreEtcd, []string{"http://127.0.0.1:2379"}, loadMaxInstances+1
		}, "--instances"},
		{"etcd pid with bolt", func(o *Options) { o.EtcdPID = 1 }, "--etcd-pid"},
		{"pinned", func(o *Options) { o.ServerCPUs, o.GeneratorCPUs = []int{0}, []int{runtime.NumCPU() - 1} }, ""},
		{"pinned servers only", func(o *Options) { o.ServerCPUs = []int{0} }, "give both"},
		{"shared CPU", func(o *Options) { o.ServerCPUs, o.GeneratorCPUs = []int{0}, []int{0} }, "share CPU 0"},
		{"no such CPU", func(o *Options) { o.ServerCPUs, o.GeneratorCPUs = []int{0}, []int{runtime.NumCPU()} }, "this machine has CPUs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			tt.change(&o)
			err := o.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want ErrOptions naming %s, got %v", tt.want, err)
			}
		})
	}
	// Every problem at once.
	o := DefaultOptions()
	o.Duration, o.Concurrency = 0, 0
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--duration") || !strings.Contains(err.Error(), "--concurrency") {
		t.Errorf("want both problems listed, got %v", err)
	}
}

func TestLoopbackTransportRefusesOtherAddresses(t *testing.T) {
	tr := loopbackTransport(1, nil)
	for _, addr := range []string{"192.0.2.1:80", "example.invalid:80", "[2001:db8::1]:443", "nonsense"} {
		if _, err := tr.DialContext(context.Background(), "tcp", addr); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("dial %s: want a loopback-only refusal, got %v", addr, err)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	conn, err := tr.DialContext(context.Background(), "tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatalf("dial loopback: %v", err)
	}
	conn.Close()
}

// TestMockPoolGenerations: flows move to a new mock generation every
// perGen flows, a flow's requests reach the generation it started on, and
// retired or unknown generations are refused rather than served by another.
func TestMockPoolGenerations(t *testing.T) {
	key, err := metadata.GenerateKeyPair(2048, pkix.Name{CommonName: "mock-huawei-iam"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := newMockPool(mockiam.Config{BaseURL: "http://127.0.0.1:1", Key: key,
		IdPs: map[string]mockiam.IdPRegistration{XAccountType: {MetadataURL: "http://127.0.0.1:2/saml/metadata"}}},
		[]string{"loadtest-00000", "loadtest-00001"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	var gens []uint64
	for i := 0; i < 2*(loadMockRetiredKept+2); i++ {
		g, m := pool.acquire()
		if _, ok := m.Account(XAccountType, "loadtest-00001"); !ok {
			t.Fatalf("generation %d has no seeded account", g)
		}
		gens = append(gens, g)
	}
	if gens[0] != 0 || gens[1] != 0 || gens[2] != 1 || gens[len(gens)-1] != loadMockRetiredKept+1 {
		t.Fatalf("generations by flow: %v", gens)
	}
	serve := func(header string) int {
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:1"+mockiam.PathMetadata, nil)
		if header != "" {
			req.Header.Set(loadMockGenerationHeader, header)
		}
		w := httptest.NewRecorder()
		pool.ServeHTTP(w, req)
		return w.Code
	}
	for _, tt := range []struct {
		header string
		want   int
	}{
		{"", http.StatusOK},  // current
		{"1", http.StatusOK}, // still kept
		{"0", http.StatusGone},
		{"99", http.StatusGone},
		{"-1", http.StatusGone},
		{"x", http.StatusGone},
	} {
		if got := serve(tt.header); got != tt.want {
			t.Errorf("generation header %q: HTTP %d, want %d", tt.header, got, tt.want)
		}
	}
	// The transport marks requests to the mock only.
	var seen []string
	gt := &generationTransport{mockHost: "mock.test", base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = append(seen, r.URL.Host+"="+r.Header.Get(loadMockGenerationHeader))
		return &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody, Request: r}, nil
	})}
	gt.gen.Store(7)
	for _, u := range []string{"http://mock.test/x", "http://bridge.test/y"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if _, err := gt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		if req.Header.Get(loadMockGenerationHeader) != "" {
			t.Error("RoundTrip changed the caller's request")
		}
	}
	if strings.Join(seen, ",") != "mock.test=7,bridge.test=" {
		t.Errorf("requests seen: %v", seen)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestFlowChecks: where a flow stops is named stably, and a login link
// that says isFirstLogin=true for a pre-bound account is an error.
func TestFlowChecks(t *testing.T) {
	r := &loadRun{bridgeURL: "http://127.0.0.1:1000", mockURL: "http://127.0.0.1:2000"}
	mustURL := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	handoffURL := mustURL("http://127.0.0.1:1000/sso/huawei?token=secret")
	login := func(first string) *url.URL {
		return mustURL("http://127.0.0.1:2000" + mockiam.PathLogin + "?xAccountType=" + XAccountType + "&isFirstLogin=" + first)
	}
	tests := []struct {
		name       string
		p          *journey.Page
		viaHandoff bool
		want       string // "" : no error
	}{
		{"bound", &journey.Page{URL: login("false"), Chain: []*url.URL{handoffURL, login("false")}}, true, ""},
		{"first login for a bound account", &journey.Page{URL: login("true"), Chain: []*url.URL{handoffURL, login("true")}}, true, "isFirstLogin=true"},
		{"refused at the handoff", &journey.Page{URL: handoffURL, Status: 429, Body: `<p>Reason: <code id="reason">rate_limited</code></p>`, Chain: []*url.URL{handoffURL}}, true,
			"handoff did not reach the login link: HTTP 429 at bridge /sso/huawei (rate_limited)"},
		{"started at Huawei", &journey.Page{URL: login("false")}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := r.checkLoginLink(tt.p, tt.viaHandoff)
			switch {
			case tt.want == "" && fe != nil:
				t.Fatalf("want no error, got %+v", fe)
			case tt.want != "" && (fe == nil || !strings.Contains(fe.Reason, tt.want)):
				t.Fatalf("want a reason with %q, got %+v", tt.want, fe)
			}
			if fe != nil && strings.Contains(fe.Reason+fe.Detail, "secret") {
				t.Errorf("the token leaked into the error: %+v", fe)
			}
		})
	}
}

func TestSummarizeFlows(t *testing.T) {
	s := time.Second
	records := []flowRecord{
		{End: 500 * time.Millisecond, Latency: 10 * time.Millisecond, Err: &flowError{"mock ACS refused: bad_signature", "first"}}, // warm-up
		{End: 1 * s, Latency: 10 * time.Millisecond},
		{End: 2 * s, Latency: 20 * time.Millisecond},
		{End: 3 * s, Latency: 30 * time.Millisecond, Err: &flowError{"mock ACS refused: bad_signature", "second"}},
		{End: 4 * s, Latency: 40 * time.Millisecond},
		{End: 5 * s, Latency: 90 * time.Millisecond}, // after the window: not counted
		{End: 6 * s, Latency: 1 * time.Millisecond, Err: &flowError{"to the mock ACS: transport error", "late"}},
	}
	var rep Report
	summarizeFlows(&rep, records, 1*s, 5*s)
	if rep.Flows != 3 || rep.FlowsPerSecond != 0.75 {
		t.Errorf("flows %d at %.2f/s, want 3 at 0.75/s", rep.Flows, rep.FlowsPerSecond)
	}
	if rep.Errors != 2 || rep.WarmupErrors != 1 {
		t.Errorf("errors %d, warm-up %d: want 2 and 1", rep.Errors, rep.WarmupErrors)
	}
	if rep.ErrorsByReason["mock ACS refused: bad_signature"] != 2 || rep.ErrorSamples["mock ACS refused: bad_signature"] != "first" {
		t.Errorf("by reason %v, samples %v", rep.ErrorsByReason, rep.ErrorSamples)
	}
	if l := rep.LatencyMS; l.P50 != 20 || l.Max != 40 || math.Abs(l.Mean-70.0/3) > 1e-3 {
		t.Errorf("latency %+v", l)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {95, 95 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(d, tt.p); got != tt.want {
			t.Errorf("p%.0f = %s, want %s", tt.p, got, tt.want)
		}
	}
	if percentile(nil, 50) != 0 || percentile([]time.Duration{7}, 99) != 7 {
		t.Error("percentile of empty or single")
	}
}

func TestMemoryGrowth(t *testing.T) {
	series := func(kib ...int64) []procSample {
		out := make([]procSample, len(kib))
		for i, v := range kib {
			out[i] = procSample{At: time.Duration(i) * time.Second, RSSKiB: v}
		}
		return out
	}
	tests := []struct {
		name   string
		s      []procSample
		growth float64
		flat   bool
	}{
		{"steady", series(100, 100, 100, 100, 100, 100), 0, true},
		{"warm-up growth in the first third only", series(50, 80, 100, 100, 100, 100), 0, true},
		{"growing 20 %", series(100, 100, 100, 100, 120, 120), 20, false},
		{"growing 9 %", series(100, 100, 100, 100, 109, 109), 9, true},
		{"shrinking", series(100, 100, 120, 120, 100, 100), -100.0 / 6, true},
		{"too short to tell", series(100, 200), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			growth, flat := memoryGrowth(tt.s, rssOf)
			if flat != tt.flat || growth-tt.growth > 1e-9 || tt.growth-growth > 1e-9 {
				t.Errorf("growth %.3f %% flat %v, want %.3f %% %v", growth, flat, tt.growth, tt.flat)
			}
		})
	}
	// Each part is judged on its own: a flat heap beside a growing map.
	var s []procSample
	for i, file := range []int64{100, 100, 100, 100, 150, 150} {
		s = append(s, procSample{At: time.Duration(i) * time.Second, AnonKiB: 50, FileKiB: file, RSSKiB: 50 + file})
	}
	if g, flat := memoryGrowth(s, anonOf); g != 0 || !flat {
		t.Errorf("anonymous: %.1f %% flat %v", g, flat)
	}
	if g, flat := memoryGrowth(s, fileOf); g != 50 || flat {
		t.Errorf("file-backed: %.1f %% flat %v", g, flat)
	}
	if g, flat := memoryGrowth(s, rssOf); math.Abs(g-100.0/3) > 1e-9 || flat {
		t.Errorf("RSS: %.1f %% flat %v", g, flat)
	}
}

func TestTimeline(t *testing.T) {
	var records []flowRecord
	for i := 0; i < 100; i++ {
		records = append(records, flowRecord{End: 10*time.Second + time.Duration(i)*100*time.Millisecond, Latency: time.Duration(i) * time.Millisecond})
	}
	records = append(records, flowRecord{End: 15 * time.Second, Err: &flowError{Reason: "x"}})
	samples := []procSample{{At: 10 * time.Second, RSSKiB: 1024, AnonKiB: 512}, {At: 19 * time.Second, RSSKiB: 3072, FileKiB: 2048}}
	tl := timeline(records, samples, 10*time.Second, 20*time.Second, 2)
	if len(tl) != 2 {
		t.Fatalf("%d slices", len(tl))
	}
	if tl[0].FlowsPerSecond != 10 || tl[1].FlowsPerSecond != 10 || tl[0].Errors != 0 || tl[1].Errors != 1 {
		t.Errorf("slices %+v", tl)
	}
	if tl[0].RSSMiB != 1 || tl[1].RSSMiB != 3 || tl[0].AnonMiB != 0.5 || tl[1].FileMiB != 2 || tl[0].FromS != 0 || tl[1].ToS != 10 {
		t.Errorf("slices %+v", tl)
	}
	if tl[0].ServerCPUMSFlow != 0 || tl[1].ServerCPUMSFlow != 0 {
		t.Errorf("CPU per flow from one sample per slice: %+v", tl)
	}
	// Two samples 4 s apart with 200 ticks (2 s of CPU) between them, and
	// 40 good flows ending in [10 s, 14 s): 50 ms per flow.
	cpuSamples := []procSample{{At: 10 * time.Second, CPUTicks: 1000}, {At: 14 * time.Second, CPUTicks: 1200}}
	if got := timeline(records, cpuSamples, 10*time.Second, 20*time.Second, 2)[0].ServerCPUMSFlow; math.Abs(got-50) > 1e-9 {
		t.Errorf("CPU per flow %.3f ms, want 50", got)
	}
	// A slice with one sample of its own is measured from the sample
	// before it (it used to read 0.000): 300 ticks over [10 s, 16 s), 60
	// good flows.
	sparse := []procSample{{At: 10 * time.Second, CPUTicks: 1000, RSSKiB: 1024}, {At: 16 * time.Second, CPUTicks: 1300, RSSKiB: 2048}}
	if tl := timeline(records, sparse, 10*time.Second, 20*time.Second, 2); math.Abs(tl[1].ServerCPUMSFlow-50) > 1e-9 || tl[1].RSSMiB != 2 {
		t.Errorf("slice with one sample: %+v", tl[1])
	}
	cpuSamples[1].CPUTicks = -1
	if got := timeline(records, cpuSamples, 10*time.Second, 20*time.Second, 2)[0].ServerCPUMSFlow; got != 0 {
		t.Errorf("CPU per flow with an unread sample %.3f, want 0", got)
	}
	if timeline(records, samples, 5*time.Second, 5*time.Second, 10) != nil {
		t.Error("an empty window has a timeline")
	}
}

// A real /proc/<pid>/status (trimmed) and variants.
const procStatusFixture = `Name:	partneridp
Umask:	0022
State:	S (sleeping)
Tgid:	20744
VmPeak:	 1870868 kB
VmSize:	 1870868 kB
VmHWM:	   26212 kB
VmRSS:	   26112 kB
RssAnon:	   13312 kB
Threads:	7
`

func TestParseProcStatusKiB(t *testing.T) {
	tests := []struct {
		data, field string
		want        int64
		err         bool
	}{
		{procStatusFixture, "VmRSS", 26112, false},
		{procStatusFixture, "VmHWM", 26212, false},
		{procStatusFixture, "VmSwap", 0, true},               // absent
		{"VmRSS:\t12 MB\n", "VmRSS", 0, true},                // unit
		{"VmRSS:\t-5 kB\n", "VmRSS", 0, true},                // negative
		{"VmRSS:\tmany kB\n", "VmRSS", 0, true},              // not a number
		{"VmRSS:\t1 2 kB\n", "VmRSS", 0, true},               // extra field
		{"XVmRSS:\t1 kB\nVmRSS:\t2 kB\n", "VmRSS", 2, false}, // name must match exactly
	}
	for _, tt := range tests {
		got, err := parseProcStatusKiB([]byte(tt.data), tt.field)
		if tt.err {
			if !errors.Is(err, errProcFormat) {
				t.Errorf("%q in %q: want errProcFormat, got %d, %v", tt.field, tt.data, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %d, %v; want %d", tt.field, got, err, tt.want)
		}
	}
}

func TestParseProcStatCPUTicks(t *testing.T) {
	fields := "S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 7 0 100"
	tests := []struct {
		data string
		want int64
		err  bool
	}{
		{"20744 (partneridp) " + fields, 175, false},
		{"20744 (a b) c) (d) " + fields, 175, false}, // comm with spaces and parentheses
		{"20744 partneridp " + fields, 0, true},
		{"20744 (partneridp) S 1 2", 0, true},
		{"20744 (partneridp) S 1 2 3 4 5 6 7 8 9 10 x 25", 0, true},
		{"20744 (partneridp) S 1 2 3 4 5 6 7 8 9 10 -1 25", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := parseProcStatCPUTicks([]byte(tt.data))
		if tt.err {
			if !errors.Is(err, errProcFormat) {
				t.Errorf("%q: want errProcFormat, got %d, %v", tt.data, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %d, %v; want %d", tt.data, got, err, tt.want)
		}
	}
	// This process's own entry parses.
	if _, err := readProcCPUTicks(os.Getpid()); err != nil {
		t.Errorf("/proc/self/stat: %v", err)
	}
}

func TestParseSystemCPUTicks(t *testing.T) {
	busy, total, err := parseSystemCPUTicks([]byte("cpu  100 5 50 1000 20 1 2 3 40 0\ncpu0 1 2 3 4\n"))
	if err != nil || busy != 161 || total != 1181 {
		t.Errorf("got busy %d total %d, %v; want 161 and 1181", busy, total, err)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4", "intr 1 2 3 4 5", "cpu 1 2 x 4", "cpu 1 2 -3 4"} {
		if _, _, err := parseSystemCPUTicks([]byte(bad)); !errors.Is(err, errProcFormat) {
			t.Errorf("%q: want errProcFormat, got %v", bad, err)
		}
	}
	if _, _, err := readSystemCPUTicks(); err != nil {
		t.Errorf("/proc/stat: %v", err)
	}
}

func FuzzParseProcStatusKiB(f *testing.F) {
	f.Add([]byte(procStatusFixture), "VmRSS")
	f.Add([]byte("VmHWM:\t1 kB\n"), "VmHWM")
	f.Add([]byte("VmRSS: 99999999999999999999 kB"), "VmRSS")
	f.Add([]byte(":::\n: kB"), "")
	f.Fuzz(func(t *testing.T, data []byte, field string) {
		n, err := parseProcStatusKiB(data, field)
		if err == nil && n < 0 {
			t.Fatalf("negative size %d", n)
		}
		if err != nil && !errors.Is(err, errProcFormat) {
			t.Fatalf("untyped error %v", err)
		}
	})
}

func FuzzParseProcStatCPUTicks(f *testing.F) {
	f.Add([]byte("20744 (partneridp) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 7 0 100"))
	f.Add([]byte("1 ((()) )) S 1 2 3 4 5 6 7 8 9 10 1 2"))
	f.Add([]byte(")("))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := parseProcStatCPUTicks(data)
		if err == nil && n < 0 {
			t.Fatalf("negative ticks %d", n)
		}
		if err != nil && !errors.Is(err, errProcFormat) {
			t.Fatalf("untyped error %v", err)
		}
	})
}

func FuzzParseSystemCPUTicks(f *testing.F) {
	f.Add([]byte("cpu  100 5 50 1000 20 1 2 3 40 0\ncpu0 1 2 3 4\n"))
	f.Add([]byte("cpu 1 2 3 4"))
	f.Add([]byte("cpu"))
	f.Fuzz(func(t *testing.T, data []byte) {
		busy, total, err := parseSystemCPUTicks(data)
		if err != nil {
			if !errors.Is(err, errProcFormat) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if busy < 0 || total < busy {
			t.Fatalf("busy %d of total %d", busy, total)
		}
	})
}
