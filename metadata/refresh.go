package metadata

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCertExpiryWarning is how long before an SP signing certificate
// expires that SPSource starts warning.
const DefaultCertExpiryWarning = 30 * 24 * time.Hour

// ErrSPEntityChanged is returned by a refresh whose document names another
// SP than the one loaded at start: the config expects one SP, so the change
// is refused and the last good copy kept. Restart to accept it on purpose.
var ErrSPEntityChanged = errors.New("SP metadata names a different entityID")

// SPSource holds one SP's metadata and keeps it fresh. Current is lock-free;
// a refresh that fails for any reason (network, size, signature, parse)
// leaves the last good copy in place.
type SPSource struct {
	source   string
	opts     SPLoadOptions
	interval time.Duration
	logger   *slog.Logger
	clock    func() time.Time
	warnFor  time.Duration
	onChange func(old, new *SP)

	current  atomic.Pointer[SP]
	failures atomic.Uint64

	mu          sync.Mutex // serialises refreshes and guards the fields below
	lastRefresh time.Time
	lastErr     error
}

// SPSourceOption adjusts an SPSource.
type SPSourceOption func(*SPSource)

// WithSPClock sets the time source used for each load (certificate validity,
// validUntil) and for expiry warnings. The default is time.Now.
func WithSPClock(clock func() time.Time) SPSourceOption {
	return func(s *SPSource) { s.clock = clock }
}

// WithCertExpiryWarning sets how long before a signing certificate expires
// to start warning (default DefaultCertExpiryWarning; 0 turns it off).
func WithCertExpiryWarning(d time.Duration) SPSourceOption {
	return func(s *SPSource) { s.warnFor = d }
}

// WithOnChange registers a hook called after a refresh replaced the SP with
// a different one. It runs on the refreshing goroutine.
func WithOnChange(hook func(old, new *SP)) SPSourceOption {
	return func(s *SPSource) { s.onChange = hook }
}

// NewSPSource loads the SP metadata from source (a file or an https URL)
// once and fails if that fails. interval is how often Run refreshes; 0 or
// less means never. opts.Now is ignored: every load takes the time from the
// source's clock (WithSPClock), so that a long-running source does not judge
// certificates by the time it started.
func NewSPSource(source string, opts SPLoadOptions, interval time.Duration, logger *slog.Logger, options ...SPSourceOption) (*SPSource, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &SPSource{
		source:   source,
		opts:     opts,
		interval: interval,
		logger:   logger.With("sp_metadata", redactSource(source)),
		warnFor:  DefaultCertExpiryWarning,
	}
	s.clock = time.Now
	for _, o := range options {
		o(s)
	}
	sp, err := s.load(context.Background())
	if err != nil {
		return nil, err
	}
	s.current.Store(sp)
	s.lastRefresh = s.clock()
	s.warnExpiry(sp)
	return s, nil
}

// Current is the last good SP metadata. It never returns nil.
func (s *SPSource) Current() *SP { return s.current.Load() }

// LastRefresh is when the last refresh attempt finished and its error (nil
// when it succeeded).
func (s *SPSource) LastRefresh() (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastRefresh, s.lastErr
}

// Failures counts failed refreshes since start.
func (s *SPSource) Failures() uint64 { return s.failures.Load() }

// CertExpiry is the earliest NotAfter among the current SP's signing
// certificates: the day AuthnRequests stop verifying unless the SP
// publishes a new certificate.
func (s *SPSource) CertExpiry() time.Time {
	return earliestExpiry(s.Current().SigningCerts)
}

// Run refreshes every interval until ctx ends. It returns at once when the
// interval is 0 or less.
func (s *SPSource) Run(ctx context.Context) {
	if s.interval <= 0 {
		return
	}
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Refresh(ctx) // failures are logged and counted inside
		}
	}
}

// Refresh loads the metadata now. On success it becomes Current; on failure
// the last good copy stays, a warning is logged with the reason, and the
// error is returned.
func (s *SPSource) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.Current()
	sp, err := s.load(ctx)
	if err == nil && sp.EntityID != old.EntityID {
		err = fmt.Errorf("%w: loaded %q, serving %q; keeping the last good copy (restart partneridp to accept the new SP)",
			ErrSPEntityChanged, sp.EntityID, old.EntityID)
	}
	if err != nil && ctx.Err() != nil {
		return err // shutting down: not the SP's failure
	}
	s.lastRefresh = s.clock()
	s.lastErr = err
	if err != nil {
		n := s.failures.Add(1)
		s.logger.Warn("SP metadata refresh failed; keeping the last good copy",
			"reason", err.Error(), "failures", n, "cert_expiry", s.CertExpiry())
		return err
	}
	s.current.Store(sp)
	s.warnExpiry(sp)
	if sameSP(old, sp) {
		return nil
	}
	s.logger.Info("SP metadata changed", "entity_id", sp.EntityID,
		"signing_certs", fingerprints(sp.SigningCerts), "acs", len(sp.ACS))
	if s.onChange != nil {
		s.onChange(old, sp)
	}
	return nil
}

func (s *SPSource) load(ctx context.Context) (*SP, error) {
	opts := s.opts
	opts.Now = s.clock()
	return LoadSP(ctx, s.source, opts)
}

// warnExpiry logs when a signing certificate expires within warnFor.
func (s *SPSource) warnExpiry(sp *SP) {
	if s.warnFor <= 0 {
		return
	}
	now := s.clock()
	for _, c := range sp.SigningCerts {
		left := c.NotAfter.Sub(now)
		if left > s.warnFor {
			continue
		}
		s.logger.Warn("SP signing certificate expires soon; AuthnRequests will stop verifying unless the SP publishes a new certificate",
			"fingerprint_sha256", FingerprintSHA256(c), "not_after", c.NotAfter.UTC().Format(time.RFC3339),
			"days_left", int(left.Hours()/24))
	}
}

func earliestExpiry(certs []*x509.Certificate) time.Time {
	var first time.Time
	for _, c := range certs {
		if first.IsZero() || c.NotAfter.Before(first) {
			first = c.NotAfter
		}
	}
	return first
}

// sameSP compares what we trust from an SP.
func sameSP(a, b *SP) bool {
	if a.EntityID != b.EntityID || a.AuthnRequestsSigned != b.AuthnRequestsSigned ||
		a.WantAssertionsSigned != b.WantAssertionsSigned || a.SignatureStatus != b.SignatureStatus {
		return false
	}
	return slices.Equal(a.ACS, b.ACS) && slices.Equal(a.SLO, b.SLO) && slices.Equal(a.NameIDFormats, b.NameIDFormats) &&
		slices.EqualFunc(a.SigningCerts, b.SigningCerts, (*x509.Certificate).Equal)
}

func fingerprints(certs []*x509.Certificate) []string {
	out := make([]string, len(certs))
	for i, c := range certs {
		out[i] = FingerprintSHA256(c)
	}
	return out
}

// redactSource keeps URL credentials and queries out of logs.
func redactSource(source string) string {
	if !isURL(source) {
		return source
	}
	u, err := url.Parse(source)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.RawQuery != "" {
		u.RawQuery = "..."
	}
	return u.Redacted()
}
