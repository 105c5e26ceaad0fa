package etcd

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/partneridp/partneridp/binding"
)

var _ binding.Elector = (*Store)(nil)

// leadTTL is how long a crashed leader keeps the lead (seconds): its
// session's lease must expire before another instance takes over.
const leadTTL = 10

// Lead: see binding.Elector. etcd's own election recipe: a session lease
// kept alive while this process runs, and the lowest create revision
// under the election prefix leads.
func (s *Store) Lead(ctx context.Context, name string) (context.Context, func(), error) {
	if name == "" {
		return nil, nil, fmt.Errorf("%w: election name is empty", binding.ErrInvalid)
	}
	_, done, err := s.begin(ctx) // checks that the store is open
	if err != nil {
		return nil, nil, err
	}
	done()
	sess, err := concurrency.NewSession(s.c, concurrency.WithTTL(leadTTL), concurrency.WithContext(ctx))
	if err != nil {
		return nil, nil, s.fail(ctx, "election session", err)
	}
	el := concurrency.NewElection(sess, s.p+"lead/"+name)
	host, _ := os.Hostname()
	if err := el.Campaign(ctx, host+"/"+strconv.Itoa(os.Getpid())); err != nil {
		sess.Close()
		return nil, nil, s.fail(ctx, "campaign", err)
	}
	lctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-sess.Done(): // the lease is gone: another instance may lead now
		case <-lctx.Done():
		}
		cancel()
	}()
	release := func() {
		cancel()
		rctx, rcancel := s.rctx(context.Background())
		defer rcancel()
		_ = el.Resign(rctx)
		sess.Close()
	}
	return lctx, release, nil
}
