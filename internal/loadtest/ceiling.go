//go:build linux

package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/binding/bolt"
	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/mockiam"
	"github.com/partneridp/partneridp/idp/samlreq"
	"github.com/partneridp/partneridp/internal/journey"
)

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
	if _, err := binding.Put(ctx, b.Store, binding.Binding{Key: binding.Key{XAccountType: XAccountType, XAccountID: account},
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
		IdPs:   map[string]mockiam.IdPRegistration{XAccountType: {MetadataFile: metaFile}},
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
		signerHandler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, signer.LoginURL(XAccountType, false, r.service), nil))
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
