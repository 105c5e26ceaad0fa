package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/platformapi"
)

// PlatformAPIConfig is platforms[].api: the platform's backend may call
// /api/v1 with tokens signed by the platform's registered key (the same key
// as its handoff tokens) and aud <public_url>/api/v1.
type PlatformAPIConfig struct {
	Enabled bool `yaml:"enabled"`
	// XAccountType is the xAccountType whose bindings the platform sees;
	// default huawei.x_account_type.
	XAccountType string `yaml:"x_account_type"`
	// AuditLookups: audit each answered lookup too (a binding, by
	// domain_id, a history); refusals, lists and changes always are.
	AuditLookups bool `yaml:"audit_lookups"`
}

// WebhookConfig is platforms[].webhook: binding-change events POSTed to URL,
// signed per Standard Webhooks with the whsec_ secret in SecretFile.
type WebhookConfig struct {
	URL        string `yaml:"url"`
	SecretFile string `yaml:"secret_file"`
	// MaxAge: an event whose delivery still fails this long after its
	// change is given up (metric, audit, `webhooks retry --given-up`);
	// default 24h, at least 1m.
	MaxAge Duration `yaml:"give_up_after"`
}

// PartnerAPIConfig is huawei.partner_api: the AK/SK of the partner account
// for Huawei's partner API (create customer, check registration), from
// files or environment variables; never logged.
type PartnerAPIConfig struct {
	AKFile string `yaml:"ak_file"`
	SKFile string `yaml:"sk_file"`
	AKEnv  string `yaml:"ak_env"` // e.g. PARTNERIDP_HUAWEI_AK
	SKEnv  string `yaml:"sk_env"`
	// DomainID is the partner's own Huawei account ID (required: the SDK
	// would otherwise look it up through IAM).
	DomainID string   `yaml:"domain_id"`
	Endpoint string   `yaml:"endpoint"` // default: bss (site cn) or bss-intl (other sites)
	Timeout  Duration `yaml:"timeout"`
}

// buildPartner returns the SDK-backed partner API client, or nil when
// huawei.partner_api is absent. AK/SK come from files (not world-readable)
// or from the named environment variables; they are never logged.
func buildPartner(cfg *Config, getenv func(string) string) (platformapi.Partner, error) {
	pc := cfg.Huawei.PartnerAPI
	if pc == nil {
		return nil, nil
	}
	read := func(field, file, env string) (string, error) {
		switch {
		case file != "" && env != "":
			return "", fmt.Errorf("huawei.partner_api: set %s_file or %s_env, not both", field, field)
		case file != "":
			path := cfg.Path(file)
			if err := privateFileMode("huawei.partner_api."+field+"_file", path); err != nil {
				return "", err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return "", fmt.Errorf("huawei.partner_api.%s_file: %w", field, err)
			}
			v := strings.TrimSpace(string(b))
			if v == "" {
				return "", fmt.Errorf("huawei.partner_api.%s_file: %s is empty", field, filepath.Base(path))
			}
			return v, nil
		case env != "":
			v := strings.TrimSpace(getenv(env))
			if v == "" {
				return "", fmt.Errorf("huawei.partner_api.%s_env: %s is empty or unset", field, env)
			}
			return v, nil
		}
		return "", fmt.Errorf("huawei.partner_api: set %s_file or %s_env", field, field)
	}
	ak, err := read("ak", pc.AKFile, pc.AKEnv)
	if err != nil {
		return nil, err
	}
	sk, err := read("sk", pc.SKFile, pc.SKEnv)
	if err != nil {
		return nil, err
	}
	return platformapi.NewSDKPartner(platformapi.HuaweiConfig{
		Intl: cfg.Huawei.Site != "" && cfg.Huawei.Site != "cn", Endpoint: pc.Endpoint,
		AK: ak, SK: sk, DomainID: pc.DomainID, Timeout: pc.Timeout.Duration,
	})
}

// buildPlatformAPI returns the /api/v1 handler, or nil when no platform
// enables the API. platforms are loadPlatforms' answer, in config order.
func buildPlatformAPI(cfg *Config, platforms []handoff.Platform, store binding.Store, partner platformapi.Partner, audit idp.Auditor, logger *slog.Logger, clock func() time.Time) (http.Handler, error) {
	var ps []platformapi.Platform
	for i, pc := range cfg.Platforms {
		if pc.API == nil || !pc.API.Enabled || i >= len(platforms) {
			continue
		}
		typ := pc.API.XAccountType
		if typ == "" {
			typ = cfg.Huawei.XAccountType
		}
		ps = append(ps, platformapi.Platform{Name: pc.Name, Issuer: pc.Issuer, XAccountType: typ, Keys: platforms[i].Keys, AuditLookups: pc.API.AuditLookups})
	}
	if len(ps) == 0 {
		return nil, nil
	}
	api, err := platformapi.New(platformapi.Config{
		PublicURL: cfg.PublicURL,
		Platforms: ps,
		Store:     store,
		Replay:    idp.TokenReplay{Store: store.Ephemeral()},
		Partner:   partner,
		Clock:     clock,
		Log:       logger,
		Audit: func(ev platformapi.Event) {
			verdict := idp.VerdictAnswered
			switch {
			case ev.Status >= 500:
				verdict = idp.VerdictError
			case ev.Status >= 400:
				verdict = idp.VerdictRefused
			case ev.Reason == platformapi.ReasonCreated:
				verdict = idp.VerdictStored
			}
			e := idp.AuditEvent{Time: ev.Time, Event: idp.EventAPI, SP: ev.Platform, XAccountID: ev.XAccountID, DomainID: ev.DomainID, Verdict: verdict, Reason: ev.Reason}
			if audit != nil {
				audit.Record(e)
				return
			}
			logger.Info("audit", "event", e.Event, "platform", e.SP, "xaccount_id", e.XAccountID, "domain_id", e.DomainID, "verdict", e.Verdict, "reason", e.Reason, "path", ev.Path, "status", ev.Status)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("platform API: %w", err)
	}
	return api, nil
}
