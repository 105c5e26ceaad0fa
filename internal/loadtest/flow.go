//go:build linux

package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/mockiam"
	"github.com/partneridp/partneridp/internal/journey"
)

// loadBrowser is a browser whose requests to the mock go to the generation
// of the flow it runs.
type loadBrowser struct {
	*journey.Browser
	gen *generationTransport
}

func (r *loadRun) newBrowser() loadBrowser {
	gt := &generationTransport{base: r.transport, mockHost: journey.HostOf(r.mockURL)}
	return loadBrowser{Browser: journey.NewBrowser(gt, journey.HostOf(r.bridgeURL), journey.HostOf(r.mockURL)), gen: gt}
}

func (r *loadRun) tokenFor(account string) (string, error) {
	return r.minter.Mint(account, map[string]any{
		handoff.ClaimName: "Load Test " + account, handoff.ClaimMobile: "86-13800000000", handoff.ClaimEmail: account + "@loadtest.invalid"})
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
		p, err = b.Get(ctx, mock.LoginURL(XAccountType, false, r.service))
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
		if u.Host == journey.HostOf(r.mockURL) && u.Path == mockiam.PathLogin {
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
	case journey.HostOf(r.bridgeURL):
		who = "bridge"
	case journey.HostOf(r.mockURL):
		who = "mock"
	}
	s := fmt.Sprintf("HTTP %d at %s %s", p.Status, who, p.URL.Path)
	if reason := journey.Field(p.Body, "reason"); reason != "" {
		s += " (" + reason + ")"
	}
	return s
}
