package idp

import (
	"context"
	"math"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/partneridp/partneridp/binding"
)

// Metrics are the bridge's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	// Requests counts SSO-endpoint requests by audit event, verdict and
	// Huawei site ("" until a request names one: refused before that, or
	// the one site of a single-site bridge configured without a name). The
	// site label takes only the configured sites' names.
	Requests *prometheus.CounterVec
	// SSOLatency is the time from a request's arrival to the POST form being
	// served: path "direct" for an AuthnRequest answered from the session,
	// "resumed" for a platform handoff completing a deferred flow.
	SSOLatency *prometheus.HistogramVec
	// SignatureFailures counts refused signatures (AuthnRequest,
	// LogoutRequest, bind notification, handoff token) by event and reason.
	SignatureFailures *prometheus.CounterVec
	// BindNotifications counts bind notifications by verdict.
	BindNotifications *prometheus.CounterVec

	// bindings is the store the bindings gauge counts (set by New).
	bindings atomic.Pointer[binding.Store]
}

// Latency label values.
const (
	pathDirect  = "direct"
	pathResumed = "resumed"
)

// bindingsCountTimeout bounds one scrape's count of the store.
const bindingsCountTimeout = 2 * time.Second

// NewMetrics makes the metrics and registers them, with a gauge of the
// number of bindings, on reg (when reg is not nil). It panics if reg already
// holds metrics of these names, like prometheus.MustRegister.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partneridp_requests_total",
			Help: "Requests to the SSO endpoints by event (sso, handoff, resume, bind_notification, logout) and outcome (the audit verdict), and the Huawei site (empty until known).",
		}, []string{"endpoint", "outcome", "site"}),
		SSOLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "partneridp_sso_duration_seconds",
			Help:    "Time from the request's arrival to the SAML POST form being served; path=direct (AuthnRequest with a session) or resumed (handoff completing a flow), by Huawei site.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"path", "site"}),
		SignatureFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partneridp_signature_failures_total",
			Help: "Refused signatures by event and reason (bad_signature, signature_missing, sigalg_not_allowed, token_bad_signature, ...).",
		}, []string{"endpoint", "reason"}),
		BindNotifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "partneridp_bind_notifications_total",
			Help: "Huawei bind notifications by outcome (stored, removed, unchanged, refused, error) and Huawei site.",
		}, []string{"outcome", "site"}),
	}
	if reg != nil {
		reg.MustRegister(m.Requests, m.SSOLatency, m.SignatureFailures, m.BindNotifications,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "partneridp_bindings",
				Help: "Number of partner-account bindings in the store (NaN when the store cannot be read).",
			}, m.countBindings))
	}
	return m
}

func (m *Metrics) setBindingsCounter(s binding.Store) {
	if m != nil && s != nil {
		m.bindings.Store(&s)
	}
}

func (m *Metrics) countBindings() float64 {
	p := m.bindings.Load()
	if p == nil {
		return math.NaN()
	}
	ctx, cancel := context.WithTimeout(context.Background(), bindingsCountTimeout)
	defer cancel()
	n, err := (*p).Count(ctx)
	if err != nil {
		return math.NaN()
	}
	return float64(n)
}

func (m *Metrics) request(endpoint, outcome, site string) {
	if m != nil {
		m.Requests.WithLabelValues(endpoint, outcome, site).Inc()
	}
}

func (m *Metrics) ssoLatency(path, site string, d time.Duration) {
	if m != nil {
		m.SSOLatency.WithLabelValues(path, site).Observe(d.Seconds())
	}
}

func (m *Metrics) signatureFailure(endpoint, reason string) {
	if m != nil {
		m.SignatureFailures.WithLabelValues(endpoint, reason).Inc()
	}
}

func (m *Metrics) bindNotification(outcome, site string) {
	if m != nil {
		m.BindNotifications.WithLabelValues(outcome, site).Inc()
	}
}
