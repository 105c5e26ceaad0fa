package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
)

// newHealthcheckCmd is the container HEALTHCHECK (distroless has no curl):
// it asks the local serve for /healthz (or /readyz) and exits 0 on 200.
func newHealthcheckCmd() *cobra.Command {
	var configPath, rawURL string
	var ready bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Ask the local serve for /healthz (or /readyz); exit 0 when it answers 200",
		Long: `Ask a running serve on this machine for /healthz (--ready: /readyz) and exit 0 when
it answers 200, 1 otherwise. Meant for the container's HEALTHCHECK and for
scripts. Without --url the address comes from the config's listen (a wildcard
host becomes 127.0.0.1) and the scheme from tls.cert_file; the TLS certificate
is not verified (the check stays on this machine).`,
		Example: `  partneridp healthcheck --config /etc/partneridp/partneridp.yaml
  partneridp healthcheck --url http://127.0.0.1:8443/readyz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			target := rawURL
			if target == "" {
				cfg, err := LoadConfig(configPath, os.Getenv)
				if err != nil {
					return err
				}
				target = healthURL(cfg, ready)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			if err != nil {
				return &usageError{cmd: cmd, err: fmt.Errorf("--url %q: %w", target, err)}
			}
			client := &http.Client{Transport: &http.Transport{
				TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // loopback liveness only
				Proxy:           nil,
			}}
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("healthcheck: %w (is serve running and listening there? see --url)", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("healthcheck: %s answered %d: %s", target, resp.StatusCode, body)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d\n", target, resp.StatusCode)
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "partneridp.yaml", "config file whose listen address to check (or set PARTNERIDP_CONFIG)")
	cmd.Flags().StringVar(&rawURL, "url", "", "URL to ask instead (e.g. http://127.0.0.1:8443/healthz)")
	cmd.Flags().BoolVar(&ready, "ready", false, "ask /readyz (store, keys and SP metadata usable) instead of /healthz")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return cmd
}

// healthURL is the local URL of /healthz or /readyz for cfg's listen address.
func healthURL(cfg *Config, ready bool) string {
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		host, port = "", "8443"
	}
	switch host {
	case "", "0.0.0.0", "::", "[::]":
		host = "127.0.0.1"
	}
	scheme := "http"
	if cfg.TLS.CertFile != "" {
		scheme = "https"
	}
	path := "/healthz"
	if ready {
		path = "/readyz"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + path
}
