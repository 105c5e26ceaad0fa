package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/idp/ratelimit"
)

// Server limits: an SSO exchange is a few KiB; anything larger is abuse.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	// maxHeaderBytes is the HTTP server's hard cap. The bridge refuses
	// headers over idp.MaxHeaderBytes (32 KiB) itself, with a page and an
	// audit event; only beyond this hard cap does Go answer a plain 431 (on
	// a plain-HTTP listener that answer is audited too, see auditHard431).
	maxHeaderBytes = 256 << 10
	shutdownGrace  = 30 * time.Second
	expiryWarning  = 30 * 24 * time.Hour
)

func newServeCmd() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the bridge: SSO, handoff, bind notification, metadata, health and metrics endpoints",
		Long: `Serve the bridge over HTTPS (tls.cert_file and tls.key_file; TLS 1.2 or later), or
over plain HTTP only behind a TLS-terminating proxy (tls.behind_proxy: true, with
the proxy addresses in tls.trusted_proxies) or in development mode.

Endpoints on listen: /saml/sso, /saml/slo, /saml/metadata, /sso/huawei,
/huawei/bind, /healthz (process up), /readyz (store open, signing key and SP
metadata valid). On admin.listen (default 127.0.0.1:9464): /metrics
(Prometheus), /healthz and /readyz, and /debug/pprof/ with admin.pprof: true. The
public listener answers 404 on /metrics. SIGTERM or SIGINT stops it gracefully:
in-flight requests finish and the store is closed. SIGHUP reloads without
downtime: the signing keys (after keys rotate) and the metadata built from them,
the platforms' token keys and Huawei's SP metadata are re-read from the files
the config names, checked, and swapped in at once; on any problem the ones in
use stay and the log says why. Other config changes need a restart.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := LoadConfig(configPath, os.Getenv)
			if err != nil {
				return err
			}
			// The checks `config check` makes (exit status 2); the SP
			// metadata URL is fetched once, by the bridge itself.
			if problems := preflight(cfg, true); len(problems) > 0 {
				return &ConfigError{File: configPath, Problems: problems}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			err = serve(ctx, cfg, cmd.ErrOrStderr(), nil)
			if err != nil && strings.HasPrefix(err.Error(), "huawei.sp_metadata:") {
				err = fmt.Errorf("%w\n  check the network path from this host to it, or save the document and set huawei.sp_metadata to that file (partneridp sp-metadata inspect URL|FILE shows what it holds)", err)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "partneridp.yaml", "config file (or set PARTNERIDP_CONFIG)")
	return cmd
}

// serve runs until ctx ends. ready, when not nil, receives the listening
// address once the server accepts connections (tests and loadtest use it).
func serve(ctx context.Context, cfg *Config, logw io.Writer, ready chan<- string) error {
	logger := newLogger(logw, cfg.Log.Format, cfg.Log.Level)
	plainHTTP := cfg.TLS.CertFile == ""
	if err := listenRule(cfg); err != nil {
		return &ConfigError{File: "config", Problems: []string{err.Error()}}
	}
	if cfg.Development {
		logger.Warn("DEVELOPMENT MODE: http:// URLs and non-Secure cookies are allowed; never use development: true (or PARTNERIDP_DEVELOPMENT=true) in production")
	}
	var trusted []netip.Prefix
	if cfg.TLS.BehindProxy {
		var err error
		if trusted, err = ratelimit.ParseTrustedProxies(cfg.TLS.TrustedProxies); err != nil {
			return fmt.Errorf("tls.trusted_proxies: %w", err)
		}
	}

	auditor, closeAudit, err := openAudit(cfg, logger)
	if err != nil {
		return err
	}
	defer closeAudit()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := idp.NewMetrics(reg)

	b, err := newBridge(ctx, cfg, bridgeOptions{
		Logger:   logger,
		Auditor:  auditor,
		Metrics:  metrics,
		ClientIP: func(r *http.Request) string { return ratelimit.ClientIP(r, trusted).String() },
	})
	if err != nil {
		return err
	}
	defer b.Close()
	registerExpiryGauges(reg, b)
	registerWebhookMetrics(reg, b)

	limiter, err := ratelimit.New(ratelimit.Config{PerMinute: cfg.Limits.PerIPPerMinute, Burst: cfg.Limits.Burst, MaxClients: cfg.Limits.MaxClients})
	if err != nil {
		return fmt.Errorf("limits: %w", err)
	}

	b.startBackground(logger)

	// The public listener serves the bridge only: /metrics there is the
	// bridge's 404. Metrics (and any future debug endpoint) are on the
	// admin listener, with /healthz and /readyz on both.
	mux := http.NewServeMux()
	mux.Handle("/", limitAbusable(limiter, trusted, b.server, b.server.Handler()))
	admin := newAdminServer(cfg, reg, b, logger)

	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	if !plainHTTP {
		cert, err := loadTLSCertificate(cfg, time.Now())
		if err != nil {
			ln.Close()
			return &ConfigError{File: "config", Problems: []string{err.Error()}}
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		ln = tls.NewListener(ln, srv.TLSConfig)
	} else {
		ln = auditHard431{Listener: ln, record: func(ip string) {
			b.server.RecordRefusal("", ip, idp.ReasonRequestTooLarge)
		}}
	}
	logger.Info("partneridp serving", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "tls", !plainHTTP, "behind_proxy", cfg.TLS.BehindProxy, "version", version)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	errc := make(chan error, 2)
	if admin != nil {
		aln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin.listen %s: %w (set admin.listen to a free address, or off)", cfg.Admin.Listen, err)
		}
		logger.Info("admin endpoints (metrics, health) serving", "addr", aln.Addr().String())
		if adminReadyHook != nil {
			adminReadyHook(aln.Addr().String())
		}
		go func() {
			if err := admin.Serve(aln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("admin listener: %w", err)
			}
		}()
	}
	go func() { errc <- srv.Serve(ln) }()
	// SIGHUP: re-read the signing keys, the platform keys and the SP
	// metadata (reload.go); a bad file keeps what is in use.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reloads := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			select {
			case reloads <- struct{}{}:
			default: // one is pending already
			}
		}
	}()
	go b.reloadOnSignal(ctx, reloads, logger)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing in-flight requests")
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		logger.Warn("shutdown did not finish in time", "err", err)
	}
	if admin != nil {
		_ = admin.Shutdown(shutCtx)
	}
	if err := b.Close(); err != nil {
		return fmt.Errorf("closing the store: %w", err)
	}
	logger.Info("stopped cleanly")
	return nil
}

// adminReadyHook, when set (tests), receives the admin listener's address.
var adminReadyHook func(addr string)

// newAdminServer serves /metrics, /healthz and /readyz for operators and
// probes; nil when admin.listen is off.
func newAdminServer(cfg *Config, reg *prometheus.Registry, b *bridge, logger *slog.Logger) *http.Server {
	if cfg.Admin.Listen == "off" {
		logger.Warn("admin.listen is off: no /metrics")
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	bridgeHandler := b.server.Handler()
	mux.Handle(idp.PathHealthz, bridgeHandler)
	mux.Handle(idp.PathReadyz, bridgeHandler)
	write := writeTimeout
	if cfg.Admin.Pprof {
		mountPprof(mux)
		write = pprofWriteTimeout
		logger.Warn("admin.pprof is on: Go's profiler is served at /debug/pprof/ on the admin listener", "admin", cfg.Admin.Listen)
	}
	mux.Handle("/", http.NotFoundHandler())
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      write,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// limitAbusable applies the per-IP limit to the endpoints a browser or bot
// can hammer; metadata, health and metrics stay unlimited.
// A request the limiter refuses is audited (reason rate_limited).
func limitAbusable(l *ratelimit.Limiter, trusted []netip.Prefix, srv *idp.Server, next http.Handler) http.Handler {
	inner := ratelimit.Middleware(l, trusted, next)
	limited := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &statusRecorder{ResponseWriter: w}
		inner.ServeHTTP(rw, r)
		if rw.status == http.StatusTooManyRequests {
			srv.RecordRefusal(r.URL.Path, ratelimit.ClientIP(r, trusted).String(), idp.ReasonRateLimited)
		}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case idp.PathSSO, idp.PathHandoff, idp.PathBind, idp.PathSLO:
			limited.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// auditHard431 wraps a plain-HTTP listener: when the HTTP server answers a
// connection with its own plain 431 (headers over the hard cap, before any
// handler runs), the refusal is audited with the peer address. A TLS
// listener is not wrapped (net/http must see the *tls.Conn); there the hard
// cap's 431 is not audited.
type auditHard431 struct {
	net.Listener
	record func(clientIP string)
}

func (l auditHard431) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	return &sniffConn{Conn: c, record: l.record}, nil
}

type sniffConn struct {
	net.Conn
	record func(clientIP string)
	seen   bool
}

func (c *sniffConn) Write(p []byte) (int, error) {
	// net/http writes its own 431 in one Write: status line, two headers
	// and the body "431 Request Header Fields Too Large". The bridge's own
	// 431 page ends in HTML, so it is not counted twice.
	if !c.seen && bytes.HasPrefix(p, []byte("HTTP/1.1 431 ")) && bytes.HasSuffix(p, []byte("\r\n\r\n431 Request Header Fields Too Large")) {
		c.seen = true
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		c.record(host)
	}
	return c.Conn.Write(p)
}

// openAudit opens the audit log: a JSON Lines file (append, 0600) or, when
// none is configured, the process log.
func openAudit(cfg *Config, logger *slog.Logger) (idp.Auditor, func(), error) {
	if cfg.Log.AuditLog == "" {
		return nil, func() {}, nil
	}
	f, err := os.OpenFile(cfg.Path(cfg.Log.AuditLog), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("log.audit_log: %w", err)
	}
	return idp.NewAuditLog(f, logger), func() { _ = f.Close() }, nil
}

func registerExpiryGauges(reg prometheus.Registerer, b *bridge) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "partneridp_signing_cert_expiry_seconds",
		Help: "Seconds until the IdP's current signing certificate expires.",
	}, func() float64 { return time.Until(b.keyset.Load().Current.Cert.NotAfter).Seconds() }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "partneridp_sp_cert_expiry_seconds",
		Help: "Seconds until the earliest SP (Huawei IAM) signing certificate expires.",
	}, func() float64 { return time.Until(spCertExpiry(b)).Seconds() }))
	if slices.ContainsFunc(b.sites, func(s bridgeSite) bool { return s.spSource != nil }) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "partneridp_sp_metadata_refresh_failures_total",
			Help: "SP metadata refreshes that failed, of every Huawei site (the last good copy was kept).",
		}, func() float64 {
			var n uint64
			for _, site := range b.sites {
				if site.spSource != nil {
					n += site.spSource.Failures()
				}
			}
			return float64(n)
		}))
	}
}

// spCertExpiry is when the earliest SP signing certificate of any site
// expires.
func spCertExpiry(b *bridge) time.Time {
	var earliest time.Time
	for _, site := range b.sites {
		t := siteCertExpiry(site)
		if earliest.IsZero() || (!t.IsZero() && t.Before(earliest)) {
			earliest = t
		}
	}
	return earliest
}

func siteCertExpiry(site bridgeSite) time.Time {
	if site.spSource != nil {
		return site.spSource.CertExpiry()
	}
	var earliest time.Time
	for _, c := range site.sp().SigningCerts {
		if earliest.IsZero() || c.NotAfter.Before(earliest) {
			earliest = c.NotAfter
		}
	}
	return earliest
}

// warnExpiry logs a warning at start and daily while a certificate expires
// within expiryWarning.
func warnExpiry(ctx context.Context, b *bridge, logger *slog.Logger) {
	check := func() {
		for what, at := range map[string]time.Time{"IdP signing certificate": b.keyset.Load().Current.Cert.NotAfter, "SP signing certificate": spCertExpiry(b)} {
			if left := time.Until(at); left < expiryWarning {
				logger.Warn(what+" expires soon: plan the rollover (partneridp keys rotate stage)", "expires", at.UTC().Format(time.RFC3339), "days_left", int(left.Hours()/24))
			}
		}
	}
	check()
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check()
		}
	}
}

// pprofWriteTimeout lets a CPU profile of up to a minute (?seconds=60)
// finish on the admin listener.
const pprofWriteTimeout = 90 * time.Second

// mountPprof adds net/http/pprof's handlers, on this mux only (never
// http.DefaultServeMux, which the public listener does not use either).
func mountPprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
