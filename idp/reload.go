package idp

import (
	"errors"
	"fmt"

	"github.com/partneridp/partneridp/idp/handoff"
)

// What a reload replaces while the server answers requests. Each setter
// checks its input first and leaves the served value unchanged on error;
// each swap is atomic, so a request sees the old or the new value, never a
// mix. The signing key is not here: it is Builder.Signer's (a
// metadata.SignerSlot swaps it). The caller (cmd's reload) loads and checks
// everything before it swaps anything.

// ErrReload is matched (errors.Is) by every refusal of SetMetadataXML and
// SetPlatforms.
var ErrReload = errors.New("idp: reload refused")

// SetMetadataXML replaces the document served at PathMetadata (built with
// metadata.BuildIDPMetadata, which checks it).
func (s *Server) SetMetadataXML(doc []byte) error {
	if len(doc) == 0 {
		return fmt.Errorf("%w: the IdP metadata document is empty", ErrReload)
	}
	doc = append([]byte(nil), doc...)
	s.metadataXML.Store(&doc)
	return nil
}

// CheckPlatforms reports whether platforms could replace the handoff
// verifier's: what Verifier.Validate checks, and that the store keeps a
// spent token ID as long as the longest token lifetime needs. It changes
// nothing.
func (s *Server) CheckPlatforms(platforms []handoff.Platform) error {
	_, err := s.nextVerifier(platforms)
	return err
}

// SetPlatforms replaces the platforms (issuers and keys) whose handoff
// tokens the server accepts, after CheckPlatforms. The replay store, clock
// and leeway stay.
func (s *Server) SetPlatforms(platforms []handoff.Platform) error {
	v, err := s.nextVerifier(platforms)
	if err != nil {
		return err
	}
	s.verifier.Store(v)
	return nil
}

func (s *Server) nextVerifier(platforms []handoff.Platform) (*handoff.Verifier, error) {
	v := *s.verifier.Load()
	v.Platforms = append([]handoff.Platform(nil), platforms...)
	if err := v.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReload, err)
	}
	if d, keep := v.ReplayLifetime(), s.cfg.Bindings.Limits().MaxSpendLifetime; d > keep {
		return nil, fmt.Errorf("%w: handoff tokens would stay acceptable for up to %s, longer than the store keeps a mark (%s): lower platforms[].max_token_lifetime",
			ErrReload, d, keep)
	}
	return &v, nil
}
