package platformapi

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MaxReadTokens bounds the read-token cache. When it is full, expired
// entries are dropped first, then arbitrary ones: an evicted token is only
// verified again on its next use (read tokens spend no jti), never refused.
const MaxReadTokens = 4096

// readTokenCache remembers read tokens (GET calls) that passed the whole
// check — signature, issuer, audience, lifetime ≤ MaxTokenLifetime — keyed by
// the token itself, until the token's exp. A repeated read with the same
// token then costs a string comparison or a map lookup instead of a
// signature verification.
//
// The key is the whole token, compared byte for byte by the map, not a
// digest of it: a SHA-256 of every token was a third of the cost of a cached
// read, and a digest protects nothing here: the cache holds only tokens that
// are valid bearer credentials for at most 5 minutes anyway, in the memory
// of the process they were sent to. Time comes from the API's clock.
//
// In front of the map sits the entry used last: a platform's backend
// reuses one token for its calls until it nears expiry, so most reads are
// one string comparison, without the lock or the map's hashing.
type readTokenCache struct {
	last atomic.Pointer[cachedToken]
	mu   sync.Mutex
	max  int
	m    map[string]*cachedToken
}

type cachedToken struct {
	token    string
	platform *Platform
	exp      time.Time
}

func newReadTokenCache(max int) *readTokenCache {
	return &readTokenCache{max: max, m: make(map[string]*cachedToken)}
}

// get returns the platform of a cached, unexpired token.
func (c *readTokenCache) get(token string, now time.Time) (*Platform, bool) {
	if e := c.last.Load(); e != nil && e.token == token && now.Before(e.exp) {
		return e.platform, true
	}
	c.mu.Lock()
	e, ok := c.m[token]
	if ok && !now.Before(e.exp) {
		delete(c.m, token)
		c.last.CompareAndSwap(e, nil)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	c.last.Store(e)
	return e.platform, true
}

// put remembers a verified token until exp.
func (c *readTokenCache) put(token string, p *Platform, exp, now time.Time) {
	if !now.Before(exp) {
		return
	}
	// A copy, so the cache does not keep the request's header memory alive.
	e := &cachedToken{token: strings.Clone(token), platform: p, exp: exp}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k, old := range c.m {
			if !now.Before(old.exp) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[e.token] = e
	c.last.Store(e)
}

func (c *readTokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// noReplay is the replay store of the read verifier: a read token is not
// single use within its (at most 5 minute) lifetime, so its jti is not
// spent. Mutating calls use the single-use verifier.
type noReplay struct{}

func (noReplay) MarkUsed(context.Context, string, time.Time) error { return nil }
