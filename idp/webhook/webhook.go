// Package webhook delivers binding changes to a platform's backend. The
// Changes feed of the binding store is the outbox: every change, from any
// source, is written with its history entry in one transaction, so a
// deliverer reading the feed from a durable cursor (binding.CursorStore)
// loses nothing across crashes and restarts. Events are POSTed one at a
// time in sequence order (so in order per customer), signed after Standard
// Webhooks (webhook-id, webhook-timestamp, webhook-signature: "v1,<base64
// HMAC-SHA256 of id.timestamp.body>" keyed by the whsec_ secret), at least
// once: a failed delivery is retried with exponential backoff (capped at
// MaxBackoff) until the receiver takes it or the event is older than
// GiveUpAfter; then it is given up (metric, audit through OnGiveUp, and a
// durable record of the first given-up seq that `webhooks retry
// --given-up` replays from) and the cursor moves on. Delivery runs in its
// own goroutine and never touches the login path.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/internal/clock"
)

// Defaults.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultPoll        = time.Second
	DefaultMinBackoff  = time.Second
	DefaultMaxBackoff  = time.Hour
	DefaultBatch       = 100
	DefaultGiveUpAfter = 24 * time.Hour
	// MinGiveUpAfter is the shortest give_up_after accepted: a few
	// backoff rounds must fit.
	MinGiveUpAfter      = time.Minute
	MaxResponseBodyRead = 4 << 10
)

// ReasonGivenUp is the audit reason of a given-up event (registered in
// idp/reasons.go).
const ReasonGivenUp = "webhook_given_up"

// Secret is a Standard Webhooks signing secret.
type Secret []byte

// ParseSecret reads "whsec_<base64>".
func ParseSecret(s string) (Secret, error) {
	s = strings.TrimSpace(s)
	raw, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, errors.New("webhook secret must start with whsec_ (Standard Webhooks)")
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("webhook secret: the part after whsec_ is not base64: %w", err)
	}
	if len(key) < 24 {
		return nil, fmt.Errorf("webhook secret: %d bytes; use at least 24 random bytes", len(key))
	}
	return key, nil
}

