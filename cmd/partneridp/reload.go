package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"

	"github.com/partneridp/partneridp/metadata"
)

// Reload (SIGHUP to serve; systemctl reload partneridp) re-reads the files
// the config names and puts them in service without dropping a request:
// the signing key pair and the rollover certificates (after `keys rotate`),
// hence the IdP metadata served at /saml/metadata; the Huawei SP metadata;
// the platforms' handoff keys. The config file itself is not re-read:
// changing it takes a restart.
//
// Everything is loaded and checked before anything is swapped; on any
// problem nothing changes and the log says why. The SP metadata is
// refreshed last because a successful refresh is in service at once.

// newSignerSlot holds the file-based default signer for the keyset's
// current key pair.
func newSignerSlot(ks *metadata.Keyset) (*metadata.SignerSlot, error) {
	s, err := metadata.NewKeySigner(ks.Current)
	if err != nil {
		return nil, fmt.Errorf("idp.signing: %w", err)
	}
	return metadata.NewSignerSlot(s)
}

// signingCert is the certificate of the key that signs now.
func (b *bridge) signingCert() *x509.Certificate { return b.signer.Current().Certificate() }

// reloaded says what a reload put in service, for its log line.
type reloaded struct {
	signingCert   string // SHA-256 fingerprint
	publishedCert int    // certificates in the IdP metadata
	spEntityID    string
	platforms     int
}

// reload re-reads and swaps; see above. It is safe to call while the
// bridge serves; concurrent reloads run one after the other.
func (b *bridge) reload(ctx context.Context) (reloaded, error) {
	b.reloadMu.Lock()
	defer b.reloadMu.Unlock()
	now := b.clock()

	doc, ks, err := buildIDPMetadata(b.cfg, now)
	if err != nil {
		return reloaded{}, fmt.Errorf("idp.signing: %w", err)
	}
	signer, err := metadata.NewKeySigner(ks.Current)
	if err != nil {
		return reloaded{}, fmt.Errorf("idp.signing: %w", err)
	}
	platforms, err := loadPlatforms(b.cfg)
	if err != nil {
		return reloaded{}, err
	}
	if err := b.server.CheckPlatforms(platforms); err != nil {
		return reloaded{}, fmt.Errorf("platforms: %w", err)
	}
	if b.spSource != nil {
		if err := b.spSource.Refresh(ctx); err != nil {
			return reloaded{}, fmt.Errorf("huawei.sp_metadata: %w", err)
		}
	}

	// Everything passed its checks: swap. The metadata first, so that a
	// certificate is published before (or as) it signs.
	if err := b.server.SetMetadataXML(doc); err != nil {
		return reloaded{}, err
	}
	if _, err := b.signer.Swap(signer); err != nil {
		return reloaded{}, fmt.Errorf("idp.signing: %w", err)
	}
	if err := b.server.SetPlatforms(platforms); err != nil {
		return reloaded{}, fmt.Errorf("platforms: %w", err)
	}
	r := reloaded{signingCert: metadata.FingerprintSHA256(signer.Certificate()), publishedCert: len(ks.Published()), platforms: len(platforms)}
	if sp := b.sp(); sp != nil {
		r.spEntityID = sp.EntityID
	}
	return r, nil
}

// reloadAndLog runs reload and says in the log what happened: what is now
// in service, or why the previous files stay in service. Errors name files
// and settings, never key material.
func (b *bridge) reloadAndLog(ctx context.Context, logger *slog.Logger) error {
	r, err := b.reload(ctx)
	if err != nil {
		logger.Error("reload refused: still serving the previous signing key, IdP metadata, SP metadata and platform keys; fix the problem and reload again",
			"reason", err.Error())
		return err
	}
	logger.Info("reloaded: signing key, IdP metadata, SP metadata and platform keys are in service",
		"signing_cert_sha256", r.signingCert, "published_certs", r.publishedCert, "sp_entity_id", r.spEntityID, "platforms", r.platforms)
	return nil
}
