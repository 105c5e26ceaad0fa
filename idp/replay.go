package idp

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
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

// SAMLReplay is samlreq.ReplayStore over the binding file's Ephemeral
// records, so a spent request ID stays spent across a restart. Marks are
// the digest of ("saml", issuer, request ID) in bucket "replay".
type SAMLReplay struct{ Store binding.Ephemeral }

var _ samlreq.ReplayStore = SAMLReplay{}

// MarkUsed records (issuer, id) until expires; samlreq.ErrReplay when it is
// already recorded.
func (r SAMLReplay) MarkUsed(ctx context.Context, issuer, id string, expires time.Time) error {
	err := r.Store.Spend(ctx, bucketReplay, replayKey("saml", issuer, id), expires)
	if errors.Is(err, binding.ErrExists) {
		return fmt.Errorf("%w (issuer %.200q)", samlreq.ErrReplay, issuer)
	}
	return err
}

// TokenReplay is handoff.ReplayStore over the same records: marks are the
// digest of ("jti", the verifier's id of platform issuer and jti).
type TokenReplay struct{ Store binding.Ephemeral }

var _ handoff.ReplayStore = TokenReplay{}

// MarkUsed records id until expires; handoff.ErrReplay when it is already
// recorded.
func (r TokenReplay) MarkUsed(ctx context.Context, id string, expires time.Time) error {
	err := r.Store.Spend(ctx, bucketReplay, replayKey("jti", id), expires)
	if errors.Is(err, binding.ErrExists) {
		return handoff.ErrReplay
	}
	return err
}

// replayKeyLen is the length of a replay key: 128 bits of SHA-256 keep
// accidental collisions out of reach (birthday bound 2^64) and forging one
// would take a second preimage. Short fixed keys matter because every login
// writes two of them: the store holds a few minutes of logins and each
// commit rewrites the pages they land in.
const replayKeyLen = 16

// replayKey is the digest of the parts, each prefixed with its length so
// no two different lists of parts hash the same input.
func replayKey(parts ...string) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, p := range parts {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
		h.Write([]byte(p))
	}
	return string(h.Sum(nil)[:replayKeyLen])
}