// ReadSecretFile reads a whsec_ secret from a file that is not
// world-readable.
func ReadSecretFile(path string) (Secret, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o004 != 0 {
		return nil, fmt.Errorf("%s is world-readable; chmod 600 it", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseSecret(string(b))
}

// Sign returns the webhook-signature header value for one message.
func Sign(secret Secret, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%s.%d.", id, ts)
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Event is the JSON body of a delivery.
type Event struct {
	Type      string    `json:"type"` // binding.bound | binding.unbound
	Timestamp time.Time `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData is one binding change.
type EventData struct {
	Seq          uint64    `json:"seq"`
	Action       string    `json:"action"`
	Source       string    `json:"source"`
	XAccountType string    `json:"xaccount_type"`
	XAccountID   string    `json:"xaccount_id"`
	DomainID     string    `json:"domain_id"`
	DomainName   string    `json:"domain_name,omitempty"`
	Time         time.Time `json:"time"`
}

// EventID is the webhook-id of a change: stable across retries, so
// receivers deduplicate on it.
func EventID(c binding.Change) string { return "bnd_" + strconv.FormatUint(c.Seq, 10) }

func eventOf(c binding.Change) Event {
	typ := "binding.bound"
	if c.Action == binding.ActionUnbind {
		typ = "binding.unbound"
	}
	return Event{Type: typ, Timestamp: c.Time.UTC(), Data: EventData{
		Seq: c.Seq, Action: string(c.Action), Source: string(c.Source),
		XAccountType: c.Binding.XAccountType, XAccountID: c.Binding.XAccountID,
		DomainID: c.Binding.DomainID, DomainName: c.Binding.DomainName, Time: c.Time.UTC(),
	}}
}

// Metrics of delivery; a failing receiver shows as a rising
// partneridp_webhook_failures_total and partneridp_webhook_pending_seconds.
type Metrics struct {
	Delivered *prometheus.CounterVec
	Failures  *prometheus.CounterVec
	Pending   *prometheus.GaugeVec
	GivenUp   *prometheus.CounterVec
}

// NewMetrics registers the webhook metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "partneridp_webhook_delivered_total", Help: "Webhook events the platform's receiver accepted (2xx)."}, []string{"platform"}),
		Failures:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "partneridp_webhook_failures_total", Help: "Failed webhook delivery attempts (connection error, timeout, non-2xx); alert when it keeps rising."}, []string{"platform"}),
		Pending:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "partneridp_webhook_pending_seconds", Help: "Age of the oldest undelivered event, 0 when none; alert above a few minutes."}, []string{"platform"}),
		GivenUp:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "partneridp_webhook_given_up_total", Help: "Webhook events given up after give_up_after of failed tries; replay them with `partneridp webhooks retry --given-up`."}, []string{"platform"}),
	}
	if reg != nil {
		reg.MustRegister(m.Collectors()...)
	}
	return m
}

// Collectors lists the metrics for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Delivered, m.Failures, m.Pending, m.GivenUp}
}

// GiveUp is an event the deliverer stopped trying to deliver.
type GiveUp struct {
	Platform string
	EventID  string
	Change   binding.Change
	Attempts int    // failed tries of this deliverer run (a restart counts anew)
	Err      string // the last failure
}

// Deliverer delivers one platform's events.
type Deliverer struct {
	Name         string // platform name; the cursor is "webhook/<Name>"
	XAccountType string // only changes of this type are sent
	URL          string
	Secret       Secret
	Store        binding.Store // must implement binding.CursorStore
	Client       *http.Client  // nil: a client with DefaultTimeout
	Clock        func() time.Time
	Poll         time.Duration // idle poll interval
	MinBackoff   time.Duration
	MaxBackoff   time.Duration
	// GiveUpAfter: an event older than this (from its change time) whose
	// delivery fails is given up; 0: DefaultGiveUpAfter.
	GiveUpAfter time.Duration
	OnGiveUp    func(GiveUp) // audit; optional
	Metrics     *Metrics
	Log         *slog.Logger
	Sleep       func(ctx context.Context, d time.Duration) error // tests

	mu     sync.Mutex
	status Status
}

// Status is what a deliverer is doing.
type Status struct {
	Cursor    uint64 // last delivered (or skipped) seq
	Attempts  int    // failed attempts at the current event
	LastError string
	NextTry   time.Time
}

// CursorName is the cursor a platform's deliverer keeps.
func CursorName(platform string) string { return "webhook/" + platform }

// Status returns a copy of the deliverer's state.
func (d *Deliverer) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status
}

func (d *Deliverer) now() time.Time {
	if d.Clock != nil {
		return d.Clock()
	}
	return time.Now()
}

func (d *Deliverer) sleep(ctx context.Context, dur time.Duration) error {
	if d.Sleep != nil {
		return d.Sleep(ctx, dur)
	}
	return clock.Sleep(ctx, dur)
}

func (d *Deliverer) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.New(slog.DiscardHandler)
}

func or(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

// Check reports configuration problems.
func (d *Deliverer) Check() error {
	var errs []error
	if d.Name == "" || d.XAccountType == "" {
		errs = append(errs, errors.New("webhook: platform name and xaccount type are required"))
	}
	if !strings.HasPrefix(d.URL, "https://") && !strings.HasPrefix(d.URL, "http://") {
		errs = append(errs, fmt.Errorf("webhook %s: url must be http(s)", d.Name))
	}
	if len(d.Secret) == 0 {
		errs = append(errs, fmt.Errorf("webhook %s: a whsec_ secret is required", d.Name))
	}
	if d.GiveUpAfter != 0 && d.GiveUpAfter < MinGiveUpAfter {
		errs = append(errs, fmt.Errorf("webhook %s: give_up_after %s is under %s", d.Name, d.GiveUpAfter, MinGiveUpAfter))
	}
	if _, ok := d.Store.(binding.CursorStore); !ok {
		errs = append(errs, fmt.Errorf("webhook %s: store %T keeps no delivery cursor (binding.CursorStore)", d.Name, d.Store))
	}
	return errors.Join(errs...)
}

// Run delivers until ctx is done. Store errors are retried like delivery
// failures; Run returns only ctx's error or a configuration error.
func (d *Deliverer) Run(ctx context.Context) error {
	if err := d.Check(); err != nil {
		return err
	}
	for {
		n, err := d.Step(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil || n == 0 {
			wait := or(d.Poll, DefaultPoll)
			if err != nil {
				wait = d.backoff()
			}
			if e := d.sleep(ctx, wait); e != nil {
				return e
			}
		}
	}
}

func (d *Deliverer) backoff() time.Duration {
	d.mu.Lock()
	n := d.status.Attempts
	d.mu.Unlock()
	b := or(d.MinBackoff, DefaultMinBackoff)
	maxB := or(d.MaxBackoff, DefaultMaxBackoff)
	for i := 1; i < n && b < maxB; i++ {
		b *= 2
	}
	return min(b, maxB)
}

// Step reads one batch after the cursor and delivers it in order. It
// returns how many changes it moved the cursor past, and the first
// delivery or store error (the cursor stays before the failed event).
func (d *Deliverer) Step(ctx context.Context) (int, error) {
	cs := d.Store.(binding.CursorStore)
	name := CursorName(d.Name)
	cur, err := cs.Cursor(ctx, name)
	if err != nil {
		return 0, d.failed(fmt.Errorf("reading cursor: %w", err), false)
	}
	changes, err := d.Store.Changes(ctx, cur, DefaultBatch)
	if err != nil {
		return 0, d.failed(fmt.Errorf("reading changes: %w", err), false)
	}
	d.mu.Lock()
	d.status.Cursor = cur
	d.mu.Unlock()
	if len(changes) == 0 {
		d.setPending(time.Time{})
		return 0, nil
	}
	// The cursor is saved once per batch (and before returning on a
	// failure), not after every event: on bolt each save is an fsync'd
	// transaction that cost 6× the delivery itself. A crash in mid-batch
	// sends the batch's delivered events again, which at-least-once allows
	// (receivers deduplicate on webhook-id).
	moved, saved, last := 0, cur, cur
	save := func() error {
		if last == saved {
			return nil
		}
		if err := cs.SetCursor(ctx, name, last); err != nil {
			return d.failed(fmt.Errorf("saving cursor: %w", err), false)
		}
		saved = last
		return nil
	}
	for _, c := range changes {
		if c.Binding.XAccountType == d.XAccountType {
			d.setPending(c.Time)
			if err := d.deliver(ctx, c); err != nil {
				if d.now().Sub(c.Time) < or(d.GiveUpAfter, DefaultGiveUpAfter) || ctx.Err() != nil {
					if e := save(); e != nil {
						return moved, e
					}
					return moved, d.failed(err, true)
				}
				if err := d.giveUp(ctx, c, err); err != nil {
					if e := save(); e != nil {
						return moved, e
					}
					return moved, d.failed(err, false)
				}
				last = c.Seq
				if err := save(); err != nil { // a given-up event is recorded once
					return moved, err
				}
			}
		}
		last = c.Seq
		moved++
		d.mu.Lock()
		d.status = Status{Cursor: c.Seq}
		d.mu.Unlock()
	}
	if err := save(); err != nil {
		return moved, err
	}
	d.setPending(time.Time{})
	return moved, nil
}

func (d *Deliverer) setPending(oldest time.Time) {
	if d.Metrics == nil {
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = d.now().Sub(oldest).Seconds()
	}
	d.Metrics.Pending.WithLabelValues(d.Name).Set(age)
}

func (d *Deliverer) failed(err error, delivery bool) error {
	d.mu.Lock()
	d.status.Attempts++
	d.status.LastError = err.Error()
	attempts := d.status.Attempts
	d.mu.Unlock()
	next := d.backoff()
	d.mu.Lock()
	d.status.NextTry = d.now().Add(next)
	d.mu.Unlock()
	if delivery && d.Metrics != nil {
		d.Metrics.Failures.WithLabelValues(d.Name).Inc()
	}
	d.log().Warn("webhook delivery failed; retrying", "platform", d.Name, "attempts", attempts, "retry_in", next.String(), "err", err)
	return err
}

// giveUp records c as given up: the first given-up seq and the count are
// kept as cursors beside the delivery cursor (so they survive restarts and
// `webhooks list` shows them), then the metric, the log and OnGiveUp.
func (d *Deliverer) giveUp(ctx context.Context, c binding.Change, cause error) error {
	cs := d.Store.(binding.CursorStore)
	first, err := cs.Cursor(ctx, givenUpFirstName(d.Name))
	if err != nil {
		return fmt.Errorf("reading the given-up record: %w", err)
	}
	if first == 0 {
		if err := cs.SetCursor(ctx, givenUpFirstName(d.Name), c.Seq); err != nil {
			return fmt.Errorf("saving the given-up record: %w", err)
		}
	}
	n, err := cs.Cursor(ctx, givenUpCountName(d.Name))
	if err == nil {
		err = cs.SetCursor(ctx, givenUpCountName(d.Name), n+1)
	}
	if err != nil {
		return fmt.Errorf("saving the given-up count: %w", err)
	}
	d.mu.Lock()
	attempts := d.status.Attempts + 1
	d.mu.Unlock()
	if d.Metrics != nil {
		d.Metrics.Failures.WithLabelValues(d.Name).Inc()
		d.Metrics.GivenUp.WithLabelValues(d.Name).Inc()
	}
	d.log().Error("webhook event given up after give_up_after; replay it with `partneridp webhooks retry --platform "+d.Name+" --given-up`",
		"platform", d.Name, "event", EventID(c), "seq", c.Seq, "age", d.now().Sub(c.Time).Round(time.Second).String(), "attempts", attempts, "err", cause)
	if d.OnGiveUp != nil {
		d.OnGiveUp(GiveUp{Platform: d.Name, EventID: EventID(c), Change: c, Attempts: attempts, Err: cause.Error()})
	}
	return nil
}

func givenUpFirstName(platform string) string { return CursorName(platform) + "/given-up-first" }
func givenUpCountName(platform string) string { return CursorName(platform) + "/given-up-count" }

// GivenUp returns the first seq a platform's deliverer gave up on since
// the last replay and how many it gave up (0, 0: none).
func GivenUp(ctx context.Context, s binding.Store, platform string) (first, count uint64, err error) {
	cs, ok := s.(binding.CursorStore)
	if !ok {
		return 0, 0, fmt.Errorf("store %T keeps no delivery cursor", s)
	}
	if first, err = cs.Cursor(ctx, givenUpFirstName(platform)); err != nil {
		return 0, 0, err
	}
	count, err = cs.Cursor(ctx, givenUpCountName(platform))
	return first, count, err
}

// ErrRejected: the receiver answered, but not 2xx.
var ErrRejected = errors.New("webhook receiver refused the event")

func (d *Deliverer) deliver(ctx context.Context, c binding.Change) error {
	body, err := json.Marshal(eventOf(c))
	if err != nil {
		return err
	}
	id := EventID(c)
	ts := d.now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "partneridp-webhooks/1")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(d.Secret, id, ts, body))
	client := d.Client
	if client == nil {
		client = &http.Client{Timeout: DefaultTimeout}
	}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("event %s: %w", id, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, MaxResponseBodyRead))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("event %s: %w: HTTP %d", id, ErrRejected, res.StatusCode)
	}
	if d.Metrics != nil {
		d.Metrics.Delivered.WithLabelValues(d.Name).Inc()
	}
	return nil
}

// Pending returns up to limit changes of the platform's type after its
// cursor (for `webhooks list`).
func Pending(ctx context.Context, s binding.Store, platform, xAccountType string, limit int) (uint64, []binding.Change, error) {
	cs, ok := s.(binding.CursorStore)
	if !ok {
		return 0, nil, fmt.Errorf("store %T keeps no delivery cursor", s)
	}
	cur, err := cs.Cursor(ctx, CursorName(platform))
	if err != nil {
		return 0, nil, err
	}
	var out []binding.Change
	after := cur
	for len(out) < limit {
		cs, err := s.Changes(ctx, after, DefaultBatch)
		if err != nil {
			return cur, nil, err
		}
		if len(cs) == 0 {
			break
		}
		for _, c := range cs {
			if c.Binding.XAccountType == xAccountType && len(out) < limit {
				out = append(out, c)
			}
			after = c.Seq
		}
	}
	return cur, out, nil
}

// Rewind sets a platform's cursor so that delivery resumes after seq
// (`webhooks retry --from`): events after it are sent again. A rewind to
// before the first given-up event clears the given-up record: they are all
// sent again.
func Rewind(ctx context.Context, s binding.Store, platform string, seq uint64) error {
	cs, ok := s.(binding.CursorStore)
	if !ok {
		return fmt.Errorf("store %T keeps no delivery cursor", s)
	}
	if err := cs.SetCursor(ctx, CursorName(platform), seq); err != nil {
		return err
	}
	first, err := cs.Cursor(ctx, givenUpFirstName(platform))
	if err != nil {
		return err
	}
	if first != 0 && seq < first {
		if err := cs.SetCursor(ctx, givenUpFirstName(platform), 0); err != nil {
			return err
		}
		return cs.SetCursor(ctx, givenUpCountName(platform), 0)
	}
	return nil
}

// ErrNoneGivenUp: `webhooks retry --given-up` with nothing given up.
var ErrNoneGivenUp = errors.New("no event was given up")

// ReplayGivenUp rewinds a platform's cursor to just before its first
// given-up event (`webhooks retry --given-up`) and returns that event's seq.
func ReplayGivenUp(ctx context.Context, s binding.Store, platform string) (uint64, error) {
	first, _, err := GivenUp(ctx, s, platform)
	if err != nil {
		return 0, err
	}
	if first == 0 {
		return 0, ErrNoneGivenUp
	}
	return first, Rewind(ctx, s, platform, first-1)
}
