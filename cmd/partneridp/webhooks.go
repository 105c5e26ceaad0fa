package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp/webhook"
)

func init() { extraCommands = append(extraCommands, newWebhooksCmd) }

// webhookPlatforms returns the configured webhook platforms with their xAccountType.
func webhookType(cfg *Config, pc PlatformConfig) string {
	if pc.API != nil && pc.API.XAccountType != "" {
		return pc.API.XAccountType
	}
	return cfg.Huawei.XAccountType
}

// buildWebhooks returns a deliverer per platform with a webhook section.
func buildWebhooks(cfg *Config, store binding.Store, logger *slog.Logger) ([]*webhook.Deliverer, *webhook.Metrics, error) {
	var out []*webhook.Deliverer
	m := webhook.NewMetrics(nil)
	for i, pc := range cfg.Platforms {
		if pc.Webhook == nil {
			continue
		}
		secret, err := webhook.ReadSecretFile(cfg.Path(pc.Webhook.SecretFile))
		if err != nil {
			return nil, nil, fmt.Errorf("platforms[%d].webhook.secret_file: %w", i, err)
		}
		d := &webhook.Deliverer{Name: pc.Name, XAccountType: webhookType(cfg, pc), URL: pc.Webhook.URL, Secret: secret, Store: store, Metrics: m, Log: logger}
		if err := d.Check(); err != nil {
			return nil, nil, fmt.Errorf("platforms[%d].webhook: %w", i, err)
		}
		out = append(out, d)
	}
	return out, m, nil
}

// registerWebhookMetrics puts the deliverers' metrics on the admin /metrics.
func registerWebhookMetrics(reg prometheus.Registerer, b *bridge) {
	if b.webhookMetrics != nil {
		reg.MustRegister(b.webhookMetrics.Delivered, b.webhookMetrics.Failures, b.webhookMetrics.Pending)
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
	retry := &cobra.Command{
		Use:   "retry",
		Short: "Send again every event after --from (a seq) to --platform; takes effect when serve next polls",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(&f, func(ctx context.Context, cfg *Config, db binding.Store) error {
				found := false
				for _, pc := range cfg.Platforms {
					found = found || (pc.Name == platform && pc.Webhook != nil)
				}
				if !found {
					return fmt.Errorf("--platform %q: no platform of that name has a webhook section", platform)
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
	retry.Flags().StringVar(&from, "from", "", "resend every event after this seq (required; 0: all)")
	_ = retry.MarkFlagRequired("platform")
	_ = retry.MarkFlagRequired("from")
	cmd.AddCommand(list, retry)
	return cmd
}
