package idp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/partneridp/partneridp/binding"
	"github.com/partneridp/partneridp/idp/handoff"
	"github.com/partneridp/partneridp/idp/samlreq"
)

// Buckets of the Ephemeral store this package uses.
const (
	bucketReplay = "replay"
	bucketFlows  = "flows"
)

// replayMark is the value of a replay entry: only the key matters.
var replayMark = []byte{1}

// SAMLReplay is samlreq.ReplayStore over the binding file's Ephemeral
// records, so a spent request ID stays spent across a restart. Keys are
// issuer + "\x00" + request ID in bucket "replay".
type SAMLReplay struct{ Store binding.Ephemeral }

var _ samlreq.ReplayStore = SAMLReplay{}

// MarkUsed records (issuer, id) until expires; samlreq.ErrReplay when it is
// already recorded.
func (r SAMLReplay) MarkUsed(ctx context.Context, issuer, id string, expires time.Time) error {
	err := r.Store.Add(ctx, bucketReplay, replayKey(issuer+"\x00"+id), replayMark, expires)
	if errors.Is(err, binding.ErrExists) {
		return fmt.Errorf("%w (issuer %.200q)", samlreq.ErrReplay, issuer)
	}
	return err
}

// TokenReplay is handoff.ReplayStore over the same records: keys are
// "jti\x00" + the verifier's id (platform issuer and jti).
type TokenReplay struct{ Store binding.Ephemeral }

var _ handoff.ReplayStore = TokenReplay{}

// MarkUsed records id until expires; handoff.ErrReplay when it is already
// recorded.
func (r TokenReplay) MarkUsed(ctx context.Context, id string, expires time.Time) error {
	err := r.Store.Add(ctx, bucketReplay, replayKey("jti\x00"+id), replayMark, expires)
	if errors.Is(err, binding.ErrExists) {
		return handoff.ErrReplay
	}
	return err
}

// replayKey keeps a key within the store's limit: a longer one is replaced
// by its SHA-256, which is as unique for this purpose.
func replayKey(k string) string {
	if len(k) <= binding.MaxEphemeralKeyLen {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(sum[:])
}
