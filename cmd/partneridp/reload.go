package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/partneridp/partneridp/idp"
	"github.com/partneridp/partneridp/metadata"
)

// reload re-reads, from the files the config names, what may change while
// the bridge serves: the signing keys (after `keys rotate`) with the
// metadata built from them, the platforms' token keys (and the platform API
// that checks them), and Huawei's SP metadata. Everything is loaded and
// checked first; then it is swapped in at once. On any problem nothing is
// swapped and the error says why (the SP metadata, whose refresh is in
// service as soon as it succeeds, is refreshed after every other check). The
// config file itself is not re-read: a changed listen address, store or
// setting needs a restart.
func (b *bridge) reload(ctx context.Context) (summary string, err error) {
	b.reloadMu.Lock()
	defer b.reloadMu.Unlock()
	now := b.clock()
	xml, keyset, err := buildIDPMetadata(b.cfg, now)
	if err != nil {
		return "", fmt.Errorf("signing keys: %w", err)
	}
	signer, err := metadata.NewKeySigner(keyset.Current)
	if err != nil {
		return "", fmt.Errorf("signing keys: %w", err)
	}
	platforms, err := loadPlatforms(b.cfg)
	if err != nil {
		return "", fmt.Errorf("platform keys: %w", err)
	}
	api, err := b.rebuildAPI(platforms)
	if err != nil {
		return "", fmt.Errorf("platform API: %w", err)
	}
	if err := metadata.CheckSigner(signer); err != nil {
		return "", fmt.Errorf("signing keys: %w", err)
	}
	next := idp.Reloaded{MetadataXML: xml, Platforms: platforms, API: api}
	if err := b.server.CheckReload(next); err != nil {
		return "", fmt.Errorf("platform keys: %w", err)
	}
	// The SP metadata last among the checks: a refresh that succeeds is in
	// service at once, so everything else must have passed before it.
	refreshed := false
	for _, site := range b.sites {
		if site.spSource != nil {
			if err := site.spSource.Refresh(ctx); err != nil {
				return "", fmt.Errorf("%s.sp_metadata: %w", site.field, err)
			}
			refreshed = true
		}
	}
	if err := b.server.Reload(next); err != nil {
		return "", fmt.Errorf("platform keys: %w", err) // CheckReload passed above: not reached
	}
	if _, err := b.signer.Swap(signer); err != nil {
		return "", fmt.Errorf("signing keys: %w", err) // CheckSigner passed above: not reached
	}
	b.keyset.Store(keyset)
	summary = fmt.Sprintf("signing certificate SHA-256 %s, %d platform(s)", metadata.FingerprintSHA256(keyset.Current.Cert), len(platforms))
	if refreshed {
		summary += "; SP metadata refreshed"
	}
	return summary, nil
}

// reloadOnSignal runs reload for every value on sig until ctx ends,
// logging what happened.
func (b *bridge) reloadOnSignal(ctx context.Context, sig <-chan struct{}, logger *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		}
		summary, err := b.reload(ctx)
		if err != nil {
			logger.Error("reload refused: the keys and metadata in use stay", "error", err)
			continue
		}
		logger.Info("reloaded", "what", summary)
	}
}
