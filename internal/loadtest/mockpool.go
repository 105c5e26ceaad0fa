//go:build linux

package loadtest

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/partneridp/partneridp/idp/mockiam"
)

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
		if _, err := m.SeedAccount(XAccountType, id, fmt.Sprintf("loadtest_%05d", i)); err != nil {
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
