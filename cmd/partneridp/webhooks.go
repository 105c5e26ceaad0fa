package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/idp/webhook"
)

// webhookPlatforms returns the configured webhook platforms with their xAccountType.
func webhookType(cfg *Config, pc PlatformConfig) string {
	if pc.API != nil && pc.API.XAccountType != "" {
		return pc.API.XAccountType
	}
	return cfg.Huawei.XAccountType
}

// buildWebhooks returns a deliverer per platform with a webhook section.
func buildWebhooks(cfg *Config, store binding.Store, audit idp.Auditor, logger *slog.Logger) ([]*webhook.Deliverer, *webhook.Metrics, error) {
	var out []*webhook.Deliverer
	m := webhook.NewMetrics(nil)
	for i, pc := range cfg.Platforms {
		if pc.Webhook == nil {
			continue
		}
		secret, err := loadWebhookSecret(cfg, i)
		if err != nil {
			return nil, nil, err
		}
		d := &webhook.Deliverer{Name: pc.Name, XAccountType: webhookType(cfg, pc), URL: pc.Webhook.URL, Secret: secret, Store: store, Metrics: m, Log: logger,
			GiveUpAfter: pc.Webhook.MaxAge.Duration, OnGiveUp: auditGiveUp(audit, logger)}
		if err := d.Check(); err != nil {
			return nil, nil, fmt.Errorf("platforms[%d].webhook: %w", i, err)
		}
		out = append(out, d)
	}
	return out, m, nil
}

// auditGiveUp records a given-up webhook event in the audit log.
func auditGiveUp(audit idp.Auditor, logger *slog.Logger) func(webhook.GiveUp) {
	return func(g webhook.GiveUp) {
		e := idp.AuditEvent{Time: g.Change.Time, Event: idp.EventWebhook, RequestID: g.EventID, SP: g.Platform,
			XAccountID: g.Change.Binding.XAccountID, DomainID: g.Change.Binding.DomainID, Verdict: idp.VerdictGivenUp, Reason: webhook.ReasonGivenUp}
		if audit != nil {
			audit.Record(e)
			return
		}
		logger.Info("audit", "event", e.Event, "request_id", e.RequestID, "platform", e.SP, "xaccount_id", e.XAccountID, "domain_id", e.DomainID, "verdict", e.Verdict, "reason", e.Reason)
	}
}

// loadWebhookSecret reads platforms[i].webhook.secret_file: mode 0600,
// holding whsec_<base64 of at least 24 bytes>.
func loadWebhookSecret(cfg *Config, i int) (webhook.Secret, error) {
	field := fmt.Sprintf("platforms[%d].webhook.secret_file", i)
	path := cfg.Path(cfg.Platforms[i].Webhook.SecretFile)
	if err := privateFileMode(field, path); err != nil {
		return nil, err
	}
	secret, err := webhook.ReadSecretFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return secret, nil
}

// registerWebhookMetrics puts the deliverers' metrics on the admin /metrics.
func registerWebhookMetrics(reg prometheus.Registerer, b *bridge) {
	if b.webhookMetrics != nil {
		reg.MustRegister(b.webhookMetrics.Collectors()...)
	}
}

func newWebhooksCmd() *cobra.Command {
	var f storeFlags
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Show and replay binding-change webhook deliveries",
		Args:  cobra.NoArgs,
	}
	f.register(cmd)
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "Each platform's delivery position and the events not yet delivered",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(&f, func(ctx context.Context, cfg *Config, db binding.Store) error {
				out := cmd.OutOrStdout()
				any := false
				for _, pc := range cfg.Platforms {
					if pc.Webhook == nil {
						continue
					}
					any = true
					cur, pending, err := webhook.Pending(ctx, db, pc.Name, webhookType(cfg, pc), limit)
					if err != nil {
						return err
					}
					fmt.Fprintf(out, "platform %s  url %s  delivered through seq %d  pending %d\n", pc.Name, pc.Webhook.URL, cur, len(pending))
					first, n, err := webhook.GivenUp(ctx, db, pc.Name)
					if err != nil {
						return err
					}
					if n > 0 {
						fmt.Fprintf(out, "  given up: %d events, the first seq %d; replay with: partneridp webhooks retry --platform %s --given-up\n", n, first, pc.Name)
					}
					for _, c := range pending {
						fmt.Fprintf(out, "  %s  seq %d  %s  %s  %s  %s\n", webhook.EventID(c), c.Seq, c.Time.UTC().Format("2006-01-02T15:04:05Z"), c.Action, visible(c.Binding.XAccountID), c.Binding.DomainID)
					}
				}
				if !any {
					fmt.Fprintln(out, "no platform has a webhook section")
				}
				return nil
			})(cmd, args)
		},
	}
	list.Flags().IntVar(&limit, "limit", 50, "pending events shown per platform")
	var platform, from string
	var givenUp bool
	retry := &cobra.Command{
		Use:   "retry",
		Short: "Send again every event after --from (a seq), or from the first given-up event (--given-up), to --platform; takes effect when serve next polls",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (from == "") == !givenUp {
				return errors.New("give exactly one of --from SEQ and --given-up")
			}
			return withStore(&f, func(ctx context.Context, cfg *Config, db binding.Store) error {
				found := false
				for _, pc := range cfg.Platforms {
					found = found || (pc.Name == platform && pc.Webhook != nil)
				}
				if !found {
					return fmt.Errorf("--platform %q: no platform of that name has a webhook section", platform)
				}
				if givenUp {
					seq, err := webhook.ReplayGivenUp(ctx, db, platform)
					if errors.Is(err, webhook.ErrNoneGivenUp) {
						return fmt.Errorf("platform %s: %w; see webhooks list", platform, err)
					} else if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "platform %s: events from seq %d (the first given up) on will be delivered again\n", platform, seq)
					return nil
				}
				seq, err := strconv.ParseUint(from, 10, 64)
				if err != nil {
					return fmt.Errorf("--from: a sequence number (see webhooks list or bindings history): %w", err)
				}
				if err := webhook.Rewind(ctx, db, platform, seq); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "platform %s: events after seq %d will be delivered again\n", platform, seq)
				return nil
			})(cmd, args)
		},
	}
	retry.Flags().StringVar(&platform, "platform", "", "platform name (required)")
	retry.Flags().StringVar(&from, "from", "", "resend every event after this seq (0: all)")
	retry.Flags().BoolVar(&givenUp, "given-up", false, "resend from the first event given up after give_up_after")
	_ = retry.MarkFlagRequired("platform")
	cmd.AddCommand(list, retry)
	return cmd
}
